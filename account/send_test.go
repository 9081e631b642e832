package account

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/mailtest"
	"github.com/mailbag/mailbag/transport/smtp"
)

// sendEnv is an account with a maildir, sending through an in-process
// SMTP server with STARTTLS (a private CA, trusted through ca_file) and
// AUTH as alice.
type sendEnv struct {
	srv  *mailtest.SMTPServer
	cfg  AccountConfig
	acct *Sending
	root string

	mu  sync.Mutex
	now time.Time
}

const sendTestPass = "alice-pw"

func (e *sendEnv) clock() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.now
}

func (e *sendEnv) advance(d time.Duration) {
	e.mu.Lock()
	e.now = e.now.Add(d)
	e.mu.Unlock()
}

// newSendEnv starts the server with sopt (STARTTLS, RequireTLS and Users
// filled in unless plain is set) and opens the account; edit may change
// the [smtp] table and the options.
func newSendEnv(t *testing.T, sopt mailtest.SMTPOptions, plain bool, edit func(*ServerConfig, *SendOptions)) *sendEnv {
	t.Helper()
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	if err := ca.WritePEM(caFile); err != nil {
		t.Fatal(err)
	}
	if !plain {
		sopt.STARTTLS = ca.ServerTLS()
		sopt.RequireTLS = true
		if sopt.Users == nil {
			sopt.Users = map[string]string{"alice": sendTestPass}
		}
	}
	srv, err := mailtest.NewSMTPServer(sopt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e := &sendEnv{srv: srv, root: filepath.Join(dir, "Mail"), now: time.Date(2025, 11, 27, 12, 0, 0, 0, time.UTC)}
	host, port := splitAddr(t, srv.Addr)
	sc := &ServerConfig{Kind: "smtp", Host: host, Port: port, TLS: TLSStartTLS, Username: "alice", Password: sendTestPass, CAFile: caFile}
	opt := &SendOptions{Now: e.clock, Timeout: 5 * time.Second}
	if edit != nil {
		edit(sc, opt)
	}
	e.cfg = AccountConfig{Name: "home", Address: "Alice <alice@example.test>", Maildir: e.root, SMTP: sc}
	l, err := NewLocal(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	if e.acct, err = WithSMTP(l, e.cfg, opt); err != nil {
		t.Fatal(err)
	}
	return e
}

func splitAddr(t *testing.T, addr string) (string, int) {
	t.Helper()
	i := strings.LastIndexByte(addr, ':')
	port := 0
	for _, c := range addr[i+1:] {
		port = port*10 + int(c-'0')
	}
	return addr[:i], port
}

// folder returns the messages of a folder: key → flags and content.
type stored struct {
	key   string
	flags maildir.Flags
	data  string
}

func (e *sendEnv) folder(t *testing.T, name string) []stored {
	t.Helper()
	d, err := maildir.Open(e.root)
	if err != nil {
		t.Fatal(err)
	}
	if !d.HasFolder(name) {
		return nil
	}
	f, err := d.Folder(name)
	if err != nil {
		t.Fatal(err)
	}
	ents, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	var out []stored
	for _, en := range ents {
		file, _, err := f.Open(en)
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(file)
		file.Close()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, stored{en.Key, en.Flags, string(b)})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].key < out[j].key })
	return out
}

// where reports how many messages each of Outbox, Sent and Drafts holds.
func (e *sendEnv) where(t *testing.T) [3]int {
	return [3]int{len(e.folder(t, "Outbox")), len(e.folder(t, "Sent")), len(e.folder(t, "Drafts"))}
}

const bccMessage = "From: Alice <alice@example.test>\r\n" +
	"To: Bob <bob@example.test>\r\n" +
	"Cc: carol@example.test\r\n" +
	"Bcc: Secret Dave <dave@example.test>\r\n" +
	"Subject: plans\r\n" +
	"Date: Thu, 27 Nov 2025 10:00:00 +0000\r\n" +
	"Message-ID: <plans.1@example.test>\r\n" +
	"\r\n" +
	"See you at noon.\r\n"

func hasHeader(msg, name string) bool {
	head, _, _ := strings.Cut(strings.ReplaceAll(msg, "\r\n", "\n"), "\n\n")
	for _, line := range strings.Split(head, "\n") {
		if k, _, ok := strings.Cut(line, ":"); ok && strings.EqualFold(strings.TrimSpace(k), name) {
			return true
		}
	}
	return false
}

