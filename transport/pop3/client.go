// Package pop3 is a POP3 client: RFC 1939 (the protocol, USER/PASS and APOP),
// RFC 2449 (CAPA, PIPELINING, extended response codes), RFC 2595 §4 (STLS),
// RFC 5034 (SASL AUTH), RFC 3206 (SYS and AUTH response codes) and RFC 8314
// (implicit TLS on port 995).
//
// It is written on net/textproto's dot-reader rather than taken from an
// existing package because message bodies must come back byte-exact:
// dot-stuffing undone, lines of any length intact, and streamed so a large
// message never sits in memory. Every read and write carries a deadline, and
// every server answer is parsed defensively: a malformed answer is an error
// wrapping ErrMalformed, never a panic, and a line outside a message body is
// bounded in length.
//
// A Client is not safe for concurrent use, except that Close may be called
// from another goroutine to abort an operation in progress.
package pop3

import (
	"bufio"
	"context"
	"crypto/md5"
	"crypto/tls"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailbag/mailbag/transport/tlsconf"
)

// Connection security, the values of Options.TLS.
const (
	TLSImplicit = "tls"      // TLS from the first byte, RFC 8314 §3.3 (port 995)
	TLSStart    = "starttls" // plain connection upgraded with STLS, RFC 2595 §4 (port 110)
	TLSNone     = "none"     // no TLS at all; passwords travel in the clear
)

// Defaults for Options.
const (
	DefaultTimeout     = 60 * time.Second
	DefaultDialTimeout = 30 * time.Second
)

// Options configure Dial. A nil *Options means implicit TLS with the system
// roots and the default timeouts.
type Options struct {
	// TLS is "tls" (implicit TLS, the default when empty), "starttls" or
	// "none". With "starttls" a server that does not offer or refuses STLS
	// is refused before any credentials are sent.
	TLS string
	// TLSConfig is used for the handshake; nil means tlsconf.Config(host, "").
	// An empty ServerName is set to the host of the dialled address.
	TLSConfig *tls.Config
	// Timeout bounds every single read and write on the connection (an idle
	// timeout: a large message may take longer as long as bytes keep
	// flowing); zero means DefaultTimeout.
	Timeout time.Duration
	// DialTimeout bounds connecting, the TLS handshake, the greeting and the
	// STLS exchange; zero means DefaultDialTimeout.
	DialTimeout time.Duration
	// Dialer, when set, makes the connection instead of a net.Dialer. The
	// connection must buffer writes like a TCP socket does (net.Pipe does not)
	// for pipelining to work.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
}

// MsgInfo describes one message in the maildrop: its message-number (RFC 1939
// §4, valid for this session only), its size in octets as LIST reports it,
// and its unique-id from UIDL (RFC 1939 §7), stable across sessions.
type MsgInfo struct {
	ID   int
	Size int64
	UID  string
}

// Client is a POP3 session.
type Client struct {
	addr    string
	mode    string
	timeout time.Duration

	dc   *deadlineConn // the TCP connection with per-operation deadlines
	conn interface {   // dc, or a *tls.Conn over it
		Read([]byte) (int, error)
		Write([]byte) (int, error)
		Close() error
	}
	br *bufio.Reader
	bw *bufio.Writer

	isTLS  bool
	stamp  string              // APOP timestamp from the greeting
	capaOK bool                // the server answered CAPA
	caps   map[string][]string // from the last CAPA
	authed bool
	err    error // sticky: the connection is out of step or gone
	buf    []byte
}

