package account

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"
)

func TestPasswordFor(t *testing.T) {
	tests := []struct {
		name string
		s    ServerConfig
		want string
	}{
		{"plain", ServerConfig{Password: "hunter2"}, "hunter2"},
		{"cmd", ServerConfig{PasswordCmd: "echo 'pa ss'"}, "pa ss"},
		{"cmd crlf", ServerConfig{PasswordCmd: `printf 'pw\r\n'`}, "pw"},
		{"cmd no newline", ServerConfig{PasswordCmd: "printf secret"}, "secret"},
		{"first line only", ServerConfig{PasswordCmd: `printf 'top\nlogin: alice\nurl: x\n'`}, "top"},
		{"stderr ignored on success", ServerConfig{PasswordCmd: "echo warn >&2; echo pw"}, "pw"},
	}
	for _, tt := range tests {
		got, err := tt.s.PasswordFor(context.Background())
		if err != nil || got != tt.want {
			t.Errorf("%s: PasswordFor() = %q, %v; want %q", tt.name, got, err, tt.want)
		}
	}
}

func TestPasswordForErrors(t *testing.T) {
	tests := []struct {
		name string
		cmd  string
		want string // the whole error message
	}{
		{"exit with stderr", `echo "Error: x is not in the password store." >&2; exit 1`,
			`password_cmd "echo \"Error: x is not in the password store.\" >&2; exit 1": exit status 1: Error: x is not in the password store.`},
		{"exit silent", "exit 3", `password_cmd "exit 3": exit status 3`},
		{"stderr sanitised", `printf '\033[31mred\033[0m\tbad\a\n\nsecond line\n' >&2; exit 2`,
			`password_cmd "printf '\\033[31mred\\033[0m\\tbad\\a\\n\\nsecond line\\n' >&2; exit 2": exit status 2: red bad; second line`},
		{"no output", "true", `password_cmd "true": printed no password`},
		{"empty first line", `printf '\nsecret\n'`, `password_cmd "printf '\\nsecret\\n'": printed no password`},
		{"not found", "/nonexistent/pass", `password_cmd "/nonexistent/pass": exit status 127: sh: 1: /nonexistent/pass: not found`},
	}
	for _, tt := range tests {
		s := ServerConfig{PasswordCmd: tt.cmd}
		got, err := s.PasswordFor(context.Background())
		if err == nil {
			t.Errorf("%s: PasswordFor() = %q, nil; want error %q", tt.name, got, tt.want)
			continue
		}
		msg := err.Error()
		if tt.name == "not found" { // shells word this differently
			if !strings.HasPrefix(msg, `password_cmd "/nonexistent/pass": exit status 127: `) || !strings.Contains(msg, "/nonexistent/pass") {
				t.Errorf("%s: error = %q, want %q", tt.name, msg, tt.want)
			}
			continue
		}
		if msg != tt.want {
			t.Errorf("%s: error = %q, want %q", tt.name, msg, tt.want)
		}
	}
}

func TestPasswordForBounds(t *testing.T) {
	// A huge stderr is cut; the password output never shows in errors.
	s := ServerConfig{PasswordCmd: `echo pw$((6*7))pw; head -c 100000 /dev/zero | tr '\0' x >&2; exit 1`}
	_, err := s.PasswordFor(context.Background())
	if err == nil || strings.Contains(err.Error(), "pw42pw") || len(err.Error()) > 500 || !strings.HasSuffix(err.Error(), "…") {
		t.Fatalf("PasswordFor() error = %.200q (len %d), want a bounded error without the password", err, len(err.Error()))
	}
	s = ServerConfig{PasswordCmd: `head -c 100000 /dev/zero | tr '\0' x`}
	if _, err := s.PasswordFor(context.Background()); err == nil || !strings.Contains(err.Error(), "printed more than") {
		t.Fatalf("PasswordFor() with huge output: %v, want a refusal", err)
	}
}

func TestPasswordForTimeout(t *testing.T) {
	s := ServerConfig{PasswordCmd: "sleep 5"}
	start := time.Now()
	_, err := s.passwordFor(context.Background(), 200*time.Millisecond)
	if err == nil || !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), `password_cmd "sleep 5": timed out`) {
		t.Fatalf("passwordFor(sleep 5, 200ms) = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("timeout took %v", d)
	}

	// A cancelled context stops it too, and a grandchild holding the
	// output pipe does not keep us waiting.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	s = ServerConfig{PasswordCmd: "(sleep 30; echo late) & echo pw; wait"}
	if _, err := s.PasswordFor(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("PasswordFor(cancelled) = %v, want context.Canceled", err)
	}
	s = ServerConfig{PasswordCmd: "(sleep 4) & exit 1"}
	start = time.Now()
	_, err = s.passwordFor(context.Background(), 10*time.Second)
	if err == nil {
		t.Fatal("passwordFor(background grandchild, exit 1) = nil error")
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("a grandchild holding stderr kept PasswordFor for %v", d)
	}
}

func TestPasswordForNone(t *testing.T) {
	var s ServerConfig
	if _, err := s.PasswordFor(context.Background()); !errors.Is(err, ErrNoPassword) {
		t.Fatalf("PasswordFor() without password = %v, want ErrNoPassword", err)
	}
}

func TestSanitizeLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain", "plain"},
		{"a\x1b[1;31mb\x1b[0m", "ab"},
		{"a\x1b]0;title\x07b", "a0;titleb"}, // OSC: ESC ] dropped with its next byte, BEL dropped
		{"\u202ereversed", "reversed"},
		{"bad\xffutf8", "badutf8"},
		{"  many   spaces \t tab ", "many spaces tab"},
		{"one\r\ntwo\n\n", "one; two"},
		{strings.Repeat("é", 200), strings.Repeat("é", 50) + "…"},
	}
	for _, tt := range tests {
		if got := sanitizeLine(tt.in, 100); got != tt.want {
			t.Errorf("sanitizeLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
