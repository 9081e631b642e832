package account

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/mailtest"
)

const pop3TestUser, pop3TestPass = "alice", "secret-alice"

// pop3TestMessage is message i of a test mailbox in the LF form mailbag
// stores; every tenth has dot-lines, every fifteenth a 10,000-byte line.
func pop3TestMessage(i int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Bob <bob@example.test>\nTo: alice@example.test\nSubject: message %d\nMessage-ID: <m%d@example.test>\n\nbody of message %d\n", i, i, i)
	if i%10 == 0 {
		b.WriteString(".dotted line\n..two dots\n.\n")
	}
	if i%15 == 0 {
		b.WriteString(strings.Repeat("x", 10000) + "\n")
	}
	return b.String()
}

type pop3Env struct {
	srv  *mailtest.POP3Server
	cfg  AccountConfig
	opt  POP3Options
	want []string // message contents delivered, LF form
}

// newPOP3Env starts an in-process server holding n messages for alice and
// prepares a plain-text (tls = "none") account for it.
func newPOP3Env(t *testing.T, n int, sopt mailtest.POP3Options) *pop3Env {
	t.Helper()
	if sopt.Users == nil {
		sopt.Users = map[string]string{pop3TestUser: pop3TestPass}
	}
	srv, err := mailtest.NewPOP3Server(sopt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	host, port, _ := net.SplitHostPort(srv.Addr)
	var portN int
	fmt.Sscan(port, &portN)
	e := &pop3Env{srv: srv}
	e.cfg = AccountConfig{
		Name:    "home",
		Address: "alice@example.test",
		Maildir: filepath.Join(t.TempDir(), "Mail"),
		POP3: &ServerConfig{
			Kind: "pop3", Host: host, Port: portN, TLS: TLSNone,
			Username: pop3TestUser, Password: pop3TestPass, CheckEvery: time.Minute,
		},
	}
	e.opt = POP3Options{Timeout: 5 * time.Second}
	e.deliver(n)
	return e
}

func (e *pop3Env) deliver(n int) {
	for range n {
		m := pop3TestMessage(len(e.want))
		e.srv.Deliver(pop3TestUser, []byte(m))
		e.want = append(e.want, m)
	}
}

func (e *pop3Env) open(t *testing.T) *POP3 {
	t.Helper()
	p, err := NewPOP3(e.cfg, &e.opt)
	if err != nil {
		t.Fatalf("NewPOP3: %v", err)
	}
	t.Cleanup(func() { p.Close() })
	return p
}

// sync opens the account, syncs once and closes it.
func (e *pop3Env) sync(t *testing.T) error {
	t.Helper()
	p, err := NewPOP3(e.cfg, &e.opt)
	if err != nil {
		t.Fatalf("NewPOP3: %v", err)
	}
	defer p.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return p.Sync(ctx, nil)
}

// serverCount is how many messages the server holds (deletions count
// after QUIT).
func (e *pop3Env) serverCount() int { return len(e.srv.Messages(pop3TestUser)) }

// maildirContents returns the sorted contents of every message in every
// folder of root.
func maildirContents(t *testing.T, root string) []string {
	t.Helper()
	d, err := maildir.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	names, err := d.Folders()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, n := range names {
		f, err := d.Folder(n)
		if err != nil {
			t.Fatal(err)
		}
		ents, err := f.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, en := range ents {
			b, err := os.ReadFile(filepath.Join(f.Path(), en.Name))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	sort.Strings(out)
	return out
}

// checkExactly fails unless the maildir holds exactly want (a multiset).
func checkExactly(t *testing.T, root string, want []string) {
	t.Helper()
	got := maildirContents(t, root)
	w := slices.Clone(want)
	sort.Strings(w)
	if slices.Equal(got, w) {
		return
	}
	gotN := map[string]int{}
	for _, g := range got {
		gotN[g]++
	}
	for _, m := range w {
		gotN[m]--
	}
	var missing, extra []string
	for m, n := range gotN {
		first, _, _ := strings.Cut(strings.SplitN(m, "Subject: ", 2)[len(strings.SplitN(m, "Subject: ", 2))-1], "\n")
		switch {
		case n < 0:
			missing = append(missing, first)
		case n > 0:
			extra = append(extra, fmt.Sprintf("%s (×%d)", first, n))
		}
	}
	sort.Strings(missing)
	sort.Strings(extra)
	t.Fatalf("maildir holds %d messages, want %d; missing %v; extra %v", len(got), len(w), missing, extra)
}

func TestPOP3SyncDeleteMode(t *testing.T) {
	for _, pipelining := range []bool{true, false} {
		t.Run(fmt.Sprintf("pipelining=%v", pipelining), func(t *testing.T) {
			e := newPOP3Env(t, 40, mailtest.POP3Options{Pipelining: pipelining})
			e.opt.BatchMessages = 7 // several group commits
			p := e.open(t)
			var reports []Progress
			if err := p.Sync(context.Background(), func(pr Progress) { reports = append(reports, pr) }); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			checkExactly(t, e.cfg.Maildir, e.want)
			if n := e.serverCount(); n != 0 {
				t.Fatalf("server holds %d messages after a delete-mode sync, want 0", n)
			}
			last := reports[len(reports)-1]
			if last.Stage != StageDone || last.Done != 40 || last.Total != 40 || last.Bytes == 0 || last.Account != "home" {
				t.Fatalf("last progress = %+v, want done 40 of 40 with bytes", last)
			}
			select {
			case ev := <-p.Events():
				if ev.Kind != EventFolderChanged || ev.Folder != maildir.Inbox || ev.Account != "home" {
					t.Fatalf("event = %+v, want EventFolderChanged INBOX", ev)
				}
			default:
				t.Fatal("no EventFolderChanged after new mail landed")
			}
			// The commands: RETR before any DELE of the same message.
			retr := map[string]int{}
			for i, c := range e.srv.Commands() {
				verb, arg, _ := strings.Cut(c, " ")
				switch verb {
				case "RETR":
					retr[arg] = i
				case "DELE":
					if _, ok := retr[arg]; !ok {
						t.Fatalf("DELE %s before its RETR", arg)
					}
				}
			}
			// New mail, second sync: only that arrives.
			e.deliver(5)
			if err := p.Sync(context.Background(), nil); err != nil {
				t.Fatalf("second Sync: %v", err)
			}
			checkExactly(t, e.cfg.Maildir, e.want)
			if n := e.serverCount(); n != 0 {
				t.Fatalf("server holds %d messages, want 0", n)
			}
		})
	}
}

func TestPOP3SyncLeaveMode(t *testing.T) {
	e := newPOP3Env(t, 25, mailtest.POP3Options{Pipelining: true})
	e.cfg.POP3.LeaveOnServer = true
	if err := e.sync(t); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	checkExactly(t, e.cfg.Maildir, e.want)
	if n := e.serverCount(); n != 25 {
		t.Fatalf("server holds %d messages, want 25 (leave_on_server)", n)
	}
	before := len(e.srv.Commands())
	if err := e.sync(t); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	checkExactly(t, e.cfg.Maildir, e.want)
	for _, c := range e.srv.Commands()[before:] {
		if strings.HasPrefix(c, "RETR") || strings.HasPrefix(c, "DELE") {
			t.Fatalf("second sync with nothing new sent %q", c)
		}
	}
	e.deliver(3)
	if err := e.sync(t); err != nil {
		t.Fatalf("third Sync: %v", err)
	}
	checkExactly(t, e.cfg.Maildir, e.want)
	if n := e.serverCount(); n != 28 {
		t.Fatalf("server holds %d messages, want 28", n)
	}
}

func TestPOP3DeleteAfterDays(t *testing.T) {
	e := newPOP3Env(t, 4, mailtest.POP3Options{Pipelining: true})
	e.cfg.POP3.LeaveOnServer = true
	e.cfg.POP3.DeleteAfterDays = 3
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	now := t0
	e.opt.Now = func() time.Time { return now }
	if err := e.sync(t); err != nil {
		t.Fatal(err)
	}
	now = t0.Add(24 * time.Hour)
	e.deliver(2) // downloaded on day 1
	if err := e.sync(t); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		at   time.Duration
		want int
	}{
		{2*24*time.Hour + 23*time.Hour, 6},
		{3 * 24 * time.Hour, 2}, // the first four are 3 days old
		{4*24*time.Hour - time.Second, 2},
		{4 * 24 * time.Hour, 0},
	} {
		now = t0.Add(c.at)
		if err := e.sync(t); err != nil {
			t.Fatal(err)
		}
		if n := e.serverCount(); n != c.want {
			t.Fatalf("at t0+%v the server holds %d messages, want %d", c.at, n, c.want)
		}
	}
	checkExactly(t, e.cfg.Maildir, e.want) // deleting on the server keeps the local copies
}

func TestPOP3LocalDeletionPropagated(t *testing.T) {
	e := newPOP3Env(t, 5, mailtest.POP3Options{})
	e.cfg.POP3.LeaveOnServer = true
	p := e.open(t)
	ctx := context.Background()
	if err := p.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	envs, err := p.List(ctx, maildir.Inbox)
	if err != nil || len(envs) != 5 {
		t.Fatalf("List = %d envelopes, %v; want 5", len(envs), err)
	}
	bySubject := map[string]MsgID{}
	for _, en := range envs {
		bySubject[en.Subject] = MsgID(en.Key)
	}
	// message 1 to Trash; message 2 to Trash and then removed for good;
	// message 3 moved to another folder (still present).
	if err := p.Delete(ctx, maildir.Inbox, []MsgID{bySubject["message 1"], bySubject["message 2"]}); err != nil {
		t.Fatal(err)
	}
	if err := p.Delete(ctx, "Trash", []MsgID{bySubject["message 2"]}); err != nil {
		t.Fatal(err)
	}
	if err := p.Move(ctx, maildir.Inbox, []MsgID{bySubject["message 3"]}, "Archive"); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, m := range e.srv.Messages(pop3TestUser) {
		s := string(m)
		i := strings.Index(s, "Subject: ")
		subj, _, _ := strings.Cut(s[i+9:], "\r\n")
		left = append(left, subj)
	}
	want := []string{"message 0", "message 3", "message 4"}
	if !slices.Equal(left, want) {
		t.Fatalf("server keeps %q, want %q", left, want)
	}
	// Nothing came back.
	if err := p.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	got := maildirContents(t, e.cfg.Maildir)
	if len(got) != 4 {
		t.Fatalf("maildir holds %d messages, want 4 (one removed for good)", len(got))
	}
}

// dropDialer makes connections whose reads fail after limit bytes: the
// connection "drops" wherever that falls.
func dropDialer(limit int64) func(ctx context.Context, network, addr string) (net.Conn, error) {
	return func(ctx context.Context, network, addr string) (net.Conn, error) {
		c, err := (&net.Dialer{}).DialContext(ctx, network, addr)
		if err != nil {
			return nil, err
		}
		return &dropConn{Conn: c, left: limit}, nil
	}
}

type dropConn struct {
	net.Conn
	mu   sync.Mutex
	left int64
}

var errDropped = errors.New("test: connection dropped")

func (d *dropConn) Read(p []byte) (int, error) {
	d.mu.Lock()
	left := d.left
	d.mu.Unlock()
	if left <= 0 {
		d.Conn.Close()
		return 0, errDropped
	}
	if int64(len(p)) > left {
		p = p[:left]
	}
	n, err := d.Conn.Read(p)
	d.mu.Lock()
	d.left -= int64(n)
	d.mu.Unlock()
	return n, err
}

func TestPOP3DropMidRetr(t *testing.T) {
	for _, leave := range []bool{false, true} {
		for _, limit := range []int64{300, 4000, 11000, 21000} {
			t.Run(fmt.Sprintf("leave=%v/after=%d", leave, limit), func(t *testing.T) {
				e := newPOP3Env(t, 30, mailtest.POP3Options{Pipelining: true})
				e.cfg.POP3.LeaveOnServer = leave
				e.opt.BatchMessages = 4
				e.opt.Dialer = dropDialer(limit)
				err := e.sync(t)
				if err == nil {
					t.Fatalf("Sync over a connection dropped after %d bytes succeeded", limit)
				}
				if !strings.HasPrefix(err.Error(), "home: pop3 "+e.cfg.POP3.Addr()+": ") {
					t.Fatalf("error %q does not name the account and server", err)
				}
				if n := e.serverCount(); n != 30 {
					t.Fatalf("server holds %d messages after a failed sync, want all 30", n)
				}
				e.opt.Dialer = nil
				if err := e.sync(t); err != nil {
					t.Fatalf("Sync after the drop: %v", err)
				}
				checkExactly(t, e.cfg.Maildir, e.want)
				want := 0
				if leave {
					want = 30
				}
				if n := e.serverCount(); n != want {
					t.Fatalf("server holds %d messages, want %d", n, want)
				}
			})
		}
	}
}

func TestPOP3ServerStalls(t *testing.T) {
	e := newPOP3Env(t, 20, mailtest.POP3Options{Pipelining: true, Misbehave: mailtest.Misbehaviour{StallAfterBytes: 20000}})
	e.opt.Timeout = 300 * time.Millisecond
	e.opt.BatchMessages = 3
	err := e.sync(t)
	if err == nil {
		t.Fatal("Sync against a stalled server succeeded")
	}
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("Sync error = %v, want a timeout", err)
	}
	if n := e.serverCount(); n != 20 {
		t.Fatalf("server holds %d messages, want all 20", n)
	}
	got := maildirContents(t, e.cfg.Maildir)
	if len(got) >= 20 {
		t.Fatalf("maildir holds %d messages though the server stalled early", len(got))
	}
}

// TestPOP3UnwritableMaildir breaks the maildir for real (root ignores
// permissions, so tmp/ or new/ is replaced by a plain file) and checks that
// nothing is deleted from the server, and that the next sync, once the
// maildir is repaired, stores everything once.
func TestPOP3UnwritableMaildir(t *testing.T) {
	for _, sub := range []string{"tmp", "new"} {
		t.Run(sub, func(t *testing.T) {
			e := newPOP3Env(t, 12, mailtest.POP3Options{Pipelining: true})
			e.opt.BatchMessages = 5
			if _, err := maildir.Open(e.cfg.Maildir); err != nil {
				t.Fatal(err)
			}
			dir := filepath.Join(e.cfg.Maildir, sub)
			if err := os.Remove(dir); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(dir, nil, 0o600); err != nil {
				t.Fatal(err)
			}
			p, err := NewPOP3(e.cfg, &e.opt)
			if err != nil {
				t.Fatal(err)
			}
			err = p.Sync(context.Background(), nil)
			p.Close()
			if err == nil {
				t.Fatalf("Sync into a maildir whose %s/ is a file succeeded", sub)
			}
			if !errors.Is(err, syscall.ENOTDIR) {
				t.Fatalf("Sync error = %v, want ENOTDIR", err)
			}
			if n := e.serverCount(); n != 12 {
				t.Fatalf("server holds %d messages, want all 12", n)
			}
			// Repair and sync again.
			os.Remove(dir)
			if err := os.Mkdir(dir, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := e.sync(t); err != nil {
				t.Fatalf("Sync after repair: %v", err)
			}
			checkExactly(t, e.cfg.Maildir, e.want)
			if n := e.serverCount(); n != 0 {
				t.Fatalf("server holds %d messages, want 0", n)
			}
		})
	}
}

// TestPOP3DiskFull puts the maildir on a 512 KiB tmpfs (root only) and
// downloads more than fits: ENOSPC, nothing deleted.
func TestPOP3DiskFull(t *testing.T) {
	mnt := t.TempDir()
	if err := syscall.Mount("tmpfs", mnt, "tmpfs", 0, "size=512k,mode=0700"); err != nil {
		t.Skipf("cannot mount a small tmpfs (%v); ENOSPC is covered by TestPOP3WriteFailure", err)
	}
	t.Cleanup(func() { syscall.Unmount(mnt, syscall.MNT_DETACH) })
	e := newPOP3Env(t, 0, mailtest.POP3Options{Pipelining: true})
	e.cfg.Maildir = filepath.Join(mnt, "Mail")
	e.opt.BatchMessages = 10
	big := strings.Repeat("0123456789abcdef\n", 2000) // 34 KB
	for i := range 40 {
		m := fmt.Sprintf("Subject: big %d\n\n%s", i, big)
		e.srv.Deliver(pop3TestUser, []byte(m))
	}
	err := e.sync(t)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Sync onto a full disk = %v, want ENOSPC", err)
	}
	if n := e.serverCount(); n != 40 {
		t.Fatalf("server holds %d messages, want all 40", n)
	}
}

// TestPOP3WriteFailure injects ENOSPC into the stream of the 9th message.
func TestPOP3WriteFailure(t *testing.T) {
	e := newPOP3Env(t, 15, mailtest.POP3Options{Pipelining: true})
	e.opt.BatchMessages = 4
	n := 0
	e.opt.wrapBody = func(r io.Reader) io.Reader {
		if n++; n == 9 {
			return io.MultiReader(io.LimitReader(r, 10), errReader{syscall.ENOSPC})
		}
		return r
	}
	err := e.sync(t)
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("Sync = %v, want ENOSPC", err)
	}
	if n := e.serverCount(); n != 15 {
		t.Fatalf("server holds %d messages, want all 15", n)
	}
	e.opt.wrapBody = nil
	if err := e.sync(t); err != nil {
		t.Fatal(err)
	}
	checkExactly(t, e.cfg.Maildir, e.want)
}

