package account

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unsafe"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/mailtest"
)

func TestStrArena(t *testing.T) {
	long := strings.Repeat("x", arenaBlock+1)
	tests := []struct {
		name string
		in   []string
	}{
		{"empty", []string{"", ""}},
		{"small", []string{"a", "bc", "Sender 1 <sender1@example.test>"}},
		{"long", []string{long, "after"}},
		// Enough to need several blocks: earlier strings must not change.
		{"blocks", func() []string {
			var s []string
			for i := range 30000 {
				s = append(s, strings.Repeat(string(rune('a'+i%26)), 1+i%40))
			}
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var a strArena
			var put, shared []strRef
			for _, s := range tt.in {
				put = append(put, a.put(s))
				shared = append(shared, a.shared(s))
			}
			for i, s := range tt.in {
				if got := a.get(put[i]); got != s {
					t.Fatalf("get(put(%.20q)) = %.20q", s, got)
				}
				if got := a.get(shared[i]); got != s {
					t.Fatalf("get(shared(%.20q)) = %.20q", s, got)
				}
			}
		})
	}
}

func TestStrArenaSharesAndCuts(t *testing.T) {
	var a strArena
	x := a.shared("Sender 7 <sender7@example.test>")
	y := a.shared(strings.Clone("Sender 7 <sender7@example.test>"))
	if x != y || unsafe.StringData(a.get(x)) != unsafe.StringData(a.get(y)) {
		t.Fatalf("shared twice gave two copies, want one")
	}
	// Longer than a string may be: cut at a character boundary.
	huge := strings.Repeat("é", maxStateString)
	got := a.get(a.put(huge))
	if len(got) > maxStateString || len(got) < maxStateString-1 || !strings.HasPrefix(huge, got) {
		t.Fatalf("put of %d bytes kept %d bytes", len(huge), len(got))
	}
}

// encode returns the state file's bytes.
func (st *folderState) encode() []byte {
	var b bytes.Buffer
	st.writeTo(&b)
	return b.Bytes()
}

func sampleState() *folderState {
	st := newFolderState()
	st.UIDValidity, st.UIDNext, st.HighestModSeq, st.Complete = 7, 10, 99, true
	date := time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 3600))
	st.put(3, "k", &Envelope{Size: 12, Date: date, Subject: "héllo", From: "A <a@x>", Flags: "RS",
		References: "a b", MessageID: "m3@x"})
	st.put(5, "", &Envelope{From: "A <a@x>"})
	st.put(8, "", &Envelope{Subject: strings.Repeat("s", 10000), Date: date.UTC()})
	return st
}

func TestIMAPStateRoundTrip(t *testing.T) {
	st := sampleState()
	got, err := decodeState(st.encode())
	if err != nil {
		t.Fatalf("decodeState: %v", err)
	}
	if got.UIDValidity != 7 || got.UIDNext != 10 || got.HighestModSeq != 99 || !got.Complete || len(got.Msgs) != 3 {
		t.Fatalf("decodeState header = %+v", got)
	}
	for uid, m := range st.Msgs {
		want, have := st.env(m), got.env(got.Msgs[uid])
		if want.Key != have.Key || want.Subject != have.Subject || !want.Date.Equal(have.Date) ||
			want.Flags != have.Flags || want.From != have.From || want.References != have.References ||
			want.MessageID != have.MessageID || want.Size != have.Size || st.bodyKey(m) != got.bodyKey(got.Msgs[uid]) {
			t.Fatalf("uid %d: decoded %+v, want %+v", uid, have, want)
		}
	}
	if e := got.env(got.Msgs[3]); e.Key != "7.0000000003" || e.Date.Format(time.RFC3339) != "2024-05-06T07:08:09+01:00" {
		t.Fatalf("key %q, date %v", e.Key, e.Date)
	}
	// Changes after decoding go to new blocks and survive another trip.
	m := got.Msgs[5]
	got.setFlags(m, "FS")
	got.setBodyKey(m, "body5")
	got.put(9, "", &Envelope{Subject: "new"})
	again, err := decodeState(got.encode())
	if err != nil {
		t.Fatal(err)
	}
	if e := again.env(again.Msgs[5]); e.Flags != "FS" || again.bodyKey(again.Msgs[5]) != "body5" || e.From != "A <a@x>" {
		t.Fatalf("after changes: %+v", e)
	}
	if again.env(again.Msgs[9]).Subject != "new" {
		t.Fatal("message added after decoding lost")
	}
	b := st.encode()
	for _, cut := range []int{0, 10, len(b) / 2, len(b) - 1} {
		if _, err := decodeState(b[:cut]); err == nil {
			t.Fatalf("decodeState(truncated to %d) succeeded", cut)
		}
	}
}

