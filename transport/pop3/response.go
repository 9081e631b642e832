package pop3

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Bounds on what a server may send outside message bodies. RFC 2449 §4 limits
// responses to 512 octets; real servers exceed that with long capability and
// error texts, so lines up to maxLine octets are accepted and longer ones are
// an error. Message bodies (RETR, TOP) are streamed and have no line bound.
const (
	maxLine      = 8 << 10
	maxCapaLines = 256
	maxListLines = 1 << 20 // messages in one LIST or UIDL answer
	maxCodeLen   = 64
	maxUIDLen    = 70 // RFC 1939 §7
)

// ErrMalformed is wrapped by every error about an answer that does not follow
// the grammar of RFC 1939 or RFC 2449 (a bare "+OK" to STAT, a LIST line
// without a size, an invalid unique-id, a line over the length bound).
var ErrMalformed = errors.New("malformed server response")

// Error is a negative ("-ERR") answer from the server, RFC 1939 §3, with the
// extended response code of RFC 2449 §8 when the server sent one.
type Error struct {
	Cmd  string // the command answered, e.g. "PASS", "RETR"
	Code string // response code without brackets, upper case: "IN-USE", "AUTH", "SYS/TEMP", "LOGIN-DELAY"
	Text string // the human-readable rest, control characters replaced
}

// Error renders the answer as the server sent it: "-ERR [CODE] text".
func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("-ERR")
	if e.Code != "" {
		b.WriteString(" [")
		b.WriteString(e.Code)
		b.WriteString("]")
	}
	if e.Text != "" {
		b.WriteString(" ")
		b.WriteString(e.Text)
	}
	return b.String()
}

// Temporary reports whether trying again later may succeed: the mailbox is
// locked by another session (IN-USE, RFC 2449 §8.1.1), logins come too soon
// (LOGIN-DELAY, RFC 2449 §8.1.2) or the server has a temporary system
// problem (SYS/TEMP, RFC 3206 §4).
func (e *Error) Temporary() bool {
	switch e.Code {
	case "IN-USE", "LOGIN-DELAY":
		return true
	}
	return e.Code == "SYS/TEMP" || strings.HasPrefix(e.Code, "SYS/TEMP/")
}

// malformed returns an error wrapping ErrMalformed that quotes (a bounded
// prefix of) the offending line.
func malformed(what, line string) error {
	return fmt.Errorf("%w: %s: %s", ErrMalformed, what, quote(line))
}

// quote renders hostile server text safely for a terminal: Go-quoted and
// bounded to 80 bytes.
func quote(s string) string {
	const max = 80
	if len(s) > max {
		return strconv.Quote(s[:max]) + "..."
	}
	return strconv.Quote(s)
}

// sanitize replaces control characters and invalid UTF-8 in server text so
// an error message cannot drive a terminal.
func sanitize(s string) string {
	clean := true
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c == 0x7f || c >= 0x80 {
			clean = false
			break
		}
	}
	if clean {
		return s
	}
	var b strings.Builder
	for _, r := range s {
		if r == utf8.RuneError || r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			r = utf8.RuneError
		}
		b.WriteRune(r)
	}
	return b.String()
}

// readLine reads one line terminated by LF (CRLF per RFC 1939 §3, a bare LF
// is tolerated) and returns it without its terminator. Lines longer than max
// octets are an error; the connection is then out of step and unusable.
func readLine(br *bufio.Reader, max int) (string, error) {
	var buf []byte
	for {
		chunk, err := br.ReadSlice('\n')
		if len(buf)+len(chunk) > max+2 {
			return "", fmt.Errorf("%w: line longer than %d bytes", ErrMalformed, max)
		}
		switch err {
		case nil:
			var line []byte
			if buf == nil {
				line = chunk
			} else {
				line = append(buf, chunk...)
			}
			line = line[:len(line)-1]
			if n := len(line); n > 0 && line[n-1] == '\r' {
				line = line[:n-1]
			}
			return string(line), nil
		case bufio.ErrBufferFull:
			buf = append(buf, chunk...)
		case io.EOF:
			return "", io.ErrUnexpectedEOF
		default:
			return "", err
		}
	}
}

// parseStatus splits a status line, RFC 1939 §3: "+OK text" gives text;
// "-ERR [CODE] text" gives an *Error (RFC 2449 §8). Anything else is
// malformed. The indicators are matched case-insensitively.
func parseStatus(cmd, line string) (string, error) {
	switch {
	case hasPrefixFold(line, "+OK"):
		rest := line[3:]
		if rest == "" {
			return "", nil
		}
		if rest[0] != ' ' {
			return "", malformed(cmd+" status", line)
		}
		return rest[1:], nil
	case hasPrefixFold(line, "-ERR"):
		rest := line[4:]
		if rest != "" && rest[0] != ' ' {
			return "", malformed(cmd+" status", line)
		}
		code, text := parseCode(strings.TrimLeft(rest, " "))
		return "", &Error{Cmd: cmd, Code: code, Text: sanitize(text)}
	}
	return "", malformed(cmd+" status", line)
}

