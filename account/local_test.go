package account

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/mailbag/mailbag/store/maildir"
)

func testMessage(subject string) string {
	return fmt.Sprintf("From: Bob <bob@example.test>\r\nTo: alice@example.test\r\nSubject: %s\r\n"+
		"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\nMessage-ID: <%s@example.test>\r\n\r\nbody of %s\r\n",
		subject, strings.ReplaceAll(subject, " ", "."), subject)
}

// newTestLocal makes a maildir with the given folders and messages
// (folder → subject → flags) and opens it as a local account.
func newTestLocal(t *testing.T, folders map[string]map[string]maildir.Flags, roles map[string]string) (*Local, map[string]MsgID) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "Mail")
	d, err := maildir.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	ids := make(map[string]MsgID)
	for name, msgs := range folders {
		f, err := d.Folder(name)
		if err != nil {
			t.Fatal(err)
		}
		for subject, flags := range msgs {
			e, err := f.Deliver(strings.NewReader(testMessage(subject)), flags)
			if err != nil {
				t.Fatal(err)
			}
			ids[subject] = MsgID(e.Key)
		}
	}
	l, err := NewLocal(AccountConfig{Name: "home", Address: "alice@example.test", Maildir: root, Folders: roles})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l, ids
}

// subjects lists a folder as sorted "subject flags" strings.
func subjects(t *testing.T, l *Local, folder string) []string {
	t.Helper()
	envs, err := l.List(context.Background(), folder)
	if err != nil {
		t.Fatalf("List(%q): %v", folder, err)
	}
	out := []string{}
	for _, e := range envs {
		out = append(out, e.Subject+" "+string(e.Flags))
	}
	sort.Strings(out)
	return out
}

