package real

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/textproto"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

const ioTimeout = 10 * time.Second

func testContext(t *testing.T) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	t.Cleanup(cancel)
	return ctx
}

// greeting dials addr (over TLS when cfg is not nil) and returns the first line.
func greeting(t *testing.T, addr string, cfg *tls.Config) string {
	t.Helper()
	d := &net.Dialer{Timeout: ioTimeout}
	var conn net.Conn
	var err error
	if cfg != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, cfg)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		t.Fatalf("dial %s: %v", addr, err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(ioTimeout))
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil {
		t.Fatalf("%s: read greeting: %v", addr, err)
	}
	return line
}

func TestGreetings(t *testing.T) {
	s := Need(t)
	tlsCfg := s.ClientTLS()
	tests := []struct {
		name   string
		port   int
		tls    bool
		prefix string
	}{
		{"pop3", s.POP3, false, "+OK"},
		{"pop3s", s.POP3S, true, "+OK"},
		{"imap", s.IMAP, false, "* OK"},
		{"imaps", s.IMAPS, true, "* OK"},
		{"imap_noqresync", s.IMAPNoQresync, false, "* OK"},
		{"lmtp", s.LMTP, false, "220 "},
		{"smtp", s.SMTP, false, "220 mail.example.test ESMTP"},
		{"submission", s.Submission, false, "220 mail.example.test ESMTP"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var cfg *tls.Config
			if tt.tls {
				cfg = tlsCfg
			}
			if got := greeting(t, s.Addr(tt.port), cfg); !strings.HasPrefix(got, tt.prefix) {
				t.Fatalf("greeting on %s = %q, want prefix %q", s.Addr(tt.port), got, tt.prefix)
			}
		})
	}
}

// TestTLSNames checks the certificate for every name a test may dial.
func TestTLSNames(t *testing.T) {
	s := Need(t)
	for _, name := range []string{"127.0.0.1", "localhost", "mail.example.test"} {
		t.Run(name, func(t *testing.T) {
			cfg := s.ClientTLS()
			cfg.ServerName = name
			conn, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", s.Addr(s.IMAPS), cfg)
			if err != nil {
				t.Fatalf("TLS to %s as %q: %v", s.Addr(s.IMAPS), name, err)
			}
			conn.Close()
		})
	}
	t.Run("untrusted", func(t *testing.T) {
		cfg := &tls.Config{ServerName: s.Host} // system roots only
		conn, err := tls.DialWithDialer(&net.Dialer{Timeout: ioTimeout}, "tcp", s.Addr(s.POP3S), cfg)
		if err == nil {
			conn.Close()
			t.Fatalf("TLS without the private CA succeeded, want a verification error")
		}
	})
}

// pop3Session is a tiny POP3 (RFC 1939) exchange for these checks only.
type pop3Session struct {
	t    *testing.T
	conn *textproto.Conn
	raw  net.Conn
}

func pop3Login(t *testing.T, addr, user, pass string) *pop3Session {
	t.Helper()
	raw, err := net.DialTimeout("tcp", addr, ioTimeout)
	if err != nil {
		t.Fatalf("pop3 %s: %v", addr, err)
	}
	p := &pop3Session{t: t, conn: textproto.NewConn(raw), raw: raw}
	t.Cleanup(func() { p.conn.Close() })
	p.line("") // greeting
	p.line("USER " + user)
	p.line("PASS " + pass)
	return p
}

// line sends cmd (none when empty) and returns the text after "+OK".
func (p *pop3Session) line(cmd string) string {
	p.t.Helper()
	p.raw.SetDeadline(time.Now().Add(ioTimeout))
	if cmd != "" {
		if err := p.conn.PrintfLine("%s", cmd); err != nil {
			p.t.Fatalf("pop3 %s: %v", cmd, err)
		}
	}
	l, err := p.conn.ReadLine()
	if err != nil {
		p.t.Fatalf("pop3 %q: %v", cmd, err)
	}
	if !strings.HasPrefix(l, "+OK") {
		p.t.Fatalf("pop3 %q = %q, want +OK", cmd, l)
	}
	return strings.TrimSpace(strings.TrimPrefix(l, "+OK"))
}

func (p *pop3Session) stat() int {
	p.t.Helper()
	f := strings.Fields(p.line("STAT"))
	if len(f) < 2 {
		p.t.Fatalf("pop3 STAT: short reply %q", f)
	}
	n, err := strconv.Atoi(f[0])
	if err != nil {
		p.t.Fatalf("pop3 STAT: %v", err)
	}
	return n
}