// parseCode splits an RFC 2449 §8 response code, "[IN-USE] text", from the
// text. A bracket that does not hold a well-formed code is left in the text.
func parseCode(s string) (code, text string) {
	if len(s) < 3 || s[0] != '[' {
		return "", s
	}
	end := strings.IndexByte(s, ']')
	if end < 2 || end > maxCodeLen+1 {
		return "", s
	}
	c := s[1:end]
	for i := 0; i < len(c); i++ {
		ch := c[i]
		ok := ch >= 'A' && ch <= 'Z' || ch >= 'a' && ch <= 'z' || ch >= '0' && ch <= '9' || ch == '-' || ch == '/'
		if !ok {
			return "", s
		}
	}
	return strings.ToUpper(c), strings.TrimLeft(s[end+1:], " ")
}

func hasPrefixFold(s, prefix string) bool {
	return len(s) >= len(prefix) && strings.EqualFold(s[:len(prefix)], prefix)
}

// parseNumber parses a decimal number of at most 18 digits, without sign.
func parseNumber(s string) (int64, bool) {
	if s == "" || len(s) > 18 {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// parseMsgNumber parses a message-number, RFC 1939 §4: 1 or more.
func parseMsgNumber(s string) (int, bool) {
	n, ok := parseNumber(s)
	if !ok || n < 1 || n > 1<<31-1 {
		return 0, false
	}
	return int(n), true
}

// parseStat parses the text of a positive STAT answer, the "drop listing" of
// RFC 1939 §5: count SP size, optionally followed by more text.
func parseStat(text string) (count int, size int64, err error) {
	f := strings.Fields(text)
	if len(f) < 2 {
		return 0, 0, malformed("STAT", "+OK "+text)
	}
	c, ok1 := parseNumber(f[0])
	s, ok2 := parseNumber(f[1])
	if !ok1 || !ok2 || c > 1<<31-1 {
		return 0, 0, malformed("STAT", "+OK "+text)
	}
	return int(c), s, nil
}

// parseListLine parses one line of a LIST answer, a "scan listing" (RFC 1939
// §5): message-number SP size; RFC 1939 allows more text after the size.
func parseListLine(line string) (MsgInfo, error) {
	f := strings.Fields(line)
	if len(f) < 2 {
		return MsgInfo{}, malformed("LIST line", line)
	}
	id, ok1 := parseMsgNumber(f[0])
	size, ok2 := parseNumber(f[1])
	if !ok1 || !ok2 {
		return MsgInfo{}, malformed("LIST line", line)
	}
	return MsgInfo{ID: id, Size: size}, nil
}

// parseUIDLLine parses one line of a UIDL answer, RFC 1939 §7:
// message-number SP unique-id, where the unique-id must satisfy ValidUID.
func parseUIDLLine(line string) (MsgInfo, error) {
	num, uid, ok := strings.Cut(line, " ")
	if !ok {
		return MsgInfo{}, malformed("UIDL line", line)
	}
	id, ok := parseMsgNumber(num)
	if !ok {
		return MsgInfo{}, malformed("UIDL line", line)
	}
	if !ValidUID(uid) {
		return MsgInfo{}, malformed("UIDL unique-id", uid)
	}
	return MsgInfo{ID: id, UID: uid}, nil
}

// ValidUID reports whether s is a unique-id as RFC 1939 §7 defines it: 1 to
// 70 characters in the range 0x21 to 0x7E. Unique-ids that fail this are
// never used: a client that trusted them could mistake one message for
// another and delete mail it never downloaded.
func ValidUID(s string) bool {
	if len(s) < 1 || len(s) > maxUIDLen {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < 0x21 || s[i] > 0x7e {
			return false
		}
	}
	return true
}

// parseCapaLine parses one capability line of a CAPA answer, RFC 2449 §5:
// a tag followed by space-separated arguments.
func parseCapaLine(line string) (tag string, args []string, ok bool) {
	f := strings.Fields(line)
	if len(f) == 0 {
		return "", nil, false
	}
	for i := 0; i < len(f[0]); i++ {
		if c := f[0][i]; c < 0x21 || c > 0x7e {
			return "", nil, false
		}
	}
	return strings.ToUpper(f[0]), f[1:], true
}

// apopTimestamp returns the msg-id style timestamp "<...>" of a greeting,
// RFC 1939 §7 (APOP), or "" when there is none.
func apopTimestamp(greeting string) string {
	start := strings.IndexByte(greeting, '<')
	if start < 0 {
		return ""
	}
	end := strings.IndexByte(greeting[start:], '>')
	if end < 0 {
		return ""
	}
	stamp := greeting[start : start+end+1]
	for i := 0; i < len(stamp); i++ {
		if c := stamp[i]; c < 0x21 || c > 0x7e {
			return ""
		}
	}
	return stamp
}
