package pop3

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailbag/mailbag/transport/auth"
	"github.com/mailbag/mailbag/transport/mailtest"
)

// sample messages as delivered (LF) and as Retr returns them (LF).
var sample = []string{
	"From: a@example.test\nSubject: one\n\nfirst body\n",
	"From: b@example.test\nSubject: two\n\n.leading dot\n..two dots\n.\nend\n",
	"From: c@example.test\nSubject: three\n\nline 1\nline 2\nline 3\nline 4\n",
}

func deliverSamples(s *mailtest.POP3Server) {
	for _, m := range sample {
		s.Deliver("alice", []byte(m))
	}
}

func TestSession(t *testing.T) {
	s := newServer(t, mailtest.POP3Options{})
	deliverSamples(s)
	c := login(t, s.Addr, nil)

	count, size, err := c.Stat()
	var wantSize int64
	for _, m := range sample {
		wantSize += int64(len(m) + strings.Count(m, "\n")) // CRLF on the server
	}
	if err != nil || count != 3 || size != wantSize {
		t.Fatalf("Stat() = %d, %d, %v; want 3, %d", count, size, err, wantSize)
	}
	list, err := c.List()
	if err != nil || len(list) != 3 || list[0].ID != 1 || list[0].Size != int64(len(sample[0])+4) {
		t.Fatalf("List() = %v, %v", list, err)
	}
	uids, err := c.UIDL()
	wantUIDs := s.UIDs("alice")
	if err != nil || len(uids) != 3 {
		t.Fatalf("UIDL() = %v, %v", uids, err)
	}
	all, err := c.ListAll()
	if err != nil || len(all) != 3 {
		t.Fatalf("ListAll() = %v, %v", all, err)
	}
	for i := range all {
		if uids[i].UID != wantUIDs[i] || all[i].UID != wantUIDs[i] || all[i].Size != list[i].Size || all[i].ID != i+1 {
			t.Fatalf("ListAll()[%d] = %+v, UIDL %+v, want uid %q size %d", i, all[i], uids[i], wantUIDs[i], list[i].Size)
		}
	}
	for i, want := range sample {
		var b bytes.Buffer
		if _, err := c.Retr(i+1, &b); err != nil || b.String() != want {
			t.Fatalf("Retr(%d) = %q, %v; want %q", i+1, b.String(), err, want)
		}
	}
	var top bytes.Buffer
	if err := c.Top(3, 2, &top); err != nil || top.String() != "From: c@example.test\nSubject: three\n\nline 1\nline 2\n" {
		t.Fatalf("Top(3, 2) = %q, %v", top.String(), err)
	}
	if err := c.Dele(2); err != nil {
		t.Fatalf("Dele(2): %v", err)
	}
	var e *Error
	if _, err := c.Retr(2, io.Discard); !errors.As(err, &e) || e.Cmd != "RETR" {
		t.Fatalf("Retr(2) after Dele = %v, want *Error for RETR", err)
	}
	if !strings.Contains(fmt.Sprint(c.Retr(2, io.Discard)), "retr 2: -ERR") {
		t.Fatalf("Retr(2) error lacks context")
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	got := s.Messages("alice")
	if len(got) != 2 || !bytes.Contains(got[1], []byte("Subject: three")) {
		t.Fatalf("Messages after Quit = %q, want messages 1 and 3", got)
	}
	if err := c.Noop(); err == nil {
		t.Fatalf("Noop after Quit succeeded")
	}
}

// TestCloseKeepsDeletions checks RFC 1939 §6: without QUIT nothing is
// removed; Rset unmarks.
func TestCloseKeepsDeletions(t *testing.T) {
	s := newServer(t, mailtest.POP3Options{})
	deliverSamples(s)
	c := login(t, s.Addr, nil)
	if err := c.DeleMany([]int{1, 2, 3}); err != nil {
		t.Fatalf("DeleMany: %v", err)
	}
	if err := c.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if n := len(s.Messages("alice")); n != 3 {
		t.Fatalf("after Close without QUIT the server has %d messages, want 3", n)
	}

	s2 := newServer(t, mailtest.POP3Options{})
	deliverSamples(s2)
	c2 := login(t, s2.Addr, nil)
	if err := c2.DeleMany([]int{1, 3}); err != nil {
		t.Fatalf("DeleMany: %v", err)
	}
	if err := c2.Rset(); err != nil {
		t.Fatalf("Rset: %v", err)
	}
	if err := c2.Dele(1); err != nil {
		t.Fatalf("Dele: %v", err)
	}
	if err := c2.Quit(); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	if n := len(s2.Messages("alice")); n != 2 {
		t.Fatalf("after Rset, Dele 1, Quit the server has %d messages, want 2", n)
	}
}

// TestPipelinedAndSequentialAgree runs the same session against servers with
// and without PIPELINING (and without CAPA at all).
func TestPipelinedAndSequentialAgree(t *testing.T) {
	var msgs [][]byte
	for i := 0; i < 150; i++ { // more than the pipelining window
		body := strings.Repeat(fmt.Sprintf(".line %d of message %d\n", i, i), i%7+1)
		msgs = append(msgs, []byte(fmt.Sprintf("Subject: %d\n\n%s", i, body)))
	}
	run := func(opt mailtest.POP3Options) (string, []string) {
		s := newServer(t, opt)
		for _, m := range msgs {
			s.Deliver("alice", m)
		}
		c := login(t, s.Addr, nil)
		_, pipelined := c.Caps()["PIPELINING"]
		if pipelined != opt.Pipelining {
			t.Fatalf("Caps() PIPELINING = %v, want %v", pipelined, opt.Pipelining)
		}
		all, err := c.ListAll()
		if err != nil {
			t.Fatalf("ListAll: %v", err)
		}
		var ids []int
		var out strings.Builder
		for _, m := range all {
			ids = append(ids, m.ID)
			fmt.Fprintf(&out, "%d %d|", m.ID, m.Size)
		}
		err = c.RetrMany(ids, func(n int, r io.Reader) error {
			b, err := io.ReadAll(r)
			fmt.Fprintf(&out, "%d:%s", n, b)
			return err
		})
		if err != nil {
			t.Fatalf("RetrMany: %v", err)
		}
		if err := c.DeleMany(ids); err != nil {
			t.Fatalf("DeleMany: %v", err)
		}
		if err := c.Quit(); err != nil {
			t.Fatalf("Quit: %v", err)
		}
		if left := s.Messages("alice"); len(left) != 0 {
			t.Fatalf("%d messages left after DeleMany and Quit", len(left))
		}
		return out.String(), s.Commands()
	}
	pipe, pipeCmds := run(mailtest.POP3Options{Pipelining: true})
	seq, seqCmds := run(mailtest.POP3Options{})
	noCapa, _ := run(mailtest.POP3Options{NoCAPA: true})
	if pipe != seq || seq != noCapa {
		t.Fatalf("pipelined and sequential sessions differ:\n%.300s\n%.300s\n%.300s", pipe, seq, noCapa)
	}
	if !strings.Contains(pipe, "1:Subject: 0\n\n.line 0 of message 0\n") {
		t.Fatalf("RetrMany output %.100q lacks the unstuffed first message", pipe)
	}
	if len(pipeCmds) != len(seqCmds) {
		t.Fatalf("pipelined session sent %d commands, sequential %d", len(pipeCmds), len(seqCmds))
	}
}

func TestRetrManyStopsOnError(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		s := newServer(t, mailtest.POP3Options{Pipelining: pipelining})
		deliverSamples(s)
		c := login(t, s.Addr, nil)
		// A missing message: *Error, the session stays usable.
		var seen []int
		err := c.RetrMany([]int{1, 9, 2}, func(n int, r io.Reader) error {
			seen = append(seen, n)
			return nil
		})
		var e *Error
		if !errors.As(err, &e) || !strings.Contains(err.Error(), "retr 9") {
			t.Fatalf("RetrMany with a missing message = %v, want *Error for retr 9", err)
		}
		if len(seen) != 1 || seen[0] != 1 {
			t.Fatalf("RetrMany handed %v, want only [1]", seen)
		}
		// The callback fails: its error comes back, unread bodies are skipped.
		stop := errors.New("disk full")
		err = c.RetrMany([]int{1, 2, 3}, func(n int, r io.Reader) error {
			if n == 2 {
				return stop
			}
			return nil
		})
		if !errors.Is(err, stop) || !strings.Contains(err.Error(), "retr 2") {
			t.Fatalf("RetrMany with a failing callback = %v, want %v for retr 2", err, stop)
		}
		var b bytes.Buffer
		if _, err := c.Retr(3, &b); err != nil || b.String() != sample[2] {
			t.Fatalf("Retr(3) after failed RetrMany = %q, %v; want %q", b.String(), err, sample[2])
		}
	}
}

