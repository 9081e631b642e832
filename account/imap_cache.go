package account

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
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
//	magic    "MBIMAPS2"
//	header   uidvalidity u32, uidnext u32, highestmodseq u64, complete u8,
//	         count u32, string bytes u32, dead string bytes u32
//	records  count times: uid u32, zone offset i32, date unix i64 (0: none),
//	         size i64, then nine strings as (offset u32, length u32) into
//	         the string section: flags, body key, from, to, cc, subject,
//	         message-id, in-reply-to, references
//	strings  the string section, each string stored once
//	trailer  CRC-32C of everything before
//
// Files of the first format ("MBIMAPS1", the strings inline in each
// record) are still read.
const (
	imapStateFile    = "mailbag-imap-state"
	imapStateMagic   = "MBIMAPS2"
	imapStateMagicV1 = "MBIMAPS1"
	// maxStateRecords bounds a hostile or corrupt file before allocating.
	maxStateRecords = 1 << 24
	maxStateString  = 1<<refLenBits - 1
	stateHeaderLen  = 8 + 4 + 4 + 8 + 1 + 4 + 4 + 4
	stateRecordLen  = 4 + 4 + 8 + 8 + 9*8
)

var stateCRC = crc32.MakeTable(crc32.Castagnoli)

// imapMsg is one server message as cached. It holds no pointers, so the
// garbage collector never scans the cache of a large folder: its strings
// live in the folder's strArena, and the folderState methods turn it into
// an Envelope.
type imapMsg struct {
	UID  uint32
	zone int32 // seconds east of UTC of date
	date int64 // Unix seconds; 0: none
	size int64
	// key is the MsgID; the others are the Envelope fields of the same
	// names, and body the maildir key of the cached body ("": none).
	key, flags, body, from, to, cc, subject, messageID, inReplyTo, references strRef
}

// folderState is the cache of one folder.
type folderState struct {
	UIDValidity   uint32
	UIDNext       uint32
	HighestModSeq uint64
	// Complete says Msgs holds every message the server had below UIDNext
	// when the state was written (RFC 4549 §4.3 "UID set known").
	Complete bool
	Msgs     map[uint32]*imapMsg

	strs     strArena
	slab     []imapMsg // where the next messages are allocated
	nextSlab int
	zones    map[int32]*time.Location
	// dead counts the arena bytes of the strings only removed messages
	// used (their ids, subjects, Message-IDs and body keys); see compact.
	dead int64
	// unread counts the messages of Msgs without \Seen, kept by put,
	// setFlags, remove and decodeParts: the sidebar shows it after every
	// sync, and counting 100,000 messages each time holds the account's
	// lock for milliseconds.
	unread int
}

func newFolderState() *folderState { return &folderState{Msgs: make(map[uint32]*imapMsg)} }

// newMsg returns a zeroed message from the current slab. Slabs start small
// and double, so a folder of a few messages does not pin a large one.
func (st *folderState) newMsg() *imapMsg {
	if len(st.slab) == 0 {
		st.nextSlab = min(max(2*st.nextSlab, 8), 4096)
		st.slab = make([]imapMsg, st.nextSlab)
	}
	m := &st.slab[0]
	st.slab = st.slab[1:]
	return m
}

// put caches a message from its envelope (Key and Name are ignored: the
// key is made from UIDVALIDITY and uid) and returns it.
func (st *folderState) put(uid uint32, body string, e *Envelope) *imapMsg {
	if old, ok := st.Msgs[uid]; ok {
		st.forget(old)
		st.countUnread(old, -1)
	}
	m := st.newMsg()
	m.UID = uid
	m.size = e.Size
	if !e.Date.IsZero() {
		m.date = e.Date.Unix()
		_, off := e.Date.Zone()
		m.zone = int32(off)
		st.addZone(m.zone)
	}
	m.key = st.keyRef(uid)
	m.flags = st.strs.shared(string(e.Flags))
	m.body = st.strs.put(body)
	m.from = st.strs.shared(e.From)
	m.to = st.strs.shared(e.To)
	m.cc = st.strs.shared(e.Cc)
	m.subject = st.strs.put(e.Subject)
	m.messageID = st.strs.put(e.MessageID)
	m.inReplyTo = st.strs.shared(e.InReplyTo)
	m.references = st.strs.shared(e.References)
	st.Msgs[uid] = m
	st.countUnread(m, 1)
	return m
}