func TestSendDelivers(t *testing.T) {
	tests := []struct {
		name      string
		msg       string
		rcpts     []string
		from      string
		wantAdded []string // fields mailbag had to add
		eightBit  bool
	}{
		{"bcc stripped", bccMessage, []string{"bob@example.test", "carol@example.test", "dave@example.test"}, "alice@example.test", nil, false},
		{"minimal sendmail input", "To: bob@example.test\nSubject: hi\n\nhello\n",
			[]string{"bob@example.test"}, "alice@example.test", []string{"From", "Date", "Message-Id"}, false},
		{"repeated To and Sender", "From: list@example.test\r\nSender: alice@example.test\r\nTo: a@example.test\r\nTo: b@example.test, A@example.test\r\n" +
			"Date: Thu, 27 Nov 2025 10:00:00 +0000\r\nMessage-ID: <x@y>\r\n\r\nbody\r\n",
			[]string{"a@example.test", "b@example.test"}, "alice@example.test", nil, false},
		{"8bit body", "From: alice@example.test\r\nTo: bob@example.test\r\nDate: Thu, 27 Nov 2025 10:00:00 +0000\r\nMessage-ID: <u@y>\r\n" +
			"Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nGrüße\r\n",
			[]string{"bob@example.test"}, "alice@example.test", nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSendEnv(t, mailtest.SMTPOptions{}, false, nil)
			res, err := e.acct.Send(context.Background(), strings.NewReader(tt.msg))
			if err != nil || res.Status != Sent || res.Err != nil || len(res.Rejected) != 0 {
				t.Fatalf("Send = %+v, %v; want Sent", res, err)
			}
			got := e.srv.Received()
			if len(got) != 1 {
				t.Fatalf("server received %d messages, want 1", len(got))
			}
			env := got[0]
			if env.From != tt.from || strings.Join(env.To, ",") != strings.Join(tt.rcpts, ",") || !env.TLS || env.User != "alice" {
				t.Errorf("envelope = from %q to %q tls %v user %q; want from %q to %q over TLS as alice", env.From, env.To, env.TLS, env.User, tt.from, tt.rcpts)
			}
			if tt.eightBit && env.Body != "8BITMIME" {
				t.Errorf("BODY=%q, want 8BITMIME for 8-bit data", env.Body)
			}
			data := string(env.Data)
			if hasHeader(data, "Bcc") || strings.Contains(data, "dave@") {
				t.Errorf("transmitted message reveals Bcc:\n%s", data)
			}
			for _, f := range tt.wantAdded {
				if !hasHeader(data, f) {
					t.Errorf("transmitted message lacks %s:\n%s", f, data)
				}
			}
			if !strings.Contains(data, "From: ") {
				t.Errorf("no From in:\n%s", data)
			}
			if w := e.where(t); w != [3]int{0, 1, 0} {
				t.Fatalf("Outbox, Sent, Drafts = %v; want [0 1 0]", w)
			}
			sent := e.folder(t, "Sent")[0]
			if MsgID(sent.key) != res.ID || !sent.flags.Has('S') || sent.flags.Has('D') {
				t.Errorf("Sent copy %s flags %q, result id %s; want the result's id, flag S", sent.key, sent.flags, res.ID)
			}
			if norm(sent.data) != norm(data) {
				t.Errorf("Sent copy differs from what was sent:\n%q\nvs\n%q", sent.data, data)
			}
			if q, err := e.acct.Queued(context.Background()); q != 0 || err != nil {
				t.Errorf("Queued = %d, %v", q, err)
			}
		})
	}
}

func norm(s string) string { return strings.ReplaceAll(s, "\r\n", "\n") }

