package account

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// DefaultPasswordTimeout bounds a password_cmd run when the context has
// no earlier deadline.
const DefaultPasswordTimeout = 30 * time.Second

const (
	maxPasswordOutput = 64 << 10 // a password command printing more is broken
	maxStderrShown    = 300      // bytes of its stderr quoted in an error
)

// ErrNoPassword is returned by PasswordFor for a server with neither
// password nor password_cmd.
var ErrNoPassword = errors.New("no password or password_cmd configured")

// PasswordFor returns the server's password: password as written, or the
// first line printed by password_cmd run through `sh -c` (with a timeout
// of DefaultPasswordTimeout, or the context's deadline if sooner). On
// failure the error quotes the command and its standard error, bounded
// and stripped of control characters; the password output itself never
// appears in an error.
func (s *ServerConfig) PasswordFor(ctx context.Context) (string, error) {
	return s.passwordFor(ctx, DefaultPasswordTimeout)
}

func (s *ServerConfig) passwordFor(ctx context.Context, timeout time.Duration) (string, error) {
	if s.PasswordCmd == "" {
		if s.Password != "" {
			return s.Password, nil
		}
		return "", ErrNoPassword
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "sh", "-c", s.PasswordCmd)
	stdout := &limitedBuffer{max: maxPasswordOutput}
	stderr := &limitedBuffer{max: 4 << 10}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// A grandchild keeping the pipes open must not hang us past the
	// deadline.
	cmd.WaitDelay = time.Second
	err := cmd.Run()
	if ctxErr := ctx.Err(); ctxErr != nil && err != nil {
		if errors.Is(ctxErr, context.DeadlineExceeded) {
			err = fmt.Errorf("timed out (%w)", ctxErr)
		} else {
			err = ctxErr
		}
	}
	if err != nil {
		if msg := sanitizeLine(stderr.String(), maxStderrShown); msg != "" {
			return "", fmt.Errorf("password_cmd %q: %w: %s", s.PasswordCmd, err, msg)
		}
		return "", fmt.Errorf("password_cmd %q: %w", s.PasswordCmd, err)
	}
	if stdout.overflow {
		return "", fmt.Errorf("password_cmd %q: printed more than %d bytes", s.PasswordCmd, maxPasswordOutput)
	}
	out := stdout.String()
	if i := strings.IndexByte(out, '\n'); i >= 0 {
		out = out[:i]
	}
	out = strings.TrimSuffix(out, "\r")
	if out == "" {
		return "", fmt.Errorf("password_cmd %q: printed no password", s.PasswordCmd)
	}
	return out, nil
}

// limitedBuffer keeps the first max bytes written and notes overflow; it
// never fails, so the child is not killed by a broken pipe.
type limitedBuffer struct {
	buf      bytes.Buffer
	max      int
	overflow bool
}

func (b *limitedBuffer) Write(p []byte) (int, error) {
	if room := b.max - b.buf.Len(); room < len(p) {
		b.overflow = true
		if room > 0 {
			b.buf.Write(p[:room])
		}
		return len(p), nil
	}
	return b.buf.Write(p)
}

func (b *limitedBuffer) String() string { return b.buf.String() }

// sanitizeLine makes command output safe to show on one terminal line:
// ANSI escape sequences and control characters are dropped, lines are
// joined with "; ", runs of blanks collapse, and the result is cut to max
// bytes (at a rune boundary) with "…".
func sanitizeLine(s string, max int) string {
	var lines []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.Join(strings.Fields(stripControls(l)), " "); l != "" {
			lines = append(lines, l)
		}
	}
	out := strings.Join(lines, "; ")
	if len(out) > max {
		cut := max
		for cut > 0 && !utf8.RuneStart(out[cut]) {
			cut--
		}
		out = out[:cut] + "…"
	}
	return out
}

// stripControls drops ESC sequences (CSI "ESC [ … final", and any other
// ESC-introduced byte pair) and every other control or invalid rune;
// tabs become spaces.
func stripControls(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == 0x1b:
			i += n
			if i < len(s) && s[i] == '[' {
				i++
				for i < len(s) && !(s[i] >= 0x40 && s[i] <= 0x7e) {
					i++
				}
			}
			if i < len(s) {
				i++ // the final byte, or the byte after a bare ESC
			}
			continue
		case r == '\t':
			b.WriteByte(' ')
		case r == utf8.RuneError && n == 1, unicode.IsControl(r),
			unicode.Is(unicode.Bidi_Control, r):
			// dropped
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}
