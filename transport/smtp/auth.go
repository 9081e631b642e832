package smtp

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"
)

// autoMechs is the order in which a mechanism is picked from the server's
// AUTH list when none is configured. Every one of them runs only inside
// TLS (or with tls = "none" written out), so PLAIN is preferred: it works
// with every password store. Token mechanisms are never guessed.
var autoMechs = [...]string{"PLAIN", "LOGIN", "CRAM-MD5"}

// chooseAuth returns the SASL client for the configured mechanism, or for
// the first of autoMechs the server offers (RFC 4954 §4). offered is the
// parameter of the server's AUTH extension ("PLAIN LOGIN").
func chooseAuth(offered, mech, user, pass string) (sasl.Client, string, error) {
	list := strings.Fields(strings.ToUpper(offered))
	has := func(m string) bool {
		for _, o := range list {
			if o == m {
				return true
			}
		}
		return false
	}
	mech = strings.ToUpper(strings.TrimSpace(mech))
	if mech == "" {
		for _, m := range autoMechs {
			if has(m) {
				mech = m
				break
			}
		}
		if mech == "" {
			return nil, "", fmt.Errorf("%w: server offers %q, we speak %s", ErrNoAuth, offered, strings.Join(autoMechs[:], ", "))
		}
	} else if !has(mech) {
		return nil, "", fmt.Errorf("%w: %s is configured, server offers %q", ErrNoAuth, mech, offered)
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainClient("", user, pass), mech, nil // RFC 4616
	case "LOGIN":
		return &login{user: user, pass: pass}, mech, nil
	case "CRAM-MD5":
		return &cramMD5{user: user, pass: pass}, mech, nil // RFC 2195
	case "XOAUTH2":
		return &xoauth2{user: user, token: pass}, mech, nil
	case "OAUTHBEARER":
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: pass}), mech, nil // RFC 7628
	}
	return nil, "", fmt.Errorf("%w: unknown mechanism %s", ErrNoAuth, mech)
}

// cramMD5 is the RFC 2195 client: the answer to the server's challenge is
// "user HEX(HMAC-MD5(password, challenge))".
type cramMD5 struct {
	user, pass string
	done       bool
}

func (c *cramMD5) Start() (string, []byte, error) { return "CRAM-MD5", nil, nil }

func (c *cramMD5) Next(challenge []byte) ([]byte, error) {
	if c.done {
		return nil, errors.New("cram-md5: unexpected second challenge")
	}
	c.done = true
	h := hmac.New(md5.New, []byte(c.pass))
	h.Write(challenge)
	return []byte(c.user + " " + hex.EncodeToString(h.Sum(nil))), nil
}

// xoauth2 is Google's and Microsoft's XOAUTH2: the initial response
// carries user and bearer token; a failure comes as a 334 challenge with a
// JSON error, answered with an empty line, after which the server sends
// the final 5xx.
type xoauth2 struct {
	user, token string
}

func (x *xoauth2) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + x.user + "\x01auth=Bearer " + x.token + "\x01\x01"), nil
}

func (x *xoauth2) Next(challenge []byte) ([]byte, error) { return []byte{}, nil }

// login is the LOGIN mechanism (draft-murchison-sasl-login). Unlike
// go-sasl's client it sends no initial response and answers the server's
// prompts by their text ("Username:", "Password:", any case), falling back
// to their order, as servers differ here.
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
