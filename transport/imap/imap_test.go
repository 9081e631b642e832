package imap_test

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	imapt "github.com/mailbag/mailbag/transport/imap"
	"github.com/mailbag/mailbag/transport/mailtest"
)

func ctxT(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	t.Cleanup(cancel)
	return ctx
}

var users = map[string]string{"alice": "pw"}

func TestDialModes(t *testing.T) {
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		srv     mailtest.IMAPOptions
		mode    string
		auth    string
		wantErr error
	}{
		{"implicit TLS", mailtest.IMAPOptions{TLS: ca.ServerTLS()}, imapt.TLSImplicit, "", nil},
		{"STARTTLS", mailtest.IMAPOptions{STARTTLS: ca.ServerTLS()}, imapt.TLSStartTLS, "", nil},
		{"STARTTLS plain auth", mailtest.IMAPOptions{STARTTLS: ca.ServerTLS()}, imapt.TLSStartTLS, imapt.AuthPlain, nil},
		{"none written out", mailtest.IMAPOptions{}, imapt.TLSNone, "", nil},
		{"STARTTLS missing", mailtest.IMAPOptions{}, imapt.TLSStartTLS, "", imapt.ErrNoSTARTTLS},
		{"PREAUTH before STARTTLS", mailtest.IMAPOptions{STARTTLS: ca.ServerTLS(), PreAuth: true}, imapt.TLSStartTLS, "", imapt.ErrPreauthPlain},
		{"bad mode", mailtest.IMAPOptions{}, "maybe", "", imapt.ErrBadTLSMode},
	} {
		t.Run(tc.name, func(t *testing.T) {
			tc.srv.Users = users
			s, err := mailtest.NewIMAPServer(tc.srv)
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			c, err := imapt.Dial(ctxT(t), s.Addr, &imapt.Options{TLS: tc.mode, TLSConfig: ca.ClientTLS(),
				Username: "alice", Password: "pw", Auth: tc.auth})
			if tc.wantErr != nil {
				if !errors.Is(err, tc.wantErr) {
					t.Fatalf("Dial = %v, want %v", err, tc.wantErr)
				}
				if strings.Contains(s.Transcript(), "LOGIN") || strings.Contains(s.Transcript(), "AUTHENTICATE") {
					t.Fatalf("credentials were sent: %q", s.Transcript())
				}
				return
			}
			if err != nil {
				t.Fatalf("Dial: %v", err)
			}
			defer c.Close()
			// Not c.State(): go-imap beta.8 reports a command done before it
			// records the new state. SELECT below needs the login.
			if c.TLS() != (tc.mode != imapt.TLSNone) {
				t.Fatalf("TLS() = %v", c.TLS())
			}
			if err := c.Do(ctxT(t), "select INBOX", func() error { _, err := c.Select("INBOX", nil).Wait(); return err }); err != nil {
				t.Fatalf("select: %v", err)
			}
		})
	}
}

func TestDialWrongPasswordKeepsIMAPError(t *testing.T) {
	s, err := mailtest.NewIMAPServer(mailtest.IMAPOptions{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = imapt.Dial(ctxT(t), s.Addr, &imapt.Options{TLS: imapt.TLSNone, Username: "alice", Password: "wrong"})
	var ie *goimap.Error
	if !errors.As(err, &ie) || !imapt.IsRefusal(err) {
		t.Fatalf("Dial with a wrong password = %v, want an *imap.Error", err)
	}
	if !strings.Contains(err.Error(), "imap "+s.Addr+": login:") {
		t.Fatalf("error %q lacks context", err)
	}
}

func TestUnknownCertificateRefused(t *testing.T) {
	ca, _ := mailtest.NewCA()
	other, _ := mailtest.NewCA()
	s, err := mailtest.NewIMAPServer(mailtest.IMAPOptions{Users: users, TLS: ca.ServerTLS()})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = imapt.Dial(ctxT(t), s.Addr, &imapt.Options{TLS: imapt.TLSImplicit, TLSConfig: other.ClientTLS(), Username: "alice", Password: "pw"})
	if err == nil || !strings.Contains(err.Error(), "unknown authority") {
		t.Fatalf("Dial with an untrusted certificate = %v", err)
	}
}

// A server that greets and then never answers: every command must time out.
func TestCommandDeadline(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Write([]byte("* PREAUTH [CAPABILITY IMAP4rev1] hi\r\n"))
		bufio.NewReader(c).ReadString(0) // read until closed, answer nothing
	}()
	start := time.Now()
	c, err := imapt.Dial(ctxT(t), ln.Addr().String(), &imapt.Options{TLS: imapt.TLSNone, Timeout: 200 * time.Millisecond})
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	err = c.Do(ctxT(t), "noop", func() error { return c.Noop().Wait() })
	if !errors.Is(err, imapt.ErrTimeout) {
		t.Fatalf("Noop on a silent server = %v, want ErrTimeout", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Fatalf("timeout took %v", d)
	}
}

func TestDropAfterBytes(t *testing.T) {
	s, err := mailtest.NewIMAPServer(mailtest.IMAPOptions{Users: users})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	s.SetDropAfter(10)
	_, err = imapt.Dial(ctxT(t), s.Addr, &imapt.Options{TLS: imapt.TLSNone, Username: "alice", Password: "pw"})
	if err == nil {
		t.Fatalf("Dial through a connection cut after 10 bytes succeeded")
	}
	s.SetDropAfter(0)
	c, err := imapt.Dial(ctxT(t), s.Addr, &imapt.Options{TLS: imapt.TLSNone, Username: "alice", Password: "pw"})
	if err != nil {
		t.Fatalf("Dial after SetDropAfter(0): %v", err)
	}
	c.Close()
}
