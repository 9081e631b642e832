package e2e

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/mailtest"
	"github.com/mailbag/mailbag/transport/mailtest/real"
)

// The crash test: a real `mailbag sync` process downloading a few hundred
// messages is killed with SIGKILL at random moments, again and again, while
// new mail keeps arriving; then one clean sync runs. The maildir must then
// hold exactly what the server held (as a multiset of contents: nothing
// missing, nothing twice), in delete and in leave-on-server mode.
//
// The kill moments come from a seed that is logged; set
// MAILBAG_CRASH_SEED to replay one, and MAILBAG_CRASH_KILLS to kill more
// often than the default (the heavy variant, e.g. 200).

const pop3CrashDefaultKills = 25

// pop3CrashMessage is a message of 2–40 KB with dot-lines, unique by n.
func pop3CrashMessage(rng *rand.Rand, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "From: Bob <bob@example.test>\nTo: crash@example.test\nSubject: crash %d\nMessage-ID: <crash%d@example.test>\n\n", n, n)
	size := 2000 + rng.IntN(38000)
	for b.Len() < size {
		switch rng.IntN(8) {
		case 0:
			b.WriteString(".a dot-line\n")
		case 1:
			b.WriteString(strings.Repeat("long ", 300) + "\n")
		default:
			fmt.Fprintf(&b, "line %d of message %d\n", b.Len(), n)
		}
	}
	return b.String()
}

// pop3CrashRig is one mailbag configuration against one server.
type pop3CrashRig struct {
	bin, config, maildir, home string
}

func newPOP3CrashRig(t *testing.T, bin, addr, tls, caFile, user, pass string, leave bool) *pop3CrashRig {
	t.Helper()
	dir := t.TempDir()
	host, port, _ := net.SplitHostPort(addr)
	r := &pop3CrashRig{bin: bin, config: filepath.Join(dir, "config.toml"), maildir: filepath.Join(dir, "Mail"), home: dir}
	conf := fmt.Sprintf("[accounts.crash]\nmaildir = %q\n[accounts.crash.pop3]\nhost = %q\nport = %s\ntls = %q\nusername = %q\npassword = %q\nleave_on_server = %v\n",
		r.maildir, host, port, tls, user, pass, leave)
	if caFile != "" {
		conf += fmt.Sprintf("ca_file = %q\n", caFile)
	}
	if err := os.WriteFile(r.config, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *pop3CrashRig) command(ctx context.Context) (*exec.Cmd, *bytes.Buffer) {
	cmd := exec.CommandContext(ctx, r.bin, "sync", "--config", r.config)
	cmd.Env = append(os.Environ(), "HOME="+r.home, "XDG_CONFIG_HOME="+filepath.Join(r.home, "xdg"), "XDG_DATA_HOME="+filepath.Join(r.home, "data"))
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	return cmd, &stderr
}

// runKilled starts a sync and sends SIGKILL after delay. It reports
// whether the process was killed (rather than finishing first).
func (r *pop3CrashRig) runKilled(t *testing.T, delay time.Duration) bool {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd, stderr := r.command(ctx)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	timer := time.NewTimer(delay)
	defer timer.Stop()
	select {
	case err := <-done:
		// Finished (or failed, e.g. [IN-USE] while the server still
		// tears down the killed session) before the kill.
		if err != nil && !strings.Contains(stderr.String(), "IN-USE") {
			t.Fatalf("mailbag sync failed on its own: %v\n%s", err, stderr.String())
		}
		return false
	case <-timer.C:
		cmd.Process.Signal(syscall.SIGKILL)
		err := <-done
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				return true
			}
		}
		if err != nil && !strings.Contains(stderr.String(), "IN-USE") {
			t.Fatalf("mailbag sync failed on its own: %v\n%s", err, stderr.String())
		}
		return false
	}
}

