package pop3

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailbag/mailbag/transport/mailtest"
)

// newServer starts an in-process POP3 server closed at the end of the test.
func newServer(t testing.TB, opt mailtest.POP3Options) *mailtest.POP3Server {
	t.Helper()
	if opt.Users == nil {
		opt.Users = map[string]string{"alice": "secret"}
	}
	s, err := mailtest.NewPOP3Server(opt)
	if err != nil {
		t.Fatalf("NewPOP3Server: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// dial connects to addr; opt nil means a plain connection (tls = "none").
func dial(t testing.TB, addr string, opt *Options) *Client {
	t.Helper()
	if opt == nil {
		opt = &Options{TLS: TLSNone}
	}
	if opt.Timeout == 0 {
		opt.Timeout = 10 * time.Second
	}
	c, err := Dial(context.Background(), addr, opt)
	if err != nil {
		t.Fatalf("Dial(%s): %v", addr, err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

// login dials and logs in as alice.
func login(t testing.TB, addr string, opt *Options) *Client {
	t.Helper()
	c := dial(t, addr, opt)
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatalf("Login: %v", err)
	}
	return c
}

// scripted is a POP3 server on a loopback listener whose answers come from a
// function, for byte-exact wire cases. It greets, then answers each command
// line with respond(line), written verbatim; respond returning "" hangs up.
type scripted struct {
	Addr string

	mu   sync.Mutex
	cmds []string
}

func newScripted(t testing.TB, respond func(line string) string) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	s := &scripted{Addr: ln.Addr().String()}
	var wg sync.WaitGroup
	conns := make(chan net.Conn, 16)
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			conns <- conn
			wg.Add(1)
			go func() {
				defer wg.Done()
				defer conn.Close()
				conn.SetDeadline(time.Now().Add(30 * time.Second))
				br := bufio.NewReader(conn)
				if _, err := conn.Write([]byte("+OK scripted\r\n")); err != nil {
					return
				}
				for {
					line, err := br.ReadString('\n')
					if err != nil {
						return
					}
					line = strings.TrimRight(line, "\r\n")
					s.mu.Lock()
					s.cmds = append(s.cmds, line)
					s.mu.Unlock()
					out := respond(line)
					if out == "" {
						return
					}
					if out == noReply {
						continue
					}
					if _, err := conn.Write([]byte(out)); err != nil {
						return
					}
				}
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		for {
			select {
			case c := <-conns:
				c.Close()
				continue
			default:
			}
			break
		}
		wg.Wait()
	})
	return s
}

func (s *scripted) commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.cmds...)
}

// noReply makes a scripted server read on without answering.
const noReply = "<no reply>"

func equalInfo(a, b []MsgInfo) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// basic answers the commands every scripted test needs: no CAPA, USER/PASS
// accepted, NOOP and QUIT; other commands go to more.
func basic(more func(line string) string) func(string) string {
	return func(line string) string {
		verb, _, _ := strings.Cut(line, " ")
		switch verb {
		case "CAPA":
			return "-ERR no CAPA\r\n"
		case "USER", "PASS", "NOOP":
			return "+OK\r\n"
		case "QUIT":
			return "+OK bye\r\n"
		}
		if out := more(line); out != "" {
			return out
		}
		return "-ERR unknown\r\n"
	}
}