func TestSendInvalidNotStored(t *testing.T) {
	e := newSendEnv(t, mailtest.SMTPOptions{}, false, nil)
	tests := []struct {
		msg  string
		want error
	}{
		{"From: a@example.test\r\nSubject: nobody\r\n\r\nx\r\n", ErrNoRecipients},
		{"From: a@example.test\r\nTo: undisclosed-recipients:;\r\n\r\nx\r\n", ErrNoRecipients},
		{"From: a@example.test\r\nTo: <<<\r\n\r\nx\r\n", nil},
		{"To: b@example.test\r\n\r\n" + strings.Repeat("x", MaxSendSize), ErrTooLarge},
	}
	for _, tt := range tests {
		res, err := e.acct.Send(context.Background(), strings.NewReader(tt.msg))
		if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
			t.Errorf("Send(%.40q) = %+v, %v; want error %v", tt.msg, res, err, tt.want)
		}
	}
	if w := e.where(t); w != [3]int{} || len(e.srv.Received()) != 0 {
		t.Errorf("after invalid messages: folders %v, server got %d", w, len(e.srv.Received()))
	}
}

// TestSendConnectionProblems: what fails before the mail transaction is
// the account's problem; the message waits in the Outbox.
func TestSendConnectionProblems(t *testing.T) {
	tests := []struct {
		name  string
		sopt  mailtest.SMTPOptions
		plain bool
		edit  func(*ServerConfig, *SendOptions)
		want  string
		is    error
	}{
		{"STARTTLS not offered", mailtest.SMTPOptions{Users: map[string]string{"alice": sendTestPass}}, true, nil,
			"starttls", smtp.ErrNoSTARTTLS},
		{"wrong password", mailtest.SMTPOptions{}, false, func(s *ServerConfig, _ *SendOptions) { s.Password = "nope" },
			"535", nil},
		{"CA not trusted", mailtest.SMTPOptions{}, false, func(s *ServerConfig, _ *SendOptions) { s.CAFile = "" },
			"unknown authority", nil},
		{"no AUTH offered", mailtest.SMTPOptions{Users: map[string]string{}}, false, nil, "AUTH", smtp.ErrNoAuth},
		{"password_cmd fails", mailtest.SMTPOptions{}, false, func(s *ServerConfig, _ *SendOptions) {
			s.Password, s.PasswordCmd = "", "echo no keyring >&2; exit 3"
		}, "no keyring", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSendEnv(t, tt.sopt, tt.plain, tt.edit)
			if tt.plain {
				// A plain server: no TLS, AUTH offered in the clear.
				if !strings.Contains(tt.name, "STARTTLS") {
					t.Fatal("plain only for the STARTTLS case")
				}
			}
			res, err := e.acct.Send(context.Background(), strings.NewReader(bccMessage))
			if err != nil || res.Status != Queued || res.Err == nil || !strings.Contains(res.Err.Error(), tt.want) {
				t.Fatalf("Send = %+v, %v; want Queued with %q", res, err, tt.want)
			}
			if tt.is != nil && !errors.Is(res.Err, tt.is) {
				t.Errorf("error %v does not wrap %v", res.Err, tt.is)
			}
			if w := e.where(t); w != [3]int{1, 0, 0} {
				t.Fatalf("Outbox, Sent, Drafts = %v; want [1 0 0]", w)
			}
			if !hasHeader(e.folder(t, "Outbox")[0].data, "Bcc") {
				t.Errorf("the Outbox copy lost its Bcc")
			}
			tr := e.srv.Transcript()
			if strings.Contains(tr, "MAIL FROM") || (tt.plain && strings.Contains(tr, "\nAUTH ")) {
				t.Errorf("transcript shows MAIL or AUTH in the clear:\n%s", tr)
			}
			qs, err := e.acct.Outbox(context.Background())
			if err != nil || len(qs) != 1 || qs[0].Attempts != 1 || !qs[0].Next.Equal(e.clock().Add(time.Minute)) || qs[0].LastError == "" {
				t.Errorf("Outbox() = %+v, %v; want one message, 1 attempt, next in 1m", qs, err)
			}
		})
	}
}

func TestSendAuthMechanisms(t *testing.T) {
	for _, mech := range []string{AuthPlain, AuthLogin, AuthCRAMMD5} {
		t.Run(mech, func(t *testing.T) {
			e := newSendEnv(t, mailtest.SMTPOptions{Mechanisms: []string{"CRAM-MD5", "LOGIN", "PLAIN"}}, false,
				func(s *ServerConfig, _ *SendOptions) { s.Auth = mech })
			res, err := e.acct.Send(context.Background(), strings.NewReader(bccMessage))
			if err != nil || res.Status != Sent {
				t.Fatalf("Send = %+v, %v", res, err)
			}
			if tr := e.srv.Transcript(); !strings.Contains(tr, "\nAUTH "+strings.ToUpper(mech)) {
				t.Errorf("transcript lacks AUTH %s", strings.ToUpper(mech))
			}
		})
	}
}

