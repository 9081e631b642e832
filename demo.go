package main

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-imap/v2"
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
	pop3 *mailtest.POP3Server // the "home" account's POP3 box (implicit TLS)
	imap *mailtest.IMAPServer // the "work" account's IMAP server (STARTTLS)
	user string               // login and password on every demo server
	pass string

	mu        sync.Mutex
	mailboxes map[string]*maildir.Folder // lower-case address → its INBOX
	remote    map[string]func([]byte)    // lower-case address → delivery to its server box
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
	users := map[string]string{s.user: s.pass}
	if s.pop3, err = mailtest.NewPOP3Server(mailtest.POP3Options{Users: users, TLS: ca.ServerTLS(), Pipelining: true}); err != nil {
		s.Close()
		return nil, err
	}
	if s.imap, err = mailtest.NewIMAPServer(mailtest.IMAPOptions{Users: users, STARTTLS: ca.ServerTLS()}); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

// The demo's server accounts and the addresses their mail arrives at.
const (
	demoPOP3Address = "Alice at home <alice.home@example.test>"
	demoIMAPAddress = "Alice at work <alice.work@example.test>"
)

// demoMessage is a short message for the server accounts' first mail.
func demoMessage(from, to, subject, body string, date time.Time) []byte {
	return []byte(fmt.Sprintf("From: %s\r\nTo: %s\r\nSubject: %s\r\nDate: %s\r\nMessage-ID: <%s@demo.example.test>\r\n"+
		"Content-Type: text/plain; charset=utf-8\r\n\r\n%s\r\n",
		from, to, subject, date.Format(time.RFC1123Z), rand.Text(), strings.ReplaceAll(body, "\n", "\r\n")))
}

// serverAccounts are the demo's POP3 account "home" (mail waits on the
// server and is downloaded on start) and IMAP account "work" (folders on
// the server, shown through the local cache), with maildirs in root.
func (s *demoServers) serverAccounts(root string, now time.Time) ([]account.Account, error) {
	home, _ := mailAddress(demoPOP3Address)
	work, _ := mailAddress(demoIMAPAddress)
	for i, subj := range []string{"Your POP3 box, downloaded", "Offline reading works", "Press ctrl+r to check for mail"} {
		s.pop3.Deliver(s.user, demoMessage("Mailbag Demo <demo@example.test>", home, subj,
			"This message waited on the demo POP3 server and is now in your maildir.\nIt stays readable with no network.",
			now.Add(-time.Duration(i+1)*time.Hour)))
	}
	if err := s.imap.AddMailbox(s.user, "Sent", imap.MailboxAttrSent); err != nil {
		return nil, err
	}
	if err := s.imap.AddMailbox(s.user, "Archive", imap.MailboxAttrArchive); err != nil {
		return nil, err
	}
	for i, subj := range []string{"Standup notes", "Quarterly planning", "Welcome to the team"} {
		raw := demoMessage("Erin Ops <erin@example.test>", work, subj,
			"This message lives on the demo IMAP server; mailbag caches what you open.",
			now.Add(-time.Duration(i+2)*time.Hour))
		if _, err := s.imap.AddMessage(s.user, "INBOX", raw); err != nil {
			return nil, err
		}
	}
	server := func(kind, addr, tlsMode string) *account.ServerConfig {
		host, port, _ := net.SplitHostPort(addr)
		p, _ := strconv.Atoi(port)
		return &account.ServerConfig{Kind: kind, Host: host, Port: p, TLS: tlsMode,
			Username: s.user, Password: s.pass, CheckEvery: account.DefaultCheckEvery}
	}
	popCfg := account.AccountConfig{Name: "home", Address: demoPOP3Address, Maildir: filepath.Join(root, "home"),
		POP3: server("pop3", s.pop3.Addr, account.TLSImplicit), SMTP: s.smtpConfig()}
	pop, err := account.NewPOP3(popCfg, &account.POP3Options{TLSConfig: s.ca.ClientTLS()})
	if err != nil {
		return nil, err
	}
	imapCfg := account.AccountConfig{Name: "work", Address: demoIMAPAddress, Maildir: filepath.Join(root, "work"),
		IMAP: server("imap", s.imap.Addr, account.TLSStartTLS), SMTP: s.smtpConfig()}
	im, err := account.NewIMAP(imapCfg, &account.IMAPOptions{TLSConfig: s.ca.ClientTLS()})
	if err != nil {
		pop.Close()
		return nil, err
	}
	opt := s.sendOptions()
	imOpt := *opt
	imOpt.AfterSent = im.AppendSent
	var out []account.Account
	for _, w := range []struct {
		a   account.Account
		cfg account.AccountConfig
		opt *account.SendOptions
	}{{pop, popCfg, opt}, {im, imapCfg, &imOpt}} {
		sa, err := account.WithSMTP(w.a, w.cfg, w.opt)
		if err != nil {
			pop.Close()
			im.Close()
			return nil, err
		}
		out = append(out, sa)
	}
	s.mu.Lock()
	s.remote = map[string]func([]byte){
		home: func(b []byte) { s.pop3.Deliver(s.user, b) },
		work: func(b []byte) { s.imap.AddMessage(s.user, "INBOX", b) }, // best effort, as deliver
	}
	s.mu.Unlock()
	return out, nil
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
		var b bytes.Buffer
		fmt.Fprintf(&b, "Return-Path: <%s>\r\nDelivered-To: %s\r\n", from, rcpt)
		b.Write(data)
		if f, ok := s.mailboxes[strings.ToLower(rcpt)]; ok {
			f.Deliver(&b, "") // best effort, as a demo may be closing
		} else if put, ok := s.remote[strings.ToLower(rcpt)]; ok {
			put(b.Bytes())
		}
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
func (s *demoServers) Close() error {
	var errs []error
	if s.smtp != nil {
		errs = append(errs, s.smtp.Close())
	}
	if s.pop3 != nil {
		errs = append(errs, s.pop3.Close())
	}
	if s.imap != nil {
		errs = append(errs, s.imap.Close())
	}
	return errors.Join(errs...)
}

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