// runClean runs a sync to its end. A server that still holds the maildrop
// lock of a killed session answers [IN-USE]; that is retried for a while.
func (r *pop3CrashRig) runClean(t *testing.T) time.Duration {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		cmd, stderr := r.command(ctx)
		start := time.Now()
		err := cmd.Run()
		cancel()
		if err == nil {
			return time.Since(start)
		}
		if !strings.Contains(stderr.String(), "IN-USE") || time.Now().After(deadline) {
			t.Fatalf("clean mailbag sync: %v\n%s", err, stderr.String())
		}
		// The killed session's lock goes as soon as the server reads
		// its EOF; poll briefly for that.
		<-time.After(20 * time.Millisecond)
	}
}

// contents returns the sorted contents of every message of the maildir.
func (r *pop3CrashRig) contents(t *testing.T) []string {
	t.Helper()
	return pop3MaildirContents(t, r.maildir)
}

// count returns how many messages the maildir holds.
func (r *pop3CrashRig) count(t *testing.T) int {
	t.Helper()
	d, err := maildir.Open(r.maildir)
	if err != nil {
		t.Fatal(err)
	}
	names, err := d.Folders()
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, name := range names {
		f, err := d.Folder(name)
		if err != nil {
			t.Fatal(err)
		}
		ents, err := f.List()
		if err != nil {
			t.Fatal(err)
		}
		n += len(ents)
	}
	return n
}

func pop3MaildirContents(t *testing.T, root string) []string {
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
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(f.Path(), e.Name))
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, string(b))
		}
	}
	sort.Strings(out)
	return out
}

// pop3SameMultiset fails the test unless got and want hold the same
// messages the same number of times.
func pop3SameMultiset(t *testing.T, got, want []string) {
	t.Helper()
	g, w := slices.Clone(got), slices.Clone(want)
	sort.Strings(g)
	sort.Strings(w)
	if slices.Equal(g, w) {
		return
	}
	count := map[string]int{}
	for _, m := range g {
		count[m]++
	}
	for _, m := range w {
		count[m]--
	}
	missing, dup := 0, 0
	var example string
	for m, n := range count {
		if n < 0 {
			missing -= n
		} else if n > 0 {
			dup += n
		}
		if n != 0 && example == "" {
			example, _, _ = strings.Cut(m, "\n\n")
		}
	}
	t.Fatalf("maildir holds %d messages, server held %d: %d missing, %d extra (duplicates); e.g. %q",
		len(g), len(w), missing, dup, example)
}

func TestPOP3CrashSafety(t *testing.T) {
	if testing.Short() && os.Getenv("MAILBAG_CRASH_KILLS") == "" {
		t.Skip("builds the binary and kills it many times")
	}
	seed, kills := crashParams(t, "pop3 crash", pop3CrashDefaultKills, 8)
	bin := buildMailbag(t)
	for _, leave := range []bool{false, true} {
		t.Run(fmt.Sprintf("leave_on_server=%v", leave), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, map[bool]uint64{false: 1, true: 2}[leave]))
			srv, err := mailtest.NewPOP3Server(mailtest.POP3Options{
				Users:      map[string]string{"crash": "secret-crash"},
				Pipelining: true,
			})
			if err != nil {
				t.Fatal(err)
			}
			defer srv.Close()
			var all []string
			deliver := func(n int) {
				for range n {
					m := pop3CrashMessage(rng, len(all))
					srv.Deliver("crash", []byte(m))
					all = append(all, m)
				}
			}
			r := newPOP3CrashRig(t, bin, srv.Addr, "none", "", "crash", "secret-crash", leave)

			// Calibrate on a throw-away copy: how long does a sync of
			// 300 messages take here?
			cal, err := mailtest.NewPOP3Server(mailtest.POP3Options{Users: map[string]string{"crash": "secret-crash"}, Pipelining: true})
			if err != nil {
				t.Fatal(err)
			}
			for i := range 300 {
				cal.Deliver("crash", []byte(pop3CrashMessage(rand.New(rand.NewPCG(uint64(i), 9)), i)))
			}
			full := newPOP3CrashRig(t, bin, cal.Addr, "none", "", "crash", "secret-crash", leave).runClean(t)
			cal.Close()
			t.Logf("a clean sync of 300 messages takes %v", full)

			deliver(300)
			killed := 0
			for range kills {
				deliver(20 + rng.IntN(80)) // mail keeps arriving
				// Kill within the time the pending work takes.
				pending := len(all) - r.count(t)
				delay := time.Duration(rng.Int64N(int64(full)*int64(max(pending, 30))/300 + 1))
				if r.runKilled(t, delay) {
					killed++
				}
			}
			r.runClean(t)
			t.Logf("%d of %d runs were killed mid-sync; %d messages delivered", killed, kills, len(all))
			if killed < kills/3 {
				t.Fatalf("only %d of %d runs were killed before finishing; the test did not test crashes", killed, kills)
			}
			pop3SameMultiset(t, r.contents(t), all)
			left := len(srv.Messages("crash"))
			if want := map[bool]int{false: 0, true: len(all)}[leave]; left != want {
				t.Fatalf("server holds %d messages after the final sync, want %d", left, want)
			}
		})
	}
}