// readState reads the file in parts; it must agree with decodeState and
// refuse what decodeState refuses.
func TestIMAPReadState(t *testing.T) {
	dir := t.TempDir()
	st := sampleState()
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	got := loadState(dir)
	if len(got.Msgs) != 3 || got.env(got.Msgs[3]).Subject != "héllo" {
		t.Fatalf("loadState = %d messages", len(got.Msgs))
	}
	path := filepath.Join(dir, imapStateFile)
	data, _ := os.ReadFile(path)
	data[len(data)/2] ^= 1
	os.WriteFile(path, data, 0o600)
	if got := loadState(dir); len(got.Msgs) != 0 {
		t.Fatalf("a corrupt file gave %d messages, want an empty cache", len(got.Msgs))
	}
}

// encodeV1 writes the first format, to check it is still read.
func encodeV1(st *folderState) []byte {
	var b bytes.Buffer
	b.WriteString(imapStateMagicV1)
	le := binary.LittleEndian
	b.Write(le.AppendUint32(nil, st.UIDValidity))
	b.Write(le.AppendUint32(nil, st.UIDNext))
	b.Write(le.AppendUint64(nil, st.HighestModSeq))
	b.WriteByte(1)
	b.Write(le.AppendUint32(nil, uint32(len(st.Msgs))))
	str := func(s string) {
		b.Write(binary.AppendUvarint(nil, uint64(len(s))))
		b.WriteString(s)
	}
	for uid, m := range st.Msgs {
		e := st.env(m)
		b.Write(le.AppendUint32(nil, uid))
		b.Write(le.AppendUint64(nil, uint64(e.Size)))
		var secs int64
		var off int
		if !e.Date.IsZero() {
			secs = e.Date.Unix()
			_, off = e.Date.Zone()
		}
		b.Write(le.AppendUint64(nil, uint64(secs)))
		b.Write(le.AppendUint32(nil, uint32(int32(off))))
		for _, s := range []string{string(e.Flags), st.bodyKey(m), e.From, e.To, e.Cc, e.Subject, e.MessageID, e.InReplyTo, e.References} {
			str(s)
		}
	}
	return le.AppendUint32(b.Bytes(), crc32.Checksum(b.Bytes(), stateCRC))
}

func TestIMAPStateV1(t *testing.T) {
	st := sampleState()
	got, err := decodeState(encodeV1(st))
	if err != nil {
		t.Fatalf("decodeState(v1): %v", err)
	}
	if len(got.Msgs) != 3 || got.bodyKey(got.Msgs[3]) != "k" || got.env(got.Msgs[3]).Subject != "héllo" || !got.Complete {
		t.Fatalf("v1 decoded to %d messages: %+v", len(got.Msgs), got.env(got.Msgs[3]))
	}
}