type failingWriter struct{ n int }

func (w *failingWriter) Write(p []byte) (int, error) {
	if w.n += len(p); w.n > 10 {
		return 0, errors.New("writer broke")
	}
	return len(p), nil
}

func TestRetrWriterFails(t *testing.T) {
	s := newServer(t, mailtest.POP3Options{})
	s.Deliver("alice", bytes.Repeat([]byte("a long line of text\n"), 10000))
	s.Deliver("alice", []byte(sample[0]))
	c := login(t, s.Addr, nil)
	if _, err := c.Retr(1, &failingWriter{}); err == nil || !strings.Contains(err.Error(), "writer broke") {
		t.Fatalf("Retr into a failing writer = %v, want the writer's error", err)
	}
	var b bytes.Buffer
	if _, err := c.Retr(2, &b); err != nil || b.String() != sample[0] {
		t.Fatalf("Retr(2) after a failed writer = %q, %v", b.String(), err)
	}
}

func TestInUse(t *testing.T) {
	s := newServer(t, mailtest.POP3Options{Misbehave: mailtest.Misbehaviour{InUse: true}})
	c := dial(t, s.Addr, nil)
	err := c.Login("alice", "secret")
	var e *Error
	if !errors.As(err, &e) || e.Code != "IN-USE" || !e.Temporary() || e.Cmd != "PASS" {
		t.Fatalf("Login on a locked maildrop = %v, want *Error [IN-USE] temporary", err)
	}

	// A real second session while the first holds the lock (RFC 1939 §8).
	s2 := newServer(t, mailtest.POP3Options{})
	first := login(t, s2.Addr, nil)
	second := dial(t, s2.Addr, nil)
	if err := second.Login("alice", "secret"); !errors.As(err, &e) || e.Code != "IN-USE" {
		t.Fatalf("second Login = %v, want [IN-USE]", err)
	}
	if err := first.Quit(); err != nil {
		t.Fatalf("Quit: %v", err)
	}
	if err := second.Login("alice", "secret"); err != nil {
		t.Fatalf("Login after the first session quit: %v", err)
	}
}

