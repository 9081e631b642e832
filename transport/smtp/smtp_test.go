package smtp_test

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailbag/mailbag/transport/mailtest"
	"github.com/mailbag/mailbag/transport/smtp"
)

const testMsg = "From: a@example.test\r\nTo: b@example.test\r\nSubject: hi\r\n\r\nhello\r\n.dotted line\r\n"

func newCA(t *testing.T) *mailtest.CA {
	t.Helper()
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func newServer(t *testing.T, opt mailtest.SMTPOptions) *mailtest.SMTPServer {
	t.Helper()
	s, err := mailtest.NewSMTPServer(opt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func dial(t *testing.T, addr string, opt *smtp.Options) *smtp.Client {
	t.Helper()
	c, err := smtp.Dial(context.Background(), addr, opt)
	if err != nil {
		t.Fatalf("Dial(%s) = %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func send(c *smtp.Client, rcpts ...string) (*smtp.Result, error) {
	return c.Send(context.Background(), "a@example.test", rcpts, strings.NewReader(testMsg), int64(len(testMsg)), false)
}

// said reports whether a transcript has a line starting with cmd (a client
// command: server replies start with digits).
func said(transcript, cmd string) bool {
	for _, line := range strings.Split(transcript, "\n") {
		if strings.HasPrefix(strings.ToUpper(line), cmd) {
			return true
		}
	}
	return false
}

var users = map[string]string{"alice": "s3cret"}

func TestTLSModes(t *testing.T) {
	ca := newCA(t)
	tests := []struct {
		name   string
		server mailtest.SMTPOptions
		tls    string
	}{
		{"starttls", mailtest.SMTPOptions{STARTTLS: ca.ServerTLS(), RequireTLS: true, Users: users}, smtp.TLSStartTLS},
		{"implicit", mailtest.SMTPOptions{TLS: ca.ServerTLS(), Users: users}, smtp.TLSImplicit},
		{"none", mailtest.SMTPOptions{Users: users}, smtp.TLSNone},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.server)
			c := dial(t, s.Addr, &smtp.Options{TLS: tt.tls, TLSConfig: ca.ClientTLS(), Username: "alice", Password: "s3cret", LocalName: "client.example.test"})
			res, err := send(c, "b@example.test")
			if err != nil {
				t.Fatalf("Send = %v", err)
			}
			if len(res.Accepted) != 1 || len(res.Rejected) != 0 {
				t.Fatalf("Send = %+v, want 1 accepted", res)
			}
			got := s.Received()
			if len(got) != 1 {
				t.Fatalf("Received() = %d messages, want 1", len(got))
			}
			wantTLS := tt.tls != smtp.TLSNone
			if got[0].TLS != wantTLS || got[0].User != "alice" || string(got[0].Data) != testMsg {
				t.Fatalf("Received()[0] = TLS %v user %q data %q, want TLS %v alice %q", got[0].TLS, got[0].User, got[0].Data, wantTLS, testMsg)
			}
			if !strings.Contains(s.Transcript(), "EHLO client.example.test") {
				t.Fatalf("transcript lacks EHLO with LocalName:\n%s", s.Transcript())
			}
		})
	}
}

// A server without STARTTLS must not get a password or a message.
func TestStartTLSNotOffered(t *testing.T) {
	s := newServer(t, mailtest.SMTPOptions{Users: users}) // plain text, offers AUTH
	_, err := smtp.Dial(context.Background(), s.Addr, &smtp.Options{TLS: smtp.TLSStartTLS, Username: "alice", Password: "s3cret"})
	if !errors.Is(err, smtp.ErrNoSTARTTLS) {
		t.Fatalf("Dial = %v, want ErrNoSTARTTLS", err)
	}
	if smtp.IsTemporary(err) {
		t.Fatalf("IsTemporary(%v) = true, want false", err)
	}
	if !strings.Contains(err.Error(), "smtp "+s.Addr+": starttls:") {
		t.Fatalf("Dial error %q lacks context", err)
	}
	tr := s.Transcript()
	for _, bad := range []string{"AUTH", "MAIL FROM", "STARTTLS"} {
		if said(tr, bad) {
			t.Fatalf("client said %q:\n%s", bad, tr)
		}
	}
	if !said(tr, "EHLO") {
		t.Fatalf("transcript lacks EHLO (test proves nothing):\n%s", tr)
	}
}

func TestUntrustedCertificate(t *testing.T) {
	ca, other := newCA(t), newCA(t)
	for _, mode := range []string{smtp.TLSImplicit, smtp.TLSStartTLS} {
		t.Run(mode, func(t *testing.T) {
			opt := mailtest.SMTPOptions{TLS: ca.ServerTLS(), Users: users}
			if mode == smtp.TLSStartTLS {
				opt = mailtest.SMTPOptions{STARTTLS: ca.ServerTLS(), Users: users}
			}
			s := newServer(t, opt)
			_, err := smtp.Dial(context.Background(), s.Addr, &smtp.Options{TLS: mode, TLSConfig: other.ClientTLS(), Username: "alice", Password: "s3cret"})
			var cv *tls.CertificateVerificationError
			if !errors.As(err, &cv) {
				t.Fatalf("Dial = %v, want a *tls.CertificateVerificationError", err)
			}
			if smtp.IsTemporary(err) || !strings.Contains(err.Error(), "unknown authority") {
				t.Fatalf("Dial = %v (temporary %v), want permanent, naming the unknown authority", err, smtp.IsTemporary(err))
			}
			if said(s.Transcript(), "AUTH") {
				t.Fatalf("AUTH sent although TLS failed:\n%s", s.Transcript())
			}
		})
	}
}

// Implicit TLS against a plain-text server: the user is told to check the mode.
func TestImplicitTLSAgainstPlainServer(t *testing.T) {
	s := newServer(t, mailtest.SMTPOptions{})
	_, err := smtp.Dial(context.Background(), s.Addr, &smtp.Options{TLS: smtp.TLSImplicit, TLSConfig: newCA(t).ClientTLS()})
	if err == nil || smtp.IsTemporary(err) || !strings.Contains(err.Error(), "starttls") {
		t.Fatalf("Dial = %v, want a permanent error suggesting starttls", err)
	}
}

func TestAuth(t *testing.T) {
	ca := newCA(t)
	s := newServer(t, mailtest.SMTPOptions{TLS: ca.ServerTLS(), Users: users, Mechanisms: []string{"PLAIN", "LOGIN", "CRAM-MD5"}})
	tests := []struct {
		mech, pass string
		wantCode   int // 0: success
		wantMech   string
	}{
		{"", "s3cret", 0, "AUTH PLAIN"},
		{"plain", "s3cret", 0, "AUTH PLAIN"},
		{"login", "s3cret", 0, "AUTH LOGIN"},
		{"cram-md5", "s3cret", 0, "AUTH CRAM-MD5"},
		{"plain", "wrong", 535, "AUTH PLAIN"},
		{"login", "wrong", 535, "AUTH LOGIN"},
		{"cram-md5", "wrong", 535, "AUTH CRAM-MD5"},
	}
	for _, tt := range tests {
		t.Run(tt.mech+"/"+tt.pass, func(t *testing.T) {
			c, err := smtp.Dial(context.Background(), s.Addr, &smtp.Options{TLSConfig: ca.ClientTLS(), Username: "alice", Password: tt.pass, Mechanism: tt.mech})
			if tt.wantCode == 0 {
				if err != nil {
					t.Fatalf("Dial(%s) = %v", tt.mech, err)
				}
				defer c.Close()
				if _, err := send(c, "b@example.test"); err != nil {
					t.Fatalf("Send after AUTH %s = %v", tt.mech, err)
				}
			} else {
				var se *gosmtp.SMTPError
				if !errors.As(err, &se) || se.Code != tt.wantCode || smtp.IsTemporary(err) {
					t.Fatalf("Dial(%s, wrong password) = %v, want permanent %d", tt.mech, err, tt.wantCode)
				}
				if !strings.Contains(err.Error(), "auth "+strings.TrimPrefix(tt.wantMech, "AUTH ")) {
					t.Fatalf("error %q does not name %s", err, tt.wantMech)
				}
			}
			if !said(s.Transcript(), tt.wantMech) {
				t.Fatalf("transcript lacks %q", tt.wantMech)
			}
		})
	}
}

func TestAuthNotOffered(t *testing.T) {
	ca := newCA(t)
	tests := []struct {
		name   string
		server mailtest.SMTPOptions
		opt    smtp.Options
	}{
		{"no AUTH", mailtest.SMTPOptions{TLS: ca.ServerTLS()}, smtp.Options{Username: "alice", Password: "x"}},
		{"mechanism missing", mailtest.SMTPOptions{TLS: ca.ServerTLS(), Users: users}, smtp.Options{Username: "alice", Password: "x", Mechanism: "xoauth2"}},
		{"only unknown", mailtest.SMTPOptions{TLS: ca.ServerTLS(), Users: users, Mechanisms: []string{"SCRAM-SHA-256"}}, smtp.Options{Username: "alice", Password: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, tt.server)
			tt.opt.TLSConfig = ca.ClientTLS()
			_, err := smtp.Dial(context.Background(), s.Addr, &tt.opt)
			if !errors.Is(err, smtp.ErrNoAuth) || smtp.IsTemporary(err) {
				t.Fatalf("Dial = %v, want permanent ErrNoAuth", err)
			}
		})
	}
}

func TestDataReplies(t *testing.T) {
	tests := []struct {
		code      int
		temporary bool
	}{
		{451, true},
		{452, true},
		{554, false},
		{550, false},
	}
	for _, tt := range tests {
		t.Run(fmt.Sprint(tt.code), func(t *testing.T) {
			reply := &gosmtp.SMTPError{Code: tt.code, EnhancedCode: gosmtp.EnhancedCode{tt.code / 100, 0, 0}, Message: "not now"}
			s := newServer(t, mailtest.SMTPOptions{FailData: func() *gosmtp.SMTPError { return reply }})
			c := dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone})
			_, err := send(c, "b@example.test")
			var se *gosmtp.SMTPError
			if !errors.As(err, &se) || se.Code != tt.code {
				t.Fatalf("Send = %v, want *SMTPError %d", err, tt.code)
			}
			if got := smtp.IsTemporary(err); got != tt.temporary {
				t.Fatalf("IsTemporary(%v) = %v, want %v", err, got, tt.temporary)
			}
			if !strings.Contains(err.Error(), "smtp "+s.Addr+": data:") {
				t.Fatalf("error %q lacks context", err)
			}
		})
	}
}

