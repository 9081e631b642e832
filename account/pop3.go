package account

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"

	"github.com/mailbag/mailbag/transport/auth"
	"github.com/mailbag/mailbag/transport/pop3"
	"github.com/mailbag/mailbag/transport/tlsconf"
)

// Group-commit bounds of a POP3 download: a Batch is committed (its files
// fsynced, renamed into new/, the directory fsynced once) after this many
// messages or bytes, whichever comes first.
const (
	DefaultPOP3BatchMessages = 500
	DefaultPOP3BatchBytes    = 8 << 20
)

// POP3Options adjust a POP3 account, mostly for tests. A nil *POP3Options
// means the defaults.
type POP3Options struct {
	// Dialer makes the TCP connection instead of a net.Dialer.
	Dialer func(ctx context.Context, network, addr string) (net.Conn, error)
	// Now is the clock (for delete_after_days); nil means time.Now.
	Now func() time.Time
	// Timeout bounds every network read and write; zero means
	// pop3.DefaultTimeout.
	Timeout time.Duration
	// TLSConfig replaces the configuration tlsconf.Config builds from
	// host and ca_file.
	TLSConfig *tls.Config
	// BatchMessages and BatchBytes bound a group commit; zero means
	// DefaultPOP3BatchMessages and DefaultPOP3BatchBytes.
	BatchMessages int
	BatchBytes    int64

	// wrapBody, for internal tests, wraps each message stream on its way
	// into the maildir (to inject a write failure such as ENOSPC).
	wrapBody func(io.Reader) io.Reader
}

// POP3 is a POP3 account (RFC 1939): mail is downloaded into the
// account's maildir by Sync and read from there, with no network, by the
// methods of the embedded *Local.
//
// # Crash safety
//
// Sync never loses a message and never stores one twice, whatever instant
// the process dies at (SIGKILL, power cut), because of three rules:
//
//  1. The server deletes nothing before QUIT (RFC 1939 §6: DELE only
//     marks; a session that ends without QUIT removes nothing). Sync sends
//     QUIT only after every DELE it sent concerns a message already
//     durable in the maildir and recorded in the state file.
//  2. The state file (POP3StateFile) maps each downloaded unique-id to the
//     maildir key it was stored under, and is replaced atomically (temp
//     file, fsync, rename, directory fsync).
//  3. Messages are stored in groups (DefaultPOP3BatchMessages or
//     DefaultPOP3BatchBytes): written into tmp/ (invisible), then the
//     group's (unique-id, key) pairs are saved as "pending", then the
//     maildir batches are committed (fsync every file, rename into new/,
//     fsync new/), then the pairs are saved as "done", and only then are
//     the group's messages DELEted.
//
// The cases, by where the crash falls in a group:
//
//   - before the pending save: the messages are only in tmp/ (never shown;
//     swept by Folder.Clean) and unknown to the state; the server still
//     has them, so the next sync downloads them. No gap, no duplicate.
//   - after the pending save, before or during Commit, or before the
//     done save: on start Sync resolves each pending entry by listing the
//     maildir once. A key that is present (in any folder: the user may
//     already have moved it) is "done"; an absent one is dropped and its
//     message, still on the server, downloaded again. A key is visible only
//     after its file was fsynced, so a visible key means durable content.
//     Keys are unique, so a present key is this message and no other.
//   - after the done save, before QUIT: the messages are stored and known;
//     the server still has them (no QUIT). The next sync does not download
//     them again and, in delete mode, DELEtes them then.
//   - after QUIT: the server removed them; the state may still list them
//     (it is pruned only after a successful QUIT) and the next sync prunes
//     ids the server no longer lists.
//
// # Speed
//
// RETR and DELE are pipelined when the server offers PIPELINING (RFC 2449
// §6.6). The network does not wait for the disk: a message up to 256 KiB
// is read into memory and handed to writer goroutines (at most 256
// messages queued), larger ones are streamed straight into tmp/, and
// group k is committed in the background while group k+1 downloads.
// One fsync per file (from several goroutines) and one directory fsync
// per group replace the fsync round trip per message of fetchmail or
// getmail.
//
// # State that cannot be trusted
//
// A state file that is missing while the maildir already holds mail, or
// corrupt, or written for another server or user, is not trusted: Sync
// then reconciles by content, hashing every local message and every
// downloaded one (SHA-256 of the stored LF form) and storing only
// messages whose content is not already there; a corrupt file is kept
// beside as POP3StateFile+".corrupt". This costs one full download but
// never makes duplicates.
//
// Two processes never sync the same maildir at once: Sync holds an
// flock(2) on a lock file in the maildir root, and the server's maildrop
// lock (RFC 1939 §8, -ERR [IN-USE]) keeps two sessions apart.
//
// # UIDL
//
// Sync needs UIDL (RFC 1939 §7) in both modes: without unique-ids a crash
// between storing and QUIT would make the next sync store the same
// messages again. A server without UIDL gets a clear error. (In delete mode
// content hashes could stand in for unique-ids, at the cost of downloading
// every undeleted message twice after a crash; no server worth supporting
// lacks UIDL, so this is not done.)
type POP3 struct {
	*Local
	cfg    AccountConfig
	srv    *ServerConfig
	opt    POP3Options
	now    func() time.Time
	sem    chan struct{} // one Sync at a time
	events chan Event

	mu     sync.Mutex
	closed bool
	cancel context.CancelFunc // cancels Syncs on Close
	base   context.Context
}