type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

func TestPOP3Errors(t *testing.T) {
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name   string
		sopt   mailtest.POP3Options
		adjust func(*ServerConfig)
		want   []string
		noPass bool // the password must never have been sent
	}{
		{
			name:   "wrong password",
			adjust: func(s *ServerConfig) { s.Password = "wrong" },
			want:   []string{"login failed: -ERR [AUTH]"},
		},
		{
			name: "mailbox locked",
			sopt: mailtest.POP3Options{Misbehave: mailtest.Misbehaviour{InUse: true}},
			want: []string{"login failed: -ERR [IN-USE]"},
		},
		{
			name:   "STLS refused",
			sopt:   mailtest.POP3Options{STLS: ca.ServerTLS(), Misbehave: mailtest.Misbehaviour{RefuseSTLS: true}},
			adjust: func(s *ServerConfig) { s.TLS = TLSStartTLS },
			want:   []string{"refused STLS", "refusing to continue without TLS"},
			noPass: true,
		},
		{
			name:   "STLS not offered",
			adjust: func(s *ServerConfig) { s.TLS = TLSStartTLS },
			want:   []string{"does not offer STLS"},
			noPass: true,
		},
		{
			name:   "unknown CA",
			sopt:   mailtest.POP3Options{TLS: ca.ServerTLS()},
			adjust: func(s *ServerConfig) { s.TLS = TLSImplicit },
			want:   []string{"certificate signed by unknown authority"},
			noPass: true,
		},
		{
			name: "greeting error",
			sopt: mailtest.POP3Options{Misbehave: mailtest.Misbehaviour{GreetingError: "[SYS/TEMP] maintenance"}},
			want: []string{"[SYS/TEMP] maintenance"},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newPOP3Env(t, 3, c.sopt)
			if c.adjust != nil {
				c.adjust(e.cfg.POP3)
			}
			err := e.sync(t)
			if err == nil {
				t.Fatal("Sync succeeded")
			}
			prefix := "home: pop3 " + e.cfg.POP3.Addr() + ": "
			if !strings.HasPrefix(err.Error(), prefix) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line starting %q", err, prefix)
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Fatalf("error %q does not say %q", err, w)
				}
			}
			if c.noPass {
				for _, cmd := range e.srv.Commands() {
					if strings.HasPrefix(cmd, "USER") || strings.HasPrefix(cmd, "PASS") || strings.HasPrefix(cmd, "AUTH") {
						t.Fatalf("client sent %q", cmd)
					}
				}
			}
			if n := e.serverCount(); n != 3 {
				t.Fatalf("server holds %d messages, want 3", n)
			}
		})
	}
}

