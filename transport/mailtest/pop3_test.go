package mailtest_test

import (
	"bufio"
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailbag/mailbag/transport/mailtest"
)

// wire is a raw POP3 conversation, to check the server byte for byte
// without the pop3 client in between.
type wire struct {
	t    *testing.T
	conn net.Conn
	r    *bufio.Reader
}

func dialWire(t *testing.T, addr string) *wire {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return &wire{t: t, conn: conn, r: bufio.NewReader(conn)}
}

func (w *wire) send(s string) {
	w.t.Helper()
	if _, err := io.WriteString(w.conn, s); err != nil {
		w.t.Fatalf("write %q: %v", s, err)
	}
}

// expect reads exactly len(want) bytes and compares.
func (w *wire) expect(want string) {
	w.t.Helper()
	got := make([]byte, len(want))
	if _, err := io.ReadFull(w.r, got); err != nil || string(got) != want {
		w.t.Fatalf("read %q, %v; want %q", got, err, want)
	}
}

func (w *wire) line() string {
	w.t.Helper()
	l, err := w.r.ReadString('\n')
	if err != nil {
		w.t.Fatalf("read line: %v", err)
	}
	return l
}

func newPOP3(t *testing.T, opt mailtest.POP3Options) *mailtest.POP3Server {
	t.Helper()
	if opt.Users == nil {
		opt.Users = map[string]string{"alice": "secret"}
	}
	s, err := mailtest.NewPOP3Server(opt)
	if err != nil {
		t.Fatalf("NewPOP3Server: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	if !strings.HasPrefix(s.Addr, "127.0.0.1:") {
		t.Fatalf("Addr = %q, want 127.0.0.1", s.Addr)
	}
	return s
}

func TestPOP3ServerWire(t *testing.T) {
	s := newPOP3(t, mailtest.POP3Options{Pipelining: true})
	s.Deliver("alice", []byte("Subject: x\n\n.b\n..c\n.\nno newline"))
	s.Deliver("alice", []byte("Subject: y\r\n\r\nbody\r\nline 2\r\n"))
	w := dialWire(t, s.Addr)
	if g := w.line(); !strings.HasPrefix(g, "+OK ") || !strings.Contains(g, "<") {
		t.Fatalf("greeting %q lacks +OK or an APOP timestamp", g)
	}
	w.send("CAPA\r\n")
	var caps []string
	for l := w.line(); l != ".\r\n"; l = w.line() {
		caps = append(caps, strings.TrimSpace(l))
	}
	if got := strings.Join(caps, ","); !strings.Contains(got, "PIPELINING") || !strings.Contains(got, "UIDL") || strings.Contains(got, "STLS") {
		t.Fatalf("CAPA = %q", got)
	}
	// Everything pipelined in one write, answered in order (RFC 2449 §6.6).
	w.send("USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nRETR 1\r\nTOP 2 1\r\nDELE 1\r\nRETR 1\r\nLIST 2\r\nRSET\r\nNOOP\r\n")
	w.expect("+OK send PASS\r\n+OK maildrop has 2 messages\r\n")
	w.expect("+OK 2 66\r\n")
	w.expect("+OK listing follows\r\n1 38\r\n2 28\r\n.\r\n")
	w.expect("+OK 38 octets\r\nSubject: x\r\n\r\n..b\r\n...c\r\n..\r\nno newline\r\n.\r\n")
	w.expect("+OK top of message follows\r\nSubject: y\r\n\r\nbody\r\n.\r\n")
	w.expect("+OK message 1 deleted\r\n-ERR message already deleted\r\n+OK 2 28\r\n+OK\r\n+OK\r\n")
	w.send("DELE 2\r\nQUIT\r\n")
	w.expect("+OK message 2 deleted\r\n+OK mailtest POP3 server signing off\r\n")
	if got := s.Messages("alice"); len(got) != 1 || string(got[0]) != "Subject: x\r\n\r\n.b\r\n..c\r\n.\r\nno newline\r\n" {
		t.Fatalf("Messages after QUIT = %q", got)
	}
	if cmds := s.Commands(); len(cmds) != 14 || cmds[0] != "CAPA" || cmds[13] != "QUIT" {
		t.Fatalf("Commands() = %q", cmds)
	}
}

func TestPOP3ServerNoUpdateWithoutQuit(t *testing.T) {
	s := newPOP3(t, mailtest.POP3Options{})
	s.Deliver("alice", []byte("one\n"))
	w := dialWire(t, s.Addr)
	w.line()
	w.send("USER alice\r\nPASS secret\r\nDELE 1\r\n")
	w.expect("+OK send PASS\r\n+OK maildrop has 1 messages\r\n+OK message 1 deleted\r\n")
	w.conn.Close()
	if got := s.Messages("alice"); len(got) != 1 {
		t.Fatalf("Messages after a dropped session = %q, want the message kept", got)
	}
}

func TestPOP3ServerAuthorization(t *testing.T) {
	s := newPOP3(t, mailtest.POP3Options{})
	w := dialWire(t, s.Addr)
	w.line()
	w.send("STAT\r\nPASS secret\r\nUSER alice\r\nPASS wrong\r\nSTLS\r\nAUTH PLAIN\r\n")
	w.expect("-ERR unknown command in AUTHORIZATION state\r\n-ERR [AUTH] invalid user name or password\r\n+OK send PASS\r\n")
	w.expect("-ERR [AUTH] invalid user name or password\r\n-ERR STLS not available\r\n-ERR AUTH not supported\r\n")
	w.send("USER " + strings.Repeat("x", 9000) + "\r\n")
	w.expect("-ERR line too long\r\n")
	if _, err := w.r.ReadByte(); err != io.EOF {
		t.Fatalf("after an overlong line the connection stays open (%v)", err)
	}
}

func TestPOP3ServerMisbehaviour(t *testing.T) {
	s := newPOP3(t, mailtest.POP3Options{Misbehave: mailtest.Misbehaviour{BareStatOK: true, MalformedList: true, InvalidUID: "a b"}})
	s.Deliver("alice", []byte("one\n"))
	w := dialWire(t, s.Addr)
	w.line()
	w.send("USER alice\r\nPASS secret\r\nSTAT\r\nLIST\r\nUIDL\r\n")
	w.expect("+OK send PASS\r\n+OK maildrop has 1 messages\r\n+OK\r\n+OK listing follows\r\n1 5\r\n2\r\n.\r\n+OK listing follows\r\n1 a b\r\n.\r\n")

	s = newPOP3(t, mailtest.POP3Options{Misbehave: mailtest.Misbehaviour{DropAfterBytes: 10}})
	w = dialWire(t, s.Addr)
	if got, err := io.ReadAll(w.r); err != nil || string(got) != "+OK mailte" {
		t.Fatalf("with DropAfterBytes 10 read %q, %v", got, err)
	}

	// A stalled connection ends when the server closes.
	s = newPOP3(t, mailtest.POP3Options{Misbehave: mailtest.Misbehaviour{StallAfterBytes: 3}})
	w = dialWire(t, s.Addr)
	w.expect("+OK")
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if rest, _ := io.ReadAll(w.r); len(rest) != 0 {
		t.Fatalf("stalled server sent %q after its limit", rest)
	}
}

func TestPOP3ServerSTLS(t *testing.T) {
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	s := newPOP3(t, mailtest.POP3Options{STLS: ca.ServerTLS(), Misbehave: mailtest.Misbehaviour{InjectAfterSTLS: "+OK evil\r\n"}})
	w := dialWire(t, s.Addr)
	w.line()
	w.send("STLS\r\n")
	w.expect("+OK begin TLS negotiation\r\n+OK evil\r\n")
	cfg := ca.ClientTLS()
	cfg.ServerName = "127.0.0.1"
	tc := tls.Client(w.conn, cfg)
	if err := tc.Handshake(); err != nil {
		t.Fatalf("handshake after STLS: %v", err)
	}
	r := bufio.NewReader(tc)
	io.WriteString(tc, "CAPA\r\n")
	var caps []string
	for {
		l, err := r.ReadString('\n')
		if err != nil {
			t.Fatalf("CAPA over TLS: %v", err)
		}
		if l == ".\r\n" {
			break
		}
		caps = append(caps, l)
	}
	if strings.Contains(strings.Join(caps, ""), "STLS") {
		t.Fatalf("CAPA after STLS still offers STLS: %q", caps)
	}
}

func TestCA(t *testing.T) {
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	for _, host := range []string{"127.0.0.1", "localhost"} {
		ln, err := tls.Listen("tcp", "127.0.0.1:0", ca.ServerTLS())
		if err != nil {
			t.Fatalf("Listen: %v", err)
		}
		go func() {
			c, err := ln.Accept()
			if err == nil {
				c.(*tls.Conn).Handshake()
				c.Close()
			}
		}()
		cfg := ca.ClientTLS()
		cfg.ServerName = host
		c, err := tls.Dial("tcp", ln.Addr().String(), cfg)
		if err != nil {
			t.Fatalf("handshake as %s: %v", host, err)
		}
		c.Close()
		ln.Close()
	}
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := ca.WritePEM(path); err != nil {
		t.Fatalf("WritePEM: %v", err)
	}
	fi, err := os.Stat(path)
	if err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("WritePEM file mode = %v, %v; want 0600", fi.Mode(), err)
	}
	data, _ := os.ReadFile(path)
	if !strings.HasPrefix(string(data), "-----BEGIN CERTIFICATE-----") || !ca.Cert.IsCA {
		t.Fatalf("WritePEM wrote %.40q", data)
	}
}