func TestSendImplicitTLS(t *testing.T) {
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{TLS: ca.ServerTLS(), Users: map[string]string{"alice": "pw"}})
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	host, port := splitAddr(t, srv.Addr)
	cfg := AccountConfig{Name: "x", Address: "alice@example.test", Maildir: filepath.Join(t.TempDir(), "M"),
		SMTP: &ServerConfig{Kind: "smtp", Host: host, Port: port, TLS: TLSImplicit, Username: "alice", Password: "pw"}}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	s, err := WithSMTP(l, cfg, &SendOptions{TLSConfig: ca.ClientTLS(), Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	res, err := s.Send(context.Background(), strings.NewReader(bccMessage))
	if err != nil || res.Status != Sent || len(srv.Received()) != 1 || !srv.Received()[0].TLS {
		t.Fatalf("Send over implicit TLS = %+v, %v; server got %d", res, err, len(srv.Received()))
	}
	caps, err := s.CheckSMTP(context.Background())
	if err != nil || !strings.Contains(strings.Join(caps, " "), "AUTH") {
		t.Errorf("CheckSMTP = %q, %v", caps, err)
	}
}

func TestSendServerAnswers(t *testing.T) {
	tempErr := &gosmtp.SMTPError{Code: 451, EnhancedCode: gosmtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	permErr := &gosmtp.SMTPError{Code: 554, EnhancedCode: gosmtp.EnhancedCode{5, 7, 1}, Message: "looks like spam to us"}
	rejectBob := func(code int, msg string) func(string) *gosmtp.SMTPError {
		return func(a string) *gosmtp.SMTPError {
			if strings.HasPrefix(a, "bob@") {
				return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{code / 100, 1, 1}, Message: msg}
			}
			return nil
		}
	}
	rejectAll := func(code int) func(string) *gosmtp.SMTPError {
		return func(string) *gosmtp.SMTPError {
			return &gosmtp.SMTPError{Code: code, EnhancedCode: gosmtp.EnhancedCode{code / 100, 1, 1}, Message: "no such user"}
		}
	}
	tests := []struct {
		name     string
		sopt     mailtest.SMTPOptions
		status   SendStatus
		where    [3]int
		words    string
		received int
		rejected string
	}{
		{"4xx at the dot", mailtest.SMTPOptions{FailData: func() *gosmtp.SMTPError { return tempErr }}, Queued, [3]int{1, 0, 0}, "try again later", 0, ""},
		{"5xx at the dot", mailtest.SMTPOptions{FailData: func() *gosmtp.SMTPError { return permErr }}, Refused, [3]int{0, 0, 1}, "looks like spam to us", 0, ""},
		{"one recipient refused", mailtest.SMTPOptions{RejectRcpt: rejectBob(550, "mailbox unavailable")}, Sent, [3]int{0, 1, 0}, "", 1, "bob@example.test"},
		{"every recipient refused", mailtest.SMTPOptions{RejectRcpt: rejectAll(550)}, Refused, [3]int{0, 0, 1}, "no such user", 0, ""},
		{"every recipient deferred", mailtest.SMTPOptions{RejectRcpt: rejectAll(450)}, Queued, [3]int{1, 0, 0}, "no such user", 0, ""},
		{"server gone mid-DATA", mailtest.SMTPOptions{DropMidData: true}, Queued, [3]int{1, 0, 0}, "data", 0, ""},
		{"too large for SIZE", mailtest.SMTPOptions{MaxSize: 100}, Refused, [3]int{0, 0, 1}, "at most 100", 0, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e := newSendEnv(t, tt.sopt, false, nil)
			res, err := e.acct.Send(context.Background(), strings.NewReader(bccMessage))
			if err != nil || res.Status != tt.status {
				t.Fatalf("Send = %+v, %v; want status %d", res, err, tt.status)
			}
			if tt.words != "" && (res.Err == nil || !strings.Contains(res.Err.Error(), tt.words)) {
				t.Errorf("Send error %v; want the server's words %q", res.Err, tt.words)
			}
			if w := e.where(t); w != tt.where {
				t.Errorf("Outbox, Sent, Drafts = %v; want %v", w, tt.where)
			}
			if got := len(e.srv.Received()); got != tt.received {
				t.Errorf("server received %d, want %d", got, tt.received)
			}
			if tt.rejected != "" {
				if len(res.Rejected) != 1 || !strings.Contains(res.Rejected[0], tt.rejected) || !strings.Contains(res.Rejected[0], "mailbox unavailable") {
					t.Errorf("Rejected = %q; want %s with the server's words", res.Rejected, tt.rejected)
				}
				if to := e.srv.Received()[0].To; strings.Contains(strings.Join(to, ","), "bob@") {
					t.Errorf("server delivered to %q", to)
				}
			}
			switch tt.status {
			case Refused:
				d := e.folder(t, "Drafts")[0]
				if MsgID(d.key) != res.ID || !d.flags.Has('D') || !hasHeader(d.data, "Bcc") {
					t.Errorf("Drafts copy %s flags %q (Bcc kept: %v); want id %s, flag D, Bcc kept", d.key, d.flags, hasHeader(d.data, "Bcc"), res.ID)
				}
			case Queued:
				if !smtp.IsTemporary(res.Err) {
					t.Errorf("queued with a permanent error %v", res.Err)
				}
			}
		})
	}
}

