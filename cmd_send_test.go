package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/mailtest"
	"github.com/mailbag/mailbag/ui"
)

// smtpFixture is an in-process submission server (STARTTLS required,
// AUTH as alice) whose answer to the final dot a test can switch, and a
// config whose account "home" sends through it.
type smtpFixture struct {
	srv    *mailtest.SMTPServer
	ca     *mailtest.CA
	caFile string
	home   string
	config string
	env    map[string]string
	answer atomic.Int32 // 0 accept, else the reply code at the dot
}

func newSMTPFixture(t *testing.T, extra string) *smtpFixture {
	t.Helper()
	f := &smtpFixture{}
	var err error
	if f.ca, err = mailtest.NewCA(); err != nil {
		t.Fatal(err)
	}
	f.home = t.TempDir()
	f.caFile = filepath.Join(f.home, "ca.pem")
	if err := f.ca.WritePEM(f.caFile); err != nil {
		t.Fatal(err)
	}
	f.srv, err = mailtest.NewSMTPServer(mailtest.SMTPOptions{
		STARTTLS: f.ca.ServerTLS(), RequireTLS: true,
		Users: map[string]string{"alice": "secret-alice"},
		FailData: func() *gosmtp.SMTPError {
			switch code := int(f.answer.Load()); code {
			case 0:
				return nil
			default:
				return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{code / 100, 0, 0}, Message: fmt.Sprintf("answer %d from the test", code)}
			}
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.srv.Close() })
	host, port, _ := net.SplitHostPort(f.srv.Addr)
	f.config = filepath.Join(f.home, "config.toml")
	cfg := fmt.Sprintf(`[accounts.archive]
maildir = "~/Mail/archive"

[accounts.home]
address = "Alice <alice@example.test>"
maildir = "~/Mail/home"
[accounts.home.smtp]
host = %q
port = %s
tls = "starttls"
username = "alice"
password = "secret-alice"
ca_file = %q
%s`, host, port, f.caFile, extra)
	if err := os.WriteFile(f.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(f.home, "Mail/archive"), 0o700); err != nil || os.MkdirAll(filepath.Join(f.home, "Mail/home"), 0o700) != nil {
		t.Fatal(err)
	}
	f.env = map[string]string{"HOME": f.home, "MAILBAG_CONFIG": f.config}
	return f
}

// count returns how many messages a folder of the home maildir holds.
func (f *smtpFixture) count(t *testing.T, folder string) int {
	t.Helper()
	d, err := maildir.Open(filepath.Join(f.home, "Mail/home"))
	if err != nil {
		t.Fatal(err)
	}
	if !d.HasFolder(folder) {
		return 0
	}
	fo, err := d.Folder(folder)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := fo.List()
	if err != nil {
		t.Fatal(err)
	}
	return len(ents)
}

const cliMessage = "To: Bob <bob@example.test>\nBcc: hidden@example.test\nSubject: from a script\n\nhello from cron\n"

func TestSendCommand(t *testing.T) {
	tests := []struct {
		name    string
		args    []string
		stdin   string
		answer  int32
		code    int
		stderr  string
		folders [3]int // Outbox, Sent, Drafts
		got     int    // messages the server accepted
	}{
		{"sent", []string{"send"}, cliMessage, 0, 0, "", [3]int{0, 1, 0}, 1},
		{"sent, named account", []string{"send", "--account", "home"}, cliMessage, 0, 0, "", [3]int{0, 1, 0}, 1},
		{"4xx queues", []string{"send"}, cliMessage, 451, 75, "queued in the outbox", [3]int{1, 0, 0}, 0},
		{"5xx refuses", []string{"send"}, cliMessage, 554, 1, "answer 554 from the test", [3]int{0, 0, 1}, 0},
		{"no recipients", []string{"send"}, "Subject: x\n\nbody\n", 0, 1, "no recipients", [3]int{}, 0},
		{"unknown account", []string{"send", "--account=nope"}, cliMessage, 0, 2, `no account "nope"`, [3]int{}, 0},
		{"account without smtp", []string{"send", "--account", "archive"}, cliMessage, 0, 2, "archive has no [smtp]", [3]int{}, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newSMTPFixture(t, "")
			f.answer.Store(tt.answer)
			code, stdout, stderr, _ := testCLI(t, tt.args, tt.stdin, f.env, nil)
			if code != tt.code || stdout != "" || (tt.stderr == "" && stderr != "") || !strings.Contains(stderr, tt.stderr) {
				t.Fatalf("run(%q) = %d, stdout %q, stderr %q; want %d and %q", tt.args, code, stdout, stderr, tt.code, tt.stderr)
			}
			if strings.Count(stderr, "\n") > 1 {
				t.Errorf("stderr is more than one line: %q", stderr)
			}
			got := [3]int{f.count(t, "Outbox"), f.count(t, "Sent"), f.count(t, "Drafts")}
			if got != tt.folders {
				t.Errorf("Outbox, Sent, Drafts = %v, want %v", got, tt.folders)
			}
			rec := f.srv.Received()
			if len(rec) != tt.got {
				t.Fatalf("server received %d, want %d", len(rec), tt.got)
			}
			if tt.got == 1 {
				data := string(rec[0].Data)
				if strings.Contains(data, "hidden@") || !strings.Contains(strings.Join(rec[0].To, ","), "hidden@example.test") {
					t.Errorf("Bcc: transmitted %q to %q", data, rec[0].To)
				}
				for _, h := range []string{"From: \"Alice\" <alice@example.test>", "Date: ", "Message-Id: <"} {
					if !strings.Contains(data, h) {
						t.Errorf("transmitted message lacks %q:\n%s", h, data)
					}
				}
			}
		})
	}
	t.Run("no account with smtp", func(t *testing.T) {
		home, env := checkEnv(t)
		path := filepath.Join(home, "c.toml")
		os.WriteFile(path, []byte("[accounts.archive]\nmaildir = \"~/Mail/archive\"\n"), 0o600)
		code, _, stderr, _ := testCLI(t, []string{"send", "--config", path}, cliMessage, env, nil)
		if code != 2 || !strings.Contains(stderr, "no account in "+path+" has an [smtp] table") {
			t.Errorf("send without [smtp] = %d, %q", code, stderr)
		}
	})
}