func rejecter(rules map[string]int) func(string) *gosmtp.SMTPError {
	return func(addr string) *gosmtp.SMTPError {
		if code, ok := rules[addr]; ok {
			return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{code / 100, 1, 1}, Message: "no " + addr}
		}
		return nil
	}
}

func TestPartialRecipients(t *testing.T) {
	s := newServer(t, mailtest.SMTPOptions{RejectRcpt: rejecter(map[string]int{"bad@example.test": 550, "later@example.test": 450})})
	c := dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone})
	res, err := send(c, "b@example.test", "bad@example.test", "later@example.test", "c@example.test")
	if err != nil {
		t.Fatalf("Send = %v, want nil (two accepted)", err)
	}
	if fmt.Sprint(res.Accepted) != "[b@example.test c@example.test]" {
		t.Fatalf("Accepted = %v", res.Accepted)
	}
	if len(res.Rejected) != 2 || res.Rejected[0].Addr != "bad@example.test" || res.Rejected[0].Err.Code != 550 || res.Rejected[0].Temporary() ||
		res.Rejected[1].Addr != "later@example.test" || res.Rejected[1].Err.Code != 450 || !res.Rejected[1].Temporary() {
		t.Fatalf("Rejected = %+v", res.Rejected)
	}
	if res.Err() == nil || !smtp.IsTemporary(res.Err()) {
		t.Fatalf("Result.Err() = %v, want a temporary error (one 4xx)", res.Err())
	}
	got := s.Received()
	if len(got) != 1 || fmt.Sprint(got[0].To) != "[b@example.test c@example.test]" {
		t.Fatalf("Received() = %+v, want one message to b and c", got)
	}
}