func TestBackoff(t *testing.T) {
	tests := []struct {
		n    int
		want time.Duration
	}{{0, 0}, {1, time.Minute}, {2, 2 * time.Minute}, {3, 4 * time.Minute}, {9, 256 * time.Minute}, {10, 6 * time.Hour}, {1000, 6 * time.Hour}}
	for _, tt := range tests {
		if got := Backoff(tt.n); got != tt.want {
			t.Errorf("Backoff(%d) = %v, want %v", tt.n, got, tt.want)
		}
	}
}

func TestFlushBackoff(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	var tries atomic.Int32
	e := newSendEnv(t, mailtest.SMTPOptions{FailData: func() *gosmtp.SMTPError {
		tries.Add(1)
		if failing.Load() {
			return &gosmtp.SMTPError{Code: 421, EnhancedCode: gosmtp.EnhancedCode{4, 4, 2}, Message: "busy"}
		}
		return nil
	}}, false, nil)
	ctx := context.Background()
	res, err := e.acct.Send(ctx, strings.NewReader(bccMessage))
	if err != nil || res.Status != Queued {
		t.Fatalf("Send = %+v, %v; want Queued", res, err)
	}
	steps := []struct {
		advance  time.Duration
		succeed  bool
		tries    int32
		attempts int // in the state after the flush; -1: sent
		next     time.Duration
	}{
		{30 * time.Second, false, 1, 1, 30 * time.Second}, // not due yet
		{30 * time.Second, false, 2, 2, 2 * time.Minute},  // due at 1m: tried, fails
		{time.Minute, false, 2, 2, time.Minute},           // due at 2m after that
		{time.Minute, false, 3, 3, 4 * time.Minute},
		{4 * time.Minute, true, 4, -1, 0},
	}
	for i, st := range steps {
		e.advance(st.advance)
		failing.Store(!st.succeed)
		var stages []string
		err := e.acct.Flush(ctx, func(p Progress) { stages = append(stages, p.Stage) })
		if got := tries.Load(); got != st.tries {
			t.Fatalf("step %d: server tried %d times, want %d", i, got, st.tries)
		}
		if st.attempts < 0 {
			if err != nil || e.where(t) != [3]int{0, 1, 0} {
				t.Fatalf("step %d: Flush = %v, folders %v; want sent", i, err, e.where(t))
			}
			if len(stages) == 0 || stages[len(stages)-1] != StageDone {
				t.Errorf("progress stages %q", stages)
			}
			continue
		}
		qs, qerr := e.acct.Outbox(ctx)
		if qerr != nil || len(qs) != 1 || qs[0].Attempts != st.attempts || qs[0].Next.Sub(e.clock()) != st.next || !strings.Contains(qs[0].LastError, "busy") {
			t.Fatalf("step %d: Outbox = %+v, %v; want %d attempts, next in %v", i, qs, qerr, st.attempts, st.next)
		}
		var fe *FlushError
		tried := st.tries > steps[max(i-1, 0)].tries || i == 0 && st.tries > 1
		if tried && (!errors.As(err, &fe) || len(fe.Failed) != 1 || fe.Failed[0].Status != Queued) {
			t.Errorf("step %d: Flush = %v; want a FlushError with the queued message", i, err)
		}
		if !tried && err != nil {
			t.Errorf("step %d: Flush with nothing due = %v", i, err)
		}
	}
}