// Dial connects to addr ("host:port"), reads the greeting and the
// capabilities (RFC 2449 §5), and secures the connection as opt.TLS says.
//
// With "starttls" the client issues STLS (RFC 2595 §4) and refuses a server
// that does not offer it or answers -ERR, before any credentials are sent.
// Bytes the server sends after its positive STLS answer and before the TLS
// handshake are an error (a command-injection attack, CVE-2020-14954 class),
// and the capabilities are read again over TLS.
//
// ctx bounds Dial only; later operations are bounded by opt.Timeout.
func Dial(ctx context.Context, addr string, opt *Options) (*Client, error) {
	var o Options
	if opt != nil {
		o = *opt
	}
	mode := strings.ToLower(o.TLS)
	if mode == "" {
		mode = TLSImplicit
	}
	if mode != TLSImplicit && mode != TLSStart && mode != TLSNone {
		return nil, fmt.Errorf("pop3 %s: unknown tls mode %q (want \"tls\", \"starttls\" or \"none\")", addr, o.TLS)
	}
	if o.Timeout <= 0 {
		o.Timeout = DefaultTimeout
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = DefaultDialTimeout
	}
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fmt.Errorf("pop3 %s: %w", addr, err)
	}
	var cfg *tls.Config
	if mode != TLSNone {
		if o.TLSConfig != nil {
			cfg = o.TLSConfig.Clone()
			if cfg.ServerName == "" {
				cfg.ServerName = host
			}
		} else if cfg, err = tlsconf.Config(host, ""); err != nil {
			return nil, fmt.Errorf("pop3 %s: %w", addr, err)
		}
	}

	ctx, cancel := context.WithTimeout(ctx, o.DialTimeout)
	defer cancel()
	dial := o.Dialer
	if dial == nil {
		dial = (&net.Dialer{}).DialContext
	}
	raw, err := dial(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("pop3 %s: %w", addr, err)
	}
	c := &Client{
		addr:    addr,
		mode:    mode,
		timeout: o.Timeout,
		dc:      &deadlineConn{Conn: raw, timeout: o.Timeout},
		buf:     make([]byte, 32<<10),
	}
	c.conn = c.dc
	// Until Dial returns, cancelling ctx (or its DialTimeout) interrupts
	// any read or write in progress.
	cancelled := make(chan struct{})
	stop := context.AfterFunc(ctx, func() {
		c.dc.cancel()
		close(cancelled)
	})
	defer func() {
		if !stop() {
			<-cancelled
		}
		c.dc.uncancel()
	}()

	if err := c.open(ctx, mode, cfg); err != nil {
		c.dc.Close()
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return nil, fmt.Errorf("pop3 %s: %w", addr, err)
	}
	return c, nil
}

func (c *Client) open(ctx context.Context, mode string, cfg *tls.Config) error {
	if mode == TLSImplicit {
		tc := tls.Client(c.dc, cfg)
		if err := tc.HandshakeContext(ctx); err != nil {
			return tlsconf.Wrap(err)
		}
		c.conn = tc
		c.isTLS = true
	}
	c.br = bufio.NewReaderSize(c.conn, 64<<10)
	c.bw = bufio.NewWriterSize(c.conn, 4<<10)
	text, err := c.readStatus("greeting")
	if err != nil {
		return fmt.Errorf("greeting: %w", err)
	}
	c.stamp = apopTimestamp(text)
	if err := c.capa(); err != nil {
		return err
	}
	if mode == TLSStart {
		return c.startTLS(ctx, cfg)
	}
	return nil
}

// startTLS upgrades the connection, RFC 2595 §4.
func (c *Client) startTLS(ctx context.Context, cfg *tls.Config) error {
	const refuse = "refusing to continue without TLS (tls = \"none\" allows a plain connection)"
	if c.capaOK {
		if _, ok := c.caps["STLS"]; !ok {
			return fmt.Errorf("server does not offer STLS; %s", refuse)
		}
	}
	if _, err := c.cmd("STLS"); err != nil {
		var e *Error
		if errors.As(err, &e) {
			return fmt.Errorf("server refused STLS (%w); %s", err, refuse)
		}
		return fmt.Errorf("stls: %w", err)
	}
	if n := c.br.Buffered(); n > 0 {
		return fmt.Errorf("stls: %w: server sent %d bytes after its STLS answer, before TLS started (possible command injection)", ErrMalformed, n)
	}
	tc := tls.Client(c.dc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("stls: %w", tlsconf.Wrap(err))
	}
	c.conn = tc
	c.isTLS = true
	c.br.Reset(tc)
	c.bw.Reset(tc)
	// RFC 2595 §4: forget what was learned before TLS.
	c.capaOK, c.caps = false, nil
	return c.capa()
}

// capa issues CAPA, RFC 2449 §5. A server that answers -ERR has no
// capabilities; that is not an error.
func (c *Client) capa() error {
	caps := map[string][]string{}
	if _, err := c.cmd("CAPA"); err != nil {
		var e *Error
		if errors.As(err, &e) {
			c.capaOK, c.caps = false, caps
			return nil
		}
		return fmt.Errorf("capa: %w", err)
	}
	n := 0
	err := c.readMulti(func(line string) error {
		if n++; n > maxCapaLines {
			return fmt.Errorf("%w: more than %d capabilities", ErrMalformed, maxCapaLines)
		}
		tag, args, ok := parseCapaLine(line)
		if !ok {
			return malformed("CAPA line", line)
		}
		caps[tag] = args
		return nil
	})
	if err != nil {
		return fmt.Errorf("capa: %w", err)
	}
	c.capaOK, c.caps = true, caps
	return nil
}