// TestPOP3CrashSafetyDovecot runs a shorter kill loop against the real
// dovecot (implicit TLS with the CA file), when it is running.
func TestPOP3CrashSafetyDovecot(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	s := real.Need(t)
	seed, kills := crashParams(t, "pop3 crash", pop3CrashDefaultKills, 8)
	kills = max(kills/3, 6)
	bin := buildMailbag(t)
	for _, leave := range []bool{false, true} {
		t.Run(fmt.Sprintf("leave_on_server=%v", leave), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, map[bool]uint64{false: 3, true: 4}[leave]))
			user, pass := s.TempUser(t)
			ctx := context.Background()
			// What the server holds is what dovecot stored (LMTP adds
			// trace headers), read from its maildir after each delivery,
			// by file name (the part before ":2,").
			stored := map[string]string{}
			sent := 0
			deliver := func(n int) {
				msgs := make([][]byte, n)
				for i := range msgs {
					msgs[i] = []byte(pop3CrashMessage(rng, sent))
					sent++
				}
				if err := s.DeliverMany(ctx, user, msgs); err != nil {
					t.Fatal(err)
				}
				for name, body := range dovecotFiles(t, s, user) {
					stored[name] = body
				}
				if len(stored) != sent {
					t.Fatalf("dovecot stored %d messages, want %d", len(stored), sent)
				}
			}
			deliver(300)
			r := newPOP3CrashRig(t, bin, s.Addr(s.POP3S), "tls", s.CAFile, user, pass, leave)
			estimate := 500 * time.Millisecond // a sync of 300; corrected below
			killed := 0
			for range kills {
				start := time.Now()
				if r.runKilled(t, time.Duration(rng.Int64N(int64(estimate)))) {
					killed++
				} else {
					estimate = max(time.Since(start), 20*time.Millisecond)
				}
				deliver(10 + rng.IntN(20))
			}
			r.runClean(t)
			t.Logf("%d of %d runs were killed mid-sync; %d messages delivered", killed, kills, sent)
			var want []string
			for _, body := range stored {
				want = append(want, body)
			}
			pop3SameMultiset(t, r.contents(t), want)
		})
	}
}

// dovecotFiles reads the messages of user's dovecot INBOX, by the file
// name up to ":2,".
func dovecotFiles(t *testing.T, s *real.Servers, user string) map[string]string {
	t.Helper()
	root := filepath.Join(s.MailRoot, user, "Maildir")
	out := map[string]string{}
	for _, sub := range []string{"new", "cur"} {
		ents, err := os.ReadDir(filepath.Join(root, sub))
		if err != nil {
			t.Fatalf("dovecot maildir: %v", err)
		}
		for _, e := range ents {
			b, err := os.ReadFile(filepath.Join(root, sub, e.Name()))
			if errors.Is(err, os.ErrNotExist) {
				continue // renamed between new/ and cur/ meanwhile
			}
			if err != nil {
				t.Fatal(err)
			}
			name, _, _ := strings.Cut(e.Name(), ":")
			out[name] = string(b)
		}
	}
	return out
}
