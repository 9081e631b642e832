package ui

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"
	"github.com/charmbracelet/x/exp/teatest"
	"github.com/muesli/termenv"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/sample"
)

func TestMain(m *testing.M) {
	if script := os.Getenv(testEditorEnv); script != "" {
		os.Exit(runTestEditor(script, os.Args[1:]))
	}
	lipgloss.SetColorProfile(termenv.Ascii)
	os.Exit(m.Run())
}

// mailbox is a real local account on a temporary maildir.
type mailbox struct {
	root string
	dir  *maildir.Dir
	acct *account.Local
}

// newMailbox makes a maildir filled by sample.Demo, plus the messages
// given (raw RFC 5322, delivered unread into INBOX).
func newMailbox(t *testing.T, extra ...string) *mailbox {
	t.Helper()
	root := t.TempDir()
	d, err := maildir.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	if err := sample.Demo(d, time.Now()); err != nil {
		t.Fatalf("sample.Demo: %v", err)
	}
	if len(extra) > 0 {
		inbox, err := d.Folder(maildir.Inbox)
		if err != nil {
			t.Fatal(err)
		}
		for _, raw := range extra {
			if _, err := inbox.Deliver(strings.NewReader(raw), ""); err != nil {
				t.Fatal(err)
			}
		}
	}
	a, err := account.NewLocal(account.AccountConfig{Name: "home", Maildir: root})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return &mailbox{root: root, dir: d, acct: a}
}

// inbox lists INBOX newest first, as the list shows it.
func (mb *mailbox) inbox(t *testing.T) []account.Envelope {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	envs, err := mb.acct.List(ctx, maildir.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	slices.SortFunc(envs, func(a, b account.Envelope) int {
		if c := b.Date.Compare(a.Date); c != 0 {
			return c
		}
		return strings.Compare(b.Key, a.Key)
	})
	return envs
}

// where returns the folder holding the message with key k, and its flags.
func (mb *mailbox) where(t *testing.T, k string) (string, maildir.Flags) {
	t.Helper()
	names, err := mb.dir.Folders()
	if err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		f, err := mb.dir.Folder(n)
		if err != nil {
			t.Fatal(err)
		}
		if e, err := f.Find(k); err == nil {
			return n, e.Flags
		}
	}
	return "", ""
}

func start(t *testing.T, mb *mailbox, w, h int) *teatest.TestModel {
	t.Helper()
	m, err := New([]account.Account{mb.acct}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	return teatest.NewTestModel(t, m, teatest.WithInitialTermSize(w, h))
}

// waitFor waits until the output written since the last wait contains
// every string.
func waitFor(t *testing.T, tm *teatest.TestModel, want ...string) {
	t.Helper()
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		for _, w := range want {
			if !bytes.Contains(b, []byte(w)) {
				return false
			}
		}
		return true
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
}

func quit(t *testing.T, tm *teatest.TestModel) *Model {
	t.Helper()
	tm.Send(keyMsg("ctrl+c"))
	return tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Model)
}

func clip(s string, n int) string { // a prefix of a subject that fits on screen
	r := []rune(s)
	return string(r[:min(len(r), n)])
}

