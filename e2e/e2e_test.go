// Package e2e runs the mailbag binary in a real pseudo-terminal.
package e2e

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/message"
	"github.com/mailbag/mailbag/store/sample"
)

// screen collects what the program writes to the terminal, and answers
// the status queries a real terminal answers.
type screen struct {
	mu       sync.Mutex
	buf      bytes.Buffer
	answered int           // bytes of buf already scanned for queries
	changed  chan struct{} // signalled (non-blocking) on every write
	done     chan struct{} // closed when the pty reads fail (the program ended)
}

// terminalAnswers are the replies of an xterm to the queries termenv sends
// at start-up (background colour, OSC 11; cursor position, DSR 6). Without
// them the program waits 5 s for an answer, as it would in a terminal that
// does not support them.
var terminalAnswers = []struct{ query, answer string }{
	{"\x1b]11;?", "\x1b]11;rgb:0000/0000/0000\x1b\\"},
	{"\x1b[6n", "\x1b[1;1R"},
}

func readScreen(rw io.ReadWriter) *screen {
	s := &screen{changed: make(chan struct{}, 1), done: make(chan struct{})}
	go func() {
		defer close(s.done)
		b := make([]byte, 32<<10)
		for {
			n, err := rw.Read(b)
			if n > 0 {
				s.mu.Lock()
				s.buf.Write(b[:n])
				var replies []string
				for {
					out := s.buf.Bytes()[s.answered:]
					first, at := -1, len(out)
					for i, q := range terminalAnswers {
						if j := bytes.Index(out, []byte(q.query)); j >= 0 && j < at {
							first, at = i, j
						}
					}
					if first < 0 {
						// Keep a possibly split query for the next read.
						s.answered = max(s.answered, s.buf.Len()-8)
						break
					}
					replies = append(replies, terminalAnswers[first].answer)
					s.answered += at + len(terminalAnswers[first].query)
				}
				s.mu.Unlock()
				for _, r := range replies {
					_, _ = rw.Write([]byte(r)) // the program may have ended
				}
				select {
				case s.changed <- struct{}{}:
				default:
				}
			}
			if err != nil {
				return
			}
		}
	}()
	return s
}

// waitFor waits until the output written after mark contains want, and
// returns the new mark.
func (s *screen) waitFor(t testing.TB, mark int, want string, timeout time.Duration) int {
	t.Helper()
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		s.mu.Lock()
		out := s.buf.Bytes()[mark:]
		if i := bytes.Index(out, []byte(want)); i >= 0 {
			s.mu.Unlock()
			return mark + i + len(want)
		}
		s.mu.Unlock()
		select {
		case <-s.changed:
		case <-s.done:
			s.mu.Lock()
			defer s.mu.Unlock()
			if bytes.Contains(s.buf.Bytes()[mark:], []byte(want)) {
				return s.buf.Len()
			}
			t.Fatalf("the program ended before showing %q; it wrote:\n%q", want, tail(s.buf.String()))
		case <-deadline.C:
			s.mu.Lock()
			defer s.mu.Unlock()
			t.Fatalf("%s passed without %q on screen; the program wrote:\n%q", timeout, want, tail(s.buf.String()))
		}
	}
}

func (s *screen) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.buf.String()
}

func tail(s string) string {
	if len(s) > 4000 {
		return "…" + s[len(s)-4000:]
	}
	return s
}

func moduleRoot(t testing.TB) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		t.Fatalf("go env GOMOD: %v", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		t.Fatalf("not inside the mailbag module")
	}
	return filepath.Dir(gomod)
}

// newest returns the subject and a line of the body of the newest INBOX
// message, as the UI will show them first.
func newest(t testing.TB, root string) (subject, body string) {
	t.Helper()
	a, err := account.NewLocal(account.AccountConfig{Name: "e2e", Maildir: root})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	envs, err := a.List(ctx, maildir.Inbox)
	if err != nil || len(envs) == 0 {
		t.Fatalf("List INBOX = %d envelopes, %v", len(envs), err)
	}
	e := slices.MaxFunc(envs, func(a, b account.Envelope) int {
		if c := a.Date.Compare(b.Date); c != 0 {
			return c
		}
		return strings.Compare(a.Key, b.Key)
	})
	rc, err := a.Open(ctx, maildir.Inbox, account.MsgID(e.Key))
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	m, err := message.Parse(rc, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, line := range strings.Split(m.Text, "\n") {
		line = strings.TrimSpace(line)
		if len(line) >= 8 && isPlain(line) {
			body = line[:min(len(line), 30)]
			break
		}
	}
	if body == "" {
		t.Fatalf("the newest demo message %q has no plain body line to look for", e.Subject)
	}
	return e.Subject, body
}

func isPlain(s string) bool {
	for _, c := range s {
		if c < ' ' || c > '~' {
			return false
		}
	}
	return true
}

// TestTUIReadAndQuit builds mailbag, runs it on a demo maildir in a
// 100×30 pseudo-terminal, opens the newest message and quits with q, q.
func TestTUIReadAndQuit(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the binary")
	}
	tmp := t.TempDir()
	bin := buildMailbag(t)

	mail := filepath.Join(tmp, "mail")
	d, err := maildir.Open(mail)
	if err != nil {
		t.Fatal(err)
	}
	if err := sample.Demo(d, time.Now()); err != nil {
		t.Fatalf("sample.Demo: %v", err)
	}
	subject, body := newest(t, mail)
	cfg := filepath.Join(tmp, "config.toml")
	conf := fmt.Sprintf("[accounts.e2e]\naddress = \"Me <me@example.test>\"\nmaildir = %q\n", mail)
	if err := os.WriteFile(cfg, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, "--config", cfg)
	cmd.Env = append(os.Environ(), "TERM=xterm-256color", "HOME="+tmp, "XDG_CONFIG_HOME="+filepath.Join(tmp, "xdg"), "XDG_DATA_HOME="+filepath.Join(tmp, "data"))
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 30, Cols: 100})
	if err != nil {
		t.Fatalf("start %s in a pty: %v", bin, err)
	}
	defer f.Close()
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	scr := readScreen(f)

	mark := scr.waitFor(t, 0, truncate(subject, 25), 20*time.Second)
	if _, err := f.Write([]byte("\r")); err != nil { // Enter opens it
		t.Fatal(err)
	}
	mark = scr.waitFor(t, mark, body, 20*time.Second)
	if _, err := f.Write([]byte("q")); err != nil { // back to the list
		t.Fatal(err)
	}
	mark = scr.waitFor(t, mark, truncate(subject, 25), 20*time.Second)
	if _, err := f.Write([]byte("q")); err != nil { // quit
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Fatalf("mailbag exited with %v, want status 0; it wrote:\n%q", err, tail(scr.String()))
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("mailbag still running 15s after q, q")
	}
}

// truncate cuts s to n runes: a prefix that fits in the list's subject
// column.
func truncate(s string, n int) string {
	r := []rune(s)
	return string(r[:min(len(r), n)])
}
