package account

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/mailbag/mailbag/store/maildir"
)

// The IMAP cache of one folder lives next to its maildir: the bodies the
// user opened are maildir messages, and imapStateFile holds everything
// else — the sync state of RFC 4549 (UIDVALIDITY, UIDNEXT, HIGHESTMODSEQ
// of RFC 7162) and, per UID, the envelope, the flags and the maildir key of
// the cached body, if any. It is written atomically (temporary file,
// fsync, rename, directory fsync) and read in one piece.
//
//	magic    "MBIMAPS1"
//	header   uidvalidity u32, uidnext u32, highestmodseq u64, complete u8, count u32
//	records  uid u32, size i64, date unix i64 (0: none), zone offset i32,
//	         then nine strings (uvarint length, bytes): flags, body key,
//	         from, to, cc, subject, message-id, in-reply-to, references
//	trailer  CRC-32C of everything before
const (
	imapStateFile  = "mailbag-imap-state"
	imapStateMagic = "MBIMAPS1"
	// maxStateRecords bounds a hostile or corrupt file before allocating.
	maxStateRecords = 1 << 24
	maxStateString  = 1 << 20
)

var stateCRC = crc32.MakeTable(crc32.Castagnoli)

// imapMsg is one server message as cached.
type imapMsg struct {
	UID     uint32
	BodyKey string // maildir key of the cached body; "" when not cached
	Env     Envelope
}

// folderState is the cache of one server folder.
type folderState struct {
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	// Complete says Msgs holds every message the server had below UIDNext
	// when the state was written (RFC 4549 §4.3 "UID set known").
	Complete bool
	Msgs     map[uint32]*imapMsg
}

func newFolderState() *folderState { return &folderState{Msgs: make(map[uint32]*imapMsg)} }

// msgID is the stable id of a cached message: "UIDVALIDITY.UID". It does
// not change when the body gets cached.
func msgID(uidValidity, uid uint32) MsgID {
	return MsgID(strconv.FormatUint(uint64(uidValidity), 10) + "." + strconv.FormatUint(uint64(uid), 10))
}

// parseMsgID splits a msgID; ok is false for ids of another form.
func parseMsgID(id MsgID) (uidValidity, uid uint32, ok bool) {
	s := string(id)
	i := strings.IndexByte(s, '.')
	if i <= 0 {
		return 0, 0, false
	}
	v, err1 := strconv.ParseUint(s[:i], 10, 32)
	u, err2 := strconv.ParseUint(s[i+1:], 10, 32)
	if err1 != nil || err2 != nil || u == 0 {
		return 0, 0, false
	}
	return uint32(v), uint32(u), true
}

// encode returns the state file's bytes.
func (st *folderState) encode() []byte {
	var b bytes.Buffer
	st.writeTo(&b)
	return b.Bytes()
}

// writeTo streams the state file to w, so a large folder is never held
// twice in memory.
func (st *folderState) writeTo(w io.Writer) error {
	h := crc32.New(stateCRC)
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 64<<10)
	var scratch [24]byte
	bw.WriteString(imapStateMagic)
	b := scratch[:0]
	b = binary.LittleEndian.AppendUint32(b, st.UIDValidity)
	b = binary.LittleEndian.AppendUint32(b, st.UIDNext)
	b = binary.LittleEndian.AppendUint64(b, st.HighestModSeq)
	if st.Complete {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(st.Msgs)))
	bw.Write(b)
	str := func(s string) {
		n := binary.PutUvarint(scratch[:], uint64(len(s)))
		bw.Write(scratch[:n])
		bw.WriteString(s)
	}
	for _, m := range st.Msgs {
		b := scratch[:0]
		b = binary.LittleEndian.AppendUint32(b, m.UID)
		b = binary.LittleEndian.AppendUint64(b, uint64(m.Env.Size))
		var secs int64
		var off int32
		if !m.Env.Date.IsZero() {
			secs = m.Env.Date.Unix()
			_, o := m.Env.Date.Zone()
			off = int32(o)
		}
		b = binary.LittleEndian.AppendUint64(b, uint64(secs))
		b = binary.LittleEndian.AppendUint32(b, uint32(off))
		bw.Write(b)
		str(string(m.Env.Flags))
		str(m.BodyKey)
		str(m.Env.From)
		str(m.Env.To)
		str(m.Env.Cc)
		str(m.Env.Subject)
		str(m.Env.MessageID)
		str(m.Env.InReplyTo)
		str(m.Env.References)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, h.Sum32()))
	return err
}

var errBadState = errors.New("corrupt imap state")

