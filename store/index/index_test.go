package index

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailbag/mailbag/store/maildir"
)

func msg(subject string, n int) string {
	return fmt.Sprintf("Date: Mon, 2 Jun 2025 10:%02d:00 +0900\nFrom: Bob <bob@example.test>\nTo: Alice <alice@example.test>\n"+
		"Subject: %s\nMessage-ID: <m%d@example.test>\nIn-Reply-To: <m%d@example.test>\nReferences: <m0@example.test> <m%d@example.test>\n\nbody %d\n",
		n%60, subject, n, n-1, n-1, n)
}

func newFolder(t *testing.T) *maildir.Folder {
	t.Helper()
	d, err := maildir.Open(filepath.Join(t.TempDir(), "Mail"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := d.Folder(maildir.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func deliver(t *testing.T, f *maildir.Folder, subject string, n int, flags maildir.Flags) maildir.Entry {
	t.Helper()
	e, err := f.Deliver(strings.NewReader(msg(subject, n)), flags)
	if err != nil {
		t.Fatal(err)
	}
	return e
}

func byKey(envs []Envelope) map[string]Envelope {
	m := make(map[string]Envelope, len(envs))
	for _, e := range envs {
		m[e.Key] = e
	}
	return m
}

func load(t *testing.T, ix *Index) []Envelope {
	t.Helper()
	envs, err := ix.Load()
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return envs
}

// ageDirs sets the modification time of new/ and cur/ into the past, so
// Load may trust them (see racyWindow).
func ageDirs(t *testing.T, f *maildir.Folder) {
	t.Helper()
	old := time.Now().Add(-time.Hour)
	for _, sub := range []string{"new", "cur"} {
		if err := os.Chtimes(filepath.Join(f.Path(), sub), old, old); err != nil {
			t.Fatal(err)
		}
	}
}

func TestLoadParses(t *testing.T) {
	f := newFolder(t)
	e := deliver(t, f, "=?UTF-8?B?5pel5pys6Kqe?= hello", 7, "FS")
	envs := load(t, Open(f, nil))
	if len(envs) != 1 {
		t.Fatalf("Load() = %d envelopes, want 1", len(envs))
	}
	got := envs[0]
	want := Envelope{
		Key: e.Key, Name: e.Name, Size: int64(len(msg("=?UTF-8?B?5pel5pys6Kqe?= hello", 7))),
		From: "Bob <bob@example.test>", To: "Alice <alice@example.test>", Subject: "日本語 hello",
		MessageID: "m7@example.test", InReplyTo: "m6@example.test", References: "m0@example.test m6@example.test",
		Flags: "FS",
	}
	wantDate := time.Date(2025, 6, 2, 10, 7, 0, 0, time.FixedZone("", 9*3600))
	if !got.Date.Equal(wantDate) {
		t.Fatalf("Date = %v, want %v", got.Date, wantDate)
	}
	got.Date = time.Time{}
	if got != want {
		t.Fatalf("Load()[0] = %+v\nwant %+v", got, want)
	}
	// From the index: the same, zone offset included.
	again := load(t, Open(f, nil))
	if _, off := again[0].Date.Zone(); off != 9*3600 || !again[0].Date.Equal(wantDate) {
		t.Fatalf("indexed Date = %v, want %v", again[0].Date, wantDate)
	}
	again[0].Date = time.Time{}
	if again[0] != want {
		t.Fatalf("indexed = %+v\nwant %+v", again[0], want)
	}
	st, err := os.Stat(filepath.Join(f.Path(), FileName))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("index file: %v, %v; want mode 0600", st, err)
	}
}

func TestLoadIncremental(t *testing.T) {
	f := newFolder(t)
	var es []maildir.Entry
	for i := range 10 {
		es = append(es, deliver(t, f, fmt.Sprintf("subject %d", i), i, ""))
	}
	ix := Open(f, nil)
	first := byKey(load(t, ix))
	if len(first) != 10 {
		t.Fatalf("Load() = %d envelopes, want 10", len(first))
	}
	// Another program: marks es[0] seen (and, to prove Load does not
	// parse it again, overwrites its content), removes es[1]; a new
	// message arrives.
	seen := filepath.Join(f.Path(), "cur", es[0].Key+":2,S")
	if err := os.Rename(filepath.Join(f.Path(), es[0].Name), seen); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(seen, []byte(msg("CHANGED", 0)), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(f.Path(), es[1].Name)); err != nil {
		t.Fatal(err)
	}
	added := deliver(t, f, "new one", 99, "")

	got := byKey(load(t, ix))
	if len(got) != 10 {
		t.Fatalf("Load() = %d envelopes, want 10", len(got))
	}
	if e := got[es[0].Key]; e.Name != "cur/"+es[0].Key+":2,S" || e.Flags != "S" || e.Subject != "subject 0" {
		t.Fatalf("renamed message = %+v, want new name and flags, old (unparsed) subject", e)
	}
	if _, ok := got[es[1].Key]; ok {
		t.Fatalf("removed message still listed")
	}
	if e := got[added.Key]; e.Subject != "new one" || e.Name != added.Name {
		t.Fatalf("new message = %+v", e)
	}
	for _, e := range es[2:] {
		if got[e.Key] != first[e.Key] {
			t.Fatalf("unchanged message %s = %+v, want %+v", e.Key, got[e.Key], first[e.Key])
		}
	}
	// The rewritten index holds the same.
	envs, _, err := readIndex(ix.Path())
	if err != nil {
		t.Fatalf("readIndex after Load: %v", err)
	}
	if again := byKey(envs); len(again) != len(got) || again[es[0].Key] != got[es[0].Key] {
		t.Fatalf("index after Load differs from Load")
	}
}

// TestLoadStamp shows that Load trusts unchanged directories (it does not
// see a rename whose directory times were put back) and lists changed ones.
func TestLoadStamp(t *testing.T) {
	f := newFolder(t)
	e := deliver(t, f, "one", 1, "")
	deliver(t, f, "two", 2, "S")
	ageDirs(t, f)
	ix := Open(f, nil)
	load(t, ix) // writes the index with a trusted stamp
	newDir := filepath.Join(f.Path(), "new")
	st, err := os.Stat(newDir)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(filepath.Join(f.Path(), e.Name), filepath.Join(newDir, e.Key+":2,F")); err != nil {
		t.Fatal(err)
	}
	if err := os.Chtimes(newDir, st.ModTime(), st.ModTime()); err != nil {
		t.Fatal(err)
	}
	if got := byKey(load(t, ix))[e.Key]; got.Name != e.Name {
		t.Fatalf("with the stamp put back, Load listed: %+v", got)
	}
	// Now a real change: the directory time moves on.
	deliver(t, f, "three", 3, "")
	got := byKey(load(t, ix))
	if len(got) != 3 || got[e.Key].Name != "new/"+e.Key+":2,F" || got[e.Key].Flags != "F" {
		t.Fatalf("after a change Load() = %+v", got)
	}
}

func TestCorruptIndex(t *testing.T) {
	f := newFolder(t)
	for i := range 5 {
		deliver(t, f, fmt.Sprintf("s%d", i), i, "")
	}
	ix := Open(f, nil)
	want := byKey(load(t, ix))
	good, err := os.ReadFile(ix.Path())
	if err != nil {
		t.Fatal(err)
	}
	flip := func(off int) []byte {
		b := append([]byte(nil), good...)
		b[off] ^= 0x40
		return b
	}
	tests := []struct {
		name string
		data []byte
	}{
		{"empty", nil},
		{"truncated header", good[:10]},
		{"truncated records", good[:headerSize+recordSize+3]},
		{"truncated blob", good[:len(good)-1]},
		{"trailing garbage", append(append([]byte(nil), good...), 'x')},
		{"bad checksum", flip(len(good) - 2)},
		{"flipped record", flip(headerSize + 5)},
		{"flipped stamp", flip(40)},
		{"old version", func() []byte { b := append([]byte(nil), good...); b[8] = 0; return b }()},
		{"bad magic", flip(0)},
		{"garbage", []byte(strings.Repeat("garbage!", 100))},
		{"huge count", func() []byte { b := append([]byte(nil), good...); b[15] = 0xff; return b }()},
	}
	for _, tt := range tests {
		if err := os.WriteFile(ix.Path(), tt.data, 0o600); err != nil {
			t.Fatal(err)
		}
		if _, _, err := readIndex(ix.Path()); !errors.Is(err, errCorrupt) {
			t.Fatalf("%s: readIndex err = %v, want errCorrupt", tt.name, err)
		}
		got := byKey(load(t, ix))
		if len(got) != len(want) {
			t.Fatalf("%s: Load() = %d envelopes, want %d", tt.name, len(got), len(want))
		}
		for k, w := range want {
			if !got[k].Date.Equal(w.Date) {
				t.Fatalf("%s: %s Date = %v, want %v", tt.name, k, got[k].Date, w.Date)
			}
			g := got[k]
			g.Date, w.Date = time.Time{}, time.Time{}
			if g != w {
				t.Fatalf("%s: %s = %+v, want %+v", tt.name, k, g, w)
			}
		}
		if _, _, err := readIndex(ix.Path()); err != nil {
			t.Fatalf("%s: index not rebuilt: %v", tt.name, err)
		}
	}
	// A directory where the index should be: Load still works.
	os.Remove(ix.Path())
	if err := os.Mkdir(ix.Path(), 0o700); err != nil {
		t.Fatal(err)
	}
	if got := load(t, ix); len(got) != len(want) {
		t.Fatalf("with a directory as index: %d envelopes", len(got))
	}
}

func TestAtomicWrite(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	f := newFolder(t)
	ix := Open(f, nil)
	var wg sync.WaitGroup
	done := make(chan struct{})
	wg.Go(func() {
		defer close(done)
		for i := range 30 {
			deliver(t, f, "m", i, "")
			if _, err := ix.Load(); err != nil {
				t.Errorf("Load: %v", err)
				return
			}
		}
	})
	// A reader racing the writer sees either no index or a whole one.
	reads := 0
	for {
		select {
		case <-done:
			wg.Wait()
			if reads == 0 {
				t.Logf("reader never overlapped the writer")
			}
			names, _ := os.ReadDir(f.Path())
			for _, n := range names {
				if strings.Contains(n.Name(), ".tmp") {
					t.Fatalf("temporary file %s left behind", n.Name())
				}
			}
			st, err := os.Stat(ix.Path())
			if err != nil || st.Mode().Perm() != 0o600 {
				t.Fatalf("index under umask 0: %v, %v; want 0600", st, err)
			}
			return
		default:
		}
		if _, _, err := readIndex(ix.Path()); err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("reader saw a partial index: %v", err)
		}
		reads++
	}
}

// TestConcurrentForeignRename renames and removes files while Load parses
// them; Load must neither fail nor report a key twice, and the next Load
// must match the directory exactly.
func TestConcurrentForeignRename(t *testing.T) {
	f := newFolder(t)
	var es []maildir.Entry
	b := f.NewBatch()
	for i := range 600 {
		e, err := b.Add(strings.NewReader(msg("s", i)), "")
		if err != nil {
			t.Fatal(err)
		}
		es = append(es, e)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	ix := Open(f, &Options{Workers: 3})
	var wg sync.WaitGroup
	wg.Go(func() {
		for i, e := range es {
			var err error
			switch i % 3 {
			case 0:
				_, err = f.SetFlags(e, "S")
			case 1:
				err = f.Remove(e)
			}
			if err != nil {
				t.Errorf("foreign change: %v", err)
				return
			}
		}
	})
	for range 3 {
		envs, err := ix.Load()
		if err != nil {
			t.Errorf("Load during foreign changes: %v", err)
		}
		if len(byKey(envs)) != len(envs) {
			t.Errorf("Load reported a key twice")
		}
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	envs := load(t, ix)
	list, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	var got, want []string
	for _, e := range envs {
		got = append(got, e.Name)
		if e.Subject != "s" {
			t.Fatalf("%s: subject %q", e.Name, e.Subject)
		}
	}
	for _, e := range list {
		want = append(want, e.Name)
	}
	sort.Strings(got)
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("after foreign changes Load() has %d names, directory %d", len(got), len(want))
	}
}

func TestSummarize(t *testing.T) {
	f := newFolder(t)
	e := deliver(t, f, "single", 3, "")
	if err := os.Rename(filepath.Join(f.Path(), e.Name), filepath.Join(f.Path(), "cur", e.Key+":2,RS")); err != nil {
		t.Fatal(err)
	}
	env, err := Summarize(f, e)
	if err != nil || env.Subject != "single" || env.Flags != "RS" || env.Name != "cur/"+e.Key+":2,RS" || env.Size == 0 {
		t.Fatalf("Summarize = %+v, %v", env, err)
	}
	os.Remove(filepath.Join(f.Path(), env.Name))
	if _, err := Summarize(f, e); !errors.Is(err, maildir.ErrNotFound) {
		t.Fatalf("Summarize(removed) err = %v, want ErrNotFound", err)
	}
}

func TestLoadSkipsSpecialFiles(t *testing.T) {
	f := newFolder(t)
	deliver(t, f, "real", 1, "")
	if err := syscall.Mkfifo(filepath.Join(f.Path(), "new", "fifo"), 0o600); err != nil {
		t.Skip("no mkfifo:", err)
	}
	envs := load(t, Open(f, nil)) // must not hang on the FIFO
	if len(envs) != 2 {
		t.Fatalf("Load() = %d envelopes, want 2 (the FIFO listed, unparsed)", len(envs))
	}
}

func TestEmptyFolder(t *testing.T) {
	f := newFolder(t)
	ix := Open(f, nil)
	if envs := load(t, ix); len(envs) != 0 {
		t.Fatalf("Load() = %d envelopes", len(envs))
	}
	if _, _, err := readIndex(ix.Path()); err != nil {
		t.Fatalf("empty index: %v", err)
	}
}

func FuzzReadIndex(f *testing.F) {
	envs := []Envelope{{Key: "k", Name: "cur/k:2,S", Subject: "s", From: "a", Date: time.Unix(1e9, 0)}}
	hdr, recs, blob, _ := encode(envs, stamp{1, 2, 3, 4})
	f.Add(append(append(append([]byte(nil), hdr...), recs...), blob...))
	f.Add([]byte(magic))
	f.Fuzz(func(t *testing.T, data []byte) {
		p := filepath.Join(t.TempDir(), FileName)
		if err := os.WriteFile(p, data, 0o600); err != nil {
			t.Fatal(err)
		}
		envs, _, err := readIndex(p)
		if err != nil {
			return
		}
		for _, e := range envs {
			if _, ok := maildir.ParseName(e.Name); !ok {
				t.Fatalf("readIndex accepted name %q", e.Name)
			}
		}
	})
}