func TestPOP3Unreachable(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().(*net.TCPAddr)
	ln.Close()
	e := newPOP3Env(t, 0, mailtest.POP3Options{})
	e.cfg.POP3.Port = addr.Port
	err = e.sync(t)
	if err == nil || !strings.HasPrefix(err.Error(), "home: pop3 "+addr.String()+": ") || !errors.Is(err, syscall.ECONNREFUSED) {
		t.Fatalf("Sync to a closed port = %v, want connection refused naming the account and server", err)
	}
}

func TestPOP3TLS(t *testing.T) {
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WritePEM(caFile); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		mode string
		sopt mailtest.POP3Options
	}{
		{TLSImplicit, mailtest.POP3Options{TLS: ca.ServerTLS(), Pipelining: true}},
		{TLSStartTLS, mailtest.POP3Options{STLS: ca.ServerTLS(), Pipelining: true}},
	} {
		t.Run(c.mode, func(t *testing.T) {
			e := newPOP3Env(t, 6, c.sopt)
			e.cfg.POP3.TLS = c.mode
			e.cfg.POP3.CAFile = caFile
			p := e.open(t)
			caps, err := p.Check(context.Background())
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			if !slices.Contains(caps, "UIDL") || !slices.Contains(caps, "PIPELINING") {
				t.Fatalf("Check caps = %q, want UIDL and PIPELINING", caps)
			}
			if err := p.Sync(context.Background(), nil); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			checkExactly(t, e.cfg.Maildir, e.want)
		})
	}
}