// Caps returns the capabilities from the last CAPA answer (RFC 2449 §5),
// tags in upper case mapped to their arguments; empty when the server does
// not support CAPA. They are read on connecting, again after STLS, and again
// after logging in, as RFC 2449 §5 allows them to change.
func (c *Client) Caps() map[string][]string {
	m := make(map[string][]string, len(c.caps))
	for k, v := range c.caps {
		m[k] = append([]string(nil), v...)
	}
	return m
}

// TLS reports whether the connection is protected by TLS.
func (c *Client) TLS() bool { return c.isTLS }

func (c *Client) pipelining() bool {
	_, ok := c.caps["PIPELINING"]
	return ok
}

// credentialsAllowed refuses to send a password over a connection without
// TLS unless the user chose tls = "none".
func (c *Client) credentialsAllowed() error {
	if !c.isTLS && c.mode != TLSNone {
		return errors.New("refusing to send credentials without TLS")
	}
	if c.authed {
		return errors.New("already logged in")
	}
	return nil
}

// Login authenticates with USER and PASS, RFC 1939 §7. On a connection
// without TLS it refuses unless Options.TLS was "none".
func (c *Client) Login(user, pass string) error {
	if err := c.login(user, pass); err != nil {
		return fmt.Errorf("pop3 %s: login failed: %w", c.addr, err)
	}
	return nil
}

func (c *Client) login(user, pass string) error {
	if err := c.credentialsAllowed(); err != nil {
		return err
	}
	if err := checkArg(user); err != nil {
		return fmt.Errorf("user name: %w", err)
	}
	if err := checkArg(pass); err != nil {
		return fmt.Errorf("password: %w", err)
	}
	if _, err := c.cmd("USER", user); err != nil {
		return err
	}
	if _, err := c.cmd("PASS", pass); err != nil {
		return err
	}
	return c.loggedIn()
}

// LoginAPOP authenticates with APOP, RFC 1939 §7, using the timestamp of the
// server's greeting. APOP keeps the password off the wire but its MD5 digest
// is open to offline guessing, so the same TLS rule as Login applies.
func (c *Client) LoginAPOP(user, pass string) error {
	if err := c.loginAPOP(user, pass); err != nil {
		return fmt.Errorf("pop3 %s: login failed: %w", c.addr, err)
	}
	return nil
}

func (c *Client) loginAPOP(user, pass string) error {
	if err := c.credentialsAllowed(); err != nil {
		return err
	}
	if c.stamp == "" {
		return errors.New("server does not offer APOP (no timestamp in its greeting)")
	}
	if err := checkArg(user); err != nil {
		return fmt.Errorf("user name: %w", err)
	}
	sum := md5.Sum([]byte(c.stamp + pass))
	if _, err := c.cmd("APOP", user, hex.EncodeToString(sum[:])); err != nil {
		return err
	}
	return c.loggedIn()
}

// Auth authenticates with a SASL mechanism, RFC 5034 §4. The initial response
// is sent on the AUTH line when the line stays within the 255 octets RFC
// 5034 §4 allows, and otherwise after the server's first (empty) challenge.
// When CAPA lists SASL mechanisms, a mechanism not among them is refused
// without asking the server. The TLS rule of Login applies.
func (c *Client) Auth(mech sasl.Client) error {
	name, err := c.auth(mech)
	if err != nil {
		if name == "" {
			return fmt.Errorf("pop3 %s: auth failed: %w", c.addr, err)
		}
		return fmt.Errorf("pop3 %s: auth %s failed: %w", c.addr, name, err)
	}
	return nil
}

