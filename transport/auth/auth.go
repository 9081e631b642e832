// Package auth holds the SASL clients (RFC 4422) that POP3, IMAP and SMTP
// share and github.com/emersion/go-sasl lacks or gets too strict: CRAM-MD5,
// XOAUTH2 and a tolerant LOGIN. PLAIN and OAUTHBEARER come from go-sasl.
package auth

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"strings"

	"github.com/emersion/go-sasl"
)

// CramMD5 returns a CRAM-MD5 client (RFC 2195 §2): the answer to the
// server's one challenge is "user HEX(HMAC-MD5(secret, challenge))".
// RFC 2195 is historic; PLAIN inside TLS is preferred.
func CramMD5(user, secret string) sasl.Client { return &cramMD5{user: user, secret: secret} }

type cramMD5 struct {
	user, secret string
	done         bool
}

func (c *cramMD5) Start() (string, []byte, error) { return "CRAM-MD5", nil, nil }

func (c *cramMD5) Next(challenge []byte) ([]byte, error) {
	if c.done {
		return nil, errors.New("cram-md5: unexpected second challenge")
	}
	if len(challenge) == 0 {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	c.done = true
	h := hmac.New(md5.New, []byte(c.secret))
	h.Write(challenge)
	return []byte(c.user + " " + hex.EncodeToString(h.Sum(nil))), nil
}

// XOAuth2 returns a client for Google's and Microsoft's XOAUTH2: the
// initial response is "user=USER^Aauth=Bearer TOKEN^A^A". On failure the
// server sends a JSON error as a challenge, answered with an empty
// response, after which it ends the exchange with its error.
func XOAuth2(user, token string) sasl.Client { return &xoauth2{user: user, token: token} }

type xoauth2 struct{ user, token string }

func (x *xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2) Next([]byte) ([]byte, error) { return []byte{}, nil }

// Login returns a LOGIN client (draft-murchison-sasl-login). Unlike
// go-sasl's it sends no initial response and answers the server's prompts
// by their text ("Username:", "Password:", any case), falling back to
// their order, as servers differ here.
func Login(user, pass string) sasl.Client { return &login{user: user, pass: pass} }

type login struct {
	user, pass string
	step       int
}

func (l *login) Start() (string, []byte, error) { return "LOGIN", nil, nil }

func (l *login) Next(challenge []byte) ([]byte, error) {
	l.step++
	p := strings.ToLower(string(challenge))
	switch {
	case strings.HasPrefix(p, "user"):
		return []byte(l.user), nil
	case strings.HasPrefix(p, "pass"):
		return []byte(l.pass), nil
	case l.step == 1:
		return []byte(l.user), nil
	case l.step == 2:
		return []byte(l.pass), nil
	}
	return nil, errors.New("login: unexpected challenge")
}