// NewPOP3 opens a POP3 account: its maildir (created when missing) and
// its server settings. Nothing is sent over the network until Sync or
// Check.
func NewPOP3(cfg AccountConfig, opt *POP3Options) (*POP3, error) {
	if cfg.POP3 == nil {
		return nil, fmt.Errorf("%s: no [pop3] table", cfg.Name)
	}
	l, err := NewLocal(cfg)
	if err != nil {
		return nil, err
	}
	p := &POP3{
		Local:  l,
		cfg:    cfg,
		srv:    cfg.POP3,
		sem:    make(chan struct{}, 1),
		events: make(chan Event, 16),
	}
	if opt != nil {
		p.opt = *opt
	}
	p.now = p.opt.Now
	if p.now == nil {
		p.now = time.Now
	}
	if p.opt.BatchMessages <= 0 {
		p.opt.BatchMessages = DefaultPOP3BatchMessages
	}
	if p.opt.BatchBytes <= 0 {
		p.opt.BatchBytes = DefaultPOP3BatchBytes
	}
	p.base, p.cancel = context.WithCancel(context.Background())
	return p, nil
}

// Caps: a POP3 account reads offline from its maildir, can move and flag
// there, and has network work to do.
func (p *POP3) Caps() Caps { return Caps{Move: true, Flags: true, Sync: true, Offline: true} }

// CheckEvery is the interval between background syncs (check_every).
func (p *POP3) CheckEvery() time.Duration {
	if p.srv.CheckEvery > 0 {
		return p.srv.CheckEvery
	}
	return DefaultCheckEvery
}

// Server returns the account's POP3 server settings.
func (p *POP3) Server() *ServerConfig { return p.srv }

// Events delivers EventFolderChanged for INBOX whenever downloaded mail
// lands; it is closed by Close.
func (p *POP3) Events() <-chan Event { return p.events }

// Close stops a running Sync (the server keeps everything not yet
// committed by QUIT), closes the events channel and the maildir account.
// It is safe to call more than once.
func (p *POP3) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	p.cancel()
	p.mu.Unlock()
	// Wait for a running Sync to give up before closing the channel it
	// may send on.
	p.sem <- struct{}{}
	p.mu.Lock()
	close(p.events)
	p.mu.Unlock()
	return p.Local.Close()
}

// emit sends an event without blocking; a full channel drops it (the UI
// reloads on the next one anyway).
func (p *POP3) emit(e Event) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return
	}
	e.Account = p.cfg.Name
	if e.Time.IsZero() {
		e.Time = p.now()
	}
	select {
	case p.events <- e:
	default:
	}
}

// errorf prefixes an error with the account name, the one-line form
// "home: pop3 host:995: login failed: -ERR [AUTH] …" (the transport
// errors already start with "pop3 ADDR:").
func (p *POP3) errorf(err error) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	if strings.HasPrefix(msg, "pop3 ") {
		return fmt.Errorf("%s: %w", p.cfg.Name, err)
	}
	return fmt.Errorf("%s: pop3 %s: %w", p.cfg.Name, p.srv.Addr(), err)
}

// inUseRetries are the waits before logging in again when the server
// answers -ERR [IN-USE] (RFC 2449 §8.1.1): a session of ours that just
// broke may hold the maildrop lock until the server notices it is gone.
var inUseRetries = [...]time.Duration{100 * time.Millisecond, 300 * time.Millisecond, time.Second}

// dial connects and logs in, retrying briefly while the maildrop is locked.
func (p *POP3) dial(ctx context.Context) (*pop3.Client, error) {
	pass, err := p.srv.PasswordFor(ctx)
	if err != nil {
		return nil, err
	}
	for _, wait := range inUseRetries {
		c, err := p.dialOnce(ctx, pass)
		var perr *pop3.Error
		if err == nil || !errors.As(err, &perr) || perr.Code != "IN-USE" {
			return c, err
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, err
		case <-t.C:
		}
	}
	return p.dialOnce(ctx, pass)
}

