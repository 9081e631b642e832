// Package smtp submits mail to a message submission agent: RFC 6409
// submission over implicit TLS (port 465, RFC 8314 §3.3) or STARTTLS
// (port 587, RFC 3207), with SMTP AUTH (RFC 4954), the SIZE (RFC 1870),
// 8BITMIME (RFC 6152) and SMTPUTF8 (RFC 6531) extensions, on top of the
// github.com/emersion/go-smtp client.
//
// Policy: no command after EHLO, and in particular no AUTH, is ever sent
// before TLS is up unless the caller asked for TLS "none". Every network
// step has a deadline (Options.Timeout), and a cancelled context aborts
// the connection. Server replies stay reachable as *smtp.SMTPError through
// errors.As; IsTemporary separates what is worth retrying (4xx, network)
// from what is not (5xx, policy).
package smtp

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/mailbag/mailbag/transport/tlsconf"
)

// TLS modes (DESIGN.md §3).
const (
	TLSImplicit = "tls"      // TLS from the first byte, port 465 (RFC 8314 §3.3)
	TLSStartTLS = "starttls" // STARTTLS upgrade, port 587 (RFC 3207); refused if not offered
	TLSNone     = "none"     // plain text; only when written out
)

// DefaultTimeout bounds every command when Options.Timeout is zero.
const DefaultTimeout = 60 * time.Second

// Options configures Dial. A nil *Options means implicit TLS, no AUTH and
// the defaults below.
type Options struct {
	// TLS is TLSImplicit (the default when empty), TLSStartTLS or TLSNone.
	TLS string
	// TLSConfig verifies the server; nil means tlsconf.Config(host, "").
	// ServerName defaults to the host of addr.
	TLSConfig *tls.Config
	// Timeout bounds each command and reply (RFC 5321 §4.5.3.2 suggests
	// minutes; a submission server answers in seconds); default 60 s.
	// The message body is bounded by progress: each write of it must
	// finish within Timeout. The reply to the final dot may take
	// 2×Timeout (the server may scan the message).
	Timeout time.Duration
	// LocalName is the EHLO name after TLS; default "localhost". Before a
	// STARTTLS upgrade the client always says "localhost".
	LocalName string
	// Auth, when set, is the SASL client used (RFC 4954). When nil and
	// Username is set, Mechanism (or the first of PLAIN, LOGIN, CRAM-MD5
	// the server offers) is used with Username and Password. Neither set
	// means no AUTH.
	Auth sasl.Client
	// Username and Password (an OAuth token for XOAUTH2 and OAUTHBEARER).
	Username, Password string
	// Mechanism: "", "plain", "login", "cram-md5", "xoauth2",
	// "oauthbearer" (case-insensitive).
	Mechanism string
}

func (o *Options) withDefaults() Options {
	var v Options
	if o != nil {
		v = *o
	}
	if v.TLS == "" {
		v.TLS = TLSImplicit
	}
	if v.Timeout <= 0 {
		v.Timeout = DefaultTimeout
	}
	if v.LocalName == "" {
		v.LocalName = "localhost"
	}
	return v
}

// Client is one authenticated submission session. It is not safe for
// concurrent use. After an error caused by the network or by a cancelled
// context the connection is gone: Close it and Dial again.
type Client struct {
	c    *smtp.Client
	conn *boundedConn
	addr string
	opt  Options
	tls  bool
}