func TestAllRecipientsRefused(t *testing.T) {
	tests := []struct {
		rules     map[string]int
		temporary bool
	}{
		{map[string]int{"x@example.test": 550, "y@example.test": 551}, false},
		{map[string]int{"x@example.test": 550, "y@example.test": 451}, true},
	}
	for _, tt := range tests {
		s := newServer(t, mailtest.SMTPOptions{RejectRcpt: rejecter(tt.rules)})
		c := dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone})
		res, err := send(c, "x@example.test", "y@example.test")
		var refused *smtp.RefusedError
		var se *gosmtp.SMTPError
		if !errors.As(err, &refused) || len(refused.Rejected) != 2 || !errors.As(err, &se) || se.Code != 550 {
			t.Fatalf("Send(%v) = %v, want *RefusedError with both, first 550", tt.rules, err)
		}
		if smtp.IsTemporary(err) != tt.temporary {
			t.Fatalf("IsTemporary(%v) = %v, want %v", err, !tt.temporary, tt.temporary)
		}
		if res == nil || len(res.Accepted) != 0 {
			t.Fatalf("Result = %+v, want no accepted", res)
		}
		if said(s.Transcript(), "DATA") {
			t.Fatalf("DATA sent with no recipient accepted")
		}
		// The connection is still usable after the reset.
		if _, err := send(c, "ok@example.test"); err != nil {
			t.Fatalf("Send after refusal = %v", err)
		}
	}
}