// keyRef stores the MsgID of uid.
func (st *folderState) keyRef(uid uint32) strRef {
	var b [24]byte
	return st.strs.putBytes(appendMsgID(b[:0], st.UIDValidity, uid))
}

// env returns the envelope of m. Its strings share the cache's memory.
func (st *folderState) env(m *imapMsg) Envelope { return msgEnv(&st.strs, st.zones, m, m.flags) }

// msgEnv builds the envelope of m, with the flags f, from the arena and
// the zones m was cached with. It only reads them.
func msgEnv(strs *strArena, zones map[int32]*time.Location, m *imapMsg, f strRef) Envelope {
	g := strs.get
	e := Envelope{Key: g(m.key), Size: m.size, Flags: maildir.Flags(g(f)),
		From: g(m.from), To: g(m.to), Cc: g(m.cc), Subject: g(m.subject),
		MessageID: g(m.messageID), InReplyTo: g(m.inReplyTo), References: g(m.references)}
	if m.date != 0 {
		e.Date = time.Unix(m.date, 0).In(zoneOf(zones, m.zone))
	}
	return e
}

// view returns the envelopes of the cache, in UID order (mostly date
// order, which the list sorts much faster than an order at random).
func (st *folderState) view() *folderView {
	uids := make([]uint32, 0, len(st.Msgs))
	for uid := range st.Msgs {
		uids = append(uids, uid)
	}
	slices.Sort(uids)
	v := &folderView{
		msgs:  make([]*imapMsg, len(uids)),
		flags: make([]strRef, len(uids)),
		strs:  strArena{blocks: slices.Clone(st.strs.blocks)},
		zones: st.zones,
	}
	for i, uid := range uids {
		m := st.Msgs[uid]
		v.msgs[i], v.flags[i] = m, m.flags
	}
	return v
}

// folderView is a folder's envelopes as View returns them. It shares the
// cache's records and the bytes of its arena, which are never changed in
// place (put makes a new record, compact copies them all, addZone
// replaces the zones), except for the flags, which it copies. It holds
// its own copy of the arena's block list, which appends change.
type folderView struct {
	msgs  []*imapMsg
	flags []strRef
	strs  strArena
	zones map[int32]*time.Location
	files []Envelope // local messages, after the cached ones
}

func (v *folderView) Len() int { return len(v.msgs) + len(v.files) }

func (v *folderView) At(i int) Envelope {
	if i >= len(v.msgs) {
		return v.files[i-len(v.msgs)]
	}
	return msgEnv(&v.strs, v.zones, v.msgs[i], v.flags[i])
}

func (v *folderView) DateAt(i int) time.Time {
	if i >= len(v.msgs) {
		return v.files[i-len(v.msgs)].Date
	}
	if d := v.msgs[i].date; d != 0 {
		return time.Unix(d, 0) // the zone does not change the order
	}
	return time.Time{}
}

func (v *folderView) KeyAt(i int) string {
	if i >= len(v.msgs) {
		return v.files[i-len(v.msgs)].Key
	}
	return v.strs.get(v.msgs[i].key)
}

// addZone makes a location for a UTC offset, to be shared by every date
// with that offset (a few hundred at most). The map is replaced, never
// changed, so a folderView shares it.
func (st *folderState) addZone(off int32) {
	if off == 0 || len(st.zones) >= 256 {
		return
	}
	if _, ok := st.zones[off]; !ok {
		zones := maps.Clone(st.zones)
		if zones == nil {
			zones = map[int32]*time.Location{}
		}
		zones[off] = time.FixedZone("", int(off))
		st.zones = zones
	}
}

// zoneOf returns the location of a UTC offset, one of zones if it is
// there. It only reads zones.
func zoneOf(zones map[int32]*time.Location, off int32) *time.Location {
	if off == 0 {
		return time.UTC
	}
	if loc, ok := zones[off]; ok {
		return loc
	}
	return time.FixedZone("", int(off))
}

func (st *folderState) flags(m *imapMsg) maildir.Flags { return maildir.Flags(st.strs.get(m.flags)) }

