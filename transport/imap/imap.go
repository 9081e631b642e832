// Package imap dials IMAP servers for mailbag over go-imap/v2's imapclient:
// the TLS policy (implicit TLS, STARTTLS or, only when written out, none),
// login only after TLS, and a deadline on every command.
//
// The protocol is IMAP4rev1 (RFC 3501) with the extensions the client
// library speaks; STARTTLS follows RFC 3501 §6.2.1 and RFC 8314, and a
// PREAUTH greeting on a connection that must be upgraded is refused
// (RFC 3501 §7.1.4, CVE-2020-14093). SASL mechanisms are PLAIN (RFC 4616),
// XOAUTH2 and OAUTHBEARER (RFC 7628).
//
// It knows nothing of accounts or folders; the account layer drives it.
package imap

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"mime"
	"net"
	"strings"
	"sync"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"
	"github.com/emersion/go-message/charset"
	"github.com/emersion/go-sasl"

	"github.com/mailbag/mailbag/transport/auth"
	"github.com/mailbag/mailbag/transport/tlsconf"
)

// TLS modes.
const (
	TLSImplicit = "tls"      // TLS from the first byte (port 993, RFC 8314 §3.3)
	TLSStartTLS = "starttls" // STARTTLS upgrade (RFC 3501 §6.2.1), port 143
	TLSNone     = "none"     // plain text; only when the user wrote it
)

// SASL mechanisms (lower case, as in the config).
const (
	AuthLogin       = "login"       // the LOGIN command (RFC 3501 §6.2.3)
	AuthPlain       = "plain"       // AUTHENTICATE PLAIN (RFC 4616)
	AuthXOAUTH2     = "xoauth2"     // Google/Microsoft XOAUTH2
	AuthOAuthBearer = "oauthbearer" // RFC 7628
)

// DefaultTimeout bounds each command when Options.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// maxGreeting bounds the greeting line read before imapclient takes over.
const maxGreeting = 8 << 10

// Errors of the TLS policy. They are wrapped with the address.
var (
	// ErrNoSTARTTLS: tls = "starttls" but the server does not offer it.
	ErrNoSTARTTLS = errors.New("server does not offer STARTTLS (tls = \"starttls\" requires it)")
	// ErrPreauthPlain: a PREAUTH greeting on a connection that must be
	// upgraded to TLS (CVE-2020-14093); the session would run in clear.
	ErrPreauthPlain = errors.New("server sent PREAUTH before TLS; refused (CVE-2020-14093)")
	// ErrTimeout: a command did not complete within its deadline; the
	// connection was closed.
	ErrTimeout = errors.New("timed out")
	// ErrBadTLSMode: Options.TLS is not one of the three modes.
	ErrBadTLSMode = errors.New("tls must be \"tls\", \"starttls\" or \"none\"")
)

// Options configures Dial. A nil *Options is not allowed: TLS must be
// chosen.
type Options struct {
	TLS       string      // TLSImplicit, TLSStartTLS or TLSNone
	TLSConfig *tls.Config // nil: system roots, ServerName from addr
	// Timeout bounds dialing and each command; 0 means DefaultTimeout.
	Timeout time.Duration
	// Username and Password log in; an empty Username skips login (for
	// Check-style probes and PREAUTH servers).
	Username, Password string
	// Auth is "" (LOGIN, or AUTHENTICATE PLAIN when the server disables
	// LOGIN), or one of the Auth constants.
	Auth string
	// Token, when set, gives the bearer token for XOAUTH2 and OAUTHBEARER
	// (from password_cmd); otherwise Password is used.
	Token func(ctx context.Context) (string, error)
	// Unilateral receives untagged EXISTS, EXPUNGE and FETCH data (IDLE,
	// NOOP). Its functions run on the reader goroutine and must not block.
	Unilateral *imapclient.UnilateralDataHandler
	// Debug, when set, receives the raw protocol (including credentials).
	Debug io.Writer
}

// Client is a logged-in IMAP connection. Use Do to run commands with a
// deadline; the embedded *imapclient.Client gives the commands.
type Client struct {
	*imapclient.Client
	addr    string
	timeout time.Duration
	tls     bool

	closeOnce sync.Once
}

// Addr returns the address dialed.
func (c *Client) Addr() string { return c.addr }

// TLS reports whether the connection is encrypted.
func (c *Client) TLS() bool { return c.tls }

// Timeout returns the per-command deadline.
func (c *Client) Timeout() time.Duration { return c.timeout }

// Close closes the connection at once (no LOGOUT).
func (c *Client) Close() error {
	var err error
	c.closeOnce.Do(func() { err = c.Client.Close() })
	return err
}

// Logout sends LOGOUT with a short deadline and closes the connection.
func (c *Client) Logout(ctx context.Context) error {
	err := c.Do(ctx, "logout", func() error { return c.Client.Logout().Wait() })
	c.Close()
	return err
}

