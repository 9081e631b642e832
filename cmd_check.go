package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/termsafe"
)

// checkTimeout bounds each server login of `mailbag check`.
const checkTimeout = 30 * time.Second

// maxCapsShown bounds the capability list printed per server.
const maxCapsShown = 300

// runCheck validates the config, prints what it found per account, then
// logs in to every server: one line per server, "home: pop3
// 127.0.0.1:995: ok (CAPA: …)" or the one-line error. Exit 2 for a bad
// config, 1 when any login failed.
func (c *cli) runCheck(ctx context.Context, inv invocation) int {
	cfg, path, _, err := c.loadConfig(inv)
	if err != nil {
		return c.configErr(path, err)
	}
	home := c.env("HOME")
	status := exitOK
	for _, a := range cfg.Accounts {
		fmt.Fprintln(c.stdout, termsafe.Line(describeAccount(a, home)))
		for _, srv := range []*account.ServerConfig{a.POP3, a.IMAP, a.SMTP} {
			if srv == nil {
				continue
			}
			cctx, cancel := context.WithTimeout(ctx, checkTimeout)
			caps, err := c.checkServer(cctx, a, srv)
			cancel()
			prefix := fmt.Sprintf("%s: %s %s: ", a.Name, srv.Kind, srv.Addr())
			if err != nil {
				fmt.Fprintln(c.stdout, termsafe.Line(prefix+withoutPrefix(err.Error(), a.Name, srv)))
				status = exitFail
				continue
			}
			label := "CAPA"
			switch srv.Kind {
			case "imap":
				label = "CAPABILITY"
			case "smtp":
				label = "EHLO"
			}
			list := strings.Join(caps, ", ")
			if len(list) > maxCapsShown {
				list = list[:maxCapsShown] + "…"
			}
			fmt.Fprintln(c.stdout, termsafe.Line(fmt.Sprintf("%sok (%s: %s)", prefix, label, list)))
		}
	}
	return status
}

// withoutPrefix drops the "NAME: " and "KIND ADDR: " an error repeats.
func withoutPrefix(msg, name string, srv *account.ServerConfig) string {
	msg = strings.TrimPrefix(msg, name+": ")
	msg = strings.TrimPrefix(msg, srv.Kind+" "+srv.Addr()+": ")
	return msg
}

// checkServer logs in to one server of account a.
func (c *cli) checkServer(ctx context.Context, a account.AccountConfig, srv *account.ServerConfig) ([]string, error) {
	switch srv.Kind {
	case "smtp":
		return account.CheckSMTP(ctx, srv, nil)
	case "pop3":
		p, err := account.NewPOP3(a, nil)
		if err != nil {
			return nil, err
		}
		defer p.Close()
		return p.Check(ctx)
	case "imap":
		acct, err := account.NewIMAP(a, nil)
		if err != nil {
			return nil, err
		}
		defer acct.Close()
		return acct.Check(ctx)
	}
	return nil, fmt.Errorf("unknown server kind %q", srv.Kind)
}