func TestDropMidData(t *testing.T) {
	s := newServer(t, mailtest.SMTPOptions{DropMidData: true})
	c := dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone})
	for _, size := range []int{len(testMsg), 2 << 20} {
		body := testMsg + strings.Repeat("x", size-len(testMsg))
		_, err := c.Send(context.Background(), "a@example.test", []string{"b@example.test"}, strings.NewReader(body), int64(size), false)
		if err == nil || !smtp.IsTemporary(err) {
			t.Fatalf("Send(%d bytes, server drops) = %v, want temporary", size, err)
		}
		c = dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone})
	}
	if n := len(s.Received()); n != 0 {
		t.Fatalf("Received() = %d, want 0", n)
	}
}

func TestSizeLimit(t *testing.T) {
	s := newServer(t, mailtest.SMTPOptions{MaxSize: 1000})
	c := dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone})
	big := testMsg + strings.Repeat(strings.Repeat("y", 70)+"\r\n", 30)

	_, err := c.Send(context.Background(), "a@example.test", []string{"b@example.test"}, strings.NewReader(big), int64(len(big)), false)
	var se *smtp.SizeError
	if !errors.As(err, &se) || se.Max != 1000 || smtp.IsTemporary(err) {
		t.Fatalf("Send(known size) = %v, want permanent *SizeError max 1000", err)
	}
	if said(s.Transcript(), "MAIL FROM") {
		t.Fatalf("MAIL sent for a message known to be too large")
	}
	// Size unknown: the server refuses it at the end, permanently.
	_, err = c.Send(context.Background(), "a@example.test", []string{"b@example.test"}, strings.NewReader(big), 0, false)
	var smtpErr *gosmtp.SMTPError
	if !errors.As(err, &smtpErr) || smtpErr.Code != 552 || smtp.IsTemporary(err) {
		t.Fatalf("Send(unknown size) = %v, want permanent 552", err)
	}
	// Small enough: SIZE= goes with MAIL.
	c = dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone})
	if _, err := send(c, "b@example.test"); err != nil {
		t.Fatalf("Send(small) = %v", err)
	}
	if want := fmt.Sprintf("SIZE=%d", len(testMsg)); !strings.Contains(s.Transcript(), want) {
		t.Fatalf("transcript lacks %s", want)
	}
}

// stallListener accepts connections and never says anything.
func stallListener(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return ln.Addr().String()
}

func TestTimeouts(t *testing.T) {
	addr := stallListener(t)
	for _, mode := range []string{smtp.TLSNone, smtp.TLSStartTLS, smtp.TLSImplicit} {
		start := time.Now()
		_, err := smtp.Dial(context.Background(), addr, &smtp.Options{TLS: mode, Timeout: 150 * time.Millisecond, TLSConfig: &tls.Config{}})
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() || !smtp.IsTemporary(err) {
			t.Fatalf("Dial(%s, stalling server) = %v, want a temporary timeout", mode, err)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Dial(%s) took %v with Timeout 150ms", mode, d)
		}
	}

	// A server that takes the body and never answers the final dot.
	s := newServer(t, mailtest.SMTPOptions{StallData: true})
	c := dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone, Timeout: 150 * time.Millisecond})
	_, err := send(c, "b@example.test")
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() || !smtp.IsTemporary(err) {
		t.Fatalf("Send(stalling after DATA) = %v, want a temporary timeout", err)
	}
}