func TestPOP3SASL(t *testing.T) {
	for _, mech := range []string{AuthPlain, AuthLogin, AuthCRAMMD5} {
		t.Run(mech, func(t *testing.T) {
			e := newPOP3Env(t, 2, mailtest.POP3Options{SASL: true})
			e.cfg.POP3.Auth = mech
			if err := e.sync(t); err != nil {
				t.Fatalf("Sync with auth = %q: %v", mech, err)
			}
			checkExactly(t, e.cfg.Maildir, e.want)
			found := false
			for _, c := range e.srv.Commands() {
				if strings.HasPrefix(c, "AUTH "+strings.ToUpper(mech)) {
					found = true
				}
			}
			if !found {
				t.Fatalf("no AUTH %s in %q", strings.ToUpper(mech), e.srv.Commands())
			}
		})
	}
}

// TestPOP3ByteExact: dot-lines, a 10,000-byte line and a 1 MB line come
// back byte for byte, CRLF turned into LF.
func TestPOP3ByteExact(t *testing.T) {
	e := newPOP3Env(t, 0, mailtest.POP3Options{Pipelining: true})
	for _, m := range []string{
		"Subject: dots\n\n.\n..\n...x\n. \n.end\n",
		"Subject: long\n\n" + strings.Repeat("l", 10000) + "\nafter\n",
		"Subject: huge\n\n" + strings.Repeat("h", 1<<20) + "\n",
		"Subject: crlf inside\n\nline\rwith a bare CR\n",
	} {
		e.srv.Deliver(pop3TestUser, []byte(m))
		e.want = append(e.want, m)
	}
	if err := e.sync(t); err != nil {
		t.Fatal(err)
	}
	checkExactly(t, e.cfg.Maildir, e.want)
}

