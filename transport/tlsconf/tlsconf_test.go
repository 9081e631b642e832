package tlsconf_test

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailbag/mailbag/transport/mailtest"
	"github.com/mailbag/mailbag/transport/tlsconf"
)

// handshake runs one TLS handshake against a loopback server presenting
// server (or, when server is nil, speaking plain text) and returns the
// client's error.
func handshake(t *testing.T, server *tls.Config, client *tls.Config) error {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("Listen: %v", err)
	}
	defer ln.Close()
	done := make(chan struct{})
	go func() {
		defer close(done)
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetDeadline(time.Now().Add(5 * time.Second))
		if server == nil {
			io.WriteString(conn, "+OK plain POP3 server\r\n")
			io.Copy(io.Discard, conn)
			return
		}
		tls.Server(conn, server).Handshake()
	}()
	conn, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatalf("Dial: %v", err)
	}
	conn.SetDeadline(time.Now().Add(5 * time.Second))
	err = tls.Client(conn, client).Handshake()
	conn.Close()
	<-done
	return err
}

func newCA(t *testing.T) *mailtest.CA {
	t.Helper()
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatalf("NewCA: %v", err)
	}
	return ca
}

func TestConfig(t *testing.T) {
	tests := []struct {
		host, want string
	}{
		{"pop.example.test", "pop.example.test"},
		{"pop.example.test:995", "pop.example.test"},
		{"127.0.0.1", "127.0.0.1"},
		{"[::1]:995", "::1"},
	}
	for _, tt := range tests {
		c, err := tlsconf.Config(tt.host, "")
		if err != nil || c.ServerName != tt.want || c.MinVersion != tls.VersionTLS12 || c.RootCAs == nil {
			t.Fatalf("Config(%q) = %+v, %v; want ServerName %q, TLS 1.2, roots", tt.host, c, err, tt.want)
		}
	}
	if _, err := tlsconf.Config("", ""); err == nil {
		t.Fatalf("Config(\"\") succeeded")
	}

	dir := t.TempDir()
	if _, err := tlsconf.Config("x", filepath.Join(dir, "missing.pem")); err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("Config with a missing ca_file = %v", err)
	}
	junk := filepath.Join(dir, "junk.pem")
	if err := os.WriteFile(junk, []byte("not a certificate"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := tlsconf.Config("x", junk); err == nil || !strings.Contains(err.Error(), "no PEM certificate") {
		t.Fatalf("Config with a junk ca_file = %v", err)
	}

	// The CA file is trusted in a real handshake; without it the same
	// server is refused.
	ca := newCA(t)
	pem := filepath.Join(dir, "ca.pem")
	if err := ca.WritePEM(pem); err != nil {
		t.Fatalf("WritePEM: %v", err)
	}
	withCA, err := tlsconf.Config("127.0.0.1", pem)
	if err != nil {
		t.Fatalf("Config with ca_file: %v", err)
	}
	if err := handshake(t, ca.ServerTLS(), withCA); err != nil {
		t.Fatalf("handshake trusting the CA file: %v", err)
	}
	without, _ := tlsconf.Config("127.0.0.1", "")
	if err := handshake(t, ca.ServerTLS(), without); err == nil {
		t.Fatalf("handshake without the CA file succeeded")
	}
}

func TestDescribe(t *testing.T) {
	ca := newCA(t)
	other := newCA(t)
	now := time.Now()
	issue := func(hosts []string, from, to time.Time) *tls.Config {
		c, err := ca.Issue(hosts, from, to)
		if err != nil {
			t.Fatalf("Issue: %v", err)
		}
		return &tls.Config{Certificates: []tls.Certificate{c}}
	}
	client := func(ca *mailtest.CA) *tls.Config {
		c := ca.ClientTLS()
		c.ServerName = "127.0.0.1"
		return c
	}
	tests := []struct {
		name   string
		server *tls.Config
		client *tls.Config
		want   []string
	}{
		{"unknown authority", ca.ServerTLS(), client(other), []string{"unknown authority", "mailtest CA", "ca_file"}},
		{"hostname mismatch", issue([]string{"mail.example.test"}, now.Add(-time.Hour), now.Add(time.Hour)), client(ca),
			[]string{"hostname mismatch", `"mail.example.test"`, `not "127.0.0.1"`}},
		{"expired", issue([]string{"127.0.0.1"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour)), client(ca), []string{"certificate expired on"}},
		{"not yet valid", issue([]string{"127.0.0.1"}, now.Add(24*time.Hour), now.Add(48*time.Hour)), client(ca), []string{"not yet valid"}},
		{"plain server", nil, client(ca), []string{"did not answer with TLS"}},
	}
	for _, tt := range tests {
		err := handshake(t, tt.server, tt.client)
		if err == nil {
			t.Fatalf("%s: handshake succeeded", tt.name)
		}
		got := tlsconf.Describe(err)
		for _, w := range tt.want {
			if !strings.Contains(got, w) {
				t.Fatalf("Describe(%s: %v) = %q, want it to contain %q", tt.name, err, got, w)
			}
		}
		wrapped := tlsconf.Wrap(err)
		if wrapped.Error() != "tls: "+got || !errors.Is(wrapped, err) {
			t.Fatalf("Wrap(%v) = %q, does not unwrap to the original", err, wrapped)
		}
	}

	if got := tlsconf.Describe(nil); got != "" {
		t.Fatalf("Describe(nil) = %q", got)
	}
	if tlsconf.Wrap(nil) != nil {
		t.Fatalf("Wrap(nil) != nil")
	}
	other2 := errors.New("connection reset")
	if got := tlsconf.Describe(other2); got != "connection reset" {
		t.Fatalf("Describe(%v) = %q", other2, got)
	}
	var ua x509.UnknownAuthorityError
	if got := tlsconf.Describe(ua); !strings.Contains(got, "unknown authority") {
		t.Fatalf("Describe(UnknownAuthorityError{}) = %q", got)
	}
}
