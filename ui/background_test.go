package ui

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/transport/mailtest"
)

func serverConfig(t *testing.T, kind, addr string) *account.ServerConfig {
	t.Helper()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	p, _ := strconv.Atoi(port)
	return &account.ServerConfig{Kind: kind, Host: host, Port: p, TLS: account.TLSNone,
		Username: "alice", Password: "pw", CheckEvery: time.Hour}
}

func plainMessage(subject string) []byte {
	return []byte(fmt.Sprintf("From: Bob <bob@example.test>\r\nTo: alice@example.test\r\n"+
		"Subject: %s\r\nDate: Mon, 02 Jan 2006 15:04:05 +0000\r\nMessage-ID: <%s@example.test>\r\n\r\nhello\r\n",
		subject, subject))
}

// TestBackgroundPOP3SyncOnStart: a POP3 account downloads on start,
// without a key press, and the new mail shows in the list; the server
// is empty afterwards (delete mode).
func TestBackgroundPOP3SyncOnStart(t *testing.T) {
	srv, err := mailtest.NewPOP3Server(mailtest.POP3Options{Users: map[string]string{"alice": "pw"}, Pipelining: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	srv.Deliver("alice", plainMessage("pelican-arrives"))
	srv.Deliver("alice", plainMessage("heron-arrives"))

	cfg := account.AccountConfig{Name: "home", Maildir: t.TempDir(), POP3: serverConfig(t, "pop3", srv.Addr)}
	a, err := account.NewPOP3(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	m, err := New([]account.Account{a}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 20))
	waitFor(t, tm, "pelican-arrives", "heron-arrives")
	quit(t, tm)
	if left := srv.Messages("alice"); len(left) != 0 {
		t.Fatalf("after the sync on start the server holds %d messages, want 0", len(left))
	}
}

// TestBackgroundIMAPFolderResync: opening an IMAP folder shows the cache
// and resyncs it in the background; mail that arrived on the server
// shows without a key press.
func TestBackgroundIMAPFolderResync(t *testing.T) {
	a := imapWithMessage(t, "osprey-on-server")
	m, err := New([]account.Account{a}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 20))
	waitFor(t, tm, "osprey-on-server")
	quit(t, tm)
}

// imapWithMessage is an IMAP account with an empty cache, on an
// in-process server whose INBOX holds one message with that subject.
func imapWithMessage(t *testing.T, subject string) *account.IMAP {
	t.Helper()
	srv, err := mailtest.NewIMAPServer(mailtest.IMAPOptions{Users: map[string]string{"alice": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	if _, err := srv.AddMessage("alice", "INBOX", plainMessage(subject)); err != nil {
		t.Fatal(err)
	}
	cfg := account.AccountConfig{Name: "work", Maildir: t.TempDir(), IMAP: serverConfig(t, "imap", srv.Addr)}
	a, err := account.NewIMAP(cfg, &account.IMAPOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

// gatedIMAP holds the first View until the test lets it go, and logs
// the syncs.
type gatedIMAP struct {
	*account.IMAP
	gate chan struct{}

	mu  sync.Mutex
	log []string
}

func (g *gatedIMAP) note(s string) {
	g.mu.Lock()
	defer g.mu.Unlock()
	g.log = append(g.log, s)
}

func (g *gatedIMAP) syncs() []string {
	g.mu.Lock()
	defer g.mu.Unlock()
	return slices.Clone(g.log)
}

func (g *gatedIMAP) View(ctx context.Context, folder string) (account.Envelopes, error) {
	<-g.gate
	return g.IMAP.View(ctx, folder)
}

func (g *gatedIMAP) SyncFolder(ctx context.Context, folder string) error {
	g.note("folder " + folder)
	defer g.note("folder " + folder + " ended")
	return g.IMAP.SyncFolder(ctx, folder)
}

func (g *gatedIMAP) Sync(ctx context.Context, progress func(account.Progress)) error {
	g.note("account")
	return g.IMAP.Sync(ctx, progress)
}

// TestBackgroundSyncAfterFirstList: on start, the cached INBOX is listed
// before any sync begins (they would compete for the CPU with the list a
// user waits for), then INBOX is resynced, and the account's sync starts
// when that has ended.
func TestBackgroundSyncAfterFirstList(t *testing.T) {
	g := &gatedIMAP{IMAP: imapWithMessage(t, "kestrel-on-server"), gate: make(chan struct{})}
	m, err := New([]account.Account{g}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(100, 20))
	time.Sleep(300 * time.Millisecond)
	if log := g.syncs(); len(log) != 0 {
		t.Fatalf("syncs started before the INBOX was listed: %q", log)
	}
	close(g.gate)
	waitFor(t, tm, "kestrel-on-server")
	deadline := time.Now().Add(5 * time.Second)
	for !slices.Contains(g.syncs(), "account") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	quit(t, tm)
	want := []string{"folder INBOX", "folder INBOX ended", "account"}
	if log := g.syncs(); len(log) < 3 || !slices.Equal(log[:3], want) {
		t.Fatalf("syncs in the order %q, want %q first", log, want)
	}
}