func (st *folderState) setFlags(m *imapMsg, f maildir.Flags) {
	st.countUnread(m, -1)
	m.flags = st.strs.shared(string(f))
	st.countUnread(m, 1)
}

// countUnread adds d to the unread count when m has no \Seen flag.
func (st *folderState) countUnread(m *imapMsg, d int) {
	if !st.flags(m).Has(maildir.FlagSeen) {
		st.unread += d
	}
}

func (st *folderState) bodyKey(m *imapMsg) string { return st.strs.get(m.body) }

func (st *folderState) setBodyKey(m *imapMsg, key string) {
	st.dead += refLen(m.body)
	m.body = st.strs.put(key)
}

// remove forgets a message.
func (st *folderState) remove(uid uint32) {
	if m, ok := st.Msgs[uid]; ok {
		st.forget(m)
		st.countUnread(m, -1)
		delete(st.Msgs, uid)
	}
}

// forget counts the strings that were m's alone as dead. The strings
// messages share (addresses, flags, references) are not counted.
func (st *folderState) forget(m *imapMsg) {
	st.dead += refLen(m.key) + refLen(m.body) + refLen(m.subject) + refLen(m.messageID)
}

func refLen(r strRef) int64 { return int64(r & (1<<refLenBits - 1)) }

// compact copies the strings of the messages still cached into a new
// arena once the dead ones are a third of it (and over 256 KB), so that
// neither memory nor the state file grows with the messages a folder had
// over its life. The records are copied too, not changed: a folderView
// may still read the old ones with the old arena.
func (st *folderState) compact() {
	var total int64
	for _, b := range st.strs.blocks {
		total += int64(len(b))
	}
	if st.dead < 256<<10 || st.dead*3 < total {
		return
	}
	old := st.strs
	st.strs = strArena{}
	move := func(r *strRef, shared bool) {
		if shared {
			*r = st.strs.shared(old.get(*r))
		} else {
			*r = st.strs.put(old.get(*r))
		}
	}
	for uid, old := range st.Msgs {
		m := st.newMsg()
		*m = *old
		st.Msgs[uid] = m
		move(&m.key, false)
		move(&m.flags, true)
		move(&m.body, false)
		move(&m.from, true)
		move(&m.to, true)
		move(&m.cc, true)
		move(&m.subject, false)
		move(&m.messageID, false)
		move(&m.inReplyTo, true)
		move(&m.references, true)
	}
	st.dead = 0
}

// strRef locates a string of a strArena: block index, offset in the block
// and length, packed as block<<50 | offset<<20 | length. The zero strRef
// is "".
type strRef uint64

const (
	refLenBits = 20
	refOffBits = 30
	// maxArenaBlocks bounds the block index (14 bits).
	maxArenaBlocks = 1 << 14
	arenaBlock     = 256 << 10 // the largest block strings are appended to
)

// strArena holds the strings of a folder's cache in a few large blocks
// (no per-string allocation, nothing for the garbage collector to scan),
// strings that repeat across messages (addresses, flags, thread
// references) once. Bytes once written never change: appends go to the
// unused tail of the last block, and a full block is replaced, not grown.
// Strings of removed messages stay until the state is next read.
type strArena struct {
	blocks [][]byte
	intern map[string]strRef // repeated strings, bounded by maxInterned
	next   int               // size of the next block
}

const (
	maxInterned = 1 << 14
	// maxInternLen: longer strings are rarely repeated; not worth a map entry.
	maxInternLen = 256
)

func (a *strArena) get(r strRef) string {
	n := int(r & (1<<refLenBits - 1))
	if n == 0 {
		return ""
	}
	off := int(r >> refLenBits & (1<<refOffBits - 1))
	b := a.blocks[r>>(refLenBits+refOffBits)]
	return unsafe.String(&b[off], n)
}

// put stores s (cut to maxStateString bytes at a character boundary).
func (a *strArena) put(s string) strRef {
	if s == "" {
		return 0
	}
	return a.putBytes(unsafe.Slice(unsafe.StringData(s), len(s)))
}