// Do runs fn, which sends commands and waits for them, within the
// per-command deadline (or ctx's, if sooner). When the deadline passes the
// connection is closed, which makes fn return; Do then returns an error
// wrapping ErrTimeout (or ctx.Err()). Errors are wrapped as
// "imap ADDR: WHAT: …" with the server's *imap.Error reachable through
// errors.As.
func (c *Client) Do(ctx context.Context, what string, fn func() error) error {
	return c.DoTimeout(ctx, c.timeout, what, fn)
}

// DoTimeout is Do with an explicit deadline (for long transfers).
func (c *Client) DoTimeout(ctx context.Context, timeout time.Duration, what string, fn func() error) error {
	done := make(chan error, 1)
	go func() { done <- fn() }()
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case err := <-done:
		if err != nil {
			return fmt.Errorf("imap %s: %s: %w", c.addr, what, err)
		}
		return nil
	case <-t.C:
		c.Close()
		<-done
		return fmt.Errorf("imap %s: %s: %w after %v", c.addr, what, ErrTimeout, timeout)
	case <-ctx.Done():
		c.Close()
		<-done
		return fmt.Errorf("imap %s: %s: %w", c.addr, what, ctx.Err())
	}
}

// Dial connects to addr, applies the TLS policy and logs in. The whole of
// it is bounded by opt.Timeout per step and by ctx.
func Dial(ctx context.Context, addr string, opt *Options) (*Client, error) {
	if opt == nil {
		return nil, fmt.Errorf("imap %s: %w", addr, ErrBadTLSMode)
	}
	timeout := opt.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	mode := strings.ToLower(opt.TLS)
	switch mode {
	case TLSImplicit, TLSStartTLS, TLSNone:
	default:
		return nil, fmt.Errorf("imap %s: %w (got %q)", addr, ErrBadTLSMode, opt.TLS)
	}
	tlsConfig := opt.TLSConfig
	if mode != TLSNone {
		if tlsConfig == nil {
			var err error
			if tlsConfig, err = tlsconf.Config(addr, ""); err != nil {
				return nil, fmt.Errorf("imap %s: %w", addr, err)
			}
		} else if tlsConfig.ServerName == "" {
			tlsConfig = tlsConfig.Clone()
			host, _, err := net.SplitHostPort(addr)
			if err != nil {
				host = addr
			}
			tlsConfig.ServerName = host
		}
	}
	dctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	d := &net.Dialer{}
	raw, err := d.DialContext(dctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("imap %s: %w", addr, err)
	}
	// Until imapclient runs, deadlines are ours: the handshake and the
	// greeting must arrive in time, and ctx cancels them.
	stop := context.AfterFunc(dctx, func() { raw.SetDeadline(time.Now()) })
	fail := func(err error) (*Client, error) {
		stop()
		raw.Close()
		if ctx.Err() != nil {
			return nil, fmt.Errorf("imap %s: %w", addr, ctx.Err())
		}
		return nil, fmt.Errorf("imap %s: %w", addr, err)
	}
	raw.SetDeadline(time.Now().Add(timeout))
	var conn net.Conn = raw
	if mode == TLSImplicit {
		tc := tls.Client(raw, tlsConfig)
		if err := tc.HandshakeContext(dctx); err != nil {
			return fail(tlsconf.Wrap(err))
		}
		conn = tc
	}
	// Read the greeting ourselves so that PREAUTH on a connection that is
	// still plain is refused before anything is sent, then hand it to
	// imapclient with the bytes read put back.
	br := bufio.NewReaderSize(conn, 4096)
	greeting, err := readLine(br, maxGreeting)
	if err != nil {
		return fail(fmt.Errorf("greeting: %w", err))
	}
	upper := strings.ToUpper(greeting)
	if strings.HasPrefix(upper, "* BYE") {
		return fail(fmt.Errorf("greeting: server said %s", strings.TrimSpace(greeting[5:])))
	}
	preauth := strings.HasPrefix(upper, "* PREAUTH")
	if mode == TLSStartTLS {
		if preauth {
			return fail(ErrPreauthPlain)
		}
		if i := strings.Index(upper, "[CAPABILITY "); i >= 0 {
			caps := upper[i:]
			if j := strings.IndexByte(caps, ']'); j >= 0 {
				caps = caps[:j]
			}
			if !hasWord(caps, "STARTTLS") {
				return fail(ErrNoSTARTTLS)
			}
		}
	}
	stop()
	raw.SetDeadline(time.Time{})
	pc := &prefixConn{Conn: conn, r: io.MultiReader(strings.NewReader(greeting), br)}
	copt := &imapclient.Options{
		TLSConfig:             tlsConfig,
		DebugWriter:           opt.Debug,
		UnilateralDataHandler: opt.Unilateral,
		WordDecoder:           &mime.WordDecoder{CharsetReader: charset.Reader},
	}
	c := &Client{addr: addr, timeout: timeout, tls: mode != TLSNone}
	if mode == TLSStartTLS {
		done := make(chan error, 1)
		var ic *imapclient.Client
		go func() {
			var err error
			ic, err = imapclient.NewStartTLS(pc, copt)
			done <- err
		}()
		t := time.NewTimer(timeout)
		select {
		case err = <-done:
		case <-t.C:
			raw.Close()
			<-done
			err = ErrTimeout
		case <-ctx.Done():
			raw.Close()
			<-done
			err = ctx.Err()
		}
		t.Stop()
		if err != nil {
			raw.Close()
			var ie *goimap.Error
			if errors.As(err, &ie) {
				return nil, fmt.Errorf("imap %s: starttls: %w: %w", addr, ErrNoSTARTTLS, err)
			}
			return nil, fmt.Errorf("imap %s: starttls: %w", addr, tlsconf.Wrap(err))
		}
		c.Client = ic
	} else {
		c.Client = imapclient.New(pc, copt)
		if err := c.Do(ctx, "greeting", c.Client.WaitGreeting); err != nil {
			c.Close()
			return nil, err
		}
	}
	if err := c.login(ctx, opt); err != nil {
		c.Close()
		return nil, err
	}
	return c, nil
}