func (c *Client) auth(mech sasl.Client) (string, error) {
	if err := c.credentialsAllowed(); err != nil {
		return "", err
	}
	if err := c.ready(); err != nil {
		return "", err
	}
	name, ir, err := mech.Start()
	if err != nil {
		return name, err
	}
	name = strings.ToUpper(name)
	if err := checkArg(name); err != nil || name == "" || strings.ContainsRune(name, ' ') {
		return name, fmt.Errorf("invalid mechanism name %q", name)
	}
	if offered, ok := c.caps["SASL"]; ok && !containsFold(offered, name) {
		return name, fmt.Errorf("server does not offer SASL %s (offers %s)", name, strings.Join(offered, " "))
	}
	line := "AUTH " + name
	if ir != nil {
		enc := "="
		if len(ir) > 0 {
			enc = base64.StdEncoding.EncodeToString(ir)
		}
		if len(line)+1+len(enc)+2 <= 255 {
			line += " " + enc
			ir = nil
		}
	}
	if err := c.send(line); err != nil {
		return name, err
	}
	for round := 0; ; round++ {
		resp, err := readLine(c.br, maxLine)
		if err != nil {
			return name, c.fail(err)
		}
		if !strings.HasPrefix(resp, "+ ") && resp != "+" {
			if _, err := c.status("AUTH", resp); err != nil {
				return name, err
			}
			return name, c.loggedIn()
		}
		if round >= 16 {
			return name, c.cancelAuth(fmt.Errorf("%w: too many SASL challenges", ErrMalformed))
		}
		chal, err := base64.StdEncoding.DecodeString(strings.TrimSpace(strings.TrimPrefix(resp, "+")))
		if err != nil {
			return name, c.cancelAuth(malformed("SASL challenge", resp))
		}
		var answer []byte
		if ir != nil {
			answer, ir = ir, nil
		} else if answer, err = mech.Next(chal); err != nil {
			return name, c.cancelAuth(err)
		}
		if err := c.send(base64.StdEncoding.EncodeToString(answer)); err != nil {
			return name, err
		}
	}
}

// cancelAuth aborts a SASL exchange with "*" (RFC 5034 §4) and reads the
// server's -ERR so the session stays in step.
func (c *Client) cancelAuth(cause error) error {
	if err := c.send("*"); err != nil {
		return err
	}
	if _, err := c.readStatus("AUTH"); err != nil {
		var e *Error
		if !errors.As(err, &e) {
			return err
		}
	}
	return cause
}

func (c *Client) loggedIn() error {
	c.authed = true
	if c.capaOK {
		// RFC 2449 §5: capabilities may differ in the TRANSACTION state.
		return c.capa()
	}
	return nil
}

// Noop does nothing but keep the session alive, RFC 1939 §5.
func (c *Client) Noop() error {
	if _, err := c.cmd("NOOP"); err != nil {
		return fmt.Errorf("pop3 %s: noop: %w", c.addr, err)
	}
	return nil
}

// Rset unmarks every message marked as deleted, RFC 1939 §5.
func (c *Client) Rset() error {
	if _, err := c.cmd("RSET"); err != nil {
		return fmt.Errorf("pop3 %s: rset: %w", c.addr, err)
	}
	return nil
}

// Quit ends the session with QUIT, RFC 1939 §6: the server enters the UPDATE
// state and removes the messages marked as deleted. A -ERR answer (*Error)
// means some deletions may not have happened. The connection is closed in
// every case.
func (c *Client) Quit() error {
	_, err := c.cmd("QUIT")
	if c.err == nil {
		c.err = errClosed
	}
	cerr := c.conn.Close()
	if err != nil {
		return fmt.Errorf("pop3 %s: quit: %w", c.addr, err)
	}
	if cerr != nil && !errors.Is(cerr, net.ErrClosed) {
		return fmt.Errorf("pop3 %s: quit: %w", c.addr, cerr)
	}
	return nil
}

// Close drops the connection without QUIT. Per RFC 1939 §6 the server then
// does not enter the UPDATE state: messages marked as deleted stay. Close may
// be called from another goroutine to abort an operation in progress.
func (c *Client) Close() error {
	err := c.dc.Close()
	if err != nil && !errors.Is(err, net.ErrClosed) {
		return fmt.Errorf("pop3 %s: close: %w", c.addr, err)
	}
	return nil
}

var errClosed = errors.New("connection closed")

// ready returns the error that made the connection unusable, if any.
func (c *Client) ready() error {
	if c.err != nil {
		if c.err == errClosed {
			return c.err
		}
		return fmt.Errorf("connection unusable after an earlier error: %w", c.err)
	}
	return nil
}

// fail records err as fatal to the connection (I/O failure, timeout, a
// response out of step) and returns it.
func (c *Client) fail(err error) error {
	if c.err == nil {
		c.err = err
	}
	return err
}

