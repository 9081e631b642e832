package maildir

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

func TestParseFlags(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"S", "S"},
		{"SRF", "FRS"},
		{"SSS", "S"},
		{"a,S1 F\x00", "FSa"},
		{"zaZA", "AZaz"},
	}
	for _, tt := range tests {
		if got := ParseFlags(tt.in); string(got) != tt.want {
			t.Fatalf("ParseFlags(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Flags("FS").With("RS"); got != "FRS" {
		t.Fatalf(`Flags("FS").With("RS") = %q, want "FRS"`, got)
	}
	if got := Flags("FRS").Without("SX"); got != "FR" {
		t.Fatalf(`Flags("FRS").Without("SX") = %q, want "FR"`, got)
	}
	if !Flags("FS").Has(FlagSeen) || Flags("FS").Has(FlagReplied) {
		t.Fatalf(`Flags("FS").Has wrong`)
	}
}

func TestDirName(t *testing.T) {
	good := []struct{ in, want string }{
		{"INBOX", ""},
		{"inbox", ""},
		{"Sent", ".Sent"},
		{"a/b", ".a.b"},
		{"a/b/c", ".a.b.c"},
		{"Entwürfe", ".Entwürfe"},
		{"日本語/メール", ".日本語.メール"},
		{"with space", ".with space"},
	}
	for _, tt := range good {
		got, err := dirName(tt.in)
		if err != nil || got != tt.want {
			t.Fatalf("dirName(%q) = %q, %v, want %q", tt.in, got, err, tt.want)
		}
	}
	bad := []string{"", "/", "/a", "a/", "a//b", "..", "../x", "a/../b", ".", "./a", ".hidden",
		"a.b", "x\x00y", "tab\there", "del\x7f", "\xff\xfe", "c1\u0085", `back\slash`, strings.Repeat("x", 300)}
	for _, in := range bad {
		if got, err := dirName(in); err == nil {
			t.Fatalf("dirName(%q) = %q, want an error", in, got)
		}
	}
}

func newDir(t *testing.T) *Dir {
	t.Helper()
	d, err := Open(filepath.Join(t.TempDir(), "Mail"))
	if err != nil {
		t.Fatal(err)
	}
	return d
}

func mustFolder(t *testing.T, d *Dir, name string) *Folder {
	t.Helper()
	f, err := d.Folder(name)
	if err != nil {
		t.Fatalf("Folder(%q): %v", name, err)
	}
	return f
}

func TestFolders(t *testing.T) {
	d := newDir(t)
	for _, n := range []string{"Sent", "Archive", "a/b", "Entwürfe"} {
		f := mustFolder(t, d, n)
		if f.Name() != n {
			t.Fatalf("Folder(%q).Name() = %q", n, f.Name())
		}
		if _, err := os.Stat(filepath.Join(f.Path(), "maildirfolder")); err != nil {
			t.Fatalf("Folder(%q): no maildirfolder file: %v", n, err)
		}
	}
	// Made by other programs: a nested folder, junk that is not a folder.
	for _, p := range []string{".x.y/cur", ".x.y/new", ".x.y/tmp", ".git/objects", "..bad/cur", ".a..b/cur", "plain/cur", ".ctl\x01/cur"} {
		if err := os.MkdirAll(filepath.Join(d.Root(), p), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(d.Root(), ".file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := d.Folders()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"INBOX", "Archive", "Entwürfe", "Sent", "a/b", "x/y"}
	if !slices.Equal(got, want) {
		t.Fatalf("Folders() = %q, want %q", got, want)
	}
	if !d.HasFolder("x/y") || !d.HasFolder("INBOX") || d.HasFolder("nope") || d.HasFolder("../etc") {
		t.Fatalf("HasFolder wrong")
	}
	if _, err := d.Folder("../escape"); err == nil {
		t.Fatalf(`Folder("../escape") succeeded`)
	}
	if f := mustFolder(t, d, "inbox"); f.Name() != "INBOX" || f.Path() != d.Root() {
		t.Fatalf(`Folder("inbox") = %q at %q`, f.Name(), f.Path())
	}
}

func readAll(t *testing.T, f *Folder, e Entry) (string, Entry) {
	t.Helper()
	file, ne, err := f.Open(e)
	if err != nil {
		t.Fatalf("Open(%v): %v", e, err)
	}
	defer file.Close()
	b, err := io.ReadAll(file)
	if err != nil {
		t.Fatal(err)
	}
	return string(b), ne
}

func TestDeliverList(t *testing.T) {
	d := newDir(t)
	f := mustFolder(t, d, Inbox)
	e1, err := f.Deliver(strings.NewReader("one"), "")
	if err != nil {
		t.Fatal(err)
	}
	e2, err := f.Deliver(strings.NewReader("two"), "SF")
	if err != nil {
		t.Fatal(err)
	}
	if e1.Name != "new/"+e1.Key || e2.Name != "cur/"+e2.Key+":2,FS" || e2.Flags != "FS" {
		t.Fatalf("Deliver names: %+v %+v", e1, e2)
	}
	if e1.Key == e2.Key {
		t.Fatalf("duplicate key %q", e1.Key)
	}
	// Names a reader must skip or normalise, written by other programs.
	for name, body := range map[string]string{
		"new/.hidden":        "x",
		"cur/:2,S":           "x",
		"cur/plainkey":       "plain",
		"cur/otherkey:2,SRF": "other",
		"cur/oldinfo:1,xyz":  "old",
	} {
		if err := os.WriteFile(filepath.Join(f.Path(), name), []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	list, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]Entry{}
	for _, e := range list {
		got[e.Key] = e
	}
	want := map[string]Entry{
		e1.Key:     e1,
		e2.Key:     e2,
		"plainkey": {Key: "plainkey", Name: "cur/plainkey"},
		"otherkey": {Key: "otherkey", Name: "cur/otherkey:2,SRF", Flags: "FRS"},
		"oldinfo":  {Key: "oldinfo", Name: "cur/oldinfo:1,xyz"},
	}
	if len(got) != len(want) || len(list) != len(want) {
		t.Fatalf("List() = %+v, want %+v", list, want)
	}
	for k, w := range want {
		if got[k] != w {
			t.Fatalf("List()[%q] = %+v, want %+v", k, got[k], w)
		}
	}
	if body, _ := readAll(t, f, e2); body != "two" {
		t.Fatalf("body = %q", body)
	}
}

func TestUniqueKeys(t *testing.T) {
	d := newDir(t)
	d.host = encodeHost("evil/host:name")
	if d.host != `evil\057host\072name` {
		t.Fatalf("encodeHost = %q", d.host)
	}
	var mu sync.Mutex
	seen := map[string]bool{}
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				k := d.newKey()
				if !validKey(k) || !strings.HasSuffix(k, "."+d.host) {
					t.Errorf("newKey() = %q, not a valid key", k)
				}
				mu.Lock()
				if seen[k] {
					t.Errorf("newKey() repeated %q", k)
				}
				seen[k] = true
				mu.Unlock()
			}
		})
	}
	wg.Wait()
}

// withUmask runs fn under the given umask (process-wide: these tests do
// not run in parallel).
func withUmask(t *testing.T, mask int, fn func()) {
	old := syscall.Umask(mask)
	defer syscall.Umask(old)
	fn()
}

func TestPermissions(t *testing.T) {
	for _, mask := range []int{0, 0o022, 0o277} {
		withUmask(t, mask, func() {
			root := filepath.Join(t.TempDir(), "deep", "Mail")
			d, err := Open(root)
			if err != nil {
				t.Fatal(err)
			}
			f := mustFolder(t, d, "a/b")
			if _, err := f.Deliver(strings.NewReader("x"), ""); err != nil {
				t.Fatal(err)
			}
			b := f.NewBatch()
			if _, err := b.Add(strings.NewReader("y"), "S"); err != nil {
				t.Fatal(err)
			}
			if _, err := b.Add(strings.NewReader("z"), ""); err != nil {
				t.Fatal(err)
			}
			if err := b.Commit(); err != nil {
				t.Fatal(err)
			}
			err = filepath.Walk(root, func(p string, fi os.FileInfo, err error) error {
				if err != nil {
					return err
				}
				want := os.FileMode(0o600)
				if fi.IsDir() {
					want = 0o700 | os.ModeDir
				}
				if fi.Mode() != want {
					t.Errorf("umask %#o: %s has mode %v, want %v", mask, p, fi.Mode(), want)
				}
				return nil
			})
			if err != nil {
				t.Fatal(err)
			}
		})
	}
}

// trace records the durable steps of a Dir, and checks at each rename
// into new/ or cur/ that the file was flushed before (a message must never
// be visible before it is durable).
type trace struct {
	t      *testing.T
	mu     sync.Mutex
	ops    []string
	synced map[string]bool // keys fsynced in tmp/
	fs     bool            // a syncfs happened since the last write
}

func newTrace(t *testing.T, d *Dir) *trace {
	tr := &trace{t: t, synced: map[string]bool{}}
	d.observe = func(op, path string) {
		tr.mu.Lock()
		defer tr.mu.Unlock()
		dir, base := filepath.Base(filepath.Dir(path)), filepath.Base(path)
		key, _, _ := strings.Cut(base, ":")
		switch op {
		case "write":
			tr.fs = false
			if dir != "tmp" {
				t.Errorf("write outside tmp/: %s", path)
			}
		case "fsync":
			if dir == "tmp" {
				tr.synced[key] = true
				// Not visible yet: it must not be in new/ or cur/.
				if _, err := os.Stat(filepath.Join(filepath.Dir(filepath.Dir(path)), "new", key)); err == nil {
					t.Errorf("%s visible in new/ before fsync", key)
				}
			}
		case "syncfs":
			tr.fs = true
		case "rename":
			if (dir == "new" || dir == "cur") && !tr.synced[key] && !tr.fs {
				t.Errorf("rename of %s into %s/ before its data was flushed", key, dir)
			}
		}
		tr.ops = append(tr.ops, op+" "+dir+"/"+key)
	}
	return tr
}

func (tr *trace) take() []string {
	tr.mu.Lock()
	defer tr.mu.Unlock()
	ops := tr.ops
	tr.ops = nil
	return ops
}

func TestDurabilityOrderDeliver(t *testing.T) {
	d := newDir(t)
	f := mustFolder(t, d, "Sent")
	tr := newTrace(t, d)
	e, err := f.Deliver(strings.NewReader("hello"), "")
	if err != nil {
		t.Fatal(err)
	}
	k := e.Key
	want := []string{"write tmp/" + k, "fsync tmp/" + k, "rename new/" + k, "syncdir .Sent/new"}
	if got := tr.take(); !slices.Equal(got, want) {
		t.Fatalf("Deliver steps = %q, want %q", got, want)
	}
	e, err = f.SetFlags(e, "S")
	if err != nil {
		t.Fatal(err)
	}
	want = []string{"rename cur/" + k, "syncdir .Sent/cur", "syncdir .Sent/new"}
	if got := tr.take(); !slices.Equal(got, want) {
		t.Fatalf("SetFlags steps = %q, want %q", got, want)
	}
	arch := mustFolder(t, d, "Archive")
	tr.take()
	if _, err := f.Move(e, arch); err != nil {
		t.Fatal(err)
	}
	want = []string{"rename cur/" + k, "syncdir .Archive/cur", "syncdir .Sent/cur"}
	if got := tr.take(); !slices.Equal(got, want) {
		t.Fatalf("Move steps = %q, want %q (target before source)", got, want)
	}
}

func TestDurabilityOrderBatch(t *testing.T) {
	for _, mode := range []syncMode{syncFiles, syncFS} {
		d := newDir(t)
		f := mustFolder(t, d, Inbox)
		tr := newTrace(t, d)
		b := f.NewBatch()
		b.mode = mode
		var keys []string
		for i := range 20 {
			flags := Flags("")
			if i%2 == 0 {
				flags = "S"
			}
			e, err := b.Add(strings.NewReader("msg"), flags)
			if err != nil {
				t.Fatal(err)
			}
			keys = append(keys, e.Key)
		}
		if list, _ := f.List(); len(list) != 0 {
			t.Fatalf("mode %d: %d messages visible before Commit", mode, len(list))
		}
		if err := b.Commit(); err != nil {
			t.Fatal(err)
		}
		ops := tr.take()
		// Every rename after every flush, then both directories synced.
		lastFlush, firstRename, lastRename := -1, len(ops), -1
		for i, op := range ops {
			switch {
			case strings.HasPrefix(op, "fsync") || strings.HasPrefix(op, "syncfs"):
				lastFlush = i
			case strings.HasPrefix(op, "rename"):
				firstRename = min(firstRename, i)
				lastRename = i
			}
		}
		if lastFlush < 0 || lastFlush > firstRename {
			t.Fatalf("mode %d: flush after a rename: %q", mode, ops)
		}
		tail := ops[lastRename+1:]
		if !slices.Equal(tail, []string{"syncdir Mail/new", "syncdir Mail/cur"}) {
			t.Fatalf("mode %d: after renames %q, want both directories synced", mode, tail)
		}
		list, err := f.List()
		if err != nil || len(list) != len(keys) {
			t.Fatalf("mode %d: List() = %d entries, %v; want %d", mode, len(list), err, len(keys))
		}
	}
}

func TestBatchAbort(t *testing.T) {
	d := newDir(t)
	f := mustFolder(t, d, Inbox)
	b := f.NewBatch()
	for range 3 {
		if _, err := b.Add(strings.NewReader("x"), ""); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.Abort(); err != nil {
		t.Fatal(err)
	}
	for _, sub := range []string{"tmp", "new", "cur"} {
		if names, _ := readNames(filepath.Join(f.Path(), sub)); len(names) != 0 {
			t.Fatalf("after Abort %s/ holds %q", sub, names)
		}
	}
	// Reusable after Abort and after Commit.
	e, err := b.Add(strings.NewReader("kept"), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := b.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := b.Abort(); err != nil {
		t.Fatal(err)
	}
	if body, _ := readAll(t, f, e); body != "kept" {
		t.Fatalf("committed body = %q", body)
	}
}

// errReader fails after some bytes, like a dropped connection.
type errReader struct{ n int }

func (r *errReader) Read(p []byte) (int, error) {
	if r.n <= 0 {
		return 0, errors.New("connection reset")
	}
	n := min(len(p), r.n)
	r.n -= n
	return n, nil
}

func TestAddFailureLeavesNothing(t *testing.T) {
	d := newDir(t)
	f := mustFolder(t, d, Inbox)
	if _, err := f.NewBatch().Add(&errReader{n: 100}, ""); err == nil {
		t.Fatal("Add of a failing reader succeeded")
	}
	if _, err := f.Deliver(&errReader{n: 100000}, ""); err == nil {
		t.Fatal("Deliver of a failing reader succeeded")
	}
	if names, _ := readNames(filepath.Join(f.Path(), "tmp")); len(names) != 0 {
		t.Fatalf("tmp/ holds %q after failed writes", names)
	}
}

func TestForeignChanges(t *testing.T) {
	d := newDir(t)
	f := mustFolder(t, d, Inbox)
	e, err := f.Deliver(strings.NewReader("body"), "")
	if err != nil {
		t.Fatal(err)
	}
	// Another program (mutt) marks it seen: new/K → cur/K:2,S.
	moved := filepath.Join(f.Path(), "cur", e.Key+":2,S")
	if err := os.Rename(filepath.Join(f.Path(), e.Name), moved); err != nil {
		t.Fatal(err)
	}
	body, ne := readAll(t, f, e)
	if body != "body" || ne.Name != "cur/"+e.Key+":2,S" || ne.Flags != "S" {
		t.Fatalf("Open after foreign rename = %q, %+v", body, ne)
	}
	if fe, err := f.Find(e.Key); err != nil || fe != ne {
		t.Fatalf("Find = %+v, %v, want %+v", fe, err, ne)
	}
	// SetFlags with the stale entry.
	se, err := f.SetFlags(e, "SR")
	if err != nil || se.Name != "cur/"+e.Key+":2,RS" {
		t.Fatalf("SetFlags(stale) = %+v, %v", se, err)
	}
	// Move with the stale entry.
	arch := mustFolder(t, d, "Archive")
	me, err := f.Move(e, arch)
	if err != nil || me.Name != se.Name {
		t.Fatalf("Move(stale) = %+v, %v", me, err)
	}
	if body, _ := readAll(t, arch, me); body != "body" {
		t.Fatalf("moved body = %q", body)
	}
	// Deleted by another program.
	if err := os.Remove(filepath.Join(arch.Path(), me.Name)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := arch.Open(me); !errors.Is(err, ErrNotFound) || !strings.Contains(err.Error(), me.Key) {
		t.Fatalf("Open(removed) err = %v, want ErrNotFound naming the key", err)
	}
	if err := arch.Remove(me); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Remove(removed) err = %v, want ErrNotFound", err)
	}
	if _, err := arch.SetFlags(me, "S"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("SetFlags(removed) err = %v, want ErrNotFound", err)
	}
	if _, err := arch.Find(me.Key); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Find(removed) err = %v, want ErrNotFound", err)
	}
}

func TestHostileEntries(t *testing.T) {
	d := newDir(t)
	f := mustFolder(t, d, Inbox)
	for _, e := range []Entry{
		{Key: "x", Name: "../../etc/passwd"},
		{Key: "x", Name: "cur/../../x"},
		{Key: "x", Name: "tmp/x"},
		{Key: "x", Name: "new/.."},
		{Key: "x", Name: ""},
	} {
		if file, _, err := f.Open(e); err == nil {
			file.Close()
			t.Fatalf("Open(%+v) succeeded", e)
		}
	}
	for _, k := range []string{"", "../x", "a/b", ".x", "a:2,S"} {
		if _, err := f.Find(k); err == nil || errors.Is(err, ErrNotFound) {
			t.Fatalf("Find(%q) err = %v, want an invalid-key error", k, err)
		}
	}
}

func TestRemove(t *testing.T) {
	d := newDir(t)
	f := mustFolder(t, d, Inbox)
	e, err := f.Deliver(bytes.NewReader([]byte("x")), "F")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.Remove(e); err != nil {
		t.Fatal(err)
	}
	if list, _ := f.List(); len(list) != 0 {
		t.Fatalf("List after Remove = %+v", list)
	}
}

func TestClean(t *testing.T) {
	d := newDir(t)
	f := mustFolder(t, d, Inbox)
	tmp := filepath.Join(f.Path(), "tmp")
	old := time.Now().Add(-37 * time.Hour)
	for _, n := range []string{"stale1", "stale2", "fresh"} {
		p := filepath.Join(tmp, n)
		if err := os.WriteFile(p, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		if n != "fresh" {
			if err := os.Chtimes(p, old, old); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := f.Clean(36 * time.Hour); err != nil {
		t.Fatal(err)
	}
	if names, _ := readNames(tmp); !slices.Equal(names, []string{"fresh"}) {
		t.Fatalf("tmp/ after Clean = %q, want [fresh]", names)
	}
}

func TestParseName(t *testing.T) {
	tests := []struct {
		in string
		ok bool
		e  Entry
	}{
		{"new/abc", true, Entry{Key: "abc", Name: "new/abc"}},
		{"cur/abc:2,SF", true, Entry{Key: "abc", Name: "cur/abc:2,SF", Flags: "FS"}},
		{"cur/abc", true, Entry{Key: "abc", Name: "cur/abc"}},
		{"tmp/abc", false, Entry{}},
		{"cur/.abc", false, Entry{}},
		{"cur/:2,S", false, Entry{}},
		{"cur/a/b", false, Entry{}},
		{"cur/a\x00b", false, Entry{}},
		{"cur/", false, Entry{}},
		{"", false, Entry{}},
	}
	for _, tt := range tests {
		e, ok := ParseName(tt.in)
		if ok != tt.ok || e != tt.e {
			t.Fatalf("ParseName(%q) = %+v, %v, want %+v, %v", tt.in, e, ok, tt.e, tt.ok)
		}
	}
}
