package pop3

import (
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
)

// retrServer answers RETR 1 with "+OK", the given wire bytes and ".".
func retrServer(t *testing.T, wire string) *scripted {
	return newScripted(t, basic(func(line string) string {
		if line == "RETR 1" {
			return "+OK message follows\r\n" + wire + ".\r\n"
		}
		return ""
	}))
}

// TestRetrWire covers the cases knadh/go-pop3 gets wrong (DESIGN §4): a
// stuffed "..dotted" line, a line of just "..", and long lines.
func TestRetrWire(t *testing.T) {
	long := func(n int) string { return strings.Repeat("x", n) }
	tests := []struct {
		name, wire, want string
	}{
		{"dotted", "Subject: a\r\n\r\n..dotted\r\n", "Subject: a\n\n.dotted\n"},
		{"just two dots", "a\r\n..\r\nb\r\n", "a\n.\nb\n"},
		{"three dots", "...\r\n", "..\n"},
		{"dot inside line", "a.b\r\n x..\r\n", "a.b\n x..\n"},
		{"empty lines", "\r\n\r\n\r\n", "\n\n\n"},
		{"empty body", "", ""},
		{"4096 line", long(4096) + "\r\n", long(4096) + "\n"},
		{"4097 line", long(4097) + "\r\nnext\r\n", long(4097) + "\nnext\n"},
		{"10000 line", long(10000) + "\r\n", long(10000) + "\n"},
		{"1MB line", long(1<<20) + "\r\n", long(1<<20) + "\n"},
		{"stuffed long line", ".." + long(70000) + "\r\n", "." + long(70000) + "\n"},
		{"binary bytes", "\x00\xff\x1b[31m\r\n", "\x00\xff\x1b[31m\n"},
		{"bare LF", "a\nb\n", "a\nb\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := retrServer(t, tt.wire)
			c := login(t, s.Addr, nil)
			var buf bytes.Buffer
			n, err := c.Retr(1, &buf)
			if err != nil {
				t.Fatalf("Retr(%q) error: %v", tt.wire, err)
			}
			if got := buf.String(); got != tt.want {
				t.Fatalf("Retr(%.40q) = %.60q (len %d), want %.60q (len %d)", tt.wire, got, len(got), tt.want, len(tt.want))
			}
			if n != int64(len(tt.want)) {
				t.Fatalf("Retr(%.40q) count = %d, want %d", tt.wire, n, len(tt.want))
			}
			if err := c.Noop(); err != nil {
				t.Fatalf("Noop after Retr: %v (session out of step)", err)
			}
		})
	}
}

func TestStatAnswers(t *testing.T) {
	tests := []struct {
		answer    string
		count     int
		size      int64
		malformed bool
	}{
		{"+OK 2 320", 2, 320, false},
		{"+OK 0 0", 0, 0, false},
		{"+OK 3 1000 extra words", 3, 1000, false},
		{"+OK", 0, 0, true},
		{"+OK ", 0, 0, true},
		{"+OK 1", 0, 0, true},
		{"+OK a b", 0, 0, true},
		{"+OK -1 5", 0, 0, true},
		{"+OK 1 99999999999999999999", 0, 0, true},
		{"+OKAY 1 2", 0, 0, true},
		{"* 1 2", 0, 0, true},
	}
	for _, tt := range tests {
		s := newScripted(t, basic(func(line string) string {
			if line == "STAT" {
				return tt.answer + "\r\n"
			}
			return ""
		}))
		c := login(t, s.Addr, nil)
		count, size, err := c.Stat()
		if tt.malformed {
			if !errors.Is(err, ErrMalformed) {
				t.Fatalf("Stat() with %q = %d, %d, %v; want ErrMalformed", tt.answer, count, size, err)
			}
			continue
		}
		if err != nil || count != tt.count || size != tt.size {
			t.Fatalf("Stat() with %q = %d, %d, %v; want %d, %d", tt.answer, count, size, err, tt.count, tt.size)
		}
	}
}