func TestContextCancel(t *testing.T) {
	addr := stallListener(t)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	_, err := smtp.Dial(ctx, addr, &smtp.Options{TLS: smtp.TLSNone, Timeout: time.Minute})
	if !errors.Is(err, context.DeadlineExceeded) || !smtp.IsTemporary(err) {
		t.Fatalf("Dial(ctx 100ms, stalling server) = %v, want DeadlineExceeded", err)
	}

	s := newServer(t, mailtest.SMTPOptions{StallData: true})
	c := dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone, Timeout: time.Minute})
	ctx2, cancel2 := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel2()
	_, err = c.Send(ctx2, "a@example.test", []string{"b@example.test"}, strings.NewReader(testMsg), 0, false)
	if !errors.Is(err, context.DeadlineExceeded) || !smtp.IsTemporary(err) {
		t.Fatalf("Send(ctx 100ms, server stalls after DATA) = %v, want DeadlineExceeded", err)
	}
}

// A message body that fails to read must not be delivered truncated.
func TestReaderError(t *testing.T) {
	s := newServer(t, mailtest.SMTPOptions{})
	c := dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone})
	boom := errors.New("disk on fire")
	r := io.MultiReader(strings.NewReader(testMsg), iotestErrReader{boom})
	_, err := c.Send(context.Background(), "a@example.test", []string{"b@example.test"}, r, 0, false)
	if !errors.Is(err, boom) || !strings.Contains(err.Error(), "reading message") {
		t.Fatalf("Send(failing reader) = %v, want it wrapped", err)
	}
	// Wait for the server to notice the dropped connection: a new session
	// after it proves the old one is over.
	c2 := dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone})
	c2.Close()
	if n := len(s.Received()); n != 0 {
		t.Fatalf("Received() = %d messages, want 0 (truncated message delivered)", n)
	}
}

type iotestErrReader struct{ err error }

func (r iotestErrReader) Read([]byte) (int, error) { return 0, r.err }

// A 5 MB message with dot-leading and long lines arrives byte for byte.
func TestLargeMessage(t *testing.T) {
	ca := newCA(t)
	s := newServer(t, mailtest.SMTPOptions{STARTTLS: ca.ServerTLS(), Users: users})
	c := dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSStartTLS, TLSConfig: ca.ClientTLS(), Username: "alice", Password: "s3cret"})
	var b bytes.Buffer
	b.WriteString("Subject: big\r\n\r\n")
	for i := 0; b.Len() < 5<<20; i++ {
		fmt.Fprintf(&b, ".%d %s\r\n", i, strings.Repeat("z", 900))
	}
	if _, err := c.Send(context.Background(), "a@example.test", []string{"b@example.test"}, bytes.NewReader(b.Bytes()), int64(b.Len()), true); err != nil {
		t.Fatalf("Send(5 MB) = %v", err)
	}
	got := s.Received()
	if len(got) != 1 || !bytes.Equal(got[0].Data, b.Bytes()) {
		t.Fatalf("Received() differs from what was sent")
	}
	if got[0].Body != "8BITMIME" {
		t.Fatalf("MAIL BODY = %q, want 8BITMIME", got[0].Body)
	}
}

