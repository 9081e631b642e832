package smtp

import (
	"fmt"
	"strings"

	"github.com/emersion/go-sasl"

	"github.com/mailbag/mailbag/transport/auth"
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
		return auth.Login(user, pass), mech, nil
	case "CRAM-MD5":
		return auth.CramMD5(user, pass), mech, nil // RFC 2195
	case "XOAUTH2":
		return auth.XOAuth2(user, pass), mech, nil
	case "OAUTHBEARER":
		return sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: pass}), mech, nil // RFC 7628
	}
	return nil, "", fmt.Errorf("%w: unknown mechanism %s", ErrNoAuth, mech)
}