func TestLoginFailures(t *testing.T) {
	s := newServer(t, mailtest.POP3Options{})
	c := dial(t, s.Addr, nil)
	err := c.Login("alice", "wrong")
	var e *Error
	if !errors.As(err, &e) || e.Code != "AUTH" {
		t.Fatalf("Login with a wrong password = %v, want [AUTH]", err)
	}
	want := "pop3 " + s.Addr + ": login failed: -ERR [AUTH]"
	if !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Login error = %q, want prefix %q", err, want)
	}
	if err := c.Login("alice", "sec\r\nDELE 1"); err == nil || !strings.Contains(err.Error(), "CR, LF") {
		t.Fatalf("Login with CRLF in the password = %v, want refusal", err)
	}
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatalf("Login after a failure: %v", err)
	}
	if err := c.Login("alice", "secret"); err == nil {
		t.Fatalf("second Login succeeded")
	}
}

func TestAPOP(t *testing.T) {
	s := newServer(t, mailtest.POP3Options{})
	deliverSamples(s)
	c := dial(t, s.Addr, nil)
	var e *Error
	if err := c.LoginAPOP("alice", "wrong"); !errors.As(err, &e) || e.Code != "AUTH" {
		t.Fatalf("LoginAPOP with a wrong password = %v, want [AUTH]", err)
	}
	if err := c.LoginAPOP("alice", "secret"); err != nil {
		t.Fatalf("LoginAPOP: %v", err)
	}
	if n, _, err := c.Stat(); err != nil || n != 3 {
		t.Fatalf("Stat after APOP = %d, %v", n, err)
	}
	for _, cmd := range s.Commands() {
		if strings.Contains(cmd, "secret") {
			t.Fatalf("APOP sent the password: %q", cmd)
		}
	}

	s2 := newServer(t, mailtest.POP3Options{NoAPOP: true})
	c2 := dial(t, s2.Addr, nil)
	if err := c2.LoginAPOP("alice", "secret"); err == nil || !strings.Contains(err.Error(), "APOP") {
		t.Fatalf("LoginAPOP without a timestamp = %v, want refusal", err)
	}
}

