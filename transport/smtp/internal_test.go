package smtp

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"testing"

	"github.com/emersion/go-smtp"
)

func TestIsTemporary(t *testing.T) {
	tests := []struct {
		err  error
		want bool
	}{
		{nil, false},
		{&smtp.SMTPError{Code: 421}, true},
		{&smtp.SMTPError{Code: 452}, true},
		{&smtp.SMTPError{Code: 550}, false},
		{fmt.Errorf("smtp x: data: %w", &smtp.SMTPError{Code: 451}), true},
		{io.EOF, true},
		{io.ErrUnexpectedEOF, true},
		{fmt.Errorf("read: %w", os.ErrDeadlineExceeded), true},
		{&net.OpError{Op: "dial", Err: syscall.ECONNREFUSED}, true},
		{syscall.ECONNRESET, true},
		{syscall.EPIPE, true},
		{context.Canceled, true},
		{context.DeadlineExceeded, true},
		{&net.DNSError{Err: "no such host", Name: "x.invalid", IsNotFound: true}, false},
		{&net.DNSError{Err: "server misbehaving", Name: "x.test", IsTemporary: true}, true},
		{x509.UnknownAuthorityError{}, false},
		{ErrNoSTARTTLS, false},
		{fmt.Errorf("wrapped: %w", ErrNoAuth), false},
		{ErrNo8BitMIME, false},
		{ErrNoSMTPUTF8, false},
		{&SizeError{Size: 2, Max: 1}, false},
		{&RefusedError{Rejected: []RcptError{{"a", &smtp.SMTPError{Code: 550}}}}, false},
		{&RefusedError{Rejected: []RcptError{{"a", &smtp.SMTPError{Code: 550}}, {"b", &smtp.SMTPError{Code: 450}}}}, true},
		{errors.New("something else"), false},
	}
	for _, tt := range tests {
		if got := IsTemporary(tt.err); got != tt.want {
			t.Errorf("IsTemporary(%v) = %v, want %v", tt.err, got, tt.want)
		}
	}
}

func TestChooseAuth(t *testing.T) {
	tests := []struct {
		offered, mech string
		want          string // mechanism started, or "" for an error
	}{
		{"PLAIN LOGIN", "", "PLAIN"},
		{"LOGIN CRAM-MD5", "", "LOGIN"},
		{"cram-md5", "", "CRAM-MD5"},
		{"XOAUTH2", "", ""},
		{"XOAUTH2 PLAIN", "xoauth2", "XOAUTH2"},
		{"OAUTHBEARER", "OAuthBearer", "OAUTHBEARER"},
		{"PLAIN", "login", ""},
		{"", "", ""},
	}
	for _, tt := range tests {
		c, mech, err := chooseAuth(tt.offered, tt.mech, "u", "p")
		got := ""
		if err == nil {
			got, _, _ = c.Start()
			if got != mech {
				t.Fatalf("chooseAuth(%q, %q) names %q, starts %q", tt.offered, tt.mech, mech, got)
			}
		} else if !errors.Is(err, ErrNoAuth) {
			t.Fatalf("chooseAuth(%q, %q) = %v, want ErrNoAuth", tt.offered, tt.mech, err)
		}
		if got != tt.want {
			t.Fatalf("chooseAuth(%q, %q) starts %q (%v), want %q", tt.offered, tt.mech, got, err, tt.want)
		}
	}
}