// TestPOP3ResolvePending plays a crash between the pending save and the
// commit: one pending key landed, the other did not.
func TestPOP3ResolvePending(t *testing.T) {
	e := newPOP3Env(t, 2, mailtest.POP3Options{})
	e.cfg.POP3.LeaveOnServer = true
	d, err := maildir.Open(e.cfg.Maildir)
	if err != nil {
		t.Fatal(err)
	}
	inbox, _ := d.Folder(maildir.Inbox)
	landed, err := inbox.Deliver(strings.NewReader(e.want[0]), "")
	if err != nil {
		t.Fatal(err)
	}
	uids := e.srv.UIDs(pop3TestUser)
	st := &pop3State{
		path: filepath.Join(e.cfg.Maildir, POP3StateFile), Server: e.cfg.POP3.Host, User: pop3TestUser,
		UIDs: map[string]uidEntry{
			uids[0]: {Status: uidPending, Fetched: time.Unix(1e9, 0), Key: landed.Key},
			uids[1]: {Status: uidPending, Fetched: time.Unix(1e9, 0), Key: "1700000000.M1P1Q1.lost"},
		},
	}
	if err := st.save(); err != nil {
		t.Fatal(err)
	}
	if err := e.sync(t); err != nil {
		t.Fatal(err)
	}
	checkExactly(t, e.cfg.Maildir, e.want)
	got, _, err := loadPOP3State(e.cfg.Maildir)
	if err != nil {
		t.Fatal(err)
	}
	if en := got.UIDs[uids[0]]; en.Status != uidDone || en.Key != landed.Key {
		t.Fatalf("landed pending entry became %+v, want done with key %s", en, landed.Key)
	}
	if en := got.UIDs[uids[1]]; en.Status != uidDone || en.Key == "1700000000.M1P1Q1.lost" {
		t.Fatalf("lost pending entry became %+v, want a fresh download", en)
	}
}