func TestLocalFolders(t *testing.T) {
	l, _ := newTestLocal(t, map[string]map[string]maildir.Flags{
		"INBOX":    {"one": "", "two": "S", "three": "FS", "four": "R"},
		"sent":     {"sent one": "S"},
		"Spam":     {"junk": ""},
		"lists/go": {"go 1": "", "go 2": ""},
		"Deleted":  {},
		"Archive":  {},
	}, map[string]string{RoleTrash: "Deleted"})
	got, err := l.Folders(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []Folder{
		{Name: "INBOX", Role: RoleInbox, Total: 4, Unread: 2},
		{Name: "Archive", Role: RoleArchive},
		{Name: "Deleted", Role: RoleTrash},
		{Name: "Spam", Role: RoleJunk, Total: 1, Unread: 1},
		{Name: "lists/go", Total: 2, Unread: 2},
		{Name: "sent", Role: RoleSent, Total: 1},
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("Folders() =\n%+v\nwant\n%+v", got, want)
	}
	// The config's trash folder wins over one named Trash.
	if r := l.Role("Trash"); r != "" {
		t.Errorf(`Role("Trash") = %q with trash = "Deleted", want ""`, r)
	}
	if r := l.Role("ARCHIVE"); r != RoleArchive {
		t.Errorf(`Role("ARCHIVE") = %q, want archive`, r)
	}
	if l.Name() != "home" || l.Address() != "alice@example.test" || l.Caps() != (Caps{Move: true, Flags: true, Offline: true}) {
		t.Errorf("Name, Address, Caps = %q, %q, %+v", l.Name(), l.Address(), l.Caps())
	}
}

func TestLocalRoleFolder(t *testing.T) {
	l, _ := newTestLocal(t, map[string]map[string]maildir.Flags{"INBOX": {}, "sent": {}}, nil)
	ctx := context.Background()
	tests := []struct{ role, want string }{
		{RoleSent, "sent"}, // an existing folder, whatever its case
		{RoleTrash, "Trash"},
		{RoleDrafts, "Drafts"},
		{RoleArchive, "Archive"},
		{RoleInbox, "INBOX"},
	}
	for _, tt := range tests {
		got, err := l.RoleFolder(ctx, tt.role)
		if err != nil || got != tt.want {
			t.Errorf("RoleFolder(%q) = %q, %v; want %q", tt.role, got, err, tt.want)
		}
	}
	fs, err := l.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, f := range fs {
		names = append(names, f.Name)
	}
	if want := []string{"INBOX", "Archive", "Drafts", "Trash", "sent"}; !reflect.DeepEqual(names, want) {
		t.Errorf("folders after RoleFolder = %v, want %v", names, want)
	}
	if _, err := l.RoleFolder(ctx, "bogus"); err == nil {
		t.Error(`RoleFolder("bogus") = nil error`)
	}
}

func TestLocalListAndOpen(t *testing.T) {
	l, ids := newTestLocal(t, map[string]map[string]maildir.Flags{
		"INBOX": {"hello": "", "again": "S"},
	}, nil)
	ctx := context.Background()
	envs, err := l.List(ctx, "INBOX")
	if err != nil {
		t.Fatal(err)
	}
	if len(envs) != 2 {
		t.Fatalf("List = %+v, want 2 envelopes", envs)
	}
	for _, e := range envs {
		if MsgID(e.Key) != ids[e.Subject] || e.From != "Bob <bob@example.test>" {
			t.Errorf("envelope %+v: key or From wrong (want key %s)", e, ids[e.Subject])
		}
	}
	if got, want := subjects(t, l, "inbox"), []string{"again S", "hello "}; !reflect.DeepEqual(got, want) {
		t.Errorf("List(inbox) = %q, want %q", got, want)
	}

	read := func(id MsgID) (string, error) {
		rc, err := l.Open(ctx, "INBOX", id)
		if err != nil {
			return "", err
		}
		defer rc.Close()
		b, err := io.ReadAll(rc)
		return string(b), err
	}
	if body, err := read(ids["hello"]); err != nil || body != testMessage("hello") {
		t.Fatalf("Open(hello) = %q, %v", body, err)
	}
	// Another program marks it seen (renames it into cur/): still found.
	root := l.Maildir()
	old := filepath.Join(root, "new", string(ids["hello"]))
	if err := os.Rename(old, filepath.Join(root, "cur", string(ids["hello"])+":2,S")); err != nil {
		t.Fatal(err)
	}
	if body, err := read(ids["hello"]); err != nil || body != testMessage("hello") {
		t.Fatalf("Open(hello) after rename = %q, %v", body, err)
	}
	if got, want := subjects(t, l, "INBOX"), []string{"again S", "hello S"}; !reflect.DeepEqual(got, want) {
		t.Errorf("List after an outside rename = %q, want %q", got, want)
	}
	// It vanishes: an error naming the key, not a crash.
	if err := os.Remove(filepath.Join(root, "cur", string(ids["hello"])+":2,S")); err != nil {
		t.Fatal(err)
	}
	_, err = read(ids["hello"])
	if !errors.Is(err, maildir.ErrNotFound) || !strings.Contains(err.Error(), string(ids["hello"])) || !strings.HasPrefix(err.Error(), "home: INBOX: open ") {
		t.Fatalf("Open(vanished) = %v, want ErrNotFound naming the key", err)
	}
	if _, err := l.Open(ctx, "INBOX", "../../etc/passwd"); err == nil {
		t.Fatal("Open(../../etc/passwd) = nil error")
	}
	if _, err := l.List(ctx, "Nope"); err == nil || !strings.Contains(err.Error(), `home: no folder "Nope"`) {
		t.Fatalf("List(Nope) = %v, want no folder", err)
	}
	if fs, _ := l.Folders(ctx); len(fs) != 1 {
		t.Fatalf("List of a missing folder created it: %+v", fs)
	}
}

func TestLocalSetFlags(t *testing.T) {
	l, ids := newTestLocal(t, map[string]map[string]maildir.Flags{
		"INBOX": {"a": "", "b": "F", "c": "S"},
	}, nil)
	ctx := context.Background()
	all := []MsgID{ids["a"], ids["b"], ids["c"]}
	if err := l.SetFlags(ctx, "INBOX", all, "S", ""); err != nil {
		t.Fatal(err)
	}
	if got, want := subjects(t, l, "INBOX"), []string{"a S", "b FS", "c S"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after +S: %q, want %q", got, want)
	}
	if err := l.SetFlags(ctx, "INBOX", all[:2], "R", "SF"); err != nil {
		t.Fatal(err)
	}
	if got, want := subjects(t, l, "INBOX"), []string{"a R", "b R", "c S"}; !reflect.DeepEqual(got, want) {
		t.Fatalf("after +R -SF: %q, want %q", got, want)
	}
	err := l.SetFlags(ctx, "INBOX", []MsgID{"no-such-key"}, "S", "")
	if !errors.Is(err, maildir.ErrNotFound) || !strings.Contains(err.Error(), "no-such-key") {
		t.Fatalf("SetFlags(missing) = %v, want ErrNotFound naming the key", err)
	}
}

func TestLocalMoveAndUndo(t *testing.T) {
	l, ids := newTestLocal(t, map[string]map[string]maildir.Flags{
		"INBOX": {"keep": "", "go": "FS"},
	}, nil)
	ctx := context.Background()
	if err := l.Move(ctx, "INBOX", []MsgID{ids["go"]}, "lists/go"); err != nil {
		t.Fatal(err)
	}
	if got, want := subjects(t, l, "INBOX"), []string{"keep "}; !reflect.DeepEqual(got, want) {
		t.Fatalf("INBOX after move = %q, want %q", got, want)
	}
	envs, err := l.List(ctx, "lists/go")
	if err != nil || len(envs) != 1 || MsgID(envs[0].Key) != ids["go"] || envs[0].Flags != "FS" {
		t.Fatalf("lists/go after move = %+v, %v; want the message with its key and flags", envs, err)
	}
	// Undo: move it back by the same id.
	if err := l.Move(ctx, "lists/go", []MsgID{ids["go"]}, "INBOX"); err != nil {
		t.Fatal(err)
	}
	if got, want := subjects(t, l, "INBOX"), []string{"go FS", "keep "}; !reflect.DeepEqual(got, want) {
		t.Fatalf("INBOX after undo = %q, want %q", got, want)
	}
	if err := l.Move(ctx, "INBOX", []MsgID{ids["go"]}, "inbox"); err != nil {
		t.Fatalf("Move to the same folder: %v", err)
	}
	if err := l.Move(ctx, "INBOX", []MsgID{"gone"}, "Archive"); !errors.Is(err, maildir.ErrNotFound) {
		t.Fatalf("Move(gone) = %v, want ErrNotFound", err)
	}
	if err := l.Move(ctx, "INBOX", []MsgID{ids["go"]}, "bad.name"); err == nil {
		t.Fatal(`Move to "bad.name" = nil error`)
	}
}

func TestLocalDelete(t *testing.T) {
	tests := []struct {
		name    string
		folders map[string]map[string]maildir.Flags
		roles   map[string]string
		trash   string
	}{
		{"created", map[string]map[string]maildir.Flags{"INBOX": {"x": "S", "y": ""}}, nil, "Trash"},
		{"existing lower case", map[string]map[string]maildir.Flags{"INBOX": {"x": "S", "y": ""}, "trash": {}}, nil, "trash"},
		{"configured", map[string]map[string]maildir.Flags{"INBOX": {"x": "S", "y": ""}, "Trash": {}}, map[string]string{RoleTrash: "Deleted Items"}, "Deleted Items"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l, ids := newTestLocal(t, tt.folders, tt.roles)
			ctx := context.Background()
			if err := l.Delete(ctx, "INBOX", []MsgID{ids["x"]}); err != nil {
				t.Fatal(err)
			}
			if got, want := subjects(t, l, "INBOX"), []string{"y "}; !reflect.DeepEqual(got, want) {
				t.Fatalf("INBOX after delete = %q, want %q", got, want)
			}
			if got, want := subjects(t, l, tt.trash), []string{"x S"}; !reflect.DeepEqual(got, want) {
				t.Fatalf("%s after delete = %q, want %q", tt.trash, got, want)
			}
			// Undo is a move back.
			if err := l.Move(ctx, tt.trash, []MsgID{ids["x"]}, "INBOX"); err != nil {
				t.Fatal(err)
			}
			if err := l.Delete(ctx, "INBOX", []MsgID{ids["x"]}); err != nil {
				t.Fatal(err)
			}
			// In the trash, delete is for good.
			if err := l.Delete(ctx, tt.trash, []MsgID{ids["x"]}); err != nil {
				t.Fatal(err)
			}
			if got := subjects(t, l, tt.trash); len(got) != 0 {
				t.Fatalf("%s after a second delete = %q, want empty", tt.trash, got)
			}
			if err := l.Delete(ctx, tt.trash, []MsgID{ids["x"]}); !errors.Is(err, maildir.ErrNotFound) {
				t.Fatalf("Delete(already gone) = %v, want ErrNotFound", err)
			}
		})
	}
}