func (p *pop3Session) retr(n int) []byte {
	p.t.Helper()
	p.line(fmt.Sprintf("RETR %d", n))
	b, err := io.ReadAll(p.conn.DotReader())
	if err != nil {
		p.t.Fatalf("pop3 RETR %d: %v", n, err)
	}
	return b
}

func (p *pop3Session) quit() { p.line("QUIT") }

func pop3Stat(t *testing.T, s *Servers, user, pass string) int {
	t.Helper()
	p := pop3Login(t, s.Addr(s.POP3), user, pass)
	n := p.stat()
	p.quit()
	return n
}

func testMessage(subject, body string) []byte {
	return []byte("From: Mail Test <mailtest@example.test>\r\n" +
		"To: someone@example.test\r\n" +
		"Subject: " + subject + "\r\n" +
		"Message-ID: <" + subject + "@example.test>\r\n" +
		"\r\n" + body)
}

func TestDeliverAndReset(t *testing.T) {
	s := Need(t)
	ctx := testContext(t)
	user, pass := s.TempUser(t)
	if n := pop3Stat(t, s, user, pass); n != 0 {
		t.Fatalf("STAT of new user %s = %d messages, want 0", user, n)
	}
	msgs := [][]byte{
		testMessage("one", "plain body\r\n"),
		testMessage("two", ".dotted line\r\n..two dots\r\n.\r\nlast\r\n"),
		testMessage("three", strings.Repeat("x", 10000)+"\r\n"),
	}
	if err := s.Deliver(ctx, user, msgs[0]); err != nil {
		t.Fatalf("Deliver(%s): %v", user, err)
	}
	if err := s.DeliverMany(ctx, user, msgs[1:]); err != nil {
		t.Fatalf("DeliverMany(%s): %v", user, err)
	}

	p := pop3Login(t, s.Addr(s.POP3), user, pass)
	if n := p.stat(); n != len(msgs) {
		t.Fatalf("STAT after delivering %d = %d", len(msgs), n)
	}
	for i, want := range msgs {
		got := p.retr(i + 1)
		// DotReader returns LF line ends; dovecot prepends Return-Path etc.
		wantLF := bytes.ReplaceAll(want, []byte("\r\n"), []byte("\n"))
		if !bytes.HasSuffix(got, wantLF) {
			t.Fatalf("RETR %d = %q, want it to end with %q", i+1, got, wantLF)
		}
	}
	p.quit()

	if err := s.Reset(ctx, user); err != nil {
		t.Fatalf("Reset(%s): %v", user, err)
	}
	if n := pop3Stat(t, s, user, pass); n != 0 {
		t.Fatalf("STAT after Reset = %d, want 0", n)
	}
	if _, err := os.Stat(filepath.Join(s.MailRoot, user, "Maildir")); err != nil {
		t.Fatalf("maildir of %s: %v", user, err)
	}
}

func TestDeliverUnknownUser(t *testing.T) {
	s := Need(t)
	err := s.Deliver(testContext(t), "nobody-here", testMessage("lost", "x\r\n"))
	var smtpErr *smtp.SMTPError
	if !errors.As(err, &smtpErr) || smtpErr.Code != 550 {
		t.Fatalf("Deliver(nobody-here) = %v, want a 550 *smtp.SMTPError", err)
	}
}