func TestFlowReadNextDeleteUndo(t *testing.T) {
	mb := newMailbox(t)
	envs := mb.inbox(t)
	if len(envs) < 3 {
		t.Fatalf("sample.Demo INBOX has %d messages, want at least 3", len(envs))
	}
	tm := start(t, mb, 100, 30)
	waitFor(t, tm, clip(envs[0].Subject, 20), fmt.Sprintf("1/%d", len(envs)))

	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "Subject: "+clip(envs[0].Subject, 30))

	tm.Send(keyMsg("n"))
	waitFor(t, tm, "Subject: "+clip(envs[1].Subject, 30))

	tm.Send(keyMsg("d")) // deletes envs[1]; the next one opens
	waitFor(t, tm, "Subject: "+clip(envs[2].Subject, 30), "Deleted 1 message")
	if f, _ := mb.where(t, envs[1].Key); f != "Trash" {
		t.Fatalf("after delete %q is in %q, want Trash", envs[1].Subject, f)
	}

	tm.Send(keyMsg("u"))
	waitFor(t, tm, "Restored 1 message to INBOX")
	if f, _ := mb.where(t, envs[1].Key); f != maildir.Inbox {
		t.Fatalf("after undo %q is in %q, want INBOX", envs[1].Subject, f)
	}

	tm.Send(keyMsg("q")) // back to the list
	tm.Send(keyMsg("q")) // quit
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
	for _, e := range envs[:3] {
		if _, flags := mb.where(t, e.Key); !flags.Has(maildir.FlagSeen) {
			t.Errorf("%q was read but has flags %q, want S", e.Subject, flags)
		}
	}
}

func TestFlowSearch(t *testing.T) {
	mb := newMailbox(t)
	envs := mb.inbox(t)
	target := envs[len(envs)-1] // the oldest: off the top of the list
	word := strings.Fields(target.Subject)[0]
	n, firstMatch := 0, -1
	for i, e := range envs {
		if strings.Contains(strings.ToLower(e.From+"\x00"+e.Subject), strings.ToLower(word)) {
			if n == 0 {
				firstMatch = i
			}
			n++
		}
	}
	tm := start(t, mb, 100, 30)
	waitFor(t, tm, fmt.Sprintf("1/%d", len(envs)))
	tm.Send(keyMsg("/"))
	tm.Type(strings.ToUpper(word))
	plural := "es"
	if n == 1 {
		plural = ""
	}
	waitFor(t, tm, fmt.Sprintf(" %d match%s", n, plural), clip(target.Subject, 20))
	tm.Send(keyMsg("enter")) // keeps the filter
	waitFor(t, tm, "filter:"+strings.ToUpper(word), fmt.Sprintf("1/%d", n))
	tm.Send(keyMsg("esc")) // clears it, the cursor stays on the message
	waitFor(t, tm, fmt.Sprintf("%d/%d", firstMatch+1, len(envs)))
	m := quit(t, tm)
	if m.list.filter != "" || m.list.rowCount() != len(envs) {
		t.Fatalf("after esc: filter %q, %d rows; want no filter, %d rows", m.list.filter, m.list.rowCount(), len(envs))
	}
}

func TestFlowThreads(t *testing.T) {
	a := "From: Ann <ann@example.test>\r\nTo: me@example.test\r\nSubject: thread root zebra\r\nDate: Mon, 1 Jan 2024 10:00:00 +0000\r\nMessage-ID: <root@zebra>\r\n\r\nroot\r\n"
	b := "From: Bob <bob@example.test>\r\nTo: me@example.test\r\nSubject: Re: thread root zebra\r\nDate: Mon, 1 Jan 2024 11:00:00 +0000\r\nMessage-ID: <reply@zebra>\r\nIn-Reply-To: <root@zebra>\r\nReferences: <root@zebra>\r\n\r\nreply\r\n"
	mb := newMailbox(t, a, b)
	tm := start(t, mb, 100, 30)
	waitFor(t, tm, "1/")
	tm.Send(keyMsg("/"))
	tm.Type("zebra")
	waitFor(t, tm, " 2 matches")
	tm.Send(keyMsg("enter"))
	tm.Send(keyMsg("esc"))
	tm.Send(keyMsg("T"))
	waitFor(t, tm, "threads", "└─Re: thread root zebra")
	tm.Send(keyMsg("T"))
	m := quit(t, tm)
	if m.list.threaded {
		t.Fatalf("threads still on after toggling twice")
	}
}