// Dial connects to addr (host:port), sets up TLS as opt.TLS says, says
// EHLO and authenticates. Errors read "smtp ADDR: STEP: cause".
func Dial(ctx context.Context, addr string, opt *Options) (*Client, error) {
	o := opt.withDefaults()
	fail := func(step string, err error) error { return wrap(ctx, addr, step, err) }
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, fail("address", err)
	}
	var cfg *tls.Config
	switch o.TLS {
	case TLSImplicit, TLSStartTLS:
		cfg = o.TLSConfig
		if cfg == nil {
			if cfg, err = tlsconf.Config(host, ""); err != nil {
				return nil, fail("tls config", err)
			}
		}
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
	case TLSNone:
	default:
		return nil, fail("options", fmt.Errorf("tls = %q: want %q, %q or %q", o.TLS, TLSImplicit, TLSStartTLS, TLSNone))
	}

	d := net.Dialer{Timeout: o.Timeout}
	raw, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fail("connect", err)
	}
	// A cancelled context closes the connection, which ends any read or
	// write in progress; go-smtp knows nothing of contexts.
	stop := context.AfterFunc(ctx, func() { raw.Close() })
	defer stop()

	cl := &Client{addr: addr, opt: o}
	ok := false
	defer func() {
		if !ok {
			raw.Close()
		}
	}()

	switch o.TLS {
	case TLSImplicit:
		tc := tls.Client(raw, cfg)
		hctx, cancel := context.WithTimeout(ctx, o.Timeout)
		err := tc.HandshakeContext(hctx)
		cancel()
		if err != nil {
			return nil, fail("tls handshake", tlsError(err))
		}
		cl.conn = &boundedConn{Conn: tc, raw: raw, limit: o.Timeout}
		cl.c = smtp.NewClient(cl.conn)
		cl.tls = true
		cl.setTimeouts()
		if err := cl.c.Hello(o.LocalName); err != nil {
			return nil, fail("ehlo", err)
		}
	case TLSStartTLS:
		// go-smtp reads the greeting, says EHLO, checks for STARTTLS and
		// upgrades; boundedConn caps its (5 minute) default timeouts.
		cl.conn = &boundedConn{Conn: raw, raw: raw, limit: o.Timeout}
		c, err := smtp.NewClientStartTLS(cl.conn, cfg)
		if err != nil {
			var se *smtp.SMTPError
			if !errors.As(err, &se) && strings.Contains(err.Error(), "doesn't support STARTTLS") {
				err = ErrNoSTARTTLS // go-smtp v0.25.1 wording, pinned by a test
			}
			return nil, fail("starttls", err)
		}
		cl.c = c
		cl.setTimeouts()
		// The handshake runs with the first command after STARTTLS.
		if err := cl.c.Hello(o.LocalName); err != nil {
			return nil, fail("starttls", tlsError(err))
		}
		st, isTLS := cl.c.TLSConnectionState()
		if !isTLS || !st.HandshakeComplete {
			return nil, fail("starttls", errors.New("no TLS session after STARTTLS"))
		}
		cl.tls = true
	case TLSNone:
		cl.conn = &boundedConn{Conn: raw, raw: raw, limit: o.Timeout}
		cl.c = smtp.NewClient(cl.conn)
		cl.setTimeouts()
		if err := cl.c.Hello(o.LocalName); err != nil {
			return nil, fail("ehlo", err)
		}
	}

	if o.Auth != nil || o.Username != "" {
		// Only reached with TLS up, or with tls = "none" written out.
		if !cl.tls && o.TLS != TLSNone {
			return nil, fail("auth", errors.New("refusing AUTH without TLS"))
		}
		has, offered := cl.c.Extension("AUTH")
		if !has {
			err := ErrNoAuth
			if !cl.tls {
				err = fmt.Errorf("%w (servers often offer AUTH only after TLS)", ErrNoAuth)
			}
			return nil, fail("auth", err)
		}
		a, step := o.Auth, "auth"
		if a == nil {
			var mech string
			if a, mech, err = chooseAuth(offered, o.Mechanism, o.Username, o.Password); err != nil {
				return nil, fail("auth", err)
			}
			step += " " + mech
		}
		if err := cl.c.Auth(a); err != nil {
			return nil, fail(step, err)
		}
	}
	if ctx.Err() != nil {
		return nil, fail("dial", ctx.Err())
	}
	ok = true
	return cl, nil
}

func (c *Client) setTimeouts() {
	c.c.CommandTimeout = c.opt.Timeout
	c.c.SubmissionTimeout = 2 * c.opt.Timeout
}

// Addr is the address dialed.
func (c *Client) Addr() string { return c.addr }

// Extension reports whether the server announced ext in its EHLO reply
// (after TLS), with the extension's parameters.
func (c *Client) Extension(ext string) (bool, string) { return c.c.Extension(ext) }

// knownExtensions are the EHLO keywords Extensions looks for.
var knownExtensions = [...]string{
	"AUTH", "SIZE", "8BITMIME", "SMTPUTF8", "PIPELINING", "ENHANCEDSTATUSCODES",
	"CHUNKING", "BINARYMIME", "DSN", "REQUIRETLS", "STARTTLS", "DELIVERBY",
	"MT-PRIORITY", "RRVS", "LIMITS",
}

// Extensions lists the well-known extensions the server announced, as
// EHLO keywords with their parameters ("AUTH PLAIN LOGIN", "SIZE 10240000").
func (c *Client) Extensions() []string {
	var caps []string
	for _, e := range knownExtensions {
		if ok, p := c.c.Extension(e); ok {
			caps = append(caps, strings.TrimSpace(e+" "+p))
		}
	}
	return caps
}

// Close says QUIT (bounded by Timeout) and closes the connection. Only a
// refusal of QUIT by the server is reported; a connection that is already
// broken closes quietly.
func (c *Client) Close() error {
	err := c.c.Quit()
	c.conn.raw.Close()
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return wrap(context.Background(), c.addr, "quit", err)
	}
	return nil
}

// Check dials as Dial does (TLS and AUTH included), lists the server's
// extensions and says QUIT: what `mailbag check` needs to tell whether an
// SMTP setup works.
func Check(ctx context.Context, addr string, opt *Options) ([]string, error) {
	c, err := Dial(ctx, addr, opt)
	if err != nil {
		return nil, err
	}
	caps := c.Extensions()
	return caps, c.Close()
}

// wrap gives err its context: "smtp ADDR: STEP: cause". When the context
// ended the step, its error is wrapped too (both stay reachable by
// errors.Is/As).
func wrap(ctx context.Context, addr, step string, err error) error {
	if cerr := ctx.Err(); cerr != nil && !errors.Is(err, cerr) {
		return fmt.Errorf("smtp %s: %s: %w (%w)", addr, step, cerr, err)
	}
	return fmt.Errorf("smtp %s: %s: %w", addr, step, err)
}

// tlsError gives a TLS failure tlsconf's explanation (unknown authority,
// host name mismatch, a server not speaking TLS), keeping err reachable.
func tlsError(err error) error {
	var rec tls.RecordHeaderError
	if isCertError(err) || errors.As(err, &rec) {
		return tlsconf.Wrap(err)
	}
	return err
}