// TestSyncFlushesOutbox: `mailbag sync` sends what waits in the outbox
// and is due (here: a message stored by a `mailbag send` that died before
// it could try), and exits 1 when a message could not go.
func TestSyncFlushesOutbox(t *testing.T) {
	f := newSMTPFixture(t, "")
	d, err := maildir.Open(filepath.Join(f.home, "Mail/home"))
	if err != nil {
		t.Fatal(err)
	}
	out, err := d.Folder("Outbox")
	if err != nil {
		t.Fatal(err)
	}
	msg := "From: alice@example.test\r\nTo: bob@example.test\r\nDate: Thu, 27 Nov 2025 10:00:00 +0000\r\nMessage-ID: <left@x>\r\n\r\nleft behind\r\n"
	if _, err := out.Deliver(strings.NewReader(msg), ""); err != nil {
		t.Fatal(err)
	}
	f.answer.Store(421)
	code, _, stderr, _ := testCLI(t, []string{"sync"}, "", f.env, nil)
	if code != 1 || !strings.Contains(stderr, "still queued") || !strings.Contains(stderr, "answer 421") || f.count(t, "Outbox") != 1 {
		t.Fatalf("sync with the server failing = %d, %q; want 1, the message still queued", code, stderr)
	}
	// Not due again for a minute: a second sync does not try.
	f.answer.Store(0)
	code, _, stderr, _ = testCLI(t, []string{"sync", "home"}, "", f.env, nil)
	if code != 0 || len(f.srv.Received()) != 0 || !strings.Contains(stderr, "home: outbox: 0 sent, 1 waiting") {
		t.Fatalf("sync before the backoff = %d, %q; server got %d", code, stderr, len(f.srv.Received()))
	}
	// A fresh message (no retry state) goes at once.
	if _, err := out.Deliver(strings.NewReader(strings.Replace(msg, "left@x", "fresh@x", 1)), ""); err != nil {
		t.Fatal(err)
	}
	code, _, stderr, _ = testCLI(t, []string{"sync"}, "", f.env, nil)
	if code != 0 || len(f.srv.Received()) != 1 || f.count(t, "Sent") != 1 || !strings.Contains(stderr, "home: outbox: 1 sent, 1 waiting") {
		t.Fatalf("sync = %d, %q; server got %d, Sent %d", code, stderr, len(f.srv.Received()), f.count(t, "Sent"))
	}
}