func TestLocalContext(t *testing.T) {
	l, ids := newTestLocal(t, map[string]map[string]maildir.Flags{"INBOX": {"a": "", "b": ""}}, nil)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	id := []MsgID{ids["a"]}
	calls := map[string]error{}
	_, calls["Folders"] = l.Folders(ctx)
	_, calls["List"] = l.List(ctx, "INBOX")
	_, calls["Open"] = l.Open(ctx, "INBOX", id[0])
	calls["SetFlags"] = l.SetFlags(ctx, "INBOX", id, "S", "")
	calls["Move"] = l.Move(ctx, "INBOX", id, "Archive")
	calls["Delete"] = l.Delete(ctx, "INBOX", id)
	calls["Sync"] = l.Sync(ctx, nil)
	_, calls["RoleFolder"] = l.RoleFolder(ctx, RoleTrash)
	for name, err := range calls {
		if !errors.Is(err, context.Canceled) {
			t.Errorf("%s(cancelled) = %v, want context.Canceled", name, err)
		}
	}
	if got, want := subjects(t, l, "INBOX"), []string{"a ", "b "}; !reflect.DeepEqual(got, want) {
		t.Fatalf("a cancelled context changed the folder: %q", got)
	}
	if err := l.Sync(context.Background(), func(Progress) { t.Error("progress from a local Sync") }); err != nil {
		t.Fatalf("Sync = %v", err)
	}
}