func TestInternationalAddresses(t *testing.T) {
	tests := []struct {
		name     string
		smtputf8 bool
		rcpt     string
		wantRcpt string // "" means refused before MAIL
		wantUTF8 bool
	}{
		{"ascii", false, "b@example.test", "b@example.test", false},
		{"idn domain", false, "b@bücher.example", "b@xn--bcher-kva.example", false},
		{"utf8 local, no SMTPUTF8", false, "jürgen@example.test", "", false},
		{"utf8 local, SMTPUTF8", true, "jürgen@example.test", "jürgen@example.test", true},
		{"crlf", true, "b@example.test\r\nRCPT TO:<evil@example.test>", "", false},
		{"angle", false, "b@example.test> NOTIFY=NEVER", "", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newServer(t, mailtest.SMTPOptions{SMTPUTF8: tt.smtputf8})
			c := dial(t, s.Addr, &smtp.Options{TLS: smtp.TLSNone})
			res, err := send(c, tt.rcpt)
			if tt.wantRcpt == "" {
				if err == nil || smtp.IsTemporary(err) || said(s.Transcript(), "MAIL FROM") {
					t.Fatalf("Send(%q) = %v, want a permanent error before MAIL", tt.rcpt, err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Send(%q) = %v", tt.rcpt, err)
			}
			got := s.Received()
			if len(got) != 1 || got[0].To[0] != tt.wantRcpt || got[0].UTF8 != tt.wantUTF8 {
				t.Fatalf("Received() = %+v, want RCPT %q UTF8 %v", got, tt.wantRcpt, tt.wantUTF8)
			}
			if res.Accepted[0] != tt.rcpt {
				t.Fatalf("Accepted = %v, want the address as given", res.Accepted)
			}
		})
	}
}

// scripted is a minimal SMTP server announcing exactly caps, for what
// mailtest's go-smtp server cannot leave out (8BITMIME).
func scripted(t *testing.T, caps ...string) (addr string, got func() string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var log strings.Builder
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(10 * time.Second))
		br := bufio.NewReader(conn)
		fmt.Fprintf(conn, "220 scripted\r\n")
		for {
			line, err := br.ReadString('\n')
			if err != nil {
				return
			}
			mu.Lock()
			log.WriteString(line)
			mu.Unlock()
			switch cmd := strings.ToUpper(strings.Fields(line + " x")[0]); cmd {
			case "EHLO":
				fmt.Fprintf(conn, "250-scripted\r\n")
				for _, c := range caps {
					fmt.Fprintf(conn, "250-%s\r\n", c)
				}
				fmt.Fprintf(conn, "250 HELP\r\n")
			case "QUIT":
				fmt.Fprintf(conn, "221 bye\r\n")
				return
			default:
				fmt.Fprintf(conn, "250 ok\r\n")
			}
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String(), func() string { mu.Lock(); defer mu.Unlock(); return log.String() }
}

func TestNo8BitMIME(t *testing.T) {
	addr, log := scripted(t, "SIZE 100000", "PIPELINING")
	c := dial(t, addr, &smtp.Options{TLS: smtp.TLSNone})
	_, err := c.Send(context.Background(), "a@example.test", []string{"b@example.test"}, strings.NewReader("Subject: é\r\n\r\n\xc3\xa9\r\n"), 16, true)
	if !errors.Is(err, smtp.ErrNo8BitMIME) || smtp.IsTemporary(err) {
		t.Fatalf("Send(8-bit, no 8BITMIME) = %v, want permanent ErrNo8BitMIME", err)
	}
	if said(log(), "MAIL") {
		t.Fatalf("MAIL sent:\n%s", log())
	}
}

func TestCheck(t *testing.T) {
	ca := newCA(t)
	s := newServer(t, mailtest.SMTPOptions{STARTTLS: ca.ServerTLS(), Users: users, MaxSize: 10 << 20})
	caps, err := smtp.Check(context.Background(), s.Addr, &smtp.Options{TLS: smtp.TLSStartTLS, TLSConfig: ca.ClientTLS(), Username: "alice", Password: "s3cret"})
	if err != nil {
		t.Fatalf("Check = %v", err)
	}
	joined := strings.Join(caps, "|")
	for _, want := range []string{"AUTH PLAIN LOGIN", "SIZE 10485760", "8BITMIME"} {
		if !strings.Contains(joined, want) {
			t.Fatalf("Check = %q, want %q among them", caps, want)
		}
	}
	if !said(s.Transcript(), "QUIT") {
		t.Fatalf("Check did not say QUIT")
	}
	if _, err := smtp.Check(context.Background(), s.Addr, &smtp.Options{TLS: smtp.TLSStartTLS, TLSConfig: ca.ClientTLS(), Username: "alice", Password: "nope"}); err == nil {
		t.Fatalf("Check(wrong password) = nil")
	}
}

func ExampleDial() {
	srv, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{})
	if err != nil {
		panic(err)
	}
	defer srv.Close()

	ctx := context.Background()
	c, err := smtp.Dial(ctx, srv.Addr, &smtp.Options{TLS: smtp.TLSNone})
	if err != nil {
		panic(err)
	}
	defer c.Close()
	msg := "Subject: hello\r\n\r\nHi.\r\n"
	res, err := c.Send(ctx, "alice@example.test", []string{"bob@example.test"}, strings.NewReader(msg), int64(len(msg)), false)
	fmt.Println(res.Accepted, err, smtp.IsTemporary(err))
	// Output: [bob@example.test] <nil> false
}
