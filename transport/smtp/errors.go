package smtp

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"strings"
	"syscall"

	"github.com/emersion/go-smtp"
)

// Policy errors: the server lacks something this message or configuration
// needs. Retrying does not help, so IsTemporary reports them as permanent.
var (
	// ErrNoSTARTTLS: tls = "starttls" but the server does not offer
	// STARTTLS (RFC 3207 §4). Nothing, in particular no password, was sent.
	ErrNoSTARTTLS = errors.New("server does not offer STARTTLS (RFC 3207); refusing to continue in plain text")
	// ErrNoAuth: credentials are configured but the server offers no AUTH
	// (RFC 4954 §3) or none of the mechanisms we speak.
	ErrNoAuth = errors.New("server does not offer a usable AUTH mechanism (RFC 4954)")
	// ErrNo8BitMIME: the message has 8-bit data but the server does not
	// offer 8BITMIME (RFC 6152); rebuild it 7-bit clean.
	ErrNo8BitMIME = errors.New("message has 8-bit data but the server does not offer 8BITMIME (RFC 6152)")
	// ErrNoSMTPUTF8: an address has a non-ASCII local part but the server
	// does not offer SMTPUTF8 (RFC 6531).
	ErrNoSMTPUTF8 = errors.New("non-ASCII address but the server does not offer SMTPUTF8 (RFC 6531)")
	// ErrBadAddress: an envelope address is empty or holds characters that
	// cannot appear in an SMTP path (CR, LF, other controls, <, >, space).
	ErrBadAddress = errors.New("invalid envelope address")
)

// SizeError reports a message larger than the SIZE the server announced
// (RFC 1870 §4). It is found before MAIL, so nothing was sent.
type SizeError struct {
	Size, Max int64
}

func (e *SizeError) Error() string {
	return fmt.Sprintf("message is %d bytes, the server accepts at most %d (RFC 1870 SIZE)", e.Size, e.Max)
}

// RcptError is one recipient the server refused at RCPT TO
// (RFC 5321 §4.1.1.3).
type RcptError struct {
	Addr string
	Err  *smtp.SMTPError
}

func (e RcptError) Error() string { return fmt.Sprintf("rcpt <%s>: %v", e.Addr, e.Err) }

// Unwrap gives errors.As access to the *smtp.SMTPError.
func (e RcptError) Unwrap() error { return e.Err }

// Temporary reports whether the server answered 4xx.
func (e RcptError) Temporary() bool { return e.Err.Temporary() }

// RefusedError is returned when the server refused every recipient, so
// nothing was sent. It is temporary when any refusal was (a retry may
// deliver to that recipient).
type RefusedError struct {
	Rejected []RcptError
}

func (e *RefusedError) Error() string {
	parts := make([]string, len(e.Rejected))
	for i, r := range e.Rejected {
		parts[i] = r.Error()
	}
	return "every recipient refused: " + strings.Join(parts, "; ")
}

// Unwrap returns the per-recipient errors (errors.As reaches each
// *smtp.SMTPError).
func (e *RefusedError) Unwrap() []error {
	errs := make([]error, len(e.Rejected))
	for i, r := range e.Rejected {
		errs[i] = r
	}
	return errs
}

// Temporary reports whether any refusal was temporary (4xx).
func (e *RefusedError) Temporary() bool {
	for _, r := range e.Rejected {
		if r.Temporary() {
			return true
		}
	}
	return false
}

// IsTemporary reports whether sending again later may succeed: a 4xx reply
// (RFC 5321 §4.2.1), a network error, a timeout, a connection closed early
// (EOF) or a cancelled context. 5xx replies, TLS certificate problems,
// unknown hosts and the policy errors of this package are permanent, as is
// nil.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var refused *RefusedError
	if errors.As(err, &refused) {
		return refused.Temporary()
	}
	var se *smtp.SMTPError
	if errors.As(err, &se) {
		return se.Temporary()
	}
	var size *SizeError
	if errors.As(err, &size) {
		return false
	}
	for _, p := range []error{ErrNoSTARTTLS, ErrNoAuth, ErrNo8BitMIME, ErrNoSMTPUTF8, ErrBadAddress} {
		if errors.Is(err, p) {
			return false
		}
	}
	var rec tls.RecordHeaderError
	if isCertError(err) || errors.As(err, &rec) {
		return false // fixed by configuration (ca_file, tls mode), not by waiting
	}
	var dns *net.DNSError
	if errors.As(err, &dns) {
		return !dns.IsNotFound
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) ||
		errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || errors.Is(err, syscall.ECONNRESET) ||
		errors.Is(err, syscall.ECONNREFUSED) || errors.Is(err, syscall.EPIPE) ||
		errors.Is(err, syscall.ECONNABORTED) || errors.Is(err, syscall.ETIMEDOUT) ||
		errors.Is(err, syscall.EHOSTUNREACH) || errors.Is(err, syscall.ENETUNREACH) {
		return true
	}
	var ne net.Error
	return errors.As(err, &ne)
}

// isCertError reports a TLS verification failure: a configuration problem
// (wrong host, missing ca_file) that waiting does not fix.
func isCertError(err error) bool {
	var (
		cv  *tls.CertificateVerificationError
		ua  x509.UnknownAuthorityError
		he  x509.HostnameError
		ci  x509.CertificateInvalidError
		alt tls.AlertError
	)
	return errors.As(err, &cv) || errors.As(err, &ua) || errors.As(err, &he) ||
		errors.As(err, &ci) || errors.As(err, &alt)
}