func TestFlowResizeSmall(t *testing.T) {
	mb := newMailbox(t)
	envs := mb.inbox(t)
	tm := start(t, mb, 100, 30)
	waitFor(t, tm, fmt.Sprintf("1/%d", len(envs)))
	for _, size := range [][2]int{{40, 10}, {79, 24}, {1, 1}, {40, 10}} {
		tm.Send(tea.WindowSizeMsg{Width: size[0], Height: size[1]})
	}
	waitFor(t, tm, fmt.Sprintf("1/%d", len(envs)))
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "From:")
	tm.Send(keyMsg("?"))
	waitFor(t, tm, "Message keys")
	m := quit(t, tm)
	for _, focus := range []focus{focusReader, focusList, focusSidebar} {
		for _, help := range []bool{false, true} {
			m.focus, m.showHelp = focus, help
			m.layout()
			view := m.View()
			lines := strings.Split(view, "\n")
			if len(lines) > 10 {
				t.Fatalf("focus %d help %v: %d lines at 40×10", focus, help, len(lines))
			}
			for i, l := range lines {
				if w := lipgloss.Width(l); w > 40 {
					t.Fatalf("focus %d help %v: line %d is %d cells at 40×10: %q", focus, help, i, w, l)
				}
			}
		}
	}
}

func TestFlowHelp(t *testing.T) {
	mb := newMailbox(t)
	tm := start(t, mb, 100, 30)
	waitFor(t, tm, "1/")
	tm.Send(keyMsg("?"))
	waitFor(t, tm, "Message list keys", "fold thread", "Everywhere")
	tm.Send(keyMsg("?"))
	tm.Send(keyMsg("tab")) // sidebar
	tm.Send(keyMsg("?"))
	waitFor(t, tm, "Folders keys", "open folder")
	m := quit(t, tm)
	if !m.showHelp || m.focus != focusSidebar {
		t.Fatalf("showHelp=%v focus=%d, want help on the sidebar", m.showHelp, m.focus)
	}
}

func TestFlowHostileMessage(t *testing.T) {
	raw := "From: \x1b[31mMallory\x1b[0m <m@example.test>\r\n" +
		"To: me@example.test\r\n" +
		"Subject: \x1b[2Jcleared \u202eexe.txt\r\n" +
		"Date: " + time.Now().Add(time.Hour).Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <evil@example.test>\r\n" +
		"\r\n" +
		"body \x1b]0;title\x07 \x1b[2J end\r\n"
	mb := newMailbox(t, raw)
	tm := start(t, mb, 100, 30)
	waitFor(t, tm, "␛[2Jcleared <U+202E>exe.txt", "␛[31mMallory")
	tm.Send(keyMsg("enter"))
	var out bytes.Buffer
	teatest.WaitFor(t, tm.Output(), func(b []byte) bool {
		out.Write(b)
		return bytes.Contains(b, []byte("Subject: ␛[2Jcleared")) && bytes.Contains(b, []byte("␛]0;title␇"))
	}, teatest.WithDuration(10*time.Second), teatest.WithCheckInterval(5*time.Millisecond))
	for _, bad := range []string{"\u202e", "\x1b]0;", "\x07", "\x1b[31mMallory"} {
		if strings.Contains(out.String(), bad) {
			t.Fatalf("output contains raw %q", bad)
		}
	}
	quit(t, tm)
}

func TestFlowMoveAndArchive(t *testing.T) {
	mb := newMailbox(t)
	envs := mb.inbox(t)
	tm := start(t, mb, 100, 30)
	waitFor(t, tm, fmt.Sprintf("1/%d", len(envs)))
	tm.Send(keyMsg("a"))
	waitFor(t, tm, "Moved 1 message to Archive")
	if f, _ := mb.where(t, envs[0].Key); f != "Archive" {
		t.Fatalf("after archive %q is in %q, want Archive", envs[0].Subject, f)
	}
	tm.Send(keyMsg("u"))
	waitFor(t, tm, "Restored 1 message to INBOX")
	tm.Send(keyMsg("m")) // the cursor stayed on envs[1]
	waitFor(t, tm, "Move to folder")
	tm.Type("sent")
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "Moved 1 message to Sent")
	tm.Send(keyMsg("m")) // now on envs[2]: to a new folder
	waitFor(t, tm, "Move to folder")
	tm.Type("Receipts")
	waitFor(t, tm, "enter creates the folder Receipts")
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "Moved 1 message to Receipts")
	quit(t, tm)
	for k, want := range map[string]string{envs[0].Key: maildir.Inbox, envs[1].Key: "Sent", envs[2].Key: "Receipts"} {
		if f, _ := mb.where(t, k); f != want {
			t.Errorf("message %s is in %q, want %q", k, f, want)
		}
	}
}

