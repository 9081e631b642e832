package mailtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// SMTPOptions configures NewSMTPServer. The zero value is a plain-text
// server that accepts any message without AUTH.
type SMTPOptions struct {
	// TLS, when set, makes the listener implicit TLS (port 465 style).
	TLS *tls.Config
	// STARTTLS, when set, offers STARTTLS (RFC 3207). Exclusive with TLS.
	STARTTLS *tls.Config
	// RequireTLS refuses MAIL with 530 5.7.0 until TLS is up.
	RequireTLS bool
	// Users (name → password), when not empty, requires AUTH before MAIL
	// (RFC 4954). AUTH is offered only over TLS unless neither TLS nor
	// STARTTLS is set.
	Users map[string]string
	// Mechanisms offered with Users; default PLAIN and LOGIN. CRAM-MD5
	// (RFC 2195) is also known.
	Mechanisms []string
	// RejectRcpt, when it returns non-nil, refuses RCPT TO with that reply.
	RejectRcpt func(addr string) *smtp.SMTPError
	// FailData, when it returns non-nil, answers the final dot with it.
	FailData func() *smtp.SMTPError
	// DropMidData closes the connection after reading the first bytes of
	// the message body, without answering.
	DropMidData bool
	// StallData reads the body and then never answers (until Close).
	StallData bool
	// MaxSize is announced as SIZE (RFC 1870) and enforced; 0 unlimited.
	MaxSize int64
	// SMTPUTF8 announces SMTPUTF8 (RFC 6531).
	SMTPUTF8 bool
	// Deliver, when set, receives each accepted message (also kept for
	// Received). It runs on the connection's goroutine.
	Deliver func(from string, to []string, data []byte)
}

// Envelope is one message the SMTP server accepted.
type Envelope struct {
	From string
	To   []string
	Data []byte
	// Body is the MAIL BODY= parameter ("8BITMIME", "7BIT" or "").
	Body string
	// UTF8 says MAIL carried SMTPUTF8.
	UTF8 bool
	// TLS says the message came over TLS; User is who authenticated.
	TLS  bool
	User string
}

// SMTPServer is an in-process SMTP submission server on 127.0.0.1.
type SMTPServer struct {
	// Addr is "127.0.0.1:PORT".
	Addr string

	opt    SMTPOptions
	srv    *smtp.Server
	served chan struct{}
	done   chan struct{}
	once   sync.Once

	mu         sync.Mutex
	received   []Envelope
	transcript bytes.Buffer
}

// smtpMaxTranscript bounds what Transcript keeps.
const smtpMaxTranscript = 1 << 20

// NewSMTPServer starts a server on 127.0.0.1:0. Close stops it.
func NewSMTPServer(opt SMTPOptions) (*SMTPServer, error) {
	if opt.TLS != nil && opt.STARTTLS != nil {
		return nil, errors.New("mailtest: smtp: TLS and STARTTLS are exclusive")
	}
	if len(opt.Mechanisms) == 0 {
		opt.Mechanisms = []string{sasl.Plain, sasl.Login}
	}
	s := &SMTPServer{opt: opt, served: make(chan struct{}), done: make(chan struct{})}
	srv := smtp.NewServer(smtp.BackendFunc(s.newSession))
	srv.Domain = "localhost"
	srv.MaxMessageBytes = opt.MaxSize
	srv.MaxRecipients = 100
	srv.ReadTimeout = 30 * time.Second
	srv.WriteTimeout = 30 * time.Second
	srv.EnableSMTPUTF8 = opt.SMTPUTF8
	srv.TLSConfig = opt.STARTTLS
	srv.AllowInsecureAuth = opt.TLS == nil && opt.STARTTLS == nil
	srv.Debug = smtpTranscriptWriter{s}
	srv.ErrorLog = smtpDiscardLogger{}
	s.srv = srv

	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mailtest: smtp: %w", err)
	}
	if opt.TLS != nil {
		ln = tls.NewListener(ln, opt.TLS)
	}
	s.Addr = ln.Addr().String()
	go func() {
		defer close(s.served)
		srv.Serve(ln)
	}()
	return s, nil
}

// Close stops the server and every connection, and waits for it.
func (s *SMTPServer) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.srv.Close()
		<-s.served
	})
	if errors.Is(err, smtp.ErrServerClosed) {
		err = nil
	}
	return err
}

// Received returns copies of the accepted messages, oldest first.
func (s *SMTPServer) Received() []Envelope {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Envelope, len(s.received))
	for i, e := range s.received {
		e.To = append([]string(nil), e.To...)
		e.Data = append([]byte(nil), e.Data...)
		out[i] = e
	}
	return out
}

// Transcript returns what was said on all connections (both directions,
// after TLS decryption, the first MiB), for tests that check what a
// client did or did not send.
func (s *SMTPServer) Transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.transcript.String()
}

type smtpTranscriptWriter struct{ s *SMTPServer }

