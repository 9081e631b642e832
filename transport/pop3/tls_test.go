package pop3

import (
	"context"
	"crypto/tls"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailbag/mailbag/transport/mailtest"
)

func newCA(t *testing.T) *mailtest.CA {
	t.Helper()
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

// sentCredentials reports the first command that carries credentials.
func sentCredentials(cmds []string) string {
	for _, c := range cmds {
		verb, _, _ := strings.Cut(strings.ToUpper(c), " ")
		switch verb {
		case "USER", "PASS", "APOP", "AUTH":
			return c
		}
	}
	return ""
}

func TestImplicitTLS(t *testing.T) {
	ca := newCA(t)
	s := newServer(t, mailtest.POP3Options{TLS: ca.ServerTLS()})
	deliverSamples(s)
	c := login(t, s.Addr, &Options{TLS: TLSImplicit, TLSConfig: ca.ClientTLS()})
	if !c.TLS() {
		t.Fatalf("TLS() = false on an implicit TLS connection")
	}
	if n, _, err := c.Stat(); err != nil || n != 3 {
		t.Fatalf("Stat over TLS = %d, %v", n, err)
	}
	if err := c.Quit(); err != nil {
		t.Fatalf("Quit: %v", err)
	}
}

func TestTLSCertificateProblems(t *testing.T) {
	ca := newCA(t)
	other := newCA(t)
	now := time.Now()
	wrongHost, err := ca.Issue([]string{"mail.example.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	expired, err := ca.Issue([]string{"127.0.0.1"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour))
	if err != nil {
		t.Fatalf("Issue: %v", err)
	}
	withCert := func(c tls.Certificate) *tls.Config {
		return &tls.Config{Certificates: []tls.Certificate{c}}
	}
	tests := []struct {
		name   string
		server *tls.Config
		client *tls.Config
		want   string
	}{
		{"unknown authority", ca.ServerTLS(), other.ClientTLS(), "unknown authority"},
		{"system roots only", ca.ServerTLS(), nil, "unknown authority"},
		{"hostname mismatch", withCert(wrongHost), ca.ClientTLS(), "hostname mismatch"},
		{"expired", withCert(expired), ca.ClientTLS(), "expired"},
	}
	for _, tt := range tests {
		for _, mode := range []string{TLSImplicit, TLSStart} {
			opt := mailtest.POP3Options{TLS: tt.server}
			if mode == TLSStart {
				opt = mailtest.POP3Options{STLS: tt.server}
			}
			s := newServer(t, opt)
			_, err := Dial(context.Background(), s.Addr, &Options{TLS: mode, TLSConfig: tt.client, Timeout: 5 * time.Second})
			var verr *tls.CertificateVerificationError
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.As(err, &verr) {
				t.Fatalf("Dial(%s, %s) = %v, want an error naming %q", tt.name, mode, err, tt.want)
			}
			if cmd := sentCredentials(s.Commands()); cmd != "" {
				t.Fatalf("Dial(%s, %s) sent %q", tt.name, mode, cmd)
			}
		}
	}
}

func TestSTLS(t *testing.T) {
	ca := newCA(t)
	s := newServer(t, mailtest.POP3Options{STLS: ca.ServerTLS(), Pipelining: true})
	deliverSamples(s)
	c := dial(t, s.Addr, &Options{TLS: TLSStart, TLSConfig: ca.ClientTLS()})
	if !c.TLS() {
		t.Fatalf("TLS() = false after STLS")
	}
	if _, ok := c.Caps()["STLS"]; ok {
		t.Fatalf("Caps() after STLS still lists STLS: capabilities not read again")
	}
	if err := c.Login("alice", "secret"); err != nil {
		t.Fatalf("Login after STLS: %v", err)
	}
	if n, _, err := c.Stat(); err != nil || n != 3 {
		t.Fatalf("Stat after STLS = %d, %v", n, err)
	}
	cmds := s.Commands()
	if len(cmds) < 3 || cmds[0] != "CAPA" || cmds[1] != "STLS" || cmds[2] != "CAPA" {
		t.Fatalf("commands = %q, want CAPA, STLS, CAPA first", cmds)
	}
}

// TestSTLSRefused: with tls = "starttls", a server that does not offer STLS,
// refuses it, or lacks CAPA and refuses it, never sees credentials.
func TestSTLSRefused(t *testing.T) {
	ca := newCA(t)
	tests := []struct {
		name string
		opt  mailtest.POP3Options
		want string
	}{
		{"not offered", mailtest.POP3Options{}, "does not offer STLS"},
		{"refused", mailtest.POP3Options{STLS: ca.ServerTLS(), Misbehave: mailtest.Misbehaviour{RefuseSTLS: true}}, "refused STLS"},
		{"no CAPA", mailtest.POP3Options{NoCAPA: true}, "refused STLS"},
	}
	for _, tt := range tests {
		s := newServer(t, tt.opt)
		c, err := Dial(context.Background(), s.Addr, &Options{TLS: TLSStart, TLSConfig: ca.ClientTLS()})
		if err == nil {
			c.Login("alice", "secret")
			c.Close()
			t.Fatalf("Dial(%s) succeeded", tt.name)
		}
		if !strings.Contains(err.Error(), tt.want) || !strings.Contains(err.Error(), "without TLS") {
			t.Fatalf("Dial(%s) = %v, want %q and \"without TLS\"", tt.name, err, tt.want)
		}
		if cmd := sentCredentials(s.Commands()); cmd != "" {
			t.Fatalf("Dial(%s) sent %q before TLS", tt.name, cmd)
		}
	}
}

// TestSTLSInjection: bytes after the STLS answer, before the handshake, are
// an attack (CVE-2020-14954 class) and end the session.
func TestSTLSInjection(t *testing.T) {
	ca := newCA(t)
	s := newServer(t, mailtest.POP3Options{
		STLS:      ca.ServerTLS(),
		Misbehave: mailtest.Misbehaviour{InjectAfterSTLS: "+OK injected\r\n"},
	})
	_, err := Dial(context.Background(), s.Addr, &Options{TLS: TLSStart, TLSConfig: ca.ClientTLS()})
	if err == nil || !strings.Contains(err.Error(), "injection") || !errors.Is(err, ErrMalformed) {
		t.Fatalf("Dial with bytes injected after STLS = %v, want an injection error", err)
	}
	if cmd := sentCredentials(s.Commands()); cmd != "" {
		t.Fatalf("sent %q after an injected STLS answer", cmd)
	}
}

// TestPlainTLSMismatch: implicit TLS against a plain server names the
// likely mistake.
func TestPlainTLSMismatch(t *testing.T) {
	s := newServer(t, mailtest.POP3Options{})
	_, err := Dial(context.Background(), s.Addr, &Options{TLS: TLSImplicit, Timeout: 2 * time.Second})
	if err == nil || !strings.Contains(err.Error(), "did not answer with TLS") {
		t.Fatalf("implicit TLS to a plain server = %v", err)
	}
}