func TestFlowSaveAttachment(t *testing.T) {
	raw := "From: Ann <ann@example.test>\r\nTo: me@example.test\r\nSubject: with attachment\r\n" +
		"Date: " + time.Now().Add(time.Hour).Format(time.RFC1123Z) + "\r\n" +
		"MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=XX\r\n\r\n" +
		"--XX\r\nContent-Type: text/plain\r\n\r\nsee attached\r\n" +
		"--XX\r\nContent-Type: text/plain; name=notes.txt\r\nContent-Disposition: attachment; filename=notes.txt\r\n\r\nhello notes\r\n" +
		"--XX--\r\n"
	mb := newMailbox(t, raw)
	dir := t.TempDir()
	tm := start(t, mb, 100, 30)
	waitFor(t, tm, "with attachment")
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "notes.txt", "see attached")
	for round := range 2 {
		tm.Send(keyMsg("s"))
		waitFor(t, tm, "Save notes.txt to directory:")
		tm.Send(tea.KeyMsg{Type: tea.KeyCtrlU}) // clear the default
		tm.Type(dir)
		tm.Send(keyMsg("enter"))
		if round == 1 {
			waitFor(t, tm, "Overwrite? (y/n)")
			tm.Send(keyMsg("y"))
		}
		waitFor(t, tm, "Saved "+filepath.Join(dir, "notes.txt"))
	}
	quit(t, tm)
	got, err := os.ReadFile(filepath.Join(dir, "notes.txt"))
	if err != nil || !strings.Contains(string(got), "hello notes") {
		t.Fatalf("saved attachment = %q, %v; want hello notes", got, err)
	}
}

func TestNoConfigScreen(t *testing.T) {
	m, err := New(nil, Options{NoConfigPath: "/home/u/.config/mailbag/config.toml"})
	if err != nil {
		t.Fatal(err)
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(80, 24))
	waitFor(t, tm, "/home/u/.config/mailbag/config.toml", "mailbag demo", "[accounts.home]")
	tm.Send(keyMsg("q"))
	tm.WaitFinished(t, teatest.WithFinalTimeout(10*time.Second))
}

func TestNewBadKeys(t *testing.T) {
	cfg := &account.Config{Keys: []account.KeyBinding{{Action: "explode", Keys: []string{"x"}, Line: 12}}}
	_, err := New(nil, Options{Config: cfg})
	if err == nil || !strings.Contains(err.Error(), "line 12") || !strings.Contains(err.Error(), "explode") {
		t.Fatalf("New with [keys] explode = %v, want an error naming line 12 and the action", err)
	}
}

// pushing wraps the real local account with an event channel the test
// feeds, standing in for a backend that notices new mail.
type pushing struct {
	*account.Local
	events chan account.Event
}

func (p *pushing) Events() <-chan account.Event { return p.events }

