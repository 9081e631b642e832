package pop3

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"net"
	"net/textproto"
	"strings"
	"testing"
	"time"
)

// FuzzResponse feeds arbitrary server bytes to the status, STAT, LIST, UIDL
// and CAPA parsers and to the multi-line readers. They must never panic, and
// whatever they accept must be well formed.
func FuzzResponse(f *testing.F) {
	for _, seed := range []string{
		"+OK", "+OK 2 320", "-ERR [IN-USE] locked", "-ERR [SYS/TEMP", "+OK <1896.697170952@dbc.mailcom.example>",
		"1 120\r\n2 200\r\n.\r\n", "1 abc\r\n2 def\r\n.\r\n", "1\r\n.\r\n", "1 " + strings.Repeat("a", 71) + "\r\n.\r\n",
		"..1 2\r\n.\r\n", "SASL PLAIN LOGIN\r\nPIPELINING\r\n.\r\n", "\x00\xff\r\n", "-ERR [] x", "+OK 99999999999999999999 1",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, data string) {
		line, _, _ := strings.Cut(data, "\n")
		if text, err := parseStatus("X", line); err == nil {
			if c, s, err := parseStat(text); err == nil && (c < 0 || s < 0) {
				t.Fatalf("parseStat(%q) = %d, %d", text, c, s)
			}
		} else if e, ok := err.(*Error); ok {
			_ = e.Error()
			_ = e.Temporary()
		}
		if m, err := parseListLine(line); err == nil && (m.ID < 1 || m.Size < 0) {
			t.Fatalf("parseListLine(%q) = %+v", line, m)
		}
		if m, err := parseUIDLLine(line); err == nil && (m.ID < 1 || !ValidUID(m.UID)) {
			t.Fatalf("parseUIDLLine(%q) = %+v", line, m)
		}
		parseCapaLine(line)
		if s := apopTimestamp(line); s != "" && (s[0] != '<' || s[len(s)-1] != '>') {
			t.Fatalf("apopTimestamp(%q) = %q", line, s)
		}

		c := &Client{br: bufio.NewReaderSize(strings.NewReader(data), 16)}
		if list, err := c.readList(); err == nil {
			for _, m := range list {
				if m.ID < 1 || m.Size < 0 {
					t.Fatalf("readList(%q) = %+v", data, list)
				}
			}
		}
		c = &Client{br: bufio.NewReaderSize(strings.NewReader(data), 16)}
		if list, err := c.readUIDL(); err == nil {
			for _, m := range list {
				if !ValidUID(m.UID) {
					t.Fatalf("readUIDL(%q) = %+v", data, list)
				}
			}
		}
	})
}

// scriptConn is a net.Conn that plays a server's bytes and discards what the
// client writes.
type scriptConn struct{ r io.Reader }

func (s *scriptConn) Read(p []byte) (int, error)  { return s.r.Read(p) }
func (s *scriptConn) Write(p []byte) (int, error) { return len(p), nil }
func (s *scriptConn) Close() error                { return nil }
func (s *scriptConn) LocalAddr() net.Addr         { return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1)} }
func (s *scriptConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 110}
}
func (s *scriptConn) SetDeadline(time.Time) error      { return nil }
func (s *scriptConn) SetReadDeadline(time.Time) error  { return nil }
func (s *scriptConn) SetWriteDeadline(time.Time) error { return nil }

// scriptedClient logs in over a scriptConn whose server side is the
// greeting, a CAPA refusal, USER and PASS answers, and then rest.
func scriptedClient(t *testing.T, rest []byte) *Client {
	t.Helper()
	wire := io.MultiReader(strings.NewReader("+OK hi\r\n-ERR\r\n+OK\r\n+OK\r\n"), bytes.NewReader(rest))
	c, err := Dial(context.Background(), "127.0.0.1:110", &Options{TLS: TLSNone, Dialer: func(context.Context, string, string) (net.Conn, error) {
		return &scriptConn{r: wire}, nil
	}})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatalf("Login: %v", err)
	}
	return c
}