func TestSASL(t *testing.T) {
	longToken := strings.Repeat("t", 600) // too long for the AUTH line: sent after "+ "
	s := newServer(t, mailtest.POP3Options{SASL: true, Users: map[string]string{"alice": "secret", "bob": longToken}})
	s.Deliver("alice", []byte(sample[0]))
	tests := []struct {
		name string
		mech sasl.Client
		ok   bool
	}{
		{"PLAIN", sasl.NewPlainClient("", "alice", "secret"), true},
		{"PLAIN bad", sasl.NewPlainClient("", "alice", "nope"), false},
		{"LOGIN", sasl.NewLoginClient("alice", "secret"), true},
		{"LOGIN bad", sasl.NewLoginClient("alice", "nope"), false},
		{"CRAM-MD5", auth.CramMD5("alice", "secret"), true},
		{"CRAM-MD5 bad", auth.CramMD5("alice", "nope"), false},
		{"XOAUTH2", auth.XOAuth2("alice", "secret"), true},
		{"XOAUTH2 long token", auth.XOAuth2("bob", longToken), true},
		{"XOAUTH2 bad", auth.XOAuth2("alice", "expired"), false},
		{"OAUTHBEARER", sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: "alice", Token: "secret"}), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := dial(t, s.Addr, nil)
			err := c.Auth(tt.mech)
			if tt.ok {
				if err != nil {
					t.Fatalf("Auth(%s) = %v", tt.name, err)
				}
				if err := c.Quit(); err != nil {
					t.Fatalf("Quit: %v", err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) || e.Code != "AUTH" {
				t.Fatalf("Auth(%s) = %v, want [AUTH]", tt.name, err)
			}
			if err := c.Noop(); err == nil {
				t.Fatalf("Noop after a failed Auth succeeded: not in AUTHORIZATION state?")
			} else if !errors.As(err, &e) {
				t.Fatalf("Noop after a failed Auth = %v; session out of step", err)
			}
		})
	}

	// A mechanism the server does not list is refused without asking.
	c := dial(t, s.Addr, nil)
	if err := c.Auth(sasl.NewAnonymousClient("x")); err == nil || !strings.Contains(err.Error(), "does not offer SASL ANONYMOUS") {
		t.Fatalf("Auth(ANONYMOUS) = %v, want refusal", err)
	}
}

func TestCaps(t *testing.T) {
	s := newServer(t, mailtest.POP3Options{SASL: true, Pipelining: true})
	c := dial(t, s.Addr, nil)
	caps := c.Caps()
	if _, ok := caps["UIDL"]; !ok {
		t.Fatalf("Caps() = %v, want UIDL", caps)
	}
	if got := strings.Join(caps["SASL"], " "); !strings.Contains(got, "CRAM-MD5") {
		t.Fatalf("Caps()[SASL] = %q", got)
	}
	caps["UIDL"] = nil
	delete(caps, "TOP")
	if _, ok := c.Caps()["TOP"]; !ok {
		t.Fatalf("Caps() returned the client's own map")
	}

	s2 := newServer(t, mailtest.POP3Options{NoCAPA: true})
	if caps := dial(t, s2.Addr, nil).Caps(); len(caps) != 0 {
		t.Fatalf("Caps() without CAPA = %v, want empty", caps)
	}
}

func TestGreetingError(t *testing.T) {
	s := newServer(t, mailtest.POP3Options{Misbehave: mailtest.Misbehaviour{GreetingError: "[SYS/TEMP] overloaded"}})
	_, err := Dial(context.Background(), s.Addr, &Options{TLS: TLSNone})
	var e *Error
	if !errors.As(err, &e) || !e.Temporary() || !strings.Contains(err.Error(), "greeting") {
		t.Fatalf("Dial to a server greeting -ERR = %v, want temporary *Error", err)
	}
}

func TestDialOptions(t *testing.T) {
	if _, err := Dial(context.Background(), "127.0.0.1:1", &Options{TLS: "ssl"}); err == nil || !strings.Contains(err.Error(), "unknown tls mode") {
		t.Fatalf("Dial with tls=ssl = %v", err)
	}
	if _, err := Dial(context.Background(), "127.0.0.1", &Options{TLS: TLSNone}); err == nil {
		t.Fatalf("Dial without a port succeeded")
	}
	s := newServer(t, mailtest.POP3Options{})
	used := false
	c := dial(t, s.Addr, &Options{TLS: TLSNone, Dialer: func(ctx context.Context, network, addr string) (net.Conn, error) {
		used = true
		var d net.Dialer
		return d.DialContext(ctx, network, addr)
	}})
	if !used || c.TLS() {
		t.Fatalf("custom Dialer used = %v, TLS() = %v", used, c.TLS())
	}
}

