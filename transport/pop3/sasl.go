package pop3

import (
	"crypto/hmac"
	"crypto/md5"
	"encoding/hex"

	"github.com/emersion/go-sasl"
)

// SASL mechanisms go-sasl lacks. PLAIN, LOGIN and OAUTHBEARER come from
// github.com/emersion/go-sasl.

type cramMD5Client struct{ user, secret string }

// NewCramMD5Client returns a CRAM-MD5 client, RFC 2195: the answer to the
// server's challenge is the user name and the hex HMAC-MD5 of the challenge
// keyed with the secret. (RFC 2195 is historic; prefer PLAIN over TLS.)
func NewCramMD5Client(user, secret string) sasl.Client {
	return &cramMD5Client{user: user, secret: secret}
}

func (a *cramMD5Client) Start() (string, []byte, error) { return "CRAM-MD5", nil, nil }

func (a *cramMD5Client) Next(challenge []byte) ([]byte, error) {
	if len(challenge) == 0 {
		return nil, sasl.ErrUnexpectedServerChallenge
	}
	mac := hmac.New(md5.New, []byte(a.secret))
	mac.Write(challenge)
	return []byte(a.user + " " + hex.EncodeToString(mac.Sum(nil))), nil
}

type xoauth2Client struct{ user, token string }

// NewXOAuth2Client returns a client for Google's and Microsoft's XOAUTH2
// mechanism (https://developers.google.com/gmail/imap/xoauth2-protocol): the
// initial response is "user=USER^Aauth=Bearer TOKEN^A^A". On failure the
// server sends a JSON error as a challenge; the client answers it with an
// empty response and the server then ends the exchange with -ERR.
func NewXOAuth2Client(user, token string) sasl.Client {
	return &xoauth2Client{user: user, token: token}
}

func (a *xoauth2Client) Start() (string, []byte, error) {
	return "XOAUTH2", []byte("user=" + a.user + "\x01auth=Bearer " + a.token + "\x01\x01"), nil
}

func (a *xoauth2Client) Next(challenge []byte) ([]byte, error) {
	return []byte{}, nil
}
