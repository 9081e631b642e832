package account

import (
	"bytes"
	"context"
	"net/mail"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/mailtest/real"
	"github.com/mailbag/mailbag/transport/pop3"
)

// TestSendPostfix sends through the real postfix (submission: STARTTLS
// required, then AUTH through dovecot) from one temporary user to
// another, fetches the message from dovecot over POP3 (STLS, with the
// private CA) with our own client, and compares headers and body.
func TestSendPostfix(t *testing.T) {
	s := real.Need(t)
	sender, senderPass := s.TempUser(t)
	rcpt, rcptPass := s.TempUser(t)
	hidden, hiddenPass := s.TempUser(t)
	root := filepath.Join(t.TempDir(), "Mail")
	cfg := AccountConfig{
		Name: "real", Address: "Sender Person <" + s.Address(sender) + ">", Maildir: root,
		SMTP: &ServerConfig{Kind: "smtp", Host: s.Host, Port: s.Submission, TLS: TLSStartTLS,
			Username: sender, Password: senderPass, CAFile: s.CAFile},
	}
	l, err := NewLocal(cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	acct, err := WithSMTP(l, cfg, &SendOptions{Timeout: 20 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()

	caps, err := acct.CheckSMTP(ctx)
	if err != nil || !strings.Contains(strings.Join(caps, " "), "AUTH") {
		t.Fatalf("CheckSMTP = %q, %v", caps, err)
	}

	// Built by compose, as the UI does, with a Bcc added for Send.
	d := &Draft{From: cfg.Address, To: []string{"Récipient <" + s.Address(rcpt) + ">"}, Bcc: []string{s.Address(hidden)},
		Subject: "Grüße über postfix", Body: "Hallo,\n\nein Test mit Umlauten: äöü.\n" + strings.Repeat("long line ", 150) + "\n"}
	var built bytes.Buffer
	if _, err := d.Build(&built, time.Now(), BuildOptions{EightBit: true}); err != nil {
		t.Fatal(err)
	}
	raw := "Bcc: " + s.Address(hidden) + "\r\n" + built.String()
	res, err := acct.Send(ctx, strings.NewReader(raw))
	if err != nil || res.Status != Sent || len(res.Rejected) != 0 {
		t.Fatalf("Send = %+v, %v", res, err)
	}

	for _, u := range []struct{ user, pass string }{{rcpt, rcptPass}, {hidden, hiddenPass}} {
		got := fetchPOP3(ctx, t, s, u.user, u.pass)
		want, err := mail.ReadMessage(strings.NewReader(built.String()))
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range []string{"From", "To", "Subject", "Date", "Message-Id", "Mime-Version", "Content-Type", "Content-Transfer-Encoding"} {
			if g, w := got.Header.Get(k), want.Header.Get(k); g != w {
				t.Errorf("%s: %s = %q, want %q", u.user, k, g, w)
			}
		}
		if got.Header.Get("Bcc") != "" {
			t.Errorf("%s: Bcc reached the recipient: %q", u.user, got.Header.Get("Bcc"))
		}
		gb, wb := readAll(t, got.Body), readAll(t, want.Body)
		if norm(gb) != norm(wb) {
			t.Errorf("%s: body = %q, want %q", u.user, gb, wb)
		}
	}
	dir, err := maildir.Open(root)
	if err != nil {
		t.Fatal(err)
	}
	sent, _ := dir.Folder("Sent")
	if ents, _ := sent.List(); len(ents) != 1 {
		t.Errorf("Sent holds %d messages, want 1", len(ents))
	}
}

func readAll(t *testing.T, r interface{ Read([]byte) (int, error) }) string {
	t.Helper()
	var b bytes.Buffer
	if _, err := b.ReadFrom(r); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

// fetchPOP3 waits for the one message postfix delivers to user (delivery
// is asynchronous: postfix queues, then hands it to dovecot by LMTP) and
// returns it parsed.
func fetchPOP3(ctx context.Context, t *testing.T, s *real.Servers, user, pass string) *mail.Message {
	t.Helper()
	tick := time.NewTicker(100 * time.Millisecond)
	defer tick.Stop()
	for {
		c, err := pop3.Dial(ctx, s.Addr(s.POP3), &pop3.Options{TLS: "starttls", TLSConfig: s.ClientTLS(), Timeout: 10 * time.Second})
		if err != nil {
			t.Fatalf("pop3 dial: %v", err)
		}
		if err := c.Login(user, pass); err != nil {
			c.Close()
			t.Fatalf("pop3 login %s: %v", user, err)
		}
		n, _, err := c.Stat()
		if err != nil {
			c.Close()
			t.Fatalf("pop3 stat: %v", err)
		}
		if n > 0 {
			var b bytes.Buffer
			if _, err := c.Retr(1, &b); err != nil {
				t.Fatalf("pop3 retr: %v", err)
			}
			c.Quit()
			if n != 1 {
				t.Errorf("%s has %d messages, want 1", user, n)
			}
			m, err := mail.ReadMessage(&b)
			if err != nil {
				t.Fatalf("fetched message: %v\n%s", err, b.String())
			}
			return m
		}
		c.Quit()
		select {
		case <-ctx.Done():
			t.Fatalf("%s: no mail arrived: %v", user, ctx.Err())
		case <-tick.C:
		}
	}
}