func TestListAnswers(t *testing.T) {
	tests := []struct {
		name, body string
		want       []MsgInfo
	}{
		{"good", "1 100\r\n2 200\r\n", []MsgInfo{{ID: 1, Size: 100}, {ID: 2, Size: 200}}},
		{"extra text after size", "1 100 more\r\n", []MsgInfo{{ID: 1, Size: 100}}},
		{"empty", "", nil},
		{"no size", "1\r\n", nil},
		{"non-numeric", "1 abc\r\n", nil},
		{"zero id", "0 10\r\n", nil},
		{"negative size", "1 -10\r\n", nil},
		{"signed id", "+1 10\r\n", nil},
		{"duplicate id", "1 10\r\n1 20\r\n", nil},
		{"blank line", "\r\n", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScripted(t, basic(func(line string) string {
				if line == "LIST" {
					return "+OK\r\n" + tt.body + ".\r\n"
				}
				return ""
			}))
			c := login(t, s.Addr, nil)
			got, err := c.List()
			if tt.want == nil && tt.body != "" {
				if !errors.Is(err, ErrMalformed) {
					t.Fatalf("List() with %q = %v, %v; want ErrMalformed", tt.body, got, err)
				}
			} else if err != nil || !equalInfo(got, tt.want) {
				t.Fatalf("List() with %q = %v, %v; want %v", tt.body, got, err, tt.want)
			}
			if err := c.Noop(); err != nil {
				t.Fatalf("Noop after List: %v (session out of step)", err)
			}
		})
	}
}

func TestUIDLAnswers(t *testing.T) {
	tests := []struct {
		name, body string
		ok         bool
	}{
		{"good", "1 abc\r\n2 " + strings.Repeat("z", 70) + "\r\n", true},
		{"all printable", "1 !~\"#\r\n", true},
		{"71 chars", "1 " + strings.Repeat("z", 71) + "\r\n", false},
		{"space inside", "1 ab cd\r\n", false},
		{"trailing space", "1 abc \r\n", false},
		{"control char", "1 ab\x01cd\r\n", false},
		{"escape", "1 \x1b[2J\r\n", false},
		{"DEL", "1 ab\x7f\r\n", false},
		{"8-bit", "1 caf\xc3\xa9\r\n", false},
		{"missing uid", "1\r\n", false},
		{"empty uid", "1 \r\n", false},
		{"bad number", "x abc\r\n", false},
		{"duplicate uid", "1 abc\r\n2 abc\r\n", false},
		{"duplicate number", "1 abc\r\n1 abd\r\n", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newScripted(t, basic(func(line string) string {
				if line == "UIDL" {
					return "+OK\r\n" + tt.body + ".\r\n"
				}
				return ""
			}))
			c := login(t, s.Addr, nil)
			got, err := c.UIDL()
			if tt.ok != (err == nil) {
				t.Fatalf("UIDL() with %q = %v, %v; want ok=%v", tt.body, got, err, tt.ok)
			}
			if !tt.ok && !errors.Is(err, ErrMalformed) {
				t.Fatalf("UIDL() with %q error %v does not wrap ErrMalformed", tt.body, err)
			}
			if !tt.ok && got != nil {
				t.Fatalf("UIDL() with %q returned ids %v alongside the error", tt.body, got)
			}
			if err := c.Noop(); err != nil {
				t.Fatalf("Noop after UIDL: %v (session out of step)", err)
			}
		})
	}
}

