package smtp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/emersion/go-smtp"
	"golang.org/x/net/idna"
)

// Result says what the server took. Send returns a nil error when at
// least one recipient was accepted and the message was accepted for them;
// Rejected then lists the others, each with the server's reply: the
// caller must look at it (and may retry the temporary ones).
type Result struct {
	Accepted []string
	Rejected []RcptError
}

// Err returns the rejections as one error (nil when there are none).
func (r *Result) Err() error {
	if r == nil || len(r.Rejected) == 0 {
		return nil
	}
	return &RefusedError{Rejected: r.Rejected}
}

// Send runs one mail transaction (RFC 5321 §3.3): MAIL FROM, one RCPT TO
// per recipient, DATA. size is the message size in bytes (0 when
// unknown); eightBit says the message holds 8-bit data.
//
// Before anything is sent: a message larger than the server's SIZE is a
// *SizeError (RFC 1870 §4); 8-bit data to a server without 8BITMIME is
// ErrNo8BitMIME (RFC 6152); a non-ASCII address needs SMTPUTF8 (RFC 6531
// §3.4), except that a non-ASCII domain alone is sent in its ASCII (IDNA)
// form. MAIL carries SIZE= and, when the server offers 8BITMIME,
// BODY=8BITMIME.
//
// Recipients: each refusal is collected in Result.Rejected; the message
// is sent to the accepted ones. If all are refused, the transaction is
// reset and the error is a *RefusedError. Replies are *smtp.SMTPError
// (errors.As); IsTemporary tells 4xx and network failures from 5xx. If
// msg fails to read, the connection is dropped before the final dot, so
// no truncated message is delivered.
func (c *Client) Send(ctx context.Context, from string, rcpts []string, msg io.Reader, size int64, eightBit bool) (*Result, error) {
	fail := func(step string, err error) error { return wrap(ctx, c.addr, step, err) }
	if len(rcpts) == 0 {
		return nil, fail("rcpt", fmt.Errorf("%w: no recipients", ErrBadAddress))
	}
	utf8, _ := c.c.Extension("SMTPUTF8")
	needUTF8 := false
	wireFrom := ""
	if from != "" {
		var err error
		if wireFrom, needUTF8, err = wireAddr(from, utf8); err != nil {
			return nil, fail(fmt.Sprintf("mail from <%s>", from), err)
		}
	}
	wire := make([]string, len(rcpts))
	for i, r := range rcpts {
		w, nonASCII, err := wireAddr(r, utf8)
		if err != nil {
			return nil, fail(fmt.Sprintf("rcpt <%s>", r), err)
		}
		wire[i] = w
		needUTF8 = needUTF8 || nonASCII
	}
	if eightBit {
		if ok, _ := c.c.Extension("8BITMIME"); !ok {
			return nil, fail("mail", ErrNo8BitMIME)
		}
	}
	if max, ok := c.c.MaxMessageSize(); ok && max > 0 && size > int64(max) {
		return nil, fail("mail", &SizeError{Size: size, Max: int64(max)})
	}
	if err := ctx.Err(); err != nil {
		return nil, fail("mail", err)
	}
	stop := context.AfterFunc(ctx, func() { c.conn.raw.Close() })
	defer stop()

	opts := &smtp.MailOptions{UTF8: needUTF8}
	if size > 0 {
		opts.Size = size
	}
	if err := c.c.Mail(wireFrom, opts); err != nil {
		return nil, fail(fmt.Sprintf("mail from <%s>", from), err)
	}
	res := &Result{}
	for i, r := range rcpts {
		err := c.c.Rcpt(wire[i], nil)
		var se *smtp.SMTPError
		switch {
		case err == nil:
			res.Accepted = append(res.Accepted, r)
		case errors.As(err, &se):
			res.Rejected = append(res.Rejected, RcptError{Addr: r, Err: se})
		default:
			return nil, fail(fmt.Sprintf("rcpt <%s>", r), err)
		}
	}
	if len(res.Accepted) == 0 {
		c.c.Reset() // best effort; the error below is what matters
		return res, fail("rcpt", &RefusedError{Rejected: res.Rejected})
	}

	w, err := c.c.Data()
	if err != nil {
		return nil, fail("data", err)
	}
	pw := &progressWriter{b: c.conn, w: w, limit: c.opt.Timeout}
	if _, err := io.Copy(pw, readErrMarker{msg}); err != nil {
		c.conn.raw.Close() // never let a truncated message reach the final dot
		var re readErr
		if errors.As(err, &re) {
			return nil, fail("data: reading message", re.err)
		}
		return nil, fail("data", err)
	}
	// The reply to the final dot may take longer (RFC 5321 §4.5.3.2.6).
	c.conn.limit = c.c.SubmissionTimeout
	err = w.Close()
	c.conn.limit = c.opt.Timeout
	if err != nil {
		return nil, fail("data", err)
	}
	return res, nil
}

// wireAddr checks an envelope address and returns the form to send:
// unchanged when ASCII or when the server speaks SMTPUTF8, with the
// domain in IDNA A-labels when only the domain is non-ASCII. nonASCII
// reports whether the wire form needs SMTPUTF8.
func wireAddr(addr string, smtputf8 bool) (wire string, nonASCII bool, err error) {
	if addr == "" {
		return "", false, fmt.Errorf("%w: empty", ErrBadAddress)
	}
	for _, r := range addr {
		if r < 0x20 || r == 0x7f || r == ' ' || r == '<' || r == '>' || (r >= 0x80 && r < 0xa0) {
			return "", false, fmt.Errorf("%w: %q", ErrBadAddress, addr)
		}
	}
	if isASCII(addr) {
		return addr, false, nil
	}
	if smtputf8 {
		return addr, true, nil
	}
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !isASCII(addr[:at]) {
		return "", false, ErrNoSMTPUTF8
	}
	domain, err := idna.Lookup.ToASCII(addr[at+1:])
	if err != nil {
		return "", false, fmt.Errorf("%w: domain of %q: %v", ErrBadAddress, addr, err)
	}
	return addr[:at+1] + domain, false, nil
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= 0x80 {
			return false
		}
	}
	return true
}

// readErr marks an error from the caller's reader, to tell it apart from
// a network error while copying.
type readErr struct{ err error }

func (e readErr) Error() string { return e.err.Error() }
func (e readErr) Unwrap() error { return e.err }

type readErrMarker struct{ r io.Reader }

func (m readErrMarker) Read(p []byte) (int, error) {
	n, err := m.r.Read(p)
	if err != nil && err != io.EOF {
		err = readErr{err}
	}
	return n, err
}
