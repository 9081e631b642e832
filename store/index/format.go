package index

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math"
	"os"
	"time"
	"unsafe"

	"github.com/mailbag/mailbag/store/maildir"
)

// The index file, FileName in the folder's directory, is a cache of the
// envelopes of a folder; it is rebuilt whenever it cannot be trusted.
//
//	header   64 bytes: magic "MBAGIDX\x00", version u32, count u32,
//	         blob length u64, CRC-32C of header bytes 32–63, records and
//	         blob u32, record size u32, then the directory stamp: inode and
//	         mtime (ns) of new/ and of cur/, 4 × u64 (zero: not trusted)
//	records  count × recordSize bytes, fixed layout (see putRecord)
//	blob     every string once (deduplicated), referenced by offset and length
//
// All integers are little-endian. The record order is the order of the
// last directory listing, which lets Load match an unchanged folder
// without a map.
const (
	FileName   = "mailbag-index"
	magic      = "MBAGIDX\x00"
	version    = 1
	headerSize = 64
	recordSize = 88
	// maxCount bounds the records of a hostile index before allocating.
	maxCount = 1 << 26
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errCorrupt marks an index that must be rebuilt.
var errCorrupt = errors.New("corrupt index")

const flagHasDate = 1

// Record field offsets: eight (offset u32, length u32) string references,
// then size i64, date seconds i64, zone offset i32, flags u32.
const (
	rName = iota * 8
	rFrom
	rTo
	rCc
	rSubject
	rMessageID
	rInReplyTo
	rReferences
	rSize
	rDate
	rZone = rDate + 8
	rBits = rZone + 4
)

// stamp identifies the state of a folder's new/ and cur/ directories:
// while their inodes and modification times stay the same, so do the
// names in them. The zero stamp matches nothing.
type stamp struct {
	newIno, newMtime, curIno, curMtime uint64
}

func (s stamp) put(b []byte) {
	le := binary.LittleEndian
	le.PutUint64(b[0:], s.newIno)
	le.PutUint64(b[8:], s.newMtime)
	le.PutUint64(b[16:], s.curIno)
	le.PutUint64(b[24:], s.curMtime)
}

func getStamp(b []byte) stamp {
	le := binary.LittleEndian
	return stamp{le.Uint64(b[0:]), le.Uint64(b[8:]), le.Uint64(b[16:]), le.Uint64(b[24:])}
}

// readIndex decodes the index file at path. The strings of the returned
// envelopes share one backing allocation. A missing file gives an error
// wrapping fs.ErrNotExist, an unusable one an error wrapping errCorrupt.
func readIndex(path string) ([]Envelope, stamp, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, stamp{}, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, stamp{}, err
	}
	var hdr [headerSize]byte
	if _, err := io.ReadFull(f, hdr[:]); err != nil {
		return nil, stamp{}, fmt.Errorf("%w: short header", errCorrupt)
	}
	le := binary.LittleEndian
	if string(hdr[:8]) != magic {
		return nil, stamp{}, fmt.Errorf("%w: bad magic", errCorrupt)
	}
	if v := le.Uint32(hdr[8:]); v != version {
		return nil, stamp{}, fmt.Errorf("%w: version %d, want %d", errCorrupt, v, version)
	}
	count := int64(le.Uint32(hdr[12:]))
	blobLen := le.Uint64(hdr[16:])
	sum := le.Uint32(hdr[24:])
	if le.Uint32(hdr[28:]) != recordSize || count > maxCount || blobLen > 1<<32 ||
		headerSize+count*recordSize+int64(blobLen) != st.Size() {
		return nil, stamp{}, fmt.Errorf("%w: sizes do not match", errCorrupt)
	}
	recs := make([]byte, count*recordSize)
	if _, err := io.ReadFull(f, recs); err != nil {
		return nil, stamp{}, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	blob := make([]byte, blobLen)
	if _, err := io.ReadFull(f, blob); err != nil {
		return nil, stamp{}, fmt.Errorf("%w: %v", errCorrupt, err)
	}
	if checksum(hdr[32:], recs, blob) != sum {
		return nil, stamp{}, fmt.Errorf("%w: checksum mismatch", errCorrupt)
	}
	// blob is never written again: its bytes back every string.
	s := unsafe.String(unsafe.SliceData(blob), len(blob))
	envs := make([]Envelope, count)
	var zones zoneCache
	for i := range envs {
		r := recs[i*recordSize : (i+1)*recordSize]
		e := &envs[i]
		var ok bool
		str := func(off int) string {
			o, n := uint64(le.Uint32(r[off:])), uint64(le.Uint32(r[off+4:]))
			if o+n > blobLen {
				ok = false
				return ""
			}
			return s[o : o+n]
		}
		ok = true
		e.Name = str(rName)
		e.From = str(rFrom)
		e.To = str(rTo)
		e.Cc = str(rCc)
		e.Subject = str(rSubject)
		e.MessageID = str(rMessageID)
		e.InReplyTo = str(rInReplyTo)
		e.References = str(rReferences)
		me, valid := maildir.ParseName(e.Name)
		if !ok || !valid {
			return nil, stamp{}, fmt.Errorf("%w: record %d", errCorrupt, i)
		}
		e.Key, e.Flags = me.Key, me.Flags
		e.Size = int64(le.Uint64(r[rSize:]))
		if le.Uint32(r[rBits:])&flagHasDate != 0 {
			e.Date = time.Unix(int64(le.Uint64(r[rDate:])), 0).In(zones.get(int32(le.Uint32(r[rZone:]))))
		}
	}
	return envs, getStamp(hdr[32:]), nil
}

// zoneCache shares one *time.Location per zone offset.
type zoneCache struct {
	offs []int32
	locs []*time.Location
}

func (z *zoneCache) get(off int32) *time.Location {
	if off == 0 {
		return time.UTC
	}
	for i, o := range z.offs {
		if o == off {
			return z.locs[i]
		}
	}
	loc := time.FixedZone("", int(off))
	z.offs = append(z.offs, off)
	z.locs = append(z.locs, loc)
	return loc
}

// encode builds the index file's header, records and blob for envs.
func encode(envs []Envelope, st stamp) (hdr, recs, blob []byte, err error) {
	le := binary.LittleEndian
	recs = make([]byte, len(envs)*recordSize)
	// Most strings other than names and message ids repeat (the user's
	// own address, thread subjects, parents' ids): store each once.
	blob = make([]byte, 0, len(envs)*160)
	seen := make(map[string]uint32, len(envs))
	// put stores s; with dedup, a string seen before is stored once (the
	// user's own address, senders, thread subjects). last short-cuts the
	// common run of equal values.
	type ref struct {
		s   string
		off uint32
	}
	var last [8]ref
	put := func(r []byte, field int, s string, dedup bool) {
		if s == "" {
			le.PutUint64(r[field:], 0)
			return
		}
		l := &last[field/8]
		var o uint32
		switch {
		case l.s == s:
			o = l.off
		case dedup:
			var ok bool
			if o, ok = seen[s]; !ok {
				o = uint32(len(blob))
				blob = append(blob, s...)
				seen[s] = o
			}
		default:
			o = uint32(len(blob))
			blob = append(blob, s...)
		}
		*l = ref{s, o}
		le.PutUint32(r[field:], o)
		le.PutUint32(r[field+4:], uint32(len(s)))
	}
	for i := range envs {
		e := &envs[i]
		r := recs[i*recordSize : (i+1)*recordSize]
		put(r, rName, e.Name, false)
		put(r, rFrom, e.From, true)
		put(r, rTo, e.To, true)
		put(r, rCc, e.Cc, true)
		put(r, rSubject, e.Subject, true)
		put(r, rMessageID, e.MessageID, false)
		put(r, rInReplyTo, e.InReplyTo, false)
		put(r, rReferences, e.References, false)
		le.PutUint64(r[rSize:], uint64(e.Size))
		if !e.Date.IsZero() {
			_, off := e.Date.Zone()
			le.PutUint64(r[rDate:], uint64(e.Date.Unix()))
			le.PutUint32(r[rZone:], uint32(int32(off)))
			le.PutUint32(r[rBits:], flagHasDate)
		}
	}
	if len(envs) > maxCount || len(blob) > math.MaxUint32 {
		return nil, nil, nil, errors.New("index too large")
	}
	hdr = make([]byte, headerSize)
	copy(hdr, magic)
	le.PutUint32(hdr[8:], version)
	le.PutUint32(hdr[12:], uint32(len(envs)))
	le.PutUint64(hdr[16:], uint64(len(blob)))
	le.PutUint32(hdr[28:], recordSize)
	st.put(hdr[32:])
	le.PutUint32(hdr[24:], checksum(hdr[32:], recs, blob))
	return hdr, recs, blob, nil
}

func checksum(parts ...[]byte) uint32 {
	var sum uint32
	for _, p := range parts {
		sum = crc32.Update(sum, castagnoli, p)
	}
	return sum
}
