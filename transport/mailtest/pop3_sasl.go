package mailtest

import (
	"bytes"
	"crypto/hmac"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/emersion/go-sasl"
)

var errPOP3AuthFailed = errors.New("authentication failed")

// auth runs an RFC 5034 §4 AUTH exchange.
func (ss *pop3Session) auth(arg string) bool {
	if !ss.s.opt.SASL {
		ss.reply("-ERR AUTH not supported")
		return true
	}
	mech, ir, hasIR := strings.Cut(arg, " ")
	var user string
	srv := ss.saslServer(strings.ToUpper(mech), &user)
	if srv == nil {
		ss.reply("-ERR unsupported SASL mechanism")
		return true
	}
	var resp []byte
	if hasIR {
		var err error
		if resp, err = pop3DecodeSASL(ir, true); err != nil {
			ss.reply("-ERR invalid base64 in initial response")
			return true
		}
	}
	for round := 0; round < 8; round++ {
		chal, done, err := srv.Next(resp)
		if err != nil {
			ss.reply("-ERR [AUTH] authentication failed")
			return true
		}
		if done {
			ss.login(user)
			return true
		}
		ss.reply("+ " + base64.StdEncoding.EncodeToString(chal))
		if ss.flush() != nil {
			return false
		}
		line, err := ss.readLine()
		if err != nil {
			return false
		}
		ss.s.record(line)
		if line == "*" {
			ss.reply("-ERR authentication cancelled")
			return true
		}
		if resp, err = pop3DecodeSASL(line, false); err != nil {
			ss.reply("-ERR invalid base64 in response")
			return true
		}
	}
	ss.reply("-ERR [AUTH] too many rounds")
	return true
}

func pop3DecodeSASL(s string, initial bool) ([]byte, error) {
	if initial && s == "=" {
		return []byte{}, nil
	}
	return base64.StdEncoding.DecodeString(s)
}

func (ss *pop3Session) saslServer(mech string, user *string) sasl.Server {
	check := func(name, pass string) error {
		want, ok := ss.password(name)
		if !ok || subtle.ConstantTimeCompare([]byte(want), []byte(pass)) != 1 {
			return errPOP3AuthFailed
		}
		*user = name
		return nil
	}
	switch mech {
	case "PLAIN":
		return sasl.NewPlainServer(func(identity, name, pass string) error {
			if identity != "" && identity != name {
				return errPOP3AuthFailed
			}
			return check(name, pass)
		})
	case "LOGIN":
		return &pop3LoginServer{check: check}
	case "CRAM-MD5":
		var nonce [8]byte
		rand.Read(nonce[:])
		return &pop3CramServer{
			challenge: fmt.Sprintf("<%x.%d@mailtest>", nonce, time.Now().UnixNano()),
			password:  ss.password,
			user:      user,
		}
	case "XOAUTH2":
		return &pop3XOAuth2Server{check: check}
	case "OAUTHBEARER":
		return sasl.NewOAuthBearerServer(func(o sasl.OAuthBearerOptions) *sasl.OAuthBearerError {
			if check(o.Username, o.Token) != nil {
				return &sasl.OAuthBearerError{Status: "invalid_token", Schemes: "bearer"}
			}
			return nil
		})
	}
	return nil
}

// pop3LoginServer is the obsolete LOGIN mechanism (draft-murchison-sasl-login).
type pop3LoginServer struct {
	check func(user, pass string) error
	step  int
	user  string
}

func (a *pop3LoginServer) Next(resp []byte) ([]byte, bool, error) {
	switch a.step {
	case 0:
		a.step = 1
		if resp == nil {
			return []byte("Username:"), false, nil
		}
		fallthrough
	case 1:
		a.user = string(resp)
		a.step = 2
		return []byte("Password:"), false, nil
	case 2:
		a.step = 3
		return nil, true, a.check(a.user, string(resp))
	}
	return nil, false, sasl.ErrUnexpectedClientResponse
}

// pop3CramServer is CRAM-MD5, RFC 2195.
type pop3CramServer struct {
	challenge string
	password  func(string) (string, bool)
	user      *string
	sent      bool
}

func (a *pop3CramServer) Next(resp []byte) ([]byte, bool, error) {
	if !a.sent {
		a.sent = true
		return []byte(a.challenge), false, nil
	}
	name, digest, ok := strings.Cut(string(resp), " ")
	pass, known := a.password(name)
	if !ok || !known {
		return nil, false, errPOP3AuthFailed
	}
	mac := hmac.New(md5.New, []byte(pass))
	mac.Write([]byte(a.challenge))
	if !hmac.Equal([]byte(hex.EncodeToString(mac.Sum(nil))), []byte(strings.ToLower(digest))) {
		return nil, false, errPOP3AuthFailed
	}
	*a.user = name
	return nil, true, nil
}

// pop3XOAuth2Server is XOAUTH2; the bearer token is the user's password. On
// failure it sends the JSON error challenge and fails after the client's
// empty answer, as Gmail does.
type pop3XOAuth2Server struct {
	check  func(user, token string) error
	failed bool
}

func (a *pop3XOAuth2Server) Next(resp []byte) ([]byte, bool, error) {
	if a.failed {
		return nil, false, errPOP3AuthFailed
	}
	if resp == nil {
		return []byte{}, false, nil
	}
	var user, token string
	for _, kv := range bytes.Split(resp, []byte{1}) {
		k, v, _ := strings.Cut(string(kv), "=")
		switch k {
		case "user":
			user = v
		case "auth":
			token, _ = strings.CutPrefix(v, "Bearer ")
		}
	}
	if a.check(user, token) != nil {
		a.failed = true
		return []byte(`{"status":"401","schemes":"bearer","scope":"https://mail.example.test/"}`), false, nil
	}
	return nil, true, nil
}