// login authenticates unless the server greeted with PREAUTH (allowed only
// on an encrypted connection or with tls = "none").
func (c *Client) login(ctx context.Context, opt *Options) error {
	if c.State() == goimap.ConnStateAuthenticated || opt.Username == "" {
		return nil
	}
	var caps goimap.CapSet
	if err := c.Do(ctx, "capability", func() error {
		var err error
		caps, err = c.Capability().Wait()
		return err
	}); err != nil {
		return err
	}
	secret := func() (string, error) {
		if opt.Token != nil {
			return opt.Token(ctx)
		}
		return opt.Password, nil
	}
	mech := strings.ToLower(opt.Auth)
	if mech == "" {
		mech = AuthLogin
		if caps.Has(goimap.CapLoginDisabled) {
			mech = AuthPlain
		}
	}
	var sc sasl.Client
	switch mech {
	case AuthLogin:
		if caps.Has(goimap.CapLoginDisabled) {
			return fmt.Errorf("imap %s: login: server disables LOGIN (LOGINDISABLED)", c.addr)
		}
		return c.Do(ctx, "login", func() error { return c.Client.Login(opt.Username, opt.Password).Wait() })
	case AuthPlain:
		sc = sasl.NewPlainClient("", opt.Username, opt.Password)
	case AuthXOAUTH2:
		tok, err := secret()
		if err != nil {
			return fmt.Errorf("imap %s: token: %w", c.addr, err)
		}
		sc = auth.XOAuth2(opt.Username, tok)
	case AuthOAuthBearer:
		tok, err := secret()
		if err != nil {
			return fmt.Errorf("imap %s: token: %w", c.addr, err)
		}
		sc = sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: opt.Username, Token: tok})
	default:
		return fmt.Errorf("imap %s: unsupported auth %q (plain, login, xoauth2, oauthbearer)", c.addr, opt.Auth)
	}
	mech = strings.ToUpper(mech)
	if !caps.Has(goimap.Cap("AUTH=" + mech)) {
		return fmt.Errorf("imap %s: authenticate: server does not offer AUTH=%s", c.addr, mech)
	}
	return c.Do(ctx, "authenticate "+mech, func() error { return c.Authenticate(sc) })
}

// prefixConn reads from r (the greeting put back, then the buffered rest)
// and writes to the connection.
type prefixConn struct {
	net.Conn
	r io.Reader
}

func (p *prefixConn) Read(b []byte) (int, error) { return p.r.Read(b) }

// readLine reads one CRLF-terminated line of at most max bytes.
func readLine(br *bufio.Reader, max int) (string, error) {
	var b []byte
	for {
		frag, err := br.ReadSlice('\n')
		b = append(b, frag...)
		if len(b) > max {
			return "", fmt.Errorf("line longer than %d bytes", max)
		}
		if err == nil {
			return string(b), nil
		}
		if err != bufio.ErrBufferFull {
			return "", err
		}
	}
}

func hasWord(s, w string) bool {
	for _, f := range strings.Fields(s) {
		if f == w {
			return true
		}
	}
	return false
}

// IsRefusal reports whether err is the server's NO or BAD answer to a
// command (as opposed to a network failure): retrying will not help.
func IsRefusal(err error) bool {
	var ie *goimap.Error
	return errors.As(err, &ie) && (ie.Type == goimap.StatusResponseTypeNo || ie.Type == goimap.StatusResponseTypeBad)
}