func (w smtpTranscriptWriter) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if room := smtpMaxTranscript - w.s.transcript.Len(); room > 0 {
		w.s.transcript.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

type smtpDiscardLogger struct{}

func (smtpDiscardLogger) Printf(string, ...interface{}) {}
func (smtpDiscardLogger) Println(...interface{})        {}

func (s *SMTPServer) newSession(c *smtp.Conn) (smtp.Session, error) {
	return &smtpSession{s: s, conn: c}, nil
}

// smtpSession is one connection's state (go-smtp calls it from that
// connection's goroutine only).
type smtpSession struct {
	s    *SMTPServer
	conn *smtp.Conn
	user string
	env  Envelope
}

var (
	smtpErrAuthRequired = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Authentication required"}
	smtpErrTLSRequired  = &smtp.SMTPError{Code: 530, EnhancedCode: smtp.EnhancedCode{5, 7, 0}, Message: "Must issue a STARTTLS command first"}
)

func (ss *smtpSession) isTLS() bool {
	_, ok := ss.conn.TLSConnectionState()
	return ok
}

// AuthMechanisms implements smtp.AuthSession: none without Users.
func (ss *smtpSession) AuthMechanisms() []string {
	if len(ss.s.opt.Users) == 0 {
		return nil
	}
	return ss.s.opt.Mechanisms
}

// Auth implements smtp.AuthSession (RFC 4954).
func (ss *smtpSession) Auth(mech string) (sasl.Server, error) {
	offered := false
	for _, m := range ss.AuthMechanisms() {
		offered = offered || strings.EqualFold(m, mech)
	}
	if !offered {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	check := func(user, pass string) error {
		want, ok := ss.s.opt.Users[user]
		if !ok || !hmac.Equal([]byte(want), []byte(pass)) {
			return smtp.ErrAuthFailed
		}
		ss.user = user
		return nil
	}
	switch strings.ToUpper(mech) {
	case sasl.Plain:
		return sasl.NewPlainServer(func(identity, user, pass string) error {
			if identity != "" && identity != user {
				return smtp.ErrAuthFailed
			}
			return check(user, pass)
		}), nil
	case sasl.Login:
		return &smtpLoginServer{check: check}, nil
	case "CRAM-MD5":
		return &smtpCramServer{users: ss.s.opt.Users, set: func(u string) { ss.user = u }}, nil
	}
	return nil, smtp.ErrAuthUnknownMechanism
}

func (ss *smtpSession) Mail(from string, opts *smtp.MailOptions) error {
	if ss.s.opt.RequireTLS && !ss.isTLS() {
		return smtpErrTLSRequired
	}
	if len(ss.s.opt.Users) > 0 && ss.user == "" {
		return smtpErrAuthRequired
	}
	ss.env = Envelope{From: from, TLS: ss.isTLS(), User: ss.user}
	if opts != nil {
		ss.env.Body = string(opts.Body)
		ss.env.UTF8 = opts.UTF8
	}
	return nil
}

func (ss *smtpSession) Rcpt(to string, opts *smtp.RcptOptions) error {
	if f := ss.s.opt.RejectRcpt; f != nil {
		if err := f(to); err != nil {
			return err
		}
	}
	ss.env.To = append(ss.env.To, to)
	return nil
}

func (ss *smtpSession) Data(r io.Reader) error {
	if ss.s.opt.DropMidData {
		io.ReadFull(r, make([]byte, 64))
		ss.conn.Close()
		return errors.New("mailtest: dropped mid-DATA")
	}
	data, err := io.ReadAll(r)
	if err != nil {
		return err // ErrDataTooLarge and friends carry their reply
	}
	if ss.s.opt.StallData {
		<-ss.s.done
		return errors.New("mailtest: stalled")
	}
	if f := ss.s.opt.FailData; f != nil {
		if err := f(); err != nil {
			return err
		}
	}
	env := ss.env
	env.Data = data
	ss.s.mu.Lock()
	ss.s.received = append(ss.s.received, env)
	ss.s.mu.Unlock()
	if ss.s.opt.Deliver != nil {
		ss.s.opt.Deliver(env.From, append([]string(nil), env.To...), append([]byte(nil), data...))
	}
	return nil
}

func (ss *smtpSession) Reset()        { ss.env = Envelope{} }
func (ss *smtpSession) Logout() error { return nil }

// smtpLoginServer is the server side of the LOGIN mechanism
// (draft-murchison-sasl-login): "Username:", "Password:".
type smtpLoginServer struct {
	check func(user, pass string) error
	user  string
	step  int
}

func (l *smtpLoginServer) Next(resp []byte) ([]byte, bool, error) {
	switch l.step {
	case 0:
		l.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		l.user = string(resp)
		l.step = 2
		return []byte("Password:"), false, nil
	case 2:
		l.step = 3
		return nil, true, l.check(l.user, string(resp))
	}
	return nil, false, errors.New("unexpected response")
}

// smtpCramServer is the server side of CRAM-MD5 (RFC 2195).
type smtpCramServer struct {
	users     map[string]string
	set       func(user string)
	challenge []byte
}

func (c *smtpCramServer) Next(resp []byte) ([]byte, bool, error) {
	if c.challenge == nil {
		if resp != nil {
			return nil, false, errors.New("unexpected initial response")
		}
		c.challenge = []byte(fmt.Sprintf("<%s.%d@localhost>", rand.Text(), time.Now().Unix()))
		return c.challenge, false, nil
	}
	user, digest, ok := strings.Cut(string(resp), " ")
	pass, known := c.users[user]
	if !ok || !known {
		return nil, false, smtp.ErrAuthFailed
	}
	h := hmac.New(md5.New, []byte(pass))
	h.Write(c.challenge)
	if !hmac.Equal([]byte(hex.EncodeToString(h.Sum(nil))), []byte(digest)) {
		return nil, false, smtp.ErrAuthFailed
	}
	c.set(user)
	return nil, true, nil
}
