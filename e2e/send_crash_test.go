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
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailbag/mailbag/transport/mailtest"
)

// The send crash test: `mailbag send` processes, each with a message of
// its own, are killed with SIGKILL at random moments (seeded and logged;
// MAILBAG_CRASH_SEED replays a run, MAILBAG_CRASH_KILLS sets how many),
// and so now and then is a `mailbag sync` flushing the outbox. Then one
// clean `mailbag sync` runs. Every message that was stored must then be
// in exactly one of Drafts, Outbox and Sent (in fact in Sent), the server
// must have received each at least once, and no Bcc may have reached the
// server or Sent. A message may be nowhere and never received only when
// its `mailbag send` was killed before storing it (its caller never got
// an answer); the server may have received a message twice only when a
// kill fell between its 250 and the move to Sent.

const sendCrashDefaultKills = 30

type sendCrashRig struct {
	bin, config, home string
	srv               *mailtest.SMTPServer
	slow              atomic.Int64 // nanoseconds the server waits before answering the final dot
}

func newSendCrashRig(t *testing.T) *sendCrashRig {
	t.Helper()
	r := &sendCrashRig{home: t.TempDir()}
	r.bin = buildMailbag(t)
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(r.home, "ca.pem")
	if err := ca.WritePEM(caFile); err != nil {
		t.Fatal(err)
	}
	r.srv, err = mailtest.NewSMTPServer(mailtest.SMTPOptions{
		STARTTLS: ca.ServerTLS(), RequireTLS: true,
		Users: map[string]string{"alice": "secret-alice"},
		// A slow answer to the final dot widens the window between the
		// server accepting and the client filing the message.
		FailData: func() *gosmtp.SMTPError {
			if d := time.Duration(r.slow.Load()); d > 0 {
				time.Sleep(d)
			}
			return nil
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.srv.Close() })
	host, port, _ := net.SplitHostPort(r.srv.Addr)
	r.config = filepath.Join(r.home, "config.toml")
	if err := os.MkdirAll(filepath.Join(r.home, "Mail"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`[accounts.home]
address = "Alice <alice@example.test>"
maildir = "~/Mail"
[accounts.home.smtp]
host = %q
port = %s
tls = "starttls"
username = "alice"
password = "secret-alice"
ca_file = %q
`, host, port, caFile)
	if err := os.WriteFile(r.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return r
}

func (r *sendCrashRig) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.bin, append(args, "--config", r.config)...)
	cmd.Env = append(os.Environ(), "HOME="+r.home)
	return cmd
}

// sendCrashMessage is message n: a few KB, a Bcc on every third.
func sendCrashMessage(rng *rand.Rand, n int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "To: bob@example.test\nSubject: crash %d\nMessage-ID: <send-crash-%d@example.test>\n", n, n)
	if n%3 == 0 {
		fmt.Fprintf(&b, "Bcc: secret-%d@example.test\n", n)
	}
	b.WriteString("\n")
	size := 1000 + rng.IntN(20000)
	for b.Len() < size {
		fmt.Fprintf(&b, "line %d of message %d, padding padding padding\n", b.Len(), n)
	}
	return b.String()
}

// run starts the command and kills it after delay (0: let it finish);
// it reports whether the kill landed before the process ended.
func (r *sendCrashRig) run(t *testing.T, cmd *exec.Cmd, delay time.Duration) (killed bool, code int) {
	t.Helper()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	if delay > 0 {
		timer := time.AfterFunc(delay, func() { cmd.Process.Signal(syscall.SIGKILL) })
		defer timer.Stop()
	}
	err := cmd.Wait()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return false, 0
	case errors.As(err, &ee):
		if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() && ws.Signal() == syscall.SIGKILL {
			return true, -1
		}
		return false, ee.ExitCode()
	}
	t.Fatalf("%s: %v\n%s", cmd.Args, err, stderr.String())
	return false, 0
}

var (
	messageIDRe = regexp.MustCompile(`(?mi)^Message-Id:\s*<send-crash-(\d+)@example\.test>`)
	bccRe       = regexp.MustCompile(`(?mi)^Bcc:`)
)