// TestPOP3StateNotTrusted: a corrupt or missing state never makes
// duplicates; the messages are matched by content.
func TestPOP3StateNotTrusted(t *testing.T) {
	for _, c := range []struct {
		name   string
		break_ func(t *testing.T, path string)
	}{
		{"corrupt", func(t *testing.T, path string) {
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			b[len(b)/2] ^= 0x20
			if err := os.WriteFile(path, b, 0o600); err != nil {
				t.Fatal(err)
			}
		}},
		{"truncated", func(t *testing.T, path string) {
			if err := os.Truncate(path, 40); err != nil {
				t.Fatal(err)
			}
		}},
		{"missing", func(t *testing.T, path string) {
			if err := os.Remove(path); err != nil {
				t.Fatal(err)
			}
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			e := newPOP3Env(t, 10, mailtest.POP3Options{Pipelining: true})
			e.cfg.POP3.LeaveOnServer = true
			if err := e.sync(t); err != nil {
				t.Fatal(err)
			}
			e.deliver(2)
			path := filepath.Join(e.cfg.Maildir, POP3StateFile)
			c.break_(t, path)
			if err := e.sync(t); err != nil {
				t.Fatalf("Sync with a %s state: %v", c.name, err)
			}
			checkExactly(t, e.cfg.Maildir, e.want)
			if c.name != "missing" {
				if _, err := os.Stat(path + ".corrupt"); err != nil {
					t.Fatalf("the corrupt state was not kept aside: %v", err)
				}
			}
			// The rebuilt state is trusted again: nothing is downloaded.
			before := len(e.srv.Commands())
			if err := e.sync(t); err != nil {
				t.Fatal(err)
			}
			for _, cmd := range e.srv.Commands()[before:] {
				if strings.HasPrefix(cmd, "RETR") {
					t.Fatalf("sync after the rebuild sent %q", cmd)
				}
			}
			checkExactly(t, e.cfg.Maildir, e.want)
		})
	}
}

