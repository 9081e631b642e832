package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/mailtest"
)

func newSyncServer(t *testing.T, n int, opt mailtest.POP3Options) *mailtest.POP3Server {
	t.Helper()
	opt.Users = map[string]string{"alice": "secret-alice"}
	srv, err := mailtest.NewPOP3Server(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	for i := range n {
		srv.Deliver("alice", fmt.Appendf(nil, "Subject: m%d\n\nbody %d\n", i, i))
	}
	return srv
}

func pop3Account(t *testing.T, name string, srv *mailtest.POP3Server, pass string) account.Account {
	t.Helper()
	host, port, _ := net.SplitHostPort(srv.Addr)
	var p int
	fmt.Sscan(port, &p)
	a, err := account.NewPOP3(account.AccountConfig{
		Name:    name,
		Maildir: filepath.Join(t.TempDir(), name),
		POP3: &account.ServerConfig{Kind: "pop3", Host: host, Port: p, TLS: account.TLSNone,
			Username: "alice", Password: pass},
	}, &account.POP3Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { a.Close() })
	return a
}

func inboxCount(t *testing.T, a account.Account) int {
	t.Helper()
	envs, err := a.List(context.Background(), maildir.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	return len(envs)
}

func TestRunSync(t *testing.T) {
	good := newSyncServer(t, 200, mailtest.POP3Options{Pipelining: true})
	other := newSyncServer(t, 3, mailtest.POP3Options{})
	home := pop3Account(t, "home", good, "secret-alice")
	work := pop3Account(t, "work", other, "wrong")
	localDir := filepath.Join(t.TempDir(), "local")
	if _, err := maildir.Open(localDir); err != nil {
		t.Fatal(err)
	}
	local, err := account.NewLocal(account.AccountConfig{Name: "archive", Maildir: localDir})
	if err != nil {
		t.Fatal(err)
	}
	defer local.Close()
	accts := []account.Account{home, work, local}
	ctx := context.Background()

	for _, c := range []struct {
		names    []string
		want     int
		contains []string
	}{
		{[]string{"nosuch"}, exitUsage, []string{`no account "nosuch"`, "archive, home, work"}},
		{[]string{"home"}, exitOK, []string{"home: downloading 200 new messages", "home: 100% (200 of 200", "home: done, 200 new messages"}},
		{[]string{"home"}, exitOK, []string{"home: done, no new mail"}},
		{nil, exitFail, []string{"work: pop3 " + other.Addr + ": login failed: -ERR [AUTH]", "home: done", "archive: local account"}},
		{[]string{"archive"}, exitOK, []string{"archive: local account, nothing to sync"}},
	} {
		var stderr bytes.Buffer
		got := runSync(ctx, accts, c.names, &stderr)
		if got != c.want {
			t.Fatalf("runSync(%q) = %d, want %d; stderr:\n%s", c.names, got, c.want, stderr.String())
		}
		for _, w := range c.contains {
			if !strings.Contains(stderr.String(), w) {
				t.Fatalf("runSync(%q) stderr does not say %q:\n%s", c.names, w, stderr.String())
			}
		}
		if lines := strings.Count(stderr.String(), "\n"); lines > 20 {
			t.Fatalf("runSync(%q) printed %d lines, a flood:\n%s", c.names, lines, stderr.String())
		}
	}
	if n := inboxCount(t, home); n != 200 {
		t.Fatalf("home INBOX holds %d messages, want 200", n)
	}
	if n := len(good.Messages("alice")); n != 0 {
		t.Fatalf("server keeps %d messages, want 0", n)
	}
	if n := len(other.Messages("alice")); n != 3 {
		t.Fatalf("the failed account's server keeps %d messages, want 3", n)
	}
}

// TestSyncCommand runs `mailbag sync` through run, with a config file.
func TestSyncCommand(t *testing.T) {
	srv := newSyncServer(t, 5, mailtest.POP3Options{Pipelining: true})
	host, port, _ := net.SplitHostPort(srv.Addr)
	dir := t.TempDir()
	md := filepath.Join(dir, "Mail")
	cfg := filepath.Join(dir, "config.toml")
	conf := fmt.Sprintf(`[accounts.home]
maildir = %q
[accounts.home.pop3]
host = %q
port = %s
tls = "none"
username = "alice"
password = "secret-alice"
`, md, host, port)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	env := func(k string) string {
		if k == "HOME" {
			return dir
		}
		return ""
	}
	for _, c := range []struct {
		args []string
		want int
	}{
		{[]string{"sync", "--config", cfg}, exitOK},
		{[]string{"--config", cfg, "sync", "home"}, exitOK},
		{[]string{"sync", "--config", cfg, "nope"}, exitUsage},
		{[]string{"sync", "--config", filepath.Join(dir, "missing.toml")}, exitUsage},
	} {
		var stdout, stderr bytes.Buffer
		if got := run(c.args, strings.NewReader(""), &stdout, &stderr, env); got != c.want {
			t.Fatalf("run(%q) = %d, want %d; stderr:\n%s", c.args, got, c.want, stderr.String())
		}
	}
	d, err := maildir.Open(md)
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := d.Folder(maildir.Inbox)
	ents, err := inbox.List()
	if err != nil || len(ents) != 5 {
		t.Fatalf("INBOX after mailbag sync: %d messages, %v; want 5", len(ents), err)
	}
}

func TestHumanBytes(t *testing.T) {
	for _, c := range []struct {
		n    int64
		want string
	}{{0, "0 B"}, {1023, "1023 B"}, {1536, "1.5 KB"}, {5 << 20, "5.0 MB"}, {3 << 30, "3.0 GB"}} {
		if got := humanBytes(c.n); got != c.want {
			t.Fatalf("humanBytes(%d) = %q, want %q", c.n, got, c.want)
		}
	}
}