func (p *POP3) dialOnce(ctx context.Context, pass string) (*pop3.Client, error) {
	var err error
	o := &pop3.Options{
		TLS:     p.srv.TLS,
		Timeout: p.opt.Timeout,
		Dialer:  p.opt.Dialer,
	}
	if o.TLS == "" {
		o.TLS = TLSImplicit
	}
	if o.TLS != TLSNone {
		if p.opt.TLSConfig != nil {
			o.TLSConfig = p.opt.TLSConfig
		} else if o.TLSConfig, err = tlsconf.Config(p.srv.Host, p.srv.CAFile); err != nil {
			return nil, err
		}
	}
	if o.Timeout > 0 {
		o.DialTimeout = min(o.Timeout, pop3.DefaultDialTimeout)
	}
	c, err := pop3.Dial(ctx, p.srv.Addr(), o)
	if err != nil {
		return nil, err
	}
	// Cancelling ctx aborts whatever the client is doing.
	stop := context.AfterFunc(ctx, func() { c.Close() })
	if err := p.login(c, pass); err != nil {
		stop()
		c.Close()
		return nil, err
	}
	stop()
	return c, nil
}

// login authenticates as auth says: "" is USER/PASS (RFC 1939 §7), or
// AUTH PLAIN when the server lists SASL but not USER; the others name a
// SASL mechanism (RFC 5034), the password being the token for XOAUTH2
// and OAUTHBEARER.
func (p *POP3) login(c *pop3.Client, pass string) error {
	user := p.srv.Username
	switch p.srv.Auth {
	case "":
		caps := c.Caps()
		_, hasUser := caps["USER"]
		_, hasSASL := caps["SASL"]
		if len(caps) > 0 && !hasUser && hasSASL {
			return c.Auth(sasl.NewPlainClient("", user, pass))
		}
		return c.Login(user, pass)
	case AuthPlain:
		return c.Auth(sasl.NewPlainClient("", user, pass))
	case AuthLogin:
		return c.Auth(auth.Login(user, pass))
	case AuthCRAMMD5:
		return c.Auth(auth.CramMD5(user, pass))
	case AuthXOAUTH2:
		return c.Auth(auth.XOAuth2(user, pass))
	case AuthOAuthBearer:
		return c.Auth(sasl.NewOAuthBearerClient(&sasl.OAuthBearerOptions{Username: user, Token: pass}))
	}
	return fmt.Errorf("unknown auth mechanism %q", p.srv.Auth)
}

// Check logs in and returns the capabilities the server announced after
// login (RFC 2449 §5), each as "TAG ARGS…", sorted, for `mailbag check`.
// The session ends with QUIT having changed nothing.
func (p *POP3) Check(ctx context.Context) (caps []string, err error) {
	if err := p.checkOpen(); err != nil {
		return nil, err
	}
	c, err := p.dial(ctx)
	if err != nil {
		return nil, p.errorf(err)
	}
	for tag, args := range c.Caps() {
		caps = append(caps, strings.TrimSpace(tag+" "+strings.Join(args, " ")))
	}
	sort.Strings(caps)
	if err := c.Quit(); err != nil {
		return caps, p.errorf(err)
	}
	return caps, nil
}

func (p *POP3) checkOpen() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		return fmt.Errorf("%s: %w", p.cfg.Name, ErrClosed)
	}
	return nil
}

// Sync downloads new mail into INBOX, then deletes it from the server or
// leaves it there as configured; see the type's documentation for the
// order of steps and why a crash at any point loses nothing and
// duplicates nothing. Progress, when not nil, is called from Sync's
// goroutine. On failure nothing is committed on the server (no QUIT) and
// the error is one line naming the account, the server and the cause; the
// next Sync resumes.
func (p *POP3) Sync(ctx context.Context, progress func(Progress)) error {
	if err := p.checkOpen(); err != nil {
		return err
	}
	select {
	case p.sem <- struct{}{}:
	case <-ctx.Done():
		return ctx.Err()
	case <-p.base.Done():
		return fmt.Errorf("%s: %w", p.cfg.Name, ErrClosed)
	}
	defer func() { <-p.sem }()
	if err := p.checkOpen(); err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(p.base, cancel)
	defer stop()

	report := func(Progress) {}
	if progress != nil {
		report = func(pr Progress) {
			pr.Account = p.cfg.Name
			progress(pr)
		}
	}
	s := &pop3Sync{p: p, ctx: ctx, report: report}
	err := s.run()
	if err != nil {
		if ctx.Err() != nil && !errors.Is(err, ctx.Err()) && p.base.Err() == nil {
			err = fmt.Errorf("%w (%w)", ctx.Err(), err)
		}
		return p.errorf(err)
	}
	return nil
}

var _ Account = (*POP3)(nil)
