package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/termsafe"
)

// exitQueued is sendmail's EX_TEMPFAIL (sysexits.h): the message was not
// sent yet but is safe in the outbox and will be retried.
const exitQueued = 75

// sendTimeout bounds one `mailbag send`: storing, waiting for another
// mailbag's outbox lock, and the SMTP session (whose steps have their own
// deadlines).
const sendTimeout = 10 * time.Minute

// runSend is `mailbag send [--account NAME]`: an RFC 5322 message on
// stdin, sent sendmail-style through the account's [smtp] server
// (DESIGN.md §2). Exit 0 sent, 75 queued in the outbox, 1 refused (the
// message is in Drafts) or not stored, 2 for usage and config errors.
func (c *cli) runSend(ctx context.Context, inv invocation) int {
	cfg, path, _, err := c.loadConfig(inv)
	if err != nil {
		return c.configErr(path, err)
	}
	var acfg *account.AccountConfig
	for i := range cfg.Accounts {
		a := &cfg.Accounts[i]
		if inv.account != "" && a.Name != inv.account {
			continue
		}
		if inv.account == "" && a.SMTP == nil {
			continue
		}
		acfg = a
		break
	}
	switch {
	case acfg == nil && inv.account != "":
		fmt.Fprintf(c.stderr, "mailbag: send: no account %q in %s\n", termsafe.Line(inv.account), path)
		return exitUsage
	case acfg == nil:
		fmt.Fprintf(c.stderr, "mailbag: send: no account in %s has an [smtp] table\n", path)
		return exitUsage
	case acfg.SMTP == nil:
		fmt.Fprintf(c.stderr, "mailbag: send: account %s has no [smtp] table\n", acfg.Name)
		return exitUsage
	}
	sender, closeFn, err := openSender(cfg, acfg.Name, nil)
	if err != nil {
		return c.fail("send: %s", termsafe.Line(err.Error()))
	}
	defer closeFn()
	ctx, cancel := context.WithTimeout(ctx, sendTimeout)
	defer cancel()
	res, err := sender.Send(ctx, c.stdin)
	if err != nil {
		return c.fail("send: not sent, not stored: %s", termsafe.Line(err.Error()))
	}
	return c.reportSend(res)
}

// reportSend prints a send result on stderr and returns the exit status.
func (c *cli) reportSend(res account.SendResult) int {
	switch res.Status {
	case account.Sent:
		for _, r := range res.Rejected {
			fmt.Fprintf(c.stderr, "mailbag: send: not delivered to %s\n", termsafe.Line(r))
		}
		if res.Err != nil {
			fmt.Fprintf(c.stderr, "mailbag: send: sent; %s\n", termsafe.Line(res.Err.Error()))
		}
		return exitOK
	case account.Queued:
		fmt.Fprintf(c.stderr, "mailbag: send: queued in the outbox (%s), will be retried: %s\n", res.ID, termsafe.Line(errString(res.Err)))
		return exitQueued
	}
	fmt.Fprintf(c.stderr, "mailbag: send: refused, the message is back in Drafts (%s): %s\n", res.ID, termsafe.Line(errString(res.Err)))
	return exitFail
}

func errString(err error) string {
	if err == nil {
		return "no reason given"
	}
	return err.Error()
}

// openSender opens the account named name as a Sender, as account.Open
// builds it. With opt (tests and the demo) the backend is wrapped again
// with those send options.
func openSender(cfg *account.Config, name string, opt *account.SendOptions) (account.Sender, func(), error) {
	accts, err := account.Open(cfg)
	if err != nil {
		return nil, nil, err
	}
	closeFn := func() { closeAll(accts) }
	for i, a := range accts {
		if a.Name() != name {
			continue
		}
		if s, ok := a.(account.Sender); ok && opt == nil {
			return s, closeFn, nil
		}
		base := a
		if u, ok := a.(interface{ Unwrap() account.Account }); ok {
			base = u.Unwrap()
		}
		s, err := account.WithSMTP(base, cfg.Accounts[i], opt)
		if err != nil {
			closeFn()
			return nil, nil, err
		}
		return s, closeFn, nil
	}
	closeFn()
	return nil, nil, fmt.Errorf("no account %q", name)
}

// flushOutboxes is the outbox half of `mailbag sync [ACCOUNT…]`: every
// named account (every account when names is empty) with an [smtp] table
// sends what waits in its outbox and is due. A line per account says
// what happened; the result is exitFail when a message was tried and not
// sent.
func flushOutboxes(ctx context.Context, cfg *account.Config, names []string, opt *account.SendOptions, stderr io.Writer) int {
	want := map[string]bool{}
	for _, n := range names {
		want[n] = true
	}
	status := exitOK
	for _, a := range cfg.Accounts {
		if a.SMTP == nil || (len(names) > 0 && !want[a.Name]) {
			continue
		}
		s, closeFn, err := openSender(cfg, a.Name, opt)
		if err != nil {
			fmt.Fprintf(stderr, "%s: outbox: %s\n", a.Name, termsafe.Line(err.Error()))
			status = exitFail
			continue
		}
		sent := 0
		err = s.Flush(ctx, func(p account.Progress) {
			if p.Stage == account.StageDone {
				sent = p.Done
			}
		})
		var fe *account.FlushError
		switch {
		case errors.As(err, &fe):
			sent -= len(fe.Failed)
			for _, f := range fe.Failed {
				what := "still queued"
				if f.Status == account.Refused {
					what = "refused, back in Drafts"
				}
				fmt.Fprintf(stderr, "%s: outbox: %s %s: %s\n", a.Name, f.ID, what, termsafe.Line(errString(f.Err)))
			}
			status = exitFail
		case err != nil:
			fmt.Fprintf(stderr, "%s: outbox: %s\n", a.Name, termsafe.Line(err.Error()))
			status = exitFail
		}
		waiting, _ := s.Queued(ctx)
		if sent > 0 || waiting > 0 {
			fmt.Fprintf(stderr, "%s: outbox: %d sent, %d waiting\n", a.Name, sent, waiting)
		}
		closeFn()
	}
	return status
}