func TestCheckLogins(t *testing.T) {
	pop := newSyncServer(t, 0, mailtest.POP3Options{})
	popHost, popPort, _ := net.SplitHostPort(pop.Addr)
	f := newSMTPFixture(t, fmt.Sprintf(`
[accounts.mail]
maildir = "~/Mail/pop"
[accounts.mail.pop3]
host = %q
port = %s
tls = "none"
username = "alice"
password = "secret-alice"
`, popHost, popPort))
	code, stdout, stderr, _ := testCLI(t, []string{"check"}, "", f.env, nil)
	lines := strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	smtpPrefix := "home: smtp " + f.srv.Addr + ": ok (EHLO: "
	popPrefix := "mail: pop3 " + pop.Addr + ": ok (CAPA: "
	if code != 0 || stderr != "" || len(lines) != 5 || !strings.HasPrefix(lines[2], smtpPrefix) || !strings.Contains(lines[2], "AUTH PLAIN") ||
		!strings.HasPrefix(lines[4], popPrefix) || !strings.Contains(lines[4], "UIDL") {
		t.Fatalf("check = %d, stderr %q, stdout:\n%s\nwant lines 3 and 5 to start %q and %q", code, stderr, stdout, smtpPrefix, popPrefix)
	}

	// A wrong password: exit 1, one line naming account, server, cause.
	data, _ := os.ReadFile(f.config)
	os.WriteFile(f.config, bytes.Replace(data, []byte(`password = "secret-alice"`), []byte(`password = "wrong"`), 1), 0o600)
	code, stdout, _, _ = testCLI(t, []string{"check"}, "", f.env, nil)
	lines = strings.Split(strings.TrimSuffix(stdout, "\n"), "\n")
	if code != 1 || len(lines) != 5 || !strings.HasPrefix(lines[2], "home: smtp "+f.srv.Addr+": auth PLAIN: ") || !strings.Contains(lines[2], "535") {
		t.Errorf("check with a wrong SMTP password = %d:\n%s", code, stdout)
	}
	// The server's certificate not trusted.
	os.WriteFile(f.config, bytes.Replace(data, []byte("ca_file = "), []byte("# ca_file = "), 1), 0o600)
	code, stdout, _, _ = testCLI(t, []string{"check"}, "", f.env, nil)
	if code != 1 || !strings.Contains(stdout, "unknown authority") {
		t.Errorf("check without the CA = %d:\n%s", code, stdout)
	}
}

// TestDemoSends: in the demo, mail to the demo address arrives in its
// INBOX, and mail to the outside world is refused with the server's
// words (the demo stays offline).
func TestDemoSends(t *testing.T) {
	t.Setenv("HOME", t.TempDir())
	t.Setenv("TMPDIR", t.TempDir())
	var out, errb bytes.Buffer
	c := &cli{stdin: strings.NewReader(""), stdout: &out, stderr: &errb, env: func(string) string { return "" },
		now: func() time.Time { return time.Date(2025, 11, 27, 12, 0, 0, 0, time.UTC) },
		tui: func(ctx context.Context, accts []account.Account, opts ui.Options) error {
			if len(accts) != 3 {
				t.Fatalf("demo has %d accounts, want demo, home (POP3), work (IMAP)", len(accts))
			}
			for _, a := range accts {
				if !a.Caps().Send {
					t.Fatalf("demo account %s cannot send", a.Name())
				}
			}
			s, ok := accts[0].(account.Sender)
			if !ok {
				t.Fatalf("demo account %T is not a Sender", accts[0])
			}
			before := demoInbox(t, ctx, accts[0])
			res, err := s.Send(ctx, strings.NewReader("To: Alice Example <alice@example.test>\r\nSubject: note to self\r\n\r\nIt works.\r\n"))
			if err != nil || res.Status != account.Sent {
				t.Fatalf("demo Send = %+v, %v", res, err)
			}
			if after := demoInbox(t, ctx, accts[0]); after != before+1 {
				t.Errorf("INBOX has %d messages after sending to self, want %d", after, before+1)
			}
			// Mail to the POP3 account waits on its server until a sync.
			res, err = s.Send(ctx, strings.NewReader("To: "+demoPOP3Address+"\r\nSubject: to the pop box\r\n\r\nx\r\n"))
			if err != nil || res.Status != account.Sent {
				t.Fatalf("demo Send to the POP3 account = %+v, %v", res, err)
			}
			if err := accts[1].Sync(ctx, nil); err != nil {
				t.Fatalf("demo POP3 sync: %v", err)
			}
			if n := demoInbox(t, ctx, accts[1]); n != 4 {
				t.Errorf("POP3 demo INBOX has %d messages after a sync, want 3 waiting + 1 sent", n)
			}
			res, err = s.Send(ctx, strings.NewReader("To: someone@example.org\r\nSubject: out\r\n\r\nx\r\n"))
			if err != nil || res.Status != account.Refused || !strings.Contains(res.Err.Error(), "demo is offline") {
				t.Errorf("demo Send outside = %+v, %v; want Refused, offline", res, err)
			}
			return nil
		}}
	if code := c.run(context.Background(), []string{"demo"}); code != 0 {
		t.Fatalf("demo = %d, %s", code, errb.String())
	}
}

func demoInbox(t *testing.T, ctx context.Context, a account.Account) int {
	t.Helper()
	envs, err := a.List(ctx, maildir.Inbox)
	if err != nil {
		t.Fatal(err)
	}
	return len(envs)
}