// stuff encodes an LF-terminated body as a RETR answer body, RFC 1939 §3.
func stuff(body []byte) []byte {
	var out bytes.Buffer
	for _, line := range bytes.SplitAfter(body, []byte("\n")) {
		if len(line) == 0 {
			continue
		}
		if line[0] == '.' {
			out.WriteByte('.')
		}
		out.Write(bytes.TrimSuffix(line, []byte("\n")))
		out.WriteString("\r\n")
	}
	out.WriteString(".\r\n")
	return out.Bytes()
}

// FuzzRetr round-trips arbitrary bodies through byte-stuffing and the client
// (what comes out must be what went in, and the session must stay in step),
// then feeds the raw bytes as a RETR answer, which must not panic.
func FuzzRetr(f *testing.F) {
	for _, seed := range []string{
		"..dotted\n", ".\n", "..\n", "a\nb\n", strings.Repeat("x", 10000) + "\n", "\n\n", ".\r\n", "+OK\r\n.\r\n", "\x00\r\r\n",
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		body := bytes.ReplaceAll(data, []byte("\r"), nil)
		if len(body) > 0 && body[len(body)-1] != '\n' {
			body = append(body, '\n')
		}
		wire := append([]byte("+OK\r\n"), stuff(body)...)
		wire = append(wire, "+OK\r\n"...) // NOOP
		c := scriptedClient(t, wire)
		var out bytes.Buffer
		n, err := c.Retr(1, &out)
		if err != nil || !bytes.Equal(out.Bytes(), body) || n != int64(len(body)) {
			t.Fatalf("Retr round trip of %q = %q (%d), %v", body, out.Bytes(), n, err)
		}
		if err := c.Noop(); err != nil {
			t.Fatalf("Noop after Retr of %q: %v", body, err)
		}

		c = scriptedClient(t, append([]byte("+OK\r\n"), data...))
		out.Reset()
		n, _ = c.Retr(1, &out)
		if n != int64(out.Len()) {
			t.Fatalf("Retr of raw %q reported %d bytes, wrote %d", data, n, out.Len())
		}
	})
}

// FuzzDotReader checks that dotReader behaves exactly like net/textproto's
// DotReader: same bytes, same error, same position afterwards, whatever the
// buffer and read sizes.
func FuzzDotReader(f *testing.F) {
	for _, seed := range []string{
		"a\r\n.\r\nrest", "..dotted\r\n.\r\n", ".\r\r\n.\r\n", "a\rb\r\n.\n", "x\r", "", ".x\r\n.\r\n", "\r\r\n\n.\r\n",
	} {
		f.Add([]byte(seed), uint8(16), uint8(7))
	}
	f.Fuzz(func(t *testing.T, data []byte, bufSize, readSize uint8) {
		size := int(bufSize)%64 + 16
		chunk := int(readSize)%50 + 1
		read := func(r io.Reader) ([]byte, error) {
			var out []byte
			p := make([]byte, chunk)
			for {
				n, err := r.Read(p)
				out = append(out, p[:n]...)
				if err != nil {
					return out, err
				}
			}
		}
		wantBR := bufio.NewReaderSize(bytes.NewReader(data), size)
		want, wantErr := read(textproto.NewReader(wantBR).DotReader())
		wantRest, _ := io.ReadAll(wantBR)
		gotBR := bufio.NewReaderSize(bytes.NewReader(data), size)
		got, gotErr := read(&dotReader{br: gotBR})
		gotRest, _ := io.ReadAll(gotBR)
		if !bytes.Equal(got, want) || gotErr != wantErr || !bytes.Equal(gotRest, wantRest) {
			t.Fatalf("dotReader(%q) = %q, %v, rest %q; textproto gives %q, %v, rest %q", data, got, gotErr, gotRest, want, wantErr, wantRest)
		}
	})
}
