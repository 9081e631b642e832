package account

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailbag/mailbag/transport/mailtest/real"
)

// dovecotINBOX returns the contents of user's INBOX as dovecot stored
// them (LF line ends, with the trace headers LMTP added): what its POP3
// server serves, CRLF aside.
func dovecotINBOX(t *testing.T, s *real.Servers, user string) []string {
	t.Helper()
	root := filepath.Join(s.MailRoot, user, "Maildir")
	var out []string
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(root, sub))
		if err != nil {
			t.Fatalf("dovecot maildir: %v", err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(root, sub, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	return out
}

// seedDovecot puts msgs into user's dovecot INBOX: the first through
// LMTP (which makes the maildir), the rest written straight into its
// new/ as dovecot's mail user (thousands of LMTP deliveries take half a
// minute under the race detector; files take a second).
func seedDovecot(t *testing.T, s *real.Servers, user string, msgs [][]byte) {
	t.Helper()
	if err := s.Deliver(context.Background(), user, msgs[0]); err != nil {
		t.Fatal(err)
	}
	root := filepath.Join(s.MailRoot, user, "Maildir")
	fi, err := os.Stat(root)
	if err != nil {
		t.Fatal(err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		t.Skip("no owner information for the dovecot maildir")
	}
	for i, m := range msgs[1:] {
		name := fmt.Sprintf("%d.M%dP%d.mailbag-seed", time.Now().Unix(), i, os.Getpid())
		tmp := filepath.Join(root, "tmp", name)
		if err := os.WriteFile(tmp, m, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Chown(tmp, int(st.Uid), int(st.Gid)); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, filepath.Join(root, "new", name)); err != nil {
			t.Fatal(err)
		}
	}
}

func realAccount(t *testing.T, s *real.Servers, user, pass, tls string, port int) AccountConfig {
	return AccountConfig{
		Name:    "real",
		Maildir: filepath.Join(t.TempDir(), "Mail"),
		POP3: &ServerConfig{
			Kind: "pop3", Host: s.Host, Port: port, TLS: tls, CAFile: s.CAFile,
			Username: user, Password: pass,
		},
	}
}

// TestPOP3DovecotSTLS downloads 3000 messages (dot-lines, 10,000-byte
// lines, one 1 MB line) from dovecot over STLS with the CA file, and
// checks every one arrived byte for byte and was deleted from the server.
func TestPOP3DovecotSTLS(t *testing.T) {
	if testing.Short() {
		t.Skip("3000 messages")
	}
	s := real.Need(t)
	user, pass := s.TempUser(t)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	msgs := make([][]byte, 3000)
	for i := range msgs {
		m := pop3TestMessage(i)
		if i == 1234 {
			m += strings.Repeat("M", 1<<20) + "\n"
		}
		msgs[i] = []byte(m)
	}
	seedDovecot(t, s, user, msgs)
	want := dovecotINBOX(t, s, user)
	if len(want) != len(msgs) {
		t.Fatalf("dovecot stored %d messages, want %d", len(want), len(msgs))
	}
	for i, m := range []int{0, 15, 1234} { // the originals are there (after LMTP's trace headers)
		found := false
		for _, w := range want {
			if w == string(msgs[m]) || strings.HasSuffix(w, "\n"+string(msgs[m])) {
				found = true
				break
			}
		}
		if !found {
			t.Fatalf("case %d: message %d is not stored whole by dovecot", i, m)
		}
	}
	cfg := realAccount(t, s, user, pass, TLSStartTLS, s.POP3)
	p, err := NewPOP3(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	start := time.Now()
	if err := p.Sync(ctx, nil); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	t.Logf("3000 messages over STLS in %v", time.Since(start))
	checkExactly(t, cfg.Maildir, want)
	if left := dovecotINBOX(t, s, user); len(left) != 0 {
		t.Fatalf("dovecot keeps %d messages after a delete-mode sync", len(left))
	}
}

// TestPOP3DovecotImplicitTLS: leave-on-server over implicit TLS; the
// second sync downloads only the new message; Check reports the
// capabilities.
func TestPOP3DovecotImplicitTLS(t *testing.T) {
	s := real.Need(t)
	user, pass := s.TempUser(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	var msgs [][]byte
	for i := range 20 {
		msgs = append(msgs, []byte(pop3TestMessage(i)))
	}
	if err := s.DeliverMany(ctx, user, msgs); err != nil {
		t.Fatal(err)
	}
	cfg := realAccount(t, s, user, pass, TLSImplicit, s.POP3S)
	cfg.POP3.LeaveOnServer = true
	p, err := NewPOP3(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	caps, err := p.Check(ctx)
	if err != nil {
		t.Fatalf("Check: %v", err)
	}
	if !strings.Contains(strings.Join(caps, ","), "UIDL") {
		t.Fatalf("Check caps = %q, want UIDL", caps)
	}
	if err := p.Sync(ctx, nil); err != nil {
		t.Fatalf("Sync: %v", err)
	}
	checkExactly(t, cfg.Maildir, dovecotINBOX(t, s, user))
	if err := s.Deliver(ctx, user, []byte(pop3TestMessage(99))); err != nil {
		t.Fatal(err)
	}
	if err := p.Sync(ctx, nil); err != nil {
		t.Fatalf("second Sync: %v", err)
	}
	want := dovecotINBOX(t, s, user)
	if len(want) != 21 {
		t.Fatalf("dovecot holds %d messages, want 21 (leave_on_server)", len(want))
	}
	checkExactly(t, cfg.Maildir, want)
}

// TestPOP3DovecotWrongPassword: the one-line error for a bad password.
func TestPOP3DovecotWrongPassword(t *testing.T) {
	s := real.Need(t)
	user, _ := s.TempUser(t)
	cfg := realAccount(t, s, user, "wrong", TLSImplicit, s.POP3S)
	p, err := NewPOP3(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	err = p.Sync(context.Background(), nil)
	want := fmt.Sprintf("real: pop3 %s: login failed: -ERR [AUTH]", s.Addr(s.POP3S))
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Fatalf("Sync with a wrong password = %v, want %q…", err, want)
	}
}
