// Package tlsconf is the TLS policy shared by mailbag's POP3, IMAP and SMTP
// dialers: which roots are trusted, the minimum protocol version, and how a
// failed handshake is explained to the user.
//
// Certificate verification follows RFC 6125 (service identity) as implemented
// by crypto/x509; the mail-specific rules are RFC 8314 §5 (clients must
// verify the server certificate and its identity) and RFC 2595 §2.4 (the
// server identity is the host name the user configured).
package tlsconf

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"strings"
	"time"
)

// Config returns a client TLS configuration for host: the system roots plus,
// when caFile is not empty, every certificate in the PEM file caFile;
// ServerName is host (a "host:port" is accepted and its port dropped) and the
// minimum version is TLS 1.2 (RFC 8996 deprecates 1.0 and 1.1, RFC 8314 §4.1).
func Config(host, caFile string) (*tls.Config, error) {
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	host = strings.TrimSuffix(strings.TrimPrefix(host, "["), "]")
	if host == "" {
		return nil, errors.New("tls: empty server name")
	}
	roots, err := x509.SystemCertPool()
	if err != nil || roots == nil {
		roots = x509.NewCertPool()
	}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("tls: ca_file: %w", err)
		}
		if !roots.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("tls: ca_file %s: no PEM certificate found", caFile)
		}
	}
	return &tls.Config{
		ServerName: host,
		RootCAs:    roots,
		MinVersion: tls.VersionTLS12,
	}, nil
}

// Describe explains err for a user: certificate problems (unknown authority,
// host name mismatch, expired or not yet valid, unusable certificate), a peer
// that does not speak TLS, and TLS alerts are named with a hint at the fix.
// Any other error is returned as err.Error(); a nil error gives "".
func Describe(err error) string {
	if err == nil {
		return ""
	}
	var (
		unknown  x509.UnknownAuthorityError
		hostname x509.HostnameError
		invalid  x509.CertificateInvalidError
		record   tls.RecordHeaderError
		alert    tls.AlertError
		sysRoots x509.SystemRootsError
	)
	switch {
	case errors.As(err, &unknown):
		issuer := ""
		if unknown.Cert != nil {
			issuer = unknown.Cert.Issuer.String()
		}
		if issuer == "" {
			return "certificate signed by unknown authority (set ca_file to trust a private CA)"
		}
		return fmt.Sprintf("certificate signed by unknown authority %q (set ca_file to trust a private CA)", issuer)
	case errors.As(err, &hostname):
		names := certNames(hostname.Certificate)
		if len(names) == 0 {
			return fmt.Sprintf("certificate hostname mismatch: the certificate names no host, connected to %q", hostname.Host)
		}
		return fmt.Sprintf("certificate hostname mismatch: the certificate is for %s, not %q",
			strings.Join(names, ", "), hostname.Host)
	case errors.As(err, &invalid):
		c := invalid.Cert
		switch invalid.Reason {
		case x509.Expired:
			if c != nil {
				now := time.Now()
				if now.Before(c.NotBefore) {
					return fmt.Sprintf("certificate not yet valid: valid from %s (check the clock)", c.NotBefore.UTC().Format(time.RFC3339))
				}
				return fmt.Sprintf("certificate expired on %s", c.NotAfter.UTC().Format(time.RFC3339))
			}
			return "certificate expired or not yet valid"
		case x509.NotAuthorizedToSign:
			return "certificate chain invalid: an intermediate is not a CA"
		case x509.IncompatibleUsage:
			return "certificate not valid for server authentication"
		default:
			return "certificate invalid: " + invalid.Error()
		}
	case errors.As(err, &sysRoots):
		return "no system certificate roots found (set ca_file)"
	case errors.As(err, &record):
		return "server did not answer with TLS (wrong port, or should tls be \"starttls\"?)"
	case errors.As(err, &alert):
		return "server rejected the TLS handshake: " + alert.Error()
	}
	return err.Error()
}

// Wrap returns an error whose message is Describe(err) and which unwraps to
// err, so the original *tls.CertificateVerificationError or x509 error stays
// reachable with errors.As. A nil err gives nil.
func Wrap(err error) error {
	if err == nil {
		return nil
	}
	return &describedError{msg: Describe(err), err: err}
}

type describedError struct {
	msg string
	err error
}

func (e *describedError) Error() string { return "tls: " + e.msg }
func (e *describedError) Unwrap() error { return e.err }

// certNames lists the identities a certificate is valid for, bounded so a
// hostile certificate cannot flood an error line.
func certNames(c *x509.Certificate) []string {
	if c == nil {
		return nil
	}
	var names []string
	names = append(names, c.DNSNames...)
	for _, ip := range c.IPAddresses {
		names = append(names, ip.String())
	}
	if len(names) == 0 && c.Subject.CommonName != "" {
		names = append(names, c.Subject.CommonName)
	}
	const max = 5
	if len(names) > max {
		names = append(names[:max:max], fmt.Sprintf("(%d more)", len(names)-max))
	}
	for i, n := range names {
		names[i] = fmt.Sprintf("%q", n)
	}
	return names
}