// cmd sends one command and reads its status line.
func (c *Client) cmd(verb string, args ...string) (string, error) {
	if err := c.ready(); err != nil {
		return "", err
	}
	if err := c.write(verb, args...); err != nil {
		return "", err
	}
	if err := c.flush(); err != nil {
		return "", err
	}
	return c.readStatus(verb)
}

// write buffers one command line, RFC 1939 §3.
func (c *Client) write(verb string, args ...string) error {
	for _, a := range args {
		if err := checkArg(a); err != nil {
			return fmt.Errorf("%s argument: %w", verb, err)
		}
	}
	c.bw.WriteString(verb)
	for _, a := range args {
		c.bw.WriteByte(' ')
		c.bw.WriteString(a)
	}
	_, err := c.bw.WriteString("\r\n")
	if err != nil {
		return c.fail(err)
	}
	return nil
}

// send writes and flushes one raw line (SASL responses).
func (c *Client) send(line string) error {
	c.bw.WriteString(line)
	c.bw.WriteString("\r\n")
	return c.flush()
}

func (c *Client) flush() error {
	if err := c.bw.Flush(); err != nil {
		return c.fail(err)
	}
	return nil
}

// readStatus reads a status line; an *Error leaves the session usable, any
// other failure marks it unusable.
func (c *Client) readStatus(cmd string) (string, error) {
	line, err := readLine(c.br, maxLine)
	if err != nil {
		return "", c.fail(err)
	}
	return c.status(cmd, line)
}

func (c *Client) status(cmd, line string) (string, error) {
	text, err := parseStatus(cmd, line)
	if err != nil {
		var e *Error
		if !errors.As(err, &e) {
			c.fail(err)
		}
	}
	return text, err
}

// readMulti reads the lines of a multi-line answer up to the terminating
// ".", undoing byte-stuffing (RFC 1939 §3), and hands each to fn. An error
// from fn is returned after the rest of the answer has been read, so the
// session stays in step.
func (c *Client) readMulti(fn func(line string) error) error {
	var first error
	for n := 0; ; n++ {
		line, err := readLine(c.br, maxLine)
		if err != nil {
			return c.fail(err)
		}
		if line == "." {
			return first
		}
		if n > maxListLines {
			return c.fail(fmt.Errorf("%w: answer longer than %d lines", ErrMalformed, maxListLines))
		}
		if first != nil {
			continue
		}
		if strings.HasPrefix(line, ".") {
			line = line[1:]
		}
		first = fn(line)
	}
}

// checkArg refuses arguments that would end the command line early.
func checkArg(s string) error {
	if strings.ContainsAny(s, "\r\n\x00") {
		return errors.New("contains CR, LF or NUL")
	}
	return nil
}

func containsFold(list []string, s string) bool {
	for _, x := range list {
		if strings.EqualFold(x, s) {
			return true
		}
	}
	return false
}

func itoa(n int) string { return strconv.Itoa(n) }

// deadlineConn sets a fresh deadline before every Read and Write, so every
// network operation is bounded by the timeout. Until Dial returns it can be
// cancelled, which makes any operation in progress fail at once.
type deadlineConn struct {
	net.Conn
	timeout time.Duration

	mu        sync.Mutex
	cancelled bool
}

var errCancelled = errors.New("dial cancelled")

func (d *deadlineConn) cancel() {
	d.mu.Lock()
	d.cancelled = true
	d.Conn.SetDeadline(time.Unix(1, 0))
	d.mu.Unlock()
}

func (d *deadlineConn) uncancel() {
	d.mu.Lock()
	d.cancelled = false
	d.mu.Unlock()
}

func (d *deadlineConn) Read(p []byte) (int, error) {
	d.mu.Lock()
	if d.cancelled {
		d.mu.Unlock()
		return 0, errCancelled
	}
	err := d.Conn.SetReadDeadline(time.Now().Add(d.timeout))
	d.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return d.Conn.Read(p)
}

func (d *deadlineConn) Write(p []byte) (int, error) {
	d.mu.Lock()
	if d.cancelled {
		d.mu.Unlock()
		return 0, errCancelled
	}
	err := d.Conn.SetWriteDeadline(time.Now().Add(d.timeout))
	d.mu.Unlock()
	if err != nil {
		return 0, err
	}
	return d.Conn.Write(p)
}