// decodeState parses a state file. The strings of the envelopes share one
// copy of the file, so a folder of 50,000 messages decodes in a few
// allocations.
func decodeState(data []byte) (*folderState, error) {
	if len(data) < 8+21+4+4 || string(data[:8]) != imapStateMagic {
		return nil, errBadState
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, stateCRC) != sum {
		return nil, errBadState
	}
	// Every string below is a slice of data, which the caller hands over
	// and never changes: no copy of a large folder's file.
	s := unsafe.String(&body[0], len(body))
	p := 8
	u32 := func() uint32 { v := binary.LittleEndian.Uint32(body[p:]); p += 4; return v }
	u64 := func() uint64 { v := binary.LittleEndian.Uint64(body[p:]); p += 8; return v }
	st := &folderState{}
	st.UIDValidity = u32()
	st.UIDNext = u32()
	st.HighestModSeq = u64()
	st.Complete = body[p] == 1
	p++
	count := u32()
	if count > maxStateRecords || uint64(count)*(24+9) > uint64(len(body)) {
		return nil, errBadState
	}
	st.Msgs = make(map[uint32]*imapMsg, count)
	msgs := make([]imapMsg, count)
	zones := map[int32]*time.Location{}
	var bad bool
	str := func() string {
		l, n := binary.Uvarint(body[p:])
		if n <= 0 || l > maxStateString || uint64(p+n)+l > uint64(len(body)) {
			bad = true
			return ""
		}
		p += n
		v := s[p : p+int(l)]
		p += int(l)
		return v
	}
	for i := range msgs {
		if p+24 > len(body) {
			return nil, errBadState
		}
		m := &msgs[i]
		m.UID = u32()
		m.Env.Size = int64(u64())
		secs := int64(u64())
		off := int32(u32())
		if secs != 0 {
			loc, ok := zones[off]
			if !ok {
				if off == 0 {
					loc = time.UTC
				} else {
					loc = time.FixedZone("", int(off))
				}
				zones[off] = loc
			}
			m.Env.Date = time.Unix(secs, 0).In(loc)
		}
		m.Env.Flags = maildir.Flags(str())
		m.BodyKey = str()
		m.Env.From = str()
		m.Env.To = str()
		m.Env.Cc = str()
		m.Env.Subject = str()
		m.Env.MessageID = str()
		m.Env.InReplyTo = str()
		m.Env.References = str()
		if bad || m.UID == 0 {
			return nil, errBadState
		}
		m.Env.Key = string(msgID(st.UIDValidity, m.UID))
		st.Msgs[m.UID] = m
	}
	if p != len(body) {
		return nil, errBadState
	}
	return st, nil
}

// loadState reads the state of a folder; a missing or corrupt file gives
// an empty state (the cache is rebuilt from the server).
func loadState(dir string) *folderState {
	data, err := os.ReadFile(filepath.Join(dir, imapStateFile))
	if err != nil {
		return newFolderState()
	}
	st, err := decodeState(data)
	if err != nil {
		return newFolderState()
	}
	return st
}

// saveState writes the state of a folder atomically and durably.
func saveState(dir string, st *folderState) error {
	return maildir.WriteFile(filepath.Join(dir, imapStateFile), st.writeTo)
}

// envPacker keeps the envelopes fetched from the server compact: their
// strings are copied into shared blocks (no per-string allocation and
// size-class rounding), strings that repeat across messages (addresses,
// flags, thread references) are stored once, and the messages themselves
// are allocated in slabs. One packer serves a whole fill of a folder, so
// a first sync of a large folder holds about what decodeState holds.
// It is used by one goroutine at a time (the connection owner).
type envPacker struct {
	block  []byte            // current string block; its used part never changes
	slab   []imapMsg         // current message slab
	intern map[string]string // repeated strings, bounded by maxInterned
	// Sizes of the next block and slab: they start small and double, so a
	// resync that fetches a few messages does not pin a large block.
	nextBlock, nextSlab int
}

const (
	packBlock   = 32 << 10 // largest string block
	packSlab    = 256      // largest message slab
	maxInterned = 1 << 14
	// maxInternLen: longer strings are rarely repeated; not worth a map entry.
	maxInternLen = 256
)

func newEnvPacker() *envPacker {
	return &envPacker{intern: make(map[string]string), nextBlock: 512, nextSlab: 4}
}

// str returns a copy of s inside the packer's current block.
func (p *envPacker) str(s string) string {
	if s == "" {
		return ""
	}
	if len(s) > packBlock/4 {
		return strings.Clone(s)
	}
	if cap(p.block)-len(p.block) < len(s) {
		p.block = make([]byte, 0, max(p.nextBlock, len(s)))
		p.nextBlock = min(2*p.nextBlock, packBlock)
	}
	start := len(p.block)
	p.block = append(p.block, s...)
	// The bytes appended are never written again: appends only touch the
	// unused tail, and a full block is replaced, not reused.
	return unsafe.String(&p.block[start], len(s))
}

// shared returns s stored once for all the messages that repeat it.
func (p *envPacker) shared(s string) string {
	if s == "" || len(s) > maxInternLen {
		return p.str(s)
	}
	if v, ok := p.intern[s]; ok {
		return v
	}
	v := p.str(s)
	if len(p.intern) < maxInterned {
		p.intern[v] = v
	}
	return v
}

// msg returns a zeroed message from the current slab.
func (p *envPacker) msg() *imapMsg {
	if len(p.slab) == 0 {
		p.slab = make([]imapMsg, p.nextSlab)
		p.nextSlab = min(2*p.nextSlab, packSlab)
	}
	m := &p.slab[0]
	p.slab = p.slab[1:]
	return m
}
