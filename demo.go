package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	gosmtp "github.com/emersion/go-smtp"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/sample"
	"github.com/mailbag/mailbag/transport/mailtest"
)

// demoDomain is the only domain the demo delivers to; mail to any other
// is refused, so the demo never reaches for the network.
const demoDomain = "example.test"

// demoServers are the in-process servers behind `mailbag demo`, all on
// 127.0.0.1 with certificates from a CA made for the run: an SMTP
// submission server (STARTTLS and AUTH required, as a real one) that
// delivers mail for the demo addresses into their maildirs. The POP3 and
// IMAP demo servers join here.
type demoServers struct {
	ca   *mailtest.CA
	smtp *mailtest.SMTPServer
	user string // SMTP login and password
	pass string

	mu        sync.Mutex
	mailboxes map[string]*maildir.Folder // lower-case address → its INBOX
}

// startDemoServers starts the demo's servers. Close stops them.
func startDemoServers() (*demoServers, error) {
	ca, err := mailtest.NewCA()
	if err != nil {
		return nil, err
	}
	s := &demoServers{ca: ca, user: "demo", pass: rand.Text(), mailboxes: map[string]*maildir.Folder{}}
	s.smtp, err = mailtest.NewSMTPServer(mailtest.SMTPOptions{
		STARTTLS:   ca.ServerTLS(),
		RequireTLS: true,
		Users:      map[string]string{s.user: s.pass},
		RejectRcpt: func(addr string) *gosmtp.SMTPError {
			at := strings.LastIndexByte(addr, '@')
			if at < 0 || !strings.EqualFold(addr[at+1:], demoDomain) {
				return &gosmtp.SMTPError{Code: 550, EnhancedCode: gosmtp.EnhancedCode{5, 1, 2},
					Message: "the demo is offline: it delivers only to @" + demoDomain + " addresses"}
			}
			return nil
		},
		MaxSize: 25 << 20,
		Deliver: s.deliver,
	})
	if err != nil {
		return nil, err
	}
	return s, nil
}

// addMailbox makes mail for addr arrive in f.
func (s *demoServers) addMailbox(addr string, f *maildir.Folder) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.mailboxes[strings.ToLower(addr)] = f
}

// deliver is the SMTP server's hook: each recipient with a mailbox gets
// the message with Return-Path and Delivered-To on top (RFC 5321
// §4.4), as an MDA writes them. Others at the demo domain are accepted
// and dropped, as mail to another host would leave.
func (s *demoServers) deliver(from string, to []string, data []byte) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, rcpt := range to {
		f, ok := s.mailboxes[strings.ToLower(rcpt)]
		if !ok {
			continue
		}
		var b bytes.Buffer
		fmt.Fprintf(&b, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", from, rcpt)
		b.Write(data)
		f.Deliver(&b, "") // best effort, as a demo may be closing
	}
}

// smtpConfig is the [smtp] table of a demo account.
func (s *demoServers) smtpConfig() *account.ServerConfig {
	host, port, _ := net.SplitHostPort(s.smtp.Addr)
	p, _ := strconv.Atoi(port)
	return &account.ServerConfig{Kind: "smtp", Host: host, Port: p, TLS: account.TLSStartTLS,
		Username: s.user, Password: s.pass}
}

// sendOptions trust the demo CA.
func (s *demoServers) sendOptions() *account.SendOptions {
	return &account.SendOptions{TLSConfig: s.ca.ClientTLS(), Timeout: 10 * time.Second}
}

// Close stops the servers.
func (s *demoServers) Close() error { return s.smtp.Close() }

// demoAccount fills a maildir at root with the sample mail and opens it
// as the account "demo", sending through srv; mail to its address
// arrives in its INBOX.
func demoAccount(root string, now time.Time, srv *demoServers) (account.Account, error) {
	d, err := maildir.Open(root)
	if err != nil {
		return nil, err
	}
	if err := sample.Demo(d, now); err != nil {
		return nil, err
	}
	inbox, err := d.Folder(maildir.Inbox)
	if err != nil {
		return nil, err
	}
	cfg := account.AccountConfig{
		Name:    "demo",
		Address: sample.User,
		Maildir: root,
		SMTP:    srv.smtpConfig(),
	}
	l, err := account.NewLocal(cfg)
	if err != nil {
		return nil, err
	}
	s, err := account.WithSMTP(l, cfg, srv.sendOptions())
	if err != nil {
		l.Close()
		return nil, err
	}
	a, err := mailAddress(sample.User)
	if err != nil {
		l.Close()
		return nil, err
	}
	srv.addMailbox(a, inbox)
	return s, nil
}

// mailAddress is the addr-spec of "Name <addr>".
func mailAddress(s string) (string, error) {
	i, j := strings.LastIndexByte(s, '<'), strings.LastIndexByte(s, '>')
	if i >= 0 && j > i {
		return s[i+1 : j], nil
	}
	if strings.Contains(s, "@") {
		return strings.TrimSpace(s), nil
	}
	return "", fmt.Errorf("no address in %q", s)
}