func TestPostponeAndSendDraft(t *testing.T) {
	e := newSendEnv(t, mailtest.SMTPOptions{}, false, nil)
	ctx := context.Background()
	first, err := e.acct.Postpone(ctx, strings.NewReader("To: bob@example.test\r\nSubject: v1\r\n\r\ndraft 1\r\n"), "")
	if err != nil {
		t.Fatal(err)
	}
	second, err := e.acct.Postpone(ctx, strings.NewReader(bccMessage), first)
	if err != nil {
		t.Fatal(err)
	}
	d := e.folder(t, "Drafts")
	if len(d) != 1 || MsgID(d[0].key) != second || d[0].flags != "DS" {
		t.Fatalf("Drafts = %+v; want only %s with flags DS", d, second)
	}
	res, err := e.acct.SendDraft(ctx, second)
	if err != nil || res.Status != Sent {
		t.Fatalf("SendDraft = %+v, %v", res, err)
	}
	if w := e.where(t); w != [3]int{0, 1, 0} {
		t.Fatalf("after SendDraft: %v", w)
	}
	if s := e.folder(t, "Sent")[0]; s.flags != "S" || hasHeader(s.data, "Bcc") {
		t.Errorf("Sent copy flags %q, Bcc %v", s.flags, hasHeader(s.data, "Bcc"))
	}
	if _, err := e.acct.SendDraft(ctx, "nonexistent"); err == nil {
		t.Errorf("SendDraft of a missing draft succeeded")
	}
	// A draft without recipients stays a draft.
	id, _ := e.acct.Postpone(ctx, strings.NewReader("Subject: nobody\r\n\r\nx\r\n"), "")
	if _, err := e.acct.SendDraft(ctx, id); !errors.Is(err, ErrNoRecipients) || len(e.folder(t, "Drafts")) != 1 {
		t.Errorf("SendDraft without recipients = %v; want ErrNoRecipients and the draft kept", err)
	}
}

// TestSendCrashRecovery stops a send at each step after the server's 250
// (as a crash would) and checks that Flush files the message in Sent
// without transmitting it again, except when the crash fell before the
// message was marked: then it is sent a second time (the documented
// window).
func TestSendCrashRecovery(t *testing.T) {
	tests := []struct {
		msg       string
		point     string
		wantTotal int // transmissions after the Flush
	}{
		{bccMessage, "accepted", 2},
		{bccMessage, "marked", 1},
		{bccMessage, "filed", 1},
		{testMessage("no bcc"), "accepted", 2},
	}
	for _, tt := range tests {
		t.Run(tt.point+"/bcc="+hasHeaderString(tt.msg), func(t *testing.T) {
			var crash atomic.Bool
			crash.Store(true)
			e := newSendEnv(t, mailtest.SMTPOptions{}, false, func(_ *ServerConfig, o *SendOptions) {
				o.crashAt = func(p string) bool { return p == tt.point && crash.Load() }
			})
			ctx := context.Background()
			if _, err := e.acct.Send(ctx, strings.NewReader(tt.msg)); err != nil {
				t.Fatal(err)
			}
			if n := len(e.srv.Received()); n != 1 {
				t.Fatalf("server got %d before the crash", n)
			}
			if w := e.where(t); w[0]+w[1]+w[2] == 0 {
				t.Fatalf("after the crash the message is nowhere: %v", w)
			}
			crash.Store(false)
			if err := e.acct.Flush(ctx, nil); err != nil {
				t.Fatalf("Flush: %v", err)
			}
			if w := e.where(t); w != [3]int{0, 1, 0} {
				t.Fatalf("after Flush: Outbox, Sent, Drafts = %v; want [0 1 0]", w)
			}
			if n := len(e.srv.Received()); n != tt.wantTotal {
				t.Errorf("server got %d in all, want %d", n, tt.wantTotal)
			}
			if s := e.folder(t, "Sent")[0]; hasHeader(s.data, "Bcc") || !s.flags.Has('S') {
				t.Errorf("Sent copy flags %q, Bcc %v", s.flags, hasHeader(s.data, "Bcc"))
			}
			if st, err := os.ReadFile(filepath.Join(e.root, ".Outbox", OutboxStateFile)); err == nil && bytes.Contains(st, []byte(`"accepted"`)) {
				t.Errorf("state still marks a message accepted:\n%s", st)
			}
		})
	}
}

