package real_test

import (
	"context"
	"crypto/tls"
	"log"
	"testing"

	"github.com/mailbag/mailbag/transport/mailtest/real"
)

// A test that needs a real POP3 server: a user of its own, one message in its
// INBOX, then a TLS connection that trusts the private CA.
func ExampleServers_Deliver() {
	var t testing.TB // the test's *testing.T
	s := real.Need(t)
	user, password := s.TempUser(t)
	msg := []byte("From: a@example.test\r\nSubject: hi\r\n\r\nhello\r\n")
	if err := s.Deliver(context.Background(), user, msg); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	conn, err := tls.Dial("tcp", s.Addr(s.POP3S), s.ClientTLS())
	if err != nil {
		log.Fatal(err)
	}
	defer conn.Close()
	_ = password // USER user, PASS password, STAT → +OK 1 …
}