// TestTimeouts: a server that stops answering makes every kind of read fail
// within the configured timeout.
func TestTimeouts(t *testing.T) {
	const timeout = 200 * time.Millisecond
	check := func(what string, start time.Time, err error) {
		t.Helper()
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("%s against a stalled server = %v, want a timeout", what, err)
		}
		if d := time.Since(start); d > 5*timeout {
			t.Fatalf("%s took %v with a %v timeout", what, d, timeout)
		}
	}

	// Stall in the greeting.
	s := newServer(t, mailtest.POP3Options{Misbehave: mailtest.Misbehaviour{StallAfterBytes: 5}})
	start := time.Now()
	_, err := Dial(context.Background(), s.Addr, &Options{TLS: TLSNone, Timeout: timeout})
	check("Dial", start, err)

	// Stall in the middle of a message.
	s = newServer(t, mailtest.POP3Options{Misbehave: mailtest.Misbehaviour{StallAfterBytes: 100_000}})
	s.Deliver("alice", bytes.Repeat([]byte("0123456789\n"), 50_000))
	c := login(t, s.Addr, &Options{TLS: TLSNone, Timeout: timeout})
	start = time.Now()
	_, err = c.Retr(1, io.Discard)
	check("Retr", start, err)
	if err := c.Noop(); err == nil || !strings.Contains(err.Error(), "unusable") {
		t.Fatalf("Noop after a timeout = %v, want the connection unusable", err)
	}

	// The dial context bounds Dial too.
	s = newServer(t, mailtest.POP3Options{Misbehave: mailtest.Misbehaviour{StallAfterBytes: 5}})
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	start = time.Now()
	_, err = Dial(ctx, s.Addr, &Options{TLS: TLSNone})
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 5*timeout {
		t.Fatalf("Dial with an expiring context = %v after %v, want DeadlineExceeded", err, time.Since(start))
	}
}

func TestDropMidRetr(t *testing.T) {
	s := newServer(t, mailtest.POP3Options{Misbehave: mailtest.Misbehaviour{DropAfterBytes: 300_000}})
	s.Deliver("alice", bytes.Repeat([]byte("0123456789\n"), 100_000))
	c := login(t, s.Addr, nil)
	var b bytes.Buffer
	n, err := c.Retr(1, &b)
	if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), "retr 1") {
		t.Fatalf("Retr from a dropped connection = %d, %v; want io.ErrUnexpectedEOF", n, err)
	}
	if n == 0 || n >= 1_100_000 {
		t.Fatalf("Retr wrote %d bytes before the drop", n)
	}
	if err := c.Noop(); err == nil {
		t.Fatalf("Noop after a dropped connection succeeded")
	}
}

func TestMalformedFromServer(t *testing.T) {
	tests := []struct {
		name string
		mis  mailtest.Misbehaviour
		call func(c *Client) error
	}{
		{"bare STAT", mailtest.Misbehaviour{BareStatOK: true}, func(c *Client) error { _, _, err := c.Stat(); return err }},
		{"LIST", mailtest.Misbehaviour{MalformedList: true}, func(c *Client) error { _, err := c.List(); return err }},
		{"UIDL", mailtest.Misbehaviour{MalformedUIDL: true}, func(c *Client) error { _, err := c.UIDL(); return err }},
		{"ListAll UIDL", mailtest.Misbehaviour{MalformedUIDL: true}, func(c *Client) error { _, err := c.ListAll(); return err }},
		{"UID 71 chars", mailtest.Misbehaviour{InvalidUID: strings.Repeat("u", 71)}, func(c *Client) error { _, err := c.UIDL(); return err }},
		{"UID with control", mailtest.Misbehaviour{InvalidUID: "ab\x07"}, func(c *Client) error { _, err := c.ListAll(); return err }},
	}
	for _, tt := range tests {
		for _, pipelining := range []bool{false, true} {
			s := newServer(t, mailtest.POP3Options{Pipelining: pipelining, Misbehave: tt.mis})
			deliverSamples(s)
			c := login(t, s.Addr, nil)
			if err := tt.call(c); !errors.Is(err, ErrMalformed) {
				t.Fatalf("%s (pipelining %v) = %v, want ErrMalformed", tt.name, pipelining, err)
			}
			if err := c.Noop(); err != nil {
				t.Fatalf("%s: Noop afterwards: %v", tt.name, err)
			}
		}
	}
}