func (a *strArena) putBytes(s []byte) strRef {
	if len(s) == 0 {
		return 0
	}
	if len(s) > maxStateString {
		n := maxStateString
		for n > 0 && !utf8.RuneStart(s[n]) {
			n--
		}
		s = s[:n]
	}
	last := len(a.blocks) - 1
	if last < 0 || cap(a.blocks[last])-len(a.blocks[last]) < len(s) {
		if len(a.blocks) >= maxArenaBlocks {
			// About 4 GB of strings: only a hostile server gets here,
			// and its strings are then dropped rather than stored.
			return 0
		}
		a.next = min(max(2*a.next, 4<<10), arenaBlock)
		a.blocks = append(a.blocks, make([]byte, 0, max(a.next, len(s))))
		last = len(a.blocks) - 1
	}
	b := a.blocks[last]
	off := len(b)
	a.blocks[last] = append(b, s...)
	return strRef(last)<<(refLenBits+refOffBits) | strRef(off)<<refLenBits | strRef(len(s))
}

// shared stores s once for all the messages that repeat it.
func (a *strArena) shared(s string) strRef {
	if s == "" || len(s) > maxInternLen {
		return a.put(s)
	}
	if r, ok := a.intern[s]; ok {
		return r
	}
	r := a.put(s)
	if a.intern == nil {
		a.intern = make(map[string]strRef)
	}
	if len(a.intern) < maxInterned {
		a.intern[a.get(r)] = r
	}
	return r
}

// msgID is the stable id of a cached message: "UIDVALIDITY.UID", the UID
// with ten digits, so that ids sort as their UIDs do (the list breaks
// ties of date by id: mail that arrived together stays in arrival order).
// It does not change when the body gets cached.
func msgID(uidValidity, uid uint32) MsgID {
	var b [24]byte
	return MsgID(appendMsgID(b[:0], uidValidity, uid))
}

