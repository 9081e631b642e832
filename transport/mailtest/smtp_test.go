package mailtest_test

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailbag/mailbag/transport/mailtest"
)

func TestSMTPServer(t *testing.T) {
	ca, err := mailtest.NewCA()
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var delivered []string
	s, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{
		STARTTLS:   ca.ServerTLS(),
		RequireTLS: true,
		Users:      map[string]string{"u": "p"},
		Deliver: func(from string, to []string, data []byte) {
			mu.Lock()
			defer mu.Unlock()
			delivered = append(delivered, from+">"+strings.Join(to, ",")+":"+string(data))
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()

	// Plain text: no AUTH offered, MAIL refused.
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	if ok, _ := c.Extension("AUTH"); ok {
		t.Fatalf("AUTH offered before TLS")
	}
	var se *smtp.SMTPError
	if err := c.Mail("a@example.test", nil); !errors.As(err, &se) || se.Code != 530 {
		t.Fatalf("MAIL before TLS = %v, want 530", err)
	}
	c.Close()

	for _, a := range []sasl.Client{sasl.NewPlainClient("", "u", "p"), sasl.NewLoginClient("u", "p")} {
		cfg := ca.ClientTLS()
		cfg.ServerName = "127.0.0.1"
		c, err := smtp.DialStartTLS(s.Addr, cfg)
		if err != nil {
			t.Fatal(err)
		}
		if err := c.Mail("a@example.test", nil); !errors.As(err, &se) || se.Code != 530 {
			t.Fatalf("MAIL before AUTH = %v, want 530", err)
		}
		if err := c.Auth(sasl.NewPlainClient("", "u", "wrong")); !errors.As(err, &se) || se.Code != 535 {
			t.Fatalf("AUTH with a wrong password = %v, want 535", err)
		}
		if err := c.Auth(a); err != nil {
			t.Fatalf("AUTH = %v", err)
		}
		if err := c.SendMail("a@example.test", []string{"b@example.test"}, strings.NewReader("Subject: x\r\n\r\nhi\r\n")); err != nil {
			t.Fatalf("SendMail = %v", err)
		}
		c.Quit()
	}
	got := s.Received()
	if len(got) != 2 || !got[0].TLS || got[0].User != "u" || string(got[1].Data) != "Subject: x\r\n\r\nhi\r\n" {
		t.Fatalf("Received() = %+v", got)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(delivered) != 2 || delivered[0] != "a@example.test>b@example.test:Subject: x\r\n\r\nhi\r\n" {
		t.Fatalf("Deliver got %q", delivered)
	}
}

// Close ends a connection stalled in DATA.
func TestSMTPServerCloseStalled(t *testing.T) {
	s, err := mailtest.NewSMTPServer(mailtest.SMTPOptions{StallData: true})
	if err != nil {
		t.Fatal(err)
	}
	c, err := smtp.Dial(s.Addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	if err := c.Mail("a@example.test", nil); err != nil {
		t.Fatal(err)
	}
	if err := c.Rcpt("b@example.test", nil); err != nil {
		t.Fatal(err)
	}
	w, err := c.Data()
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("hi\r\n"))
	done := make(chan error, 1)
	go func() { done <- w.Close() }()
	if err := s.Close(); err != nil {
		t.Fatalf("Close = %v", err)
	}
	if err := <-done; err == nil {
		t.Fatalf("stalled DATA answered after Close")
	}
}