func FuzzDecodeState(f *testing.F) {
	// Small seeds: the fuzzer minimises every input that finds something
	// new, and a large one keeps it minimising rather than fuzzing.
	st := newFolderState()
	st.UIDValidity, st.UIDNext = 7, 10
	st.put(3, "k", &Envelope{Subject: "héllo", From: "A <a@x>", Flags: "RS", References: "a b",
		Date: time.Date(2024, 5, 6, 7, 8, 9, 0, time.FixedZone("", 3600))})
	st.put(5, "", &Envelope{From: "A <a@x>"})
	f.Add(st.encode())
	f.Add(encodeV1(st))
	f.Add([]byte(imapStateMagic))
	f.Fuzz(func(t *testing.T, b []byte) {
		// A right checksum, so that the fuzzer gets past it to the parser.
		if len(b) >= 4 {
			b = bytes.Clone(b)
			binary.LittleEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], stateCRC))
		}
		st, err := decodeState(b) // must not panic or allocate without bound
		if err != nil {
			return
		}
		for _, m := range st.Msgs {
			st.env(m)
		}
		if _, err := decodeState(st.encode()); err != nil {
			t.Fatalf("a decoded state does not decode after encoding: %v", err)
		}
	})
}

func TestMsgID(t *testing.T) {
	for _, tc := range []struct {
		uv, uid uint32
		want    MsgID
	}{
		{1, 1, "1.0000000001"},
		{7, 12345, "7.0000012345"},
		{4294967295, 4294967295, "4294967295.4294967295"},
		{3, 1000000000, "3.1000000000"},
		{3, 999999999, "3.0999999999"},
	} {
		id := msgID(tc.uv, tc.uid)
		if id != tc.want {
			t.Errorf("msgID(%d, %d) = %q, want %q", tc.uv, tc.uid, id, tc.want)
		}
		if uv, uid, ok := parseMsgID(id); !ok || uv != tc.uv || uid != tc.uid {
			t.Errorf("parseMsgID(%q) = %d, %d, %v", id, uv, uid, ok)
		}
	}
	if msgID(9, 99) >= msgID(9, 100) {
		t.Error("ids do not sort as their UIDs")
	}
}

// Two Lists of a large folder at once, each building envelopes from a
// view of the cache read without the lock: with dates in many zones they
// must neither race nor lose one.
func TestIMAPListLargeFolder(t *testing.T) {
	s := newMemServer(t, mailtest.IMAPOptions{})
	dir := t.TempDir()
	a := newTestIMAP(t, s, dir, nil)
	inbox, err := a.dir.Folder("INBOX")
	if err != nil {
		t.Fatal(err)
	}
	st := newFolderState()
	st.UIDValidity, st.UIDNext, st.Complete = 5, 20001, true
	base := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	for uid := uint32(1); uid <= 20000; uid++ {
		zone := time.FixedZone("", (int(uid)%40-20)*1800)
		st.put(uid, "", &Envelope{Subject: fmt.Sprintf("message %d", uid), Date: base.Add(time.Duration(uid) * time.Minute).In(zone)})
	}
	if err := saveState(inbox.Path(), st); err != nil {
		t.Fatal(err)
	}
	a.Close()
	b := newTestIMAP(t, s, dir, nil)
	var wg sync.WaitGroup
	for range 2 {
		wg.Go(func() {
			envs, err := b.List(testCtx(t), "INBOX")
			if err != nil || len(envs) != 20000 {
				t.Errorf("List = %d envelopes, %v", len(envs), err)
				return
			}
			for i, e := range envs {
				uid := uint32(i + 1)
				want := base.Add(time.Duration(uid) * time.Minute)
				_, off := e.Date.Zone()
				if e.Key != string(msgID(5, uid)) || !e.Date.Equal(want) || off != (int(uid)%40-20)*1800 {
					t.Errorf("envelope %d = %s %v, want %s %v", i, e.Key, e.Date, msgID(5, uid), want)
					return
				}
			}
		})
	}
	wg.Wait()
}