func appendMsgID(b []byte, uidValidity, uid uint32) []byte {
	b = strconv.AppendUint(b, uint64(uidValidity), 10)
	b = append(b, '.')
	for d := uint32(1_000_000_000); d > 1 && uid < d; d /= 10 {
		b = append(b, '0')
	}
	return strconv.AppendUint(b, uint64(uid), 10)
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

// writeTo streams the state file to w. The string section is the arena's
// blocks as they are, so nothing is copied or looked up to write it.
func (st *folderState) writeTo(w io.Writer) error {
	h := crc32.New(stateCRC)
	bw := bufio.NewWriterSize(io.MultiWriter(w, h), 64<<10)
	// Where each block starts in the string section.
	starts := make([]uint32, len(st.strs.blocks))
	var total uint64
	for i, b := range st.strs.blocks {
		starts[i] = uint32(total)
		total += uint64(len(b))
	}
	if total > 1<<32-1 {
		return fmt.Errorf("imap cache: %d bytes of strings, more than the format holds", total)
	}
	var scratch [stateRecordLen]byte
	b := append(scratch[:0], imapStateMagic...)
	b = binary.LittleEndian.AppendUint32(b, st.UIDValidity)
	b = binary.LittleEndian.AppendUint32(b, st.UIDNext)
	b = binary.LittleEndian.AppendUint64(b, st.HighestModSeq)
	if st.Complete {
		b = append(b, 1)
	} else {
		b = append(b, 0)
	}
	b = binary.LittleEndian.AppendUint32(b, uint32(len(st.Msgs)))
	b = binary.LittleEndian.AppendUint32(b, uint32(total))
	b = binary.LittleEndian.AppendUint32(b, uint32(min(st.dead, int64(total))))
	bw.Write(b)
	le := binary.LittleEndian
	var rec [stateRecordLen]byte
	for _, m := range st.Msgs {
		le.PutUint32(rec[0:], m.UID)
		le.PutUint32(rec[4:], uint32(m.zone))
		le.PutUint64(rec[8:], uint64(m.date))
		le.PutUint64(rec[16:], uint64(m.size))
		for j, r := range [...]strRef{m.flags, m.body, m.from, m.to, m.cc, m.subject, m.messageID, m.inReplyTo, m.references} {
			n := uint32(r & (1<<refLenBits - 1))
			off := uint32(0)
			if n > 0 {
				off = starts[r>>(refLenBits+refOffBits)] + uint32(r>>refLenBits&(1<<refOffBits-1))
			}
			le.PutUint32(rec[24+8*j:], off)
			le.PutUint32(rec[28+8*j:], n)
		}
		bw.Write(rec[:])
	}
	for _, blk := range st.strs.blocks {
		bw.Write(blk)
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	_, err := w.Write(binary.LittleEndian.AppendUint32(nil, h.Sum32()))
	return err
}

var errBadState = errors.New("corrupt imap state")

// decodeState parses a state file held in data.
func decodeState(data []byte) (*folderState, error) {
	if len(data) >= 8 && string(data[:8]) == imapStateMagicV1 {
		return decodeStateV1(data)
	}
	if len(data) < stateHeaderLen+4 || string(data[:8]) != imapStateMagic {
		return nil, errBadState
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, stateCRC) != sum {
		return nil, errBadState
	}
	count, strLen := stateSizes(body[:stateHeaderLen])
	recEnd := uint64(stateHeaderLen) + count*stateRecordLen
	if recEnd+strLen != uint64(len(body)) {
		return nil, errBadState
	}
	recs := body[stateHeaderLen:recEnd]
	return decodeParts(body[:stateHeaderLen], body[recEnd:], func(b []byte) error {
		recs = recs[copy(b, recs):]
		return nil
	})
}

// stateSizes reads the record count and the string section's length from
// a header.
func stateSizes(header []byte) (count, strLen uint64) {
	return uint64(binary.LittleEndian.Uint32(header[25:])), uint64(binary.LittleEndian.Uint32(header[29:]))
}

// decodeParts builds the state from the header and the string section of
// a file, and its records, which readRecs fills a chunk at a time (each a
// whole number of records) in file order. The string section becomes the
// arena's first block: no string is copied.
func decodeParts(header, strs []byte, readRecs func([]byte) error) (*folderState, error) {
	count, _ := stateSizes(header)
	if count > maxStateRecords || len(strs) > 1<<refOffBits {
		return nil, errBadState
	}
	st := newFolderState()
	st.UIDValidity = binary.LittleEndian.Uint32(header[8:])
	st.UIDNext = binary.LittleEndian.Uint32(header[12:])
	st.HighestModSeq = binary.LittleEndian.Uint64(header[16:])
	st.Complete = header[24] == 1
	st.dead = int64(binary.LittleEndian.Uint32(header[33:]))
	st.Msgs = make(map[uint32]*imapMsg, count)
	if len(strs) > 0 {
		st.strs.blocks = [][]byte{strs[:len(strs):len(strs)]}
	}
	slab := make([]imapMsg, count)
	// A chunk of records at a time: the records never sit in memory
	// twice, as file bytes and as imapMsgs.
	buf := make([]byte, min(count, 512)*stateRecordLen)
	var recs []byte
	for i := range slab {
		if len(recs) == 0 {
			recs = buf[:min(uint64(len(buf)), (count-uint64(i))*stateRecordLen)]
			if err := readRecs(recs); err != nil {
				return nil, errBadState
			}
		}
		r := recs[:stateRecordLen]
		recs = recs[stateRecordLen:]
		m := &slab[i]
		m.UID = binary.LittleEndian.Uint32(r)
		m.zone = int32(binary.LittleEndian.Uint32(r[4:]))
		m.date = int64(binary.LittleEndian.Uint64(r[8:]))
		m.size = int64(binary.LittleEndian.Uint64(r[16:]))
		var refs [9]strRef
		for j := range refs {
			off := uint64(binary.LittleEndian.Uint32(r[24+8*j:]))
			n := uint64(binary.LittleEndian.Uint32(r[28+8*j:]))
			if n == 0 {
				continue
			}
			if n > maxStateString || off+n > uint64(len(strs)) {
				return nil, errBadState
			}
			refs[j] = strRef(off<<refLenBits | n)
		}
		m.flags, m.body, m.from, m.to, m.cc, m.subject, m.messageID, m.inReplyTo, m.references =
			refs[0], refs[1], refs[2], refs[3], refs[4], refs[5], refs[6], refs[7], refs[8]
		if m.UID == 0 {
			return nil, errBadState
		}
		if _, dup := st.Msgs[m.UID]; dup {
			return nil, errBadState
		}
		if m.date != 0 {
			st.addZone(m.zone)
		}
		m.key = st.keyRef(m.UID)
		st.Msgs[m.UID] = m
		st.countUnread(m, 1)
	}
	return st, nil
}

// decodeStateV1 parses a file of the first format.
func decodeStateV1(data []byte) (*folderState, error) {
	if len(data) < 8+21+4+4 {
		return nil, errBadState
	}
	body, sum := data[:len(data)-4], binary.LittleEndian.Uint32(data[len(data)-4:])
	if crc32.Checksum(body, stateCRC) != sum {
		return nil, errBadState
	}
	p := 8
	u32 := func() uint32 { v := binary.LittleEndian.Uint32(body[p:]); p += 4; return v }
	u64 := func() uint64 { v := binary.LittleEndian.Uint64(body[p:]); p += 8; return v }
	st := newFolderState()
	st.UIDValidity = u32()
	st.UIDNext = u32()
	st.HighestModSeq = u64()
	st.Complete = body[p] == 1
	p++
	count := u32()
	if count > maxStateRecords || uint64(count)*(24+9) > uint64(len(body)) {
		return nil, errBadState
	}
	var bad bool
	str := func() string {
		l, n := binary.Uvarint(body[p:])
		if n <= 0 || l > maxStateString || uint64(p+n)+l > uint64(len(body)) {
			bad = true
			return ""
		}
		p += n
		v := string(body[p : p+int(l)])
		p += int(l)
		return v
	}
	for range count {
		if p+24 > len(body) {
			return nil, errBadState
		}
		uid := u32()
		var e Envelope
		e.Size = int64(u64())
		secs := int64(u64())
		off := int32(u32())
		if secs != 0 {
			e.Date = time.Unix(secs, 0).In(zoneOf(st.zones, off))
		}
		e.Flags = maildir.Flags(str())
		bodyKey := str()
		e.From, e.To, e.Cc, e.Subject = str(), str(), str(), str()
		e.MessageID, e.InReplyTo, e.References = str(), str(), str()
		if bad || uid == 0 {
			return nil, errBadState
		}
		st.put(uid, bodyKey, &e)
	}
	if p != len(body) {
		return nil, errBadState
	}
	return st, nil
}

// loadState reads the state of a folder; a missing or corrupt file gives
// an empty state (the cache is rebuilt from the server). The records and
// the string section are read into buffers of their own, so the records'
// bytes are not kept once decoded.
func loadState(dir string) *folderState {
	st, err := readState(filepath.Join(dir, imapStateFile))
	if err != nil {
		return newFolderState()
	}
	return st
}

func readState(path string) (*folderState, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, err
	}
	header := make([]byte, stateHeaderLen)
	if _, err := io.ReadFull(f, header); err != nil {
		return nil, errBadState
	}
	if string(header[:8]) != imapStateMagic {
		data, err := os.ReadFile(path)
		if err != nil {
			return nil, err
		}
		return decodeState(data)
	}
	count, strLen := stateSizes(header)
	recLen := count * stateRecordLen
	if count > maxStateRecords || uint64(stateHeaderLen)+recLen+strLen+4 != uint64(fi.Size()) {
		return nil, errBadState
	}
	// The string section first (it is the arena), then the records, a
	// chunk at a time; the checksum covers them in file order and is
	// checked before the state is used.
	strs := make([]byte, strLen)
	if _, err := f.ReadAt(strs, int64(stateHeaderLen+recLen)); err != nil {
		return nil, errBadState
	}
	sum := crc32.Checksum(header, stateCRC)
	st, err := decodeParts(header, strs, func(b []byte) error {
		if _, err := io.ReadFull(f, b); err != nil {
			return err
		}
		sum = crc32.Update(sum, stateCRC, b)
		return nil
	})
	if err != nil {
		return nil, err
	}
	var trailer [4]byte
	if _, err := f.ReadAt(trailer[:], int64(stateHeaderLen+recLen+strLen)); err != nil {
		return nil, errBadState
	}
	if crc32.Update(sum, stateCRC, strs) != binary.LittleEndian.Uint32(trailer[:]) {
		return nil, errBadState
	}
	return st, nil
}

// saveState writes the state of a folder atomically and durably, first
// dropping the strings no message uses any more when they are many.
func saveState(dir string, st *folderState) error {
	st.compact()
	return maildir.WriteFile(filepath.Join(dir, imapStateFile), st.writeTo)
}