func TestErrorCodes(t *testing.T) {
	tests := []struct {
		answer, code, text string
		temporary          bool
	}{
		{"-ERR [IN-USE] maildrop locked", "IN-USE", "maildrop locked", true},
		{"-ERR [LOGIN-DELAY] wait 5 minutes", "LOGIN-DELAY", "wait 5 minutes", true},
		{"-ERR [SYS/TEMP] try later", "SYS/TEMP", "try later", true},
		{"-ERR [SYS/TEMP/DISK] full", "SYS/TEMP/DISK", "full", true},
		{"-ERR [SYS/PERM] gone", "SYS/PERM", "gone", false},
		{"-ERR [AUTH] bad password", "AUTH", "bad password", false},
		{"-ERR [in-use] lower", "IN-USE", "lower", true},
		{"-ERR plain text", "", "plain text", false},
		{"-ERR", "", "", false},
		{"-ERR [not a code] x", "", "[not a code] x", false},
		{"-ERR [unterminated", "", "[unterminated", false},
		{"-ERR bad \x1b[31m", "", "bad \ufffd[31m", false},
	}
	for _, tt := range tests {
		s := newScripted(t, func(line string) string {
			if strings.HasPrefix(line, "CAPA") {
				return "-ERR\r\n"
			}
			return tt.answer + "\r\n"
		})
		c := dial(t, s.Addr, nil)
		err := c.Login("alice", "secret")
		var e *Error
		if !errors.As(err, &e) {
			t.Fatalf("Login with %q = %v, want *Error", tt.answer, err)
		}
		if e.Code != tt.code || e.Text != tt.text || e.Temporary() != tt.temporary || e.Cmd != "USER" {
			t.Fatalf("Login with %q = %#v (temporary %v), want code %q text %q temporary %v", tt.answer, e, e.Temporary(), tt.code, tt.text, tt.temporary)
		}
		if !strings.Contains(err.Error(), "login failed: -ERR") {
			t.Fatalf("Login with %q: error %q lacks \"login failed: -ERR\"", tt.answer, err)
		}
	}
}

func TestStatusLineTooLong(t *testing.T) {
	s := newScripted(t, basic(func(line string) string {
		if line == "STAT" {
			return "+OK 1 1 " + strings.Repeat("x", 20000) + "\r\n"
		}
		return ""
	}))
	c := login(t, s.Addr, nil)
	if _, _, err := c.Stat(); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Stat() with a 20000-byte line = %v, want ErrMalformed", err)
	}
	if err := c.Noop(); err == nil {
		t.Fatalf("Noop() after an overlong line succeeded; the session should be unusable")
	}
}

func TestUnexpectedStatus(t *testing.T) {
	s := newScripted(t, basic(func(line string) string {
		if line == "DELE 1" {
			return "* garbage\r\n"
		}
		return ""
	}))
	c := login(t, s.Addr, nil)
	if err := c.Dele(1); !errors.Is(err, ErrMalformed) {
		t.Fatalf("Dele(1) answered with garbage = %v, want ErrMalformed", err)
	}
}

// TestRetrManyPipelines proves commands really are pipelined: the scripted
// server answers nothing until it has received three RETR commands.
func TestRetrManyPipelines(t *testing.T) {
	var pending []string
	s := newScripted(t, func(line string) string {
		switch {
		case line == "CAPA":
			return "+OK\r\nPIPELINING\r\n.\r\n"
		case line == "USER alice", line == "PASS secret", line == "QUIT":
			return "+OK\r\n"
		case strings.HasPrefix(line, "RETR "):
			pending = append(pending, line)
			if len(pending) < 3 {
				return noReply
			}
			var out strings.Builder
			for _, p := range pending {
				out.WriteString("+OK\r\nbody of " + p + "\r\n.\r\n")
			}
			pending = nil
			return out.String()
		}
		return "-ERR\r\n"
	})
	c := login(t, s.Addr, nil)
	var got []string
	err := c.RetrMany([]int{1, 2, 3}, func(n int, r io.Reader) error {
		var b bytes.Buffer
		_, err := b.ReadFrom(r)
		got = append(got, b.String())
		return err
	})
	if err != nil {
		t.Fatalf("RetrMany: %v", err)
	}
	want := []string{"body of RETR 1\n", "body of RETR 2\n", "body of RETR 3\n"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("RetrMany bodies = %q, want %q", got, want)
	}
}