func hasHeaderString(msg string) string {
	if hasHeader(msg, "Bcc") {
		return "yes"
	}
	return "no"
}

// TestSendConcurrent: two accounts on one maildir (two processes) send
// and flush at once; every message goes out once.
func TestSendConcurrent(t *testing.T) {
	e := newSendEnv(t, mailtest.SMTPOptions{}, false, nil)
	l2, err := NewLocal(e.cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l2.Close()
	other, err := WithSMTP(l2, e.cfg, &SendOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	const n = 6
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			a := e.acct
			if i%2 == 1 {
				a = other
			}
			msg := strings.Replace(bccMessage, "plans.1", "plans."+string(rune('a'+i)), 1)
			if res, err := a.Send(context.Background(), strings.NewReader(msg)); err != nil || res.Status != Sent {
				t.Errorf("Send %d = %+v, %v", i, res, err)
			}
			if err := a.Flush(context.Background(), nil); err != nil {
				t.Errorf("Flush: %v", err)
			}
		}()
	}
	wg.Wait()
	if got := len(e.srv.Received()); got != n {
		t.Errorf("server got %d, want %d", got, n)
	}
	if w := e.where(t); w != [3]int{0, n, 0} {
		t.Errorf("folders %v", w)
	}
}

func TestWrap(t *testing.T) {
	dir := t.TempDir()
	cfg := AccountConfig{Name: "a", Maildir: filepath.Join(dir, "M")}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	if a, err := Wrap(l, cfg); err != nil || a != Account(l) {
		t.Errorf("Wrap without [smtp] = %v, %v; want the account itself", a, err)
	}
	cfg.SMTP = &ServerConfig{Kind: "smtp", Host: "127.0.0.1", Port: 1, TLS: TLSStartTLS}
	a, err := Wrap(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	s, ok := a.(Sender)
	if !ok || !a.Caps().Send || a.(*Sending).Unwrap() != Account(l) || a.Name() != "a" {
		t.Fatalf("Wrap with [smtp] = %T, Sender %v, caps %+v", a, ok, a.Caps())
	}
	if again, _ := Wrap(a, cfg); again != a {
		t.Errorf("Wrap of a Sender wrapped it again")
	}
	if n, err := s.Queued(context.Background()); n != 0 || err != nil {
		t.Errorf("Queued = %d, %v", n, err)
	}
}

func FuzzPrepareOutgoing(f *testing.F) {
	f.Add([]byte(bccMessage))
	f.Add([]byte("To: a@b\n\nx"))
	f.Add([]byte("To: a@b"))
	f.Add([]byte("Bcc: a@b\r\nBcc: c@d\r\n bcc continued\r\n\r\n"))
	f.Add([]byte(" bad first line\r\n\r\n"))
	f.Add([]byte("To: =?utf-8?q?=C3=A9?= <x@y>, \"q\" <z@w>\r\n\r\n\xff\xfe"))
	now := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, data []byte) {
		o, err := prepareOutgoing(data, "me@example.test", now)
		if err != nil {
			return
		}
		if len(o.rcpts) == 0 || o.from == "" {
			t.Fatalf("prepareOutgoing(%q) = %+v without recipients or sender", data, o)
		}
		h, _, err := splitMessage(o.wire)
		if err != nil {
			t.Fatalf("wire form does not parse: %v\n%q", err, o.wire)
		}
		if h.Has("Bcc") {
			t.Fatalf("wire form keeps Bcc: %q", o.wire)
		}
	})
}