// The strings of removed messages are counted, survive a reload as a
// count, and are dropped once they are a third of the arena: the state
// file does not grow with the messages a folder had over its life.
func TestIMAPStateCompacts(t *testing.T) {
	dir := t.TempDir()
	st := newFolderState()
	st.UIDValidity = 3
	for uid := uint32(1); uid <= 6000; uid++ {
		st.put(uid, fmt.Sprintf("body-key-%d", uid), &Envelope{Subject: fmt.Sprintf("subject of message number %d", uid),
			MessageID: fmt.Sprintf("message-%d@example.test", uid), From: "A <a@example.test>", Flags: "S"})
	}
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, imapStateFile)
	full, _ := os.Stat(path)
	// A few removals: counted, kept, and the count survives a reload.
	for uid := uint32(1); uid <= 100; uid++ {
		st.remove(uid)
	}
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	st = loadState(dir)
	if len(st.Msgs) != 5900 || st.dead == 0 {
		t.Fatalf("after reload: %d messages, %d dead bytes; want 5900 and the dead count kept", len(st.Msgs), st.dead)
	}
	// Most of the folder goes: the next save drops the dead strings.
	for uid := uint32(101); uid <= 5000; uid++ {
		st.remove(uid)
	}
	if err := saveState(dir, st); err != nil {
		t.Fatal(err)
	}
	small, _ := os.Stat(path)
	if small.Size()*3 > full.Size() {
		t.Fatalf("state file %d bytes with 1,000 of 6,000 messages left, was %d: not compacted", small.Size(), full.Size())
	}
	got := loadState(dir)
	if len(got.Msgs) != 1000 || got.dead != 0 {
		t.Fatalf("after compaction: %d messages, %d dead bytes", len(got.Msgs), got.dead)
	}
	for uid := uint32(5001); uid <= 6000; uid++ {
		m := got.Msgs[uid]
		e := got.env(m)
		if e.Subject != fmt.Sprintf("subject of message number %d", uid) || got.bodyKey(m) != fmt.Sprintf("body-key-%d", uid) ||
			e.From != "A <a@example.test>" || e.Flags != "S" || e.Key != string(msgID(3, uid)) {
			t.Fatalf("uid %d after compaction: %+v", uid, e)
		}
	}
}

// A view shows the cache as it was when it was made while the cache
// changes flags, gains, replaces and loses messages and compacts its
// strings, with the view read from another goroutine meanwhile (under
// -race, the race detector checks that they share nothing written).
func TestFolderViewIsASnapshot(t *testing.T) {
	dir := t.TempDir()
	st := newFolderState()
	st.UIDValidity = 3
	env := func(uid uint32, zone int) *Envelope {
		return &Envelope{Subject: fmt.Sprintf("subject of message number %d", uid), Size: int64(uid),
			MessageID: fmt.Sprintf("message-%d@example.test", uid), From: "A <a@example.test>", Flags: "S",
			Date: time.Date(2026, 1, 2, 3, 4, int(uid), 0, time.FixedZone("", zone*3600))}
	}
	for uid := uint32(1); uid <= 6000; uid++ {
		st.put(uid, fmt.Sprintf("body-key-%d", uid), env(uid, 1))
	}
	v := st.view()
	want := make([]Envelope, v.Len())
	for i := range want {
		want[i] = v.At(i)
	}
	if len(want) != 6000 || want[0].Key != string(msgID(3, 1)) || want[5999].Subject != "subject of message number 6000" {
		t.Fatalf("view: %d envelopes, first %+v, last %+v", len(want), want[0], want[len(want)-1])
	}
	check := func() int {
		bad := 0
		for i := range want {
			if got := v.At(i); got != want[i] {
				bad++
			}
		}
		return bad
	}
	var stop atomic.Bool
	var wg sync.WaitGroup
	var passes, bad int
	wg.Go(func() {
		for !stop.Load() || passes == 0 {
			bad += check()
			passes++
		}
	})
	for uid := uint32(1); uid <= 6000; uid++ {
		st.setFlags(st.Msgs[uid], "FS")
		st.setBodyKey(st.Msgs[uid], "")
	}
	for uid := uint32(6001); uid <= 7000; uid++ {
		st.put(uid, "", env(uid, int(uid%12)))
	}
	st.put(6000, "", env(7000, 5))
	for uid := uint32(1); uid <= 5000; uid++ {
		st.remove(uid)
	}
	if err := saveState(dir, st); err != nil { // compacts: most strings are dead
		t.Fatal(err)
	}
	stop.Store(true)
	wg.Wait()
	if bad != 0 || check() != 0 {
		t.Fatalf("%d envelopes of the view changed over %d passes while the cache changed", bad, passes)
	}
	if st.dead != 0 {
		t.Fatalf("the cache was not compacted (%d dead bytes): the test misses that case", st.dead)
	}
	now := st.view()
	if now.Len() != 2000 || now.At(0).Flags != "FS" || now.At(999).Subject != "subject of message number 7000" {
		t.Fatalf("a new view: %d envelopes, first %+v", now.Len(), now.At(0))
	}
}