func TestPOP3NoUIDL(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.SetDeadline(time.Now().Add(10 * time.Second))
		io.WriteString(c, "+OK old server\r\n")
		buf := make([]byte, 512)
		answers := map[string]string{
			"CAPA": "-ERR unknown command", "USER": "+OK", "PASS": "+OK 1 messages",
			"LIST": "+OK\r\n1 120\r\n.", "UIDL": "-ERR unknown command", "QUIT": "+OK",
		}
		for {
			n, err := c.Read(buf)
			if err != nil {
				return
			}
			for _, line := range strings.Split(strings.TrimSpace(string(buf[:n])), "\r\n") {
				verb, _, _ := strings.Cut(line, " ")
				a, ok := answers[verb]
				if !ok {
					a = "-ERR unknown command"
				}
				io.WriteString(c, a+"\r\n")
			}
		}
	}()
	e := newPOP3Env(t, 0, mailtest.POP3Options{})
	e.cfg.POP3.Port = ln.Addr().(*net.TCPAddr).Port
	err = e.sync(t)
	if err == nil || !strings.Contains(err.Error(), "does not support UIDL") {
		t.Fatalf("Sync against a server without UIDL = %v, want a clear UIDL error", err)
	}
}

func TestPOP3ConcurrentSyncRefused(t *testing.T) {
	e := newPOP3Env(t, 1, mailtest.POP3Options{})
	p := e.open(t)
	unlock, err := lockMaildir(e.cfg.Maildir)
	if err != nil {
		t.Fatal(err)
	}
	err = p.Sync(context.Background(), nil)
	unlock()
	if !errors.Is(err, errSyncRunning) {
		t.Fatalf("Sync while another holds the lock = %v, want errSyncRunning", err)
	}
	if err := p.Sync(context.Background(), nil); err != nil {
		t.Fatalf("Sync after the lock was released: %v", err)
	}
}

func TestPOP3Accessors(t *testing.T) {
	e := newPOP3Env(t, 0, mailtest.POP3Options{})
	p := e.open(t)
	if got := p.CheckEvery(); got != time.Minute {
		t.Fatalf("CheckEvery() = %v, want 1m", got)
	}
	if c := p.Caps(); !c.Sync || !c.Offline || !c.Move || !c.Flags {
		t.Fatalf("Caps() = %+v", c)
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if _, ok := <-p.Events(); ok {
		t.Fatal("Events() not closed by Close")
	}
	if err := p.Sync(context.Background(), nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("Sync after Close = %v, want ErrClosed", err)
	}
}