func TestFlowEventReloadAndFolders(t *testing.T) {
	mb := newMailbox(t)
	envs := mb.inbox(t)
	acct := &pushing{Local: mb.acct, events: make(chan account.Event, 1)}
	m, err := New([]account.Account{acct}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))
	waitFor(t, tm, fmt.Sprintf("1/%d", len(envs)))

	// New mail arrives behind the UI's back; the account says so.
	inbox, err := mb.dir.Folder(maildir.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	raw := "From: Newcomer <new@example.test>\r\nSubject: fresh arrival\r\nDate: " + time.Now().Add(time.Hour).Format(time.RFC1123Z) + "\r\n\r\nhi\r\n"
	if _, err := inbox.Deliver(strings.NewReader(raw), ""); err != nil {
		t.Fatal(err)
	}
	acct.events <- account.Event{Account: "home", Folder: maildir.Inbox, Kind: account.EventFolderChanged, Time: time.Now()}
	waitFor(t, tm, "fresh arrival", fmt.Sprintf("/%d", len(envs)+1))

	// The sidebar opens another folder.
	tm.Send(keyMsg("tab"))
	tm.Send(keyMsg("j"))
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "home › Archive")
	final := quit(t, tm)
	if final.list.folder != "Archive" || final.focus != focusList {
		t.Fatalf("list shows %q with focus %d, want Archive with the list focused", final.list.folder, final.focus)
	}
}

// gatedList reads the folder, then holds the reply until the test lets
// it go, counting the calls and how many were in flight at once.
type gatedList struct {
	*pushing
	gate chan struct{}

	mu              sync.Mutex
	calls, inflight int
	maxInflight     int
}

func (g *gatedList) List(ctx context.Context, folder string) ([]account.Envelope, error) {
	g.mu.Lock()
	g.calls++
	g.inflight++
	g.maxInflight = max(g.maxInflight, g.inflight)
	g.mu.Unlock()
	envs, err := g.pushing.List(ctx, folder)
	<-g.gate
	g.mu.Lock()
	g.inflight--
	g.mu.Unlock()
	return envs, err
}

func (g *gatedList) counts() (calls, maxInflight int) {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.calls, g.maxInflight
}

// A folder that changes while it is being listed is listed once more
// afterwards, never by several requests at once (an IMAP fill announces
// every chunk, and each List holds a copy of a large folder).
func TestFlowReloadsCoalesce(t *testing.T) {
	mb := newMailbox(t)
	envs := mb.inbox(t)
	acct := &gatedList{pushing: &pushing{Local: mb.acct, events: make(chan account.Event, 8)}, gate: make(chan struct{})}
	m, err := New([]account.Account{acct}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 30))
	acct.gate <- struct{}{} // the first List
	waitFor(t, tm, fmt.Sprintf("1/%d", len(envs)))

	inbox, err := mb.dir.Folder(maildir.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	deliver := func(subject string) {
		raw := "From: Newcomer <new@example.test>\r\nSubject: " + subject + "\r\nDate: " +
			time.Now().Add(time.Hour).Format(time.RFC1123Z) + "\r\n\r\nhi\r\n"
		if _, err := inbox.Deliver(strings.NewReader(raw), ""); err != nil {
			t.Fatal(err)
		}
	}
	changed := account.Event{Account: "home", Folder: maildir.Inbox, Kind: account.EventFolderChanged, Time: time.Now()}
	deliver("first arrival")
	for range 5 {
		acct.events <- changed
	}
	deadline := time.Now().Add(5 * time.Second)
	for calls, _ := acct.counts(); calls < 2; calls, _ = acct.counts() {
		if time.Now().After(deadline) {
			t.Fatal("no List after the folder changed")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// The second List has read the folder and waits to reply. More mail
	// and more changes come meanwhile.
	deliver("second arrival")
	for range 5 {
		acct.events <- changed
	}
	time.Sleep(200 * time.Millisecond)
	if calls, _ := acct.counts(); calls != 2 {
		t.Fatalf("%d List calls while one was in flight, want 2 (the first, and one for the changes)", calls)
	}
	close(acct.gate) // every reply goes through from now on
	waitFor(t, tm, "second arrival", "first arrival", fmt.Sprintf("/%d", len(envs)+2))
	time.Sleep(maxListGap + 100*time.Millisecond)
	if calls, most := acct.counts(); calls != 3 || most != 1 {
		t.Fatalf("%d List calls, at most %d at once; want 3 calls, one at a time", calls, most)
	}
	quit(t, tm)
}