// TestFolderViewSortKeys checks the view's SortKeys against At: the list
// sorts by them, so a difference would put messages out of date order.
func TestFolderViewSortKeys(t *testing.T) {
	st := newFolderState()
	st.UIDValidity = 9
	for uid := uint32(1); uid <= 50; uid++ {
		e := &Envelope{Subject: "s", Date: time.Date(2026, 3, 1, 12, 0, int(uid%7), 0, time.FixedZone("", int(uid%5)*-3600))}
		if uid%10 == 0 {
			e.Date = time.Time{} // no Date header, no INTERNALDATE
		}
		st.put(uid, "", e)
	}
	v := st.view()
	v.files = []Envelope{
		{Key: "1700000000.M1P1.host", Date: time.Date(2025, 1, 1, 0, 0, 0, 5, time.UTC)},
		{Key: "1700000001.M2P1.host"},
	}
	var k SortKeys = v
	for i := range v.Len() {
		e := v.At(i)
		if d := k.DateAt(i); !d.Equal(e.Date) || d.IsZero() != e.Date.IsZero() {
			t.Errorf("envelope %d: DateAt %v, At(i).Date %v", i, d, e.Date)
		}
		if key := k.KeyAt(i); key != e.Key {
			t.Errorf("envelope %d: KeyAt %q, At(i).Key %q", i, key, e.Key)
		}
	}
}

// TestFolderStateUnreadCount drives a cache through random puts, flag
// changes, removals, compactions and reloads, and compares the unread
// count it keeps with a count of the messages.
func TestFolderStateUnreadCount(t *testing.T) {
	dir := t.TempDir()
	rng := rand.New(rand.NewPCG(1, 2))
	flags := []maildir.Flags{"", "S", "FS", "F", "RS", "T"}
	st := newFolderState()
	st.UIDValidity = 5
	check := func(step int, what string) {
		t.Helper()
		want := 0
		for _, m := range st.Msgs {
			if !st.flags(m).Has(maildir.FlagSeen) {
				want++
			}
		}
		if total, unread := (&folderCache{st: st}).counts(); unread != want || total != len(st.Msgs) {
			t.Fatalf("step %d (%s): counts %d total, %d unread; the messages: %d, %d", step, what, total, unread, len(st.Msgs), want)
		}
	}
	for step := range 3000 {
		uid := uint32(1 + rng.IntN(300))
		var what string
		switch op := rng.IntN(10); {
		case op < 4:
			what = "put"
			st.put(uid, "", &Envelope{Subject: strings.Repeat("s", rng.IntN(400)), Flags: flags[rng.IntN(len(flags))]})
		case op < 7:
			what = "setFlags"
			if m, ok := st.Msgs[uid]; ok {
				st.setFlags(m, flags[rng.IntN(len(flags))])
			}
		case op < 9:
			what = "remove"
			st.remove(uid)
		default:
			what = "save and load"
			if err := saveState(dir, st); err != nil { // compacts when due
				t.Fatal(err)
			}
			check(step, "save")
			st = loadState(dir)
			if len(st.Msgs) == 0 && st.UIDValidity != 5 {
				t.Fatalf("step %d: the state did not load", step)
			}
		}
		check(step, what)
	}
}