func TestDeliverCancelled(t *testing.T) {
	s := Need(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := s.Deliver(ctx, "alice", testMessage("cancelled", "x\r\n")); !errors.Is(err, context.Canceled) {
		t.Fatalf("Deliver with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestPOP3WrongPasswordFailsFast(t *testing.T) {
	s := Need(t)
	raw, err := net.DialTimeout("tcp", s.Addr(s.POP3), ioTimeout)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	start := time.Now()
	raw.SetDeadline(start.Add(ioTimeout))
	c := textproto.NewConn(raw)
	for _, cmd := range []string{"", "USER alice", "PASS wrong"} {
		if cmd != "" {
			c.PrintfLine("%s", cmd)
		}
		l, err := c.ReadLine()
		if err != nil {
			t.Fatalf("pop3 %q: %v", cmd, err)
		}
		if cmd == "PASS wrong" && !strings.HasPrefix(l, "-ERR") {
			t.Fatalf("PASS wrong = %q, want -ERR", l)
		}
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("failed login took %v; auth_failure_delay should be 0", d)
	}
}

func imapCaps(t *testing.T, s *Servers, port int, user, pass string) imap.CapSet {
	t.Helper()
	c, err := imapclient.DialStartTLS(s.Addr(port), &imapclient.Options{TLSConfig: s.ClientTLS()})
	if err != nil {
		t.Fatalf("imap STARTTLS %s: %v", s.Addr(port), err)
	}
	defer c.Close()
	if err := c.Login(user, pass).Wait(); err != nil {
		t.Fatalf("imap %s: LOGIN %s: %v", s.Addr(port), user, err)
	}
	caps, err := c.Capability().Wait()
	if err != nil {
		t.Fatalf("imap %s: CAPABILITY: %v", s.Addr(port), err)
	}
	if err := c.Logout().Wait(); err != nil {
		t.Fatalf("imap %s: LOGOUT: %v", s.Addr(port), err)
	}
	return caps
}

func TestIMAPCapabilities(t *testing.T) {
	s := Need(t)
	tests := []struct {
		name string
		port int
		want bool // CONDSTORE and QRESYNC advertised
	}{
		{"main", s.IMAP, true},
		{"noqresync", s.IMAPNoQresync, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			caps := imapCaps(t, s, tt.port, "alice", s.Users["alice"])
			for _, c := range []imap.Cap{imap.CapCondStore, imap.CapQResync} {
				if _, got := caps[c]; got != tt.want {
					t.Fatalf("port %d: CAPABILITY has %s = %v, want %v (caps %v)", tt.port, c, got, tt.want, caps)
				}
			}
			for _, c := range []imap.Cap{imap.CapIMAP4rev1, imap.CapIdle, imap.CapUIDPlus, imap.CapMove} {
				if _, ok := caps[c]; !ok {
					t.Fatalf("port %d: CAPABILITY lacks %s (caps %v)", tt.port, c, caps)
				}
			}
		})
	}
}

func TestSubmission(t *testing.T) {
	s := Need(t)
	addr := s.Addr(s.Submission)
	t.Run("plain", func(t *testing.T) {
		c, err := smtp.Dial(addr)
		if err != nil {
			t.Fatalf("submission %s: %v", addr, err)
		}
		defer c.Close()
		c.CommandTimeout = ioTimeout
		if err := c.Hello("localhost"); err != nil {
			t.Fatalf("EHLO: %v", err)
		}
		if ok, _ := c.Extension("STARTTLS"); !ok {
			t.Fatalf("submission EHLO lacks STARTTLS")
		}
		if ok, _ := c.Extension("AUTH"); ok {
			t.Fatalf("submission offers AUTH before STARTTLS")
		}
		if err := c.Mail("alice@example.test", nil); err == nil {
			t.Fatalf("MAIL before STARTTLS accepted, want refusal (TLS required)")
		}
	})
	// go-smtp v0.25.1 answers a final 535 with "*", which postfix takes as a
	// non-SMTP command and drops the connection: one connection per attempt.
	tests := []struct {
		name, pass string
		code       int // 0: success
	}{
		{"wrong password", "wrong", 535},
		{"right password", s.Users["alice"], 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := smtp.DialStartTLS(addr, s.ClientTLS())
			if err != nil {
				t.Fatalf("submission STARTTLS %s: %v", addr, err)
			}
			defer c.Close()
			c.CommandTimeout = ioTimeout
			if _, ok := c.TLSConnectionState(); !ok {
				t.Fatalf("no TLS after STARTTLS")
			}
			if !c.SupportsAuth("PLAIN") {
				t.Fatalf("AUTH PLAIN not offered after STARTTLS")
			}
			err = c.Auth(sasl.NewPlainClient("", "alice", tt.pass))
			var smtpErr *smtp.SMTPError
			switch {
			case tt.code == 0 && err != nil:
				t.Fatalf("AUTH PLAIN alice: %v", err)
			case tt.code != 0 && (!errors.As(err, &smtpErr) || smtpErr.Code != tt.code):
				t.Fatalf("AUTH PLAIN alice/%s = %v, want %d", tt.pass, err, tt.code)
			case tt.code == 0:
				if err := c.Quit(); err != nil {
					t.Fatalf("QUIT: %v", err)
				}
			}
		})
	}
}

// TestSubmitDelivers sends through postfix (submission, then LMTP to dovecot)
// and waits for the message to appear over POP3. Postfix delivers
// asynchronously, so this polls with a bounded deadline.
func TestSubmitDelivers(t *testing.T) {
	s := Need(t)
	user, pass := s.TempUser(t)
	c, err := smtp.DialStartTLS(s.Addr(s.Submission), s.ClientTLS())
	if err != nil {
		t.Fatalf("submission %s: %v", s.Addr(s.Submission), err)
	}
	defer c.Close()
	c.CommandTimeout = ioTimeout
	c.SubmissionTimeout = ioTimeout
	if err := c.Auth(sasl.NewPlainClient("", "bob", s.Users["bob"])); err != nil {
		t.Fatalf("AUTH bob: %v", err)
	}
	msg := testMessage("submitted", "via postfix\r\n")
	if err := c.SendMail("bob@example.test", []string{s.Address(user)}, bytes.NewReader(msg)); err != nil {
		t.Fatalf("SendMail to %s: %v", s.Address(user), err)
	}
	if err := c.Mail("bob@example.test", nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	var smtpErr *smtp.SMTPError
	if err := c.Rcpt("nobody-here@example.test", nil); !errors.As(err, &smtpErr) || smtpErr.Code != 550 {
		t.Fatalf("RCPT nobody-here@example.test = %v, want 550", err)
	}
	c.Quit()

	deadline := time.Now().Add(15 * time.Second)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for pop3Stat(t, s, user, pass) == 0 {
		if time.Now().After(deadline) {
			t.Fatalf("message submitted to %s not in its INBOX after 15s (see %s)", user, s.Logs["postfix"])
		}
		<-tick.C
	}
}

func TestSMTPRefusesRelay(t *testing.T) {
	s := Need(t)
	c, err := smtp.Dial(s.Addr(s.SMTP))
	if err != nil {
		t.Fatalf("smtp %s: %v", s.Addr(s.SMTP), err)
	}
	defer c.Close()
	c.CommandTimeout = ioTimeout
	if err := c.Mail("alice@example.test", nil); err != nil {
		t.Fatalf("MAIL: %v", err)
	}
	if err := c.Rcpt("someone@example.org", nil); err == nil {
		t.Fatalf("RCPT to another domain accepted on plain SMTP, want relay refused")
	}
	if err := c.Rcpt("carol@example.test", nil); err != nil {
		t.Fatalf("RCPT carol@example.test: %v", err)
	}
}

func TestNeedMessage(t *testing.T) {
	if !strings.Contains(StartHint, "bash .ci/servers install && bash .ci/servers start") {
		t.Fatalf("StartHint = %q, want the start commands", StartHint)
	}
	tests := []struct {
		ci   string
		want bool
	}{{"", false}, {"false", false}, {"0", false}, {"true", true}, {"1", true}}
	for _, tt := range tests {
		t.Setenv("CI", tt.ci)
		if got := InCI(); got != tt.want {
			t.Fatalf("InCI() with CI=%q = %v, want %v", tt.ci, got, tt.want)
		}
	}
}

func TestLoadFileMissing(t *testing.T) {
	_, err := LoadFile(filepath.Join(t.TempDir(), "env.json"))
	if !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("LoadFile(missing) = %v, want os.ErrNotExist", err)
	}
}

func TestLoadFileDeadPorts(t *testing.T) {
	// A port nothing listens on: bind one, note it, close it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	env := fmt.Sprintf(`{"host":"127.0.0.1","ca_file":"/nonexistent","users":{"alice":"x"},
		"pop3":%[1]d,"pop3s":%[1]d,"imap":%[1]d,"imaps":%[1]d,"imap_noqresync":%[1]d,
		"submission":%[1]d,"smtp":%[1]d,"lmtp":%[1]d}`, port)
	path := filepath.Join(t.TempDir(), "env.json")
	if err := os.WriteFile(path, []byte(env), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := LoadFile(path); err == nil || !strings.Contains(err.Error(), "pop3") {
		t.Fatalf("LoadFile(dead ports) = %v, want an error naming pop3", err)
	}
}

// BenchmarkDeliverMany measures LMTP injection: b.N messages in one session.
func BenchmarkDeliverMany(b *testing.B) {
	s := Need(b)
	user, _ := s.TempUser(b)
	msgs := make([][]byte, b.N)
	for i := range msgs {
		msgs[i] = testMessage(fmt.Sprintf("bench-%d", i), strings.Repeat("body line\r\n", 50))
	}
	b.ResetTimer()
	if err := s.DeliverMany(context.Background(), user, msgs); err != nil {
		b.Fatalf("DeliverMany(%d): %v", b.N, err)
	}
}