// places maps message number → folders it is in ("Outbox", …), once per
// file; bcc lists the Sent files that hold a Bcc field.
func (r *sendCrashRig) places(t *testing.T) (map[int][]string, []string) {
	t.Helper()
	out := map[int][]string{}
	var bcc []string
	for _, folder := range []string{"Outbox", "Sent", "Drafts"} {
		for _, sub := range []string{"new", "cur"} {
			dir := filepath.Join(r.home, "Mail", "."+folder, sub)
			ents, err := os.ReadDir(dir)
			if errors.Is(err, os.ErrNotExist) {
				continue
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, e := range ents {
				data, err := os.ReadFile(filepath.Join(dir, e.Name()))
				if err != nil {
					t.Fatal(err)
				}
				m := messageIDRe.FindSubmatch(data)
				if m == nil {
					t.Fatalf("%s/%s: no crash Message-ID:\n%.300s", folder, e.Name(), data)
				}
				n, _ := strconv.Atoi(string(m[1]))
				out[n] = append(out[n], folder)
				if folder == "Sent" && bccRe.Match(headerOf(data)) {
					bcc = append(bcc, e.Name())
				}
			}
		}
	}
	return out, bcc
}

func headerOf(data []byte) []byte {
	s := bytes.ReplaceAll(data, []byte("\r\n"), []byte("\n"))
	if i := bytes.Index(s, []byte("\n\n")); i >= 0 {
		return s[:i+1]
	}
	return s
}

func TestSendCrashSafety(t *testing.T) {
	seed, kills := crashParams(t, "send crash", sendCrashDefaultKills, 10)
	rng := rand.New(rand.NewPCG(seed, 0x5e9d))
	r := newSendCrashRig(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()

	// A clean run measures how long a send takes with a slow server.
	r.slow.Store(int64(30 * time.Millisecond))
	start := time.Now()
	cmd := r.command(ctx, "send")
	cmd.Stdin = strings.NewReader(sendCrashMessage(rng, 0))
	if killed, code := r.run(t, cmd, 0); killed || code != 0 {
		t.Fatalf("clean send: code %d", code)
	}
	clean := time.Since(start)
	t.Logf("a clean send takes %v", clean)

	killedRuns := map[int]bool{}
	for n := 1; n <= kills; n++ {
		r.slow.Store(int64(time.Duration(rng.IntN(60)) * time.Millisecond))
		delay := time.Duration(rng.Int64N(int64(clean))) + time.Millisecond
		cmd := r.command(ctx, "send")
		cmd.Stdin = strings.NewReader(sendCrashMessage(rng, n))
		killed, code := r.run(t, cmd, delay)
		killedRuns[n] = killed
		if !killed && code != 0 {
			t.Fatalf("send %d exited %d without being killed", n, code)
		}
		if n%5 == 0 {
			// A flush killed too.
			killed, code := r.run(t, r.command(ctx, "sync"), time.Duration(rng.Int64N(int64(clean)))+time.Millisecond)
			if !killed && code != 0 {
				t.Fatalf("sync after %d exited %d", n, code)
			}
		}
	}
	r.slow.Store(0)
	if killed, code := r.run(t, r.command(ctx, "sync"), 0); killed || code != 0 {
		t.Fatalf("final sync exited %d", code)
	}

	received := map[int]int{}
	for _, env := range r.srv.Received() {
		m := messageIDRe.FindSubmatch(env.Data)
		if m == nil {
			t.Fatalf("server got a message without a crash Message-ID:\n%.300s", env.Data)
		}
		if bytes.Contains(headerOf(env.Data), []byte("Bcc:")) || bytes.Contains(env.Data, []byte("secret-")) {
			t.Errorf("server got a Bcc field:\n%.400s", env.Data)
		}
		n, _ := strconv.Atoi(string(m[1]))
		received[n]++
	}
	places, bcc := r.places(t)
	if len(bcc) > 0 {
		t.Errorf("Sent copies with Bcc: %v", bcc)
	}
	var notStored, twice, killedAfterStore int
	for n := 0; n <= kills; n++ {
		p := places[n]
		switch {
		case len(p) == 0 && received[n] == 0 && killedRuns[n]:
			notStored++ // killed before the message was stored
		case len(p) != 1 || p[0] != "Sent":
			t.Errorf("message %d is in %v (server received it %d times, killed %v); want exactly Sent", n, p, received[n], killedRuns[n])
		case received[n] == 0:
			t.Errorf("message %d is in Sent but the server never received it", n)
		}
		if received[n] > 1 {
			twice++
		}
		if killedRuns[n] && len(p) > 0 {
			killedAfterStore++
		}
	}
	t.Logf("%d messages: %d killed before being stored, %d killed after, %d received twice (a kill between 250 and the move)",
		kills+1, notStored, killedAfterStore, twice)
	if killedAfterStore == 0 {
		t.Errorf("no kill landed after a message was stored: the test did not exercise recovery (seed %d)", seed)
	}
}