func TestLocalClose(t *testing.T) {
	l, _ := newTestLocal(t, map[string]map[string]maildir.Flags{"INBOX": {"a": ""}}, nil)
	ev := l.Events()
	if err := l.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-ev; ok {
		t.Fatal("Events() still open after Close")
	}
	if err := l.Close(); err != nil {
		t.Fatalf("second Close = %v", err)
	}
	if _, err := l.List(context.Background(), "INBOX"); !errors.Is(err, ErrClosed) {
		t.Fatalf("List after Close = %v, want ErrClosed", err)
	}
	if _, err := l.Folders(context.Background()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Folders after Close = %v, want ErrClosed", err)
	}
}

func TestOpenConfig(t *testing.T) {
	home := t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "Mail/archive"), 0o700); err != nil {
		t.Fatal(err)
	}
	body := `[accounts.work.imap]
host = "imap.example.test"
username = "u"
password_cmd = "x"
[accounts.archive]
maildir = "~/Mail/archive"
[accounts.home]
[accounts.home.pop3]
host = "pop.example.test"
username = "u"
password_cmd = "x"
`
	cfg, err := LoadEnv(writeConfig(t, body, 0o600), testEnv(map[string]string{"HOME": home}))
	if err != nil {
		t.Fatal(err)
	}
	accts, err := Open(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		for _, a := range accts {
			a.Close()
		}
	}()
	var names []string
	for _, a := range accts {
		names = append(names, a.Name())
		fs, err := a.Folders(context.Background())
		if err != nil || len(fs) != 1 || fs[0].Name != "INBOX" {
			t.Errorf("%s: Folders() = %+v, %v; want an empty INBOX", a.Name(), fs, err)
		}
	}
	if want := []string{"work", "archive", "home"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("Open: accounts %v, want %v", names, want)
	}
	for _, p := range []string{".local/share/mailbag/work/cur", ".local/share/mailbag/home/new"} {
		if st, err := os.Stat(filepath.Join(home, p)); err != nil || st.Mode().Perm() != 0o700 {
			t.Errorf("%s: %v, %v; want a 0700 directory", p, st, err)
		}
	}

	// A maildir that cannot be created fails, naming the account.
	cfg.Accounts[2].Maildir = filepath.Join(home, "Mail/archive/file/x")
	if err := os.WriteFile(filepath.Join(home, "Mail/archive/file"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(cfg); err == nil || !strings.HasPrefix(err.Error(), "home: ") {
		t.Fatalf("Open with a bad maildir = %v, want an error naming home", err)
	}
}

func ExampleLocal() {
	root, _ := os.MkdirTemp("", "mailbag-example-")
	defer os.RemoveAll(root)
	acct, err := NewLocal(AccountConfig{Name: "archive", Maildir: root})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer acct.Close()
	folders, _ := acct.Folders(context.Background())
	fmt.Printf("%+v\n", folders)
	// Output: [{Name:INBOX Role:inbox Total:0 Unread:0}]
}

// TestLocalPostpone: a draft lands in Drafts (created when missing) with
// the D and S flags; postponing it again replaces it.
func TestLocalPostpone(t *testing.T) {
	l, _ := newTestLocal(t, nil, nil)
	ctx := context.Background()
	first, err := l.Postpone(ctx, strings.NewReader(testMessage("draft one")), "")
	if err != nil {
		t.Fatalf("Postpone: %v", err)
	}
	if got := subjects(t, l, "Drafts"); len(got) != 1 || got[0] != "draft one DS" {
		t.Fatalf("Drafts after Postpone = %q, want [\"draft one DS\"]", got)
	}
	second, err := l.Postpone(ctx, strings.NewReader(testMessage("draft two")), first)
	if err != nil || second == first {
		t.Fatalf("Postpone(replace %s) = %s, %v", first, second, err)
	}
	if got := subjects(t, l, "Drafts"); len(got) != 1 || got[0] != "draft two DS" {
		t.Fatalf("Drafts after replacing = %q, want [\"draft two DS\"]", got)
	}
}
