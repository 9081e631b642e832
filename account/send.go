package account

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-message"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/smtp"
	"github.com/mailbag/mailbag/transport/tlsconf"
)

// StageSending is the Progress stage of Flush.
const StageSending = "sending"

// SendOptions adjust sending, mostly for tests and the demo. A nil
// *SendOptions means the defaults.
type SendOptions struct {
	// Dial opens the submission session; nil means smtp.Dial.
	Dial func(ctx context.Context, addr string, opt *smtp.Options) (*smtp.Client, error)
	// Now is the clock (Date fields, backoff); nil means time.Now.
	Now func() time.Time
	// TLSConfig replaces what tlsconf.Config builds from host and ca_file.
	TLSConfig *tls.Config
	// Timeout bounds each SMTP step; zero means smtp.DefaultTimeout.
	Timeout time.Duration
	// AfterSent, when set, runs after a message was filed in Sent, with
	// the bytes filed there (no Bcc): an IMAP account APPENDs them to the
	// server's Sent folder (RFC 3501 §6.3.11). Its error is reported in
	// SendResult.Err; the message stays sent.
	AfterSent func(ctx context.Context, raw []byte) error

	// crashAt, for internal tests, is asked at each step after the
	// server accepted a message ("accepted", "marked", "filed"); true
	// stops the send there, as a crash would (the lock is let go).
	crashAt func(point string) bool
}

// Sending is an account that can send: any maildir-backed Account (local,
// POP3, IMAP cache) with an [smtp] table, wrapped by WithSMTP. It adds
// the Sender methods and leaves every Account method to the wrapped one.
//
// # Where a message is
//
// A message being sent lives in the account's maildir, in exactly one of
// three folders: Drafts (postponed, or refused and given back to the
// user), Outbox (waiting to be sent), Sent (accepted by the server). Send
// stores it in the Outbox durably (fsync, see store/maildir) before the
// first byte goes to the server, and moves it on only after the server's
// answer:
//
//   - accepted (250 to the final dot, for at least one recipient): into
//     Sent with the S flag; recipients the server refused while others
//     were accepted are listed in SendResult.Rejected, with its words;
//   - refused for good (5xx to MAIL, RCPT or DATA, a message too large
//     for the server's SIZE, 8-bit data to a server without 8BITMIME):
//     into Drafts, with the server's words in SendResult.Err;
//   - a temporary failure (4xx, the network, a timeout, the server gone
//     mid-DATA): it stays in the Outbox and Flush tries again after a
//     backoff of 1 minute, doubling up to 6 hours (Backoff); attempts, the
//     next try and the last error are kept in OutboxStateFile, which is
//     replaced atomically;
//   - a failure before the mail transaction (cannot connect, TLS refused
//     or unverifiable, STARTTLS not offered, AUTH refused, no password):
//     that is the account's configuration or the network, not the
//     message, so the message stays in the Outbox (status Queued, with the
//     error saying what to fix) rather than being handed back: fixing the
//     config and running `mailbag sync` (or SendNow) sends it.
//
// # Bcc
//
// The Outbox copy keeps its Bcc field, so a retry still knows every
// recipient and a refused message comes back to Drafts whole. What is
// transmitted and what is filed in Sent never has a Bcc field (RFC 5322
// §3.6.3 leaves the choice; mailbag never reveals Bcc recipients, not
// even in the sender's own copy, since a Sent folder is often shared or
// synced). When the stored copy and the filed copy are the same bytes the
// message is moved (one rename, the key kept); when they differ (Bcc
// stripped) the filed copy is written to Sent first and the Outbox copy
// removed after, with an "accepted" mark saved in the state file before,
// so a crash in between files it in Sent on the next Flush (matched by
// Message-ID) and never transmits it again.
//
// # Crashes
//
// A crash (SIGKILL, power cut) at any moment leaves the message in
// exactly one of Drafts, Outbox or Sent; a message that was only read,
// never stored, was never acknowledged to the caller either. A message
// can be sent twice in one case only: the crash falls after the server's
// 250 and before the move to Sent (or the "accepted" mark), so the next
// Flush sends it again. SMTP gives no way to close that window (RFC 1047).
//
// Two processes (the TUI and `mailbag send` or `mailbag sync`) never send
// from one Outbox at once: sending holds an flock(2) on a lock file in
// the Outbox folder.
type Sending struct {
	Account
	cfg AccountConfig
	srv *ServerConfig
	opt SendOptions
	now func() time.Time
	dir *maildir.Dir
	// fmu serialises folder lookups: maildir.Dir.Folder may hand a
	// folder being created by another goroutine to a second caller before
	// its tmp/ exists.
	fmu sync.Mutex
}

// WithSMTP wraps a maildir-backed account whose config has an [smtp]
// table so that it also implements Sender. cfg is the account's config
// (its Maildir is where Drafts, Outbox and Sent live).
func WithSMTP(a Account, cfg AccountConfig, opt *SendOptions) (*Sending, error) {
	if cfg.SMTP == nil {
		return nil, fmt.Errorf("%s: no [smtp] table", cfg.Name)
	}
	if cfg.Maildir == "" {
		return nil, fmt.Errorf("%s: no maildir", cfg.Name)
	}
	d, err := maildir.Open(cfg.Maildir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	s := &Sending{Account: a, cfg: cfg, srv: cfg.SMTP, dir: d, now: time.Now}
	if opt != nil {
		s.opt = *opt
	}
	if s.opt.Now != nil {
		s.now = s.opt.Now
	}
	return s, nil
}

// Wrap gives a the sending half its config asks for: WithSMTP when cfg
// has an [smtp] table and a is not a Sender already, else a itself.
func Wrap(a Account, cfg AccountConfig) (Account, error) {
	if cfg.SMTP == nil {
		return a, nil
	}
	if _, ok := a.(Sender); ok {
		return a, nil
	}
	s, err := WithSMTP(a, cfg, nil)
	if err != nil {
		return nil, err
	}
	return s, nil
}

// Unwrap returns the wrapped account (for its own methods, such as a
// POP3 account's Check).
func (s *Sending) Unwrap() Account { return s.Account }

// Caps are the wrapped account's, with Send.
func (s *Sending) Caps() Caps {
	c := s.Account.Caps()
	c.Send = true
	return c
}

// Server returns the [smtp] settings.
func (s *Sending) Server() *ServerConfig { return s.srv }

// CheckSMTP logs in to the submission server (TLS and AUTH as configured)
// and returns the extensions it announced, for `mailbag check`.
func (s *Sending) CheckSMTP(ctx context.Context) ([]string, error) {
	caps, err := CheckSMTP(ctx, s.srv, &s.opt)
	if err != nil {
		return caps, s.errorf(err)
	}
	return caps, nil
}

// CheckSMTP logs in to the submission server of an [smtp] table (TLS and
// AUTH as configured, password_cmd run) and returns the extensions it
// announced; nothing is stored, no maildir is needed. Errors read
// "smtp ADDR: STEP: cause". opt may be nil.
func CheckSMTP(ctx context.Context, srv *ServerConfig, opt *SendOptions) ([]string, error) {
	s := &Sending{srv: srv}
	if opt != nil {
		s.opt = *opt
	}
	o, err := s.smtpOptions(ctx)
	if err != nil {
		return nil, err
	}
	c, err := s.dial(ctx, o)
	if err != nil {
		return nil, err
	}
	caps := c.Extensions()
	return caps, c.Close()
}

func (s *Sending) errorf(err error) error { return fmt.Errorf("%s: %w", s.cfg.Name, err) }

// roleFolderer is implemented by Local (and accounts embedding it).
type roleFolderer interface {
	RoleFolder(ctx context.Context, role string) (string, error)
}

// folder opens the folder playing role, creating it when missing.
func (s *Sending) folder(ctx context.Context, role string) (*maildir.Folder, error) {
	s.fmu.Lock()
	defer s.fmu.Unlock()
	var name string
	if rf, ok := s.Account.(roleFolderer); ok {
		n, err := rf.RoleFolder(ctx, role)
		if err != nil {
			return nil, err
		}
		name = n
	} else if n := s.cfg.Folders[role]; n != "" {
		name = n
	} else {
		for _, rn := range roleNames {
			if rn.role == role {
				name = rn.names[0]
			}
		}
	}
	f, err := s.dir.Folder(name)
	if err != nil {
		return nil, s.errorf(err)
	}
	return f, nil
}

// box is the three folders of a send, with the Outbox state, valid while
// the Outbox lock is held.
type box struct {
	outbox, sent, drafts *maildir.Folder
	st                   *outboxState
	unlock               func()
}

func (s *Sending) open(ctx context.Context) (*box, error) {
	b := &box{}
	var err error
	if b.outbox, err = s.folder(ctx, RoleOutbox); err != nil {
		return nil, err
	}
	if b.sent, err = s.folder(ctx, RoleSent); err != nil {
		return nil, err
	}
	if b.drafts, err = s.folder(ctx, RoleDrafts); err != nil {
		return nil, err
	}
	if b.unlock, err = lockOutbox(ctx, b.outbox.Path()); err != nil {
		return nil, s.errorf(err)
	}
	if b.st, err = loadOutboxState(b.outbox.Path()); err != nil {
		b.unlock()
		return nil, s.errorf(err)
	}
	return b, nil
}

// Send stores the message in the Outbox durably, then submits it. raw is
// an RFC 5322 message (at most MaxSendSize bytes); the recipients are its
// To, Cc and Bcc addresses; a missing From is the account's address, a
// missing Date is now and a missing Message-ID is made up, and these are
// added before it is stored. A message that cannot be stored at all (no
// recipients, a malformed header, too large, the disk) is an error and
// is nowhere.
func (s *Sending) Send(ctx context.Context, raw io.Reader) (SendResult, error) {
	data, err := readMessage(raw)
	if err != nil {
		return SendResult{}, s.errorf(err)
	}
	h, body, err := splitMessage(data)
	if err != nil {
		return SendResult{}, s.errorf(err)
	}
	changed, err := completeHeader(&h, s.cfg.Address, s.now())
	if err != nil {
		return SendResult{}, s.errorf(err)
	}
	if changed {
		var buf bytes.Buffer
		if err := textproto.WriteHeader(&buf, h); err != nil {
			return SendResult{}, s.errorf(fmt.Errorf("message header: %w", err))
		}
		buf.Write(body)
		data = buf.Bytes()
	}
	if _, err := prepareOutgoing(data, s.cfg.Address, s.now()); err != nil {
		return SendResult{}, s.errorf(err)
	}
	// Stored first, then locked: a message is durable as soon as
	// possible, and a Flush of another process that picks it up in
	// between sends it once (the lock keeps the attempts apart, and ours
	// then finds it in Sent).
	e, err := s.deliver(ctx, RoleOutbox, data, "")
	if err != nil {
		return SendResult{}, err
	}
	stored := time.Now()
	b, err := s.open(ctx)
	if err != nil {
		return SendResult{Status: Queued, ID: MsgID(e.Key), Err: err}, nil
	}
	defer b.unlock()
	if _, err := b.outbox.Find(e.Key); errors.Is(err, maildir.ErrNotFound) {
		// Another process's Flush sent it while we waited for the lock;
		// with Bcc stripped its Sent copy has a key of its own.
		mh := gomail.Header{Header: message.Header{Header: h}}
		id, _ := mh.MessageID()
		if sid, ok := s.findSent(b.sent, &outboxEntry{MessageID: id, AcceptedAt: stored}); ok {
			return SendResult{Status: Sent, ID: sid}, nil
		}
	}
	return s.attempt(ctx, b, e.Key), nil
}

// SendDraft moves a draft from Drafts into the Outbox (one rename: it is
// never in both) and submits it.
func (s *Sending) SendDraft(ctx context.Context, id MsgID) (SendResult, error) {
	b, err := s.open(ctx)
	if err != nil {
		return SendResult{}, err
	}
	defer b.unlock()
	e, err := b.drafts.Find(string(id))
	if err != nil {
		return SendResult{}, s.errorf(err)
	}
	if err := s.checkFile(b.drafts, e); err != nil {
		return SendResult{}, err
	}
	if _, err := b.drafts.Move(e, b.outbox); err != nil {
		return SendResult{}, s.errorf(err)
	}
	return s.attempt(ctx, b, string(id)), nil
}

// checkFile makes sure a stored message can be sent (size, recipients)
// before it is moved into the Outbox.
func (s *Sending) checkFile(f *maildir.Folder, e maildir.Entry) error {
	data, err := s.readEntry(f, e)
	if err != nil {
		return err
	}
	if _, err := prepareOutgoing(data, s.cfg.Address, s.now()); err != nil {
		return s.errorf(err)
	}
	return nil
}

// SendNow submits a message waiting in the Outbox at once, whatever its
// backoff.
func (s *Sending) SendNow(ctx context.Context, id MsgID) (SendResult, error) {
	b, err := s.open(ctx)
	if err != nil {
		return SendResult{}, err
	}
	defer b.unlock()
	if res, done := s.recover(ctx, b, string(id)); done {
		return res, nil
	}
	if _, err := b.outbox.Find(string(id)); err != nil {
		return SendResult{}, s.errorf(err)
	}
	return s.attempt(ctx, b, string(id)), nil
}

// Postpone stores the message in Drafts (flags D and S); replace, when
// not empty, is a draft it supersedes, removed after the new one is
// durable (a crash in between leaves both drafts, never neither).
func (s *Sending) Postpone(ctx context.Context, raw io.Reader, replace MsgID) (MsgID, error) {
	data, err := readMessage(raw)
	if err != nil {
		return "", s.errorf(err)
	}
	e, err := s.deliver(ctx, RoleDrafts, data, "DS")
	if err != nil {
		return "", err
	}
	drafts, err := s.folder(ctx, RoleDrafts)
	if err != nil {
		return MsgID(e.Key), err
	}
	if replace != "" && string(replace) != e.Key {
		old, err := drafts.Find(string(replace))
		if err == nil {
			err = drafts.Remove(old)
		}
		if err != nil && !errors.Is(err, maildir.ErrNotFound) {
			return MsgID(e.Key), s.errorf(err)
		}
	}
	return MsgID(e.Key), nil
}

// deliver stores data durably in the folder playing role. A folder that
// another process is creating at this instant can lack its tmp/ for a
// moment (maildir.Dir.Folder checks cur/ only): the delivery is then
// tried again, a few times.
func (s *Sending) deliver(ctx context.Context, role string, data []byte, flags maildir.Flags) (maildir.Entry, error) {
	for attempt := 0; ; attempt++ {
		f, err := s.folder(ctx, role)
		if err != nil {
			return maildir.Entry{}, err
		}
		e, err := f.Deliver(bytes.NewReader(data), flags)
		if err == nil {
			return e, nil
		}
		if !errors.Is(err, fs.ErrNotExist) || attempt >= 4 {
			return maildir.Entry{}, s.errorf(err)
		}
		select {
		case <-ctx.Done():
			return maildir.Entry{}, s.errorf(err)
		case <-time.After(time.Duration(attempt+1) * 10 * time.Millisecond):
		}
	}
}

// Queued is the number of messages in the Outbox.
func (s *Sending) Queued(ctx context.Context) (int, error) {
	keys, err := s.outboxKeys(ctx)
	return len(keys), err
}

func (s *Sending) outboxKeys(ctx context.Context) ([]string, error) {
	f, err := s.folder(ctx, RoleOutbox)
	if err != nil {
		return nil, err
	}
	return folderKeys(f)
}

func folderKeys(f *maildir.Folder) ([]string, error) {
	ents, err := f.List()
	if err != nil {
		return nil, err
	}
	seen := make(map[string]bool, len(ents))
	keys := make([]string, 0, len(ents))
	for _, e := range ents {
		if !seen[e.Key] {
			seen[e.Key] = true
			keys = append(keys, e.Key)
		}
	}
	return keys, nil
}

// Outbox lists the messages waiting, oldest first, with their retry
// state, for the UI's queue view and `mailbag sync`.
func (s *Sending) Outbox(ctx context.Context) ([]QueuedMessage, error) {
	f, err := s.folder(ctx, RoleOutbox)
	if err != nil {
		return nil, err
	}
	keys, err := folderKeys(f)
	if err != nil {
		return nil, s.errorf(err)
	}
	st, err := loadOutboxState(f.Path())
	if err != nil {
		return nil, s.errorf(err)
	}
	return st.queued(keys), nil
}

// FlushError reports the messages a Flush tried and could not send.
type FlushError struct {
	Account string
	Failed  []FlushFailure
}

// FlushFailure is one message Flush could not send.
type FlushFailure struct {
	ID     MsgID
	Status SendStatus // Queued or Refused
	Err    error
}

func (e *FlushError) Error() string {
	parts := make([]string, len(e.Failed))
	for i, f := range e.Failed {
		what := "queued"
		if f.Status == Refused {
			what = "refused, back in Drafts"
		}
		parts[i] = fmt.Sprintf("%s (%s): %v", f.ID, what, f.Err)
	}
	return fmt.Sprintf("%s: outbox: %d not sent: %s", e.Account, len(e.Failed), strings.Join(parts, "; "))
}

// Unwrap gives errors.As the failures' errors (*smtp.SMTPError …).
func (e *FlushError) Unwrap() []error {
	out := make([]error, 0, len(e.Failed))
	for _, f := range e.Failed {
		out = append(out, f.Err)
	}
	return out
}

// Flush first finishes what a crash interrupted (messages already sent
// but still in the Outbox are filed in Sent, never sent again), then
// submits every queued message whose backoff has passed, oldest first.
// Messages still waiting for their backoff are not failures. The error is
// a *FlushError listing those tried and not sent.
func (s *Sending) Flush(ctx context.Context, progress func(Progress)) error {
	if progress == nil {
		progress = func(Progress) {}
	}
	b, err := s.open(ctx)
	if err != nil {
		return err
	}
	defer b.unlock()
	keys, err := folderKeys(b.outbox)
	if err != nil {
		return s.errorf(err)
	}
	present := make(map[string]bool, len(keys))
	for _, k := range keys {
		present[k] = true
	}
	if b.st.prune(present) {
		if err := b.st.save(); err != nil {
			return s.errorf(err)
		}
	}
	now := s.now()
	var due []string
	for _, k := range keys {
		if _, done := s.recover(ctx, b, k); done {
			continue
		}
		if e := b.st.Entries[k]; e == nil || !e.Next.After(now) {
			due = append(due, k)
		}
	}
	// Maildir keys begin with the delivery time: oldest first.
	sortKeys(due)
	fe := &FlushError{Account: s.cfg.Name}
	progress(Progress{Account: s.cfg.Name, Stage: StageSending, Total: len(due)})
	for i, k := range due {
		if err := ctx.Err(); err != nil {
			fe.Failed = append(fe.Failed, FlushFailure{ID: MsgID(k), Status: Queued, Err: err})
			break
		}
		res := s.attempt(ctx, b, k)
		if res.Status != Sent {
			fe.Failed = append(fe.Failed, FlushFailure{ID: MsgID(k), Status: res.Status, Err: res.Err})
		}
		progress(Progress{Account: s.cfg.Name, Stage: StageSending, Done: i + 1, Total: len(due)})
	}
	progress(Progress{Account: s.cfg.Name, Stage: StageDone, Done: len(due), Total: len(due)})
	if len(fe.Failed) > 0 {
		return fe
	}
	return nil
}

// sortKeys orders maildir keys by their leading delivery time (seconds,
// then microseconds), then by the whole key.
func sortKeys(keys []string) {
	type k struct {
		sec, usec int64
		s         string
	}
	parse := func(s string) k {
		out := k{s: s}
		sec, rest, _ := strings.Cut(s, ".")
		out.sec, _ = strconv.ParseInt(sec, 10, 64)
		if strings.HasPrefix(rest, "M") {
			end := strings.IndexFunc(rest[1:], func(r rune) bool { return r < '0' || r > '9' })
			if end < 0 {
				end = len(rest) - 1
			}
			out.usec, _ = strconv.ParseInt(rest[1:1+end], 10, 64)
		}
		return out
	}
	ks := make([]k, len(keys))
	for i, s := range keys {
		ks[i] = parse(s)
	}
	less := func(a, b k) bool {
		if a.sec != b.sec {
			return a.sec < b.sec
		}
		if a.usec != b.usec {
			return a.usec < b.usec
		}
		return a.s < b.s
	}
	for i := 1; i < len(ks); i++ { // insertion sort: queues are short
		for j := i; j > 0 && less(ks[j], ks[j-1]); j-- {
			ks[j], ks[j-1] = ks[j-1], ks[j]
		}
	}
	for i := range ks {
		keys[i] = ks[i].s
	}
}

func (s *Sending) readEntry(f *maildir.Folder, e maildir.Entry) ([]byte, error) {
	file, _, err := f.Open(e)
	if err != nil {
		return nil, s.errorf(err)
	}
	defer file.Close()
	data, err := readMessage(file)
	if err != nil {
		return nil, s.errorf(fmt.Errorf("%s: %w", e.Key, err))
	}
	return data, nil
}

// recover finishes the filing of a message the server already accepted,
// when a crash interrupted it: a key present in both the Outbox and Sent
// (a move the file system made twice visible), or an "accepted" mark.
// done reports that key needs no sending.
func (s *Sending) recover(ctx context.Context, b *box, key string) (SendResult, bool) {
	if _, err := b.sent.Find(key); err == nil {
		if e, err := b.outbox.Find(key); err == nil {
			if err := b.outbox.Remove(e); err != nil {
				return SendResult{Status: Sent, ID: MsgID(key), Err: s.errorf(err)}, true
			}
		}
		s.forget(b, key)
		return SendResult{Status: Sent, ID: MsgID(key)}, true
	}
	ent := b.st.Entries[key]
	if ent == nil || !ent.Accepted {
		return SendResult{}, false
	}
	e, err := b.outbox.Find(key)
	if err != nil {
		s.forget(b, key)
		return SendResult{}, true
	}
	if id, ok := s.findSent(b.sent, ent); ok {
		if err := b.outbox.Remove(e); err != nil {
			return SendResult{Status: Sent, ID: id, Err: s.errorf(err)}, true
		}
		s.forget(b, key)
		return SendResult{Status: Sent, ID: id}, true
	}
	data, err := s.readEntry(b.outbox, e)
	if err != nil {
		return SendResult{Status: Sent, ID: MsgID(key), Err: err}, true
	}
	out, err := prepareOutgoing(data, s.cfg.Address, s.now())
	if err != nil {
		// It was sent; file it as stored rather than lose it.
		out = &outgoing{wire: data}
	}
	res := SendResult{Status: Sent, ID: MsgID(key)}
	if id, err := s.fileCopy(ctx, b, key, out.wire); err != nil {
		res.Err = err
	} else {
		res.ID = id
	}
	return res, true
}

// findSent looks in Sent for the copy filed after ent was accepted: a
// message delivered since then with ent's Message-ID.
func (s *Sending) findSent(sent *maildir.Folder, ent *outboxEntry) (MsgID, bool) {
	if ent.MessageID == "" {
		return "", false
	}
	ents, err := sent.List()
	if err != nil {
		return "", false
	}
	since := ent.AcceptedAt.Unix() - 2
	for _, e := range ents {
		sec, _, _ := strings.Cut(e.Key, ".")
		if t, err := strconv.ParseInt(sec, 10, 64); err == nil && t < since {
			continue
		}
		file, _, err := sent.Open(e)
		if err != nil {
			continue
		}
		h, err := textproto.ReadHeader(bufio.NewReader(io.LimitReader(file, 1<<20)))
		file.Close()
		if err != nil && !errors.Is(err, io.EOF) {
			continue
		}
		mh := gomail.Header{Header: message.Header{Header: h}}
		if id, _ := mh.MessageID(); id == ent.MessageID {
			return MsgID(e.Key), true
		}
	}
	return "", false
}

func (s *Sending) forget(b *box, key string) {
	if _, ok := b.st.Entries[key]; ok {
		delete(b.st.Entries, key)
		b.st.save() // a stale entry is pruned by the next Flush
	}
}

// attempt submits the Outbox message key once and files it by the answer.
func (s *Sending) attempt(ctx context.Context, b *box, key string) SendResult {
	e, err := b.outbox.Find(key)
	if err != nil {
		// Another sender (before we took the lock) dealt with it.
		if _, serr := b.sent.Find(key); serr == nil {
			return SendResult{Status: Sent, ID: MsgID(key)}
		}
		if _, derr := b.drafts.Find(key); derr == nil {
			return SendResult{Status: Refused, ID: MsgID(key), Err: s.errorf(errors.New("refused earlier; it is in Drafts"))}
		}
		return SendResult{Status: Queued, ID: MsgID(key), Err: s.errorf(err)}
	}
	data, err := s.readEntry(b.outbox, e)
	if err != nil {
		return s.queue(b, key, err)
	}
	out, err := prepareOutgoing(data, s.cfg.Address, s.now())
	if err != nil {
		return s.refuse(b, key, s.errorf(err))
	}
	o, err := s.smtpOptions(ctx)
	if err != nil {
		return s.queue(b, key, s.errorf(err))
	}
	c, err := s.dial(ctx, o)
	if err != nil {
		return s.queue(b, key, s.errorf(err))
	}
	r, err := c.Send(ctx, out.from, out.rcpts, bytes.NewReader(out.wire), int64(len(out.wire)), out.eightBit)
	if err != nil {
		c.Close()
		if smtp.IsTemporary(err) {
			return s.queue(b, key, s.errorf(err))
		}
		return s.refuse(b, key, s.errorf(err))
	}
	// Accepted: file it before saying goodbye (QUIT may take a while).
	if s.crash("accepted") {
		c.Close()
		return SendResult{}
	}
	res := s.fileSent(ctx, b, key, e, out)
	c.Close()
	for _, rj := range r.Rejected {
		res.Rejected = append(res.Rejected, rj.Error())
	}
	return res
}

// fileSent files an accepted message in Sent: a move when the stored
// bytes are what was sent, else the "accepted" mark, the copy, and the
// removal of the Outbox copy.
func (s *Sending) fileSent(ctx context.Context, b *box, key string, e maildir.Entry, out *outgoing) SendResult {
	res := SendResult{Status: Sent, ID: MsgID(key)}
	if !out.changed {
		flags := e.Flags.Without("D").With("S")
		ne, err := b.outbox.SetFlags(e, flags)
		if err == nil {
			_, err = b.outbox.Move(ne, b.sent)
		}
		if err != nil {
			res.Err = s.errorf(fmt.Errorf("sent, but filing in Sent failed: %w", err))
			return res
		}
		s.forget(b, key)
		s.afterSent(ctx, out.wire, &res)
		return res
	}
	// AcceptedAt is compared with the delivery times in maildir keys:
	// the real clock, not the injected one.
	b.st.Entries[key] = &outboxEntry{Accepted: true, AcceptedAt: time.Now(), MessageID: out.messageID}
	if err := b.st.save(); err != nil {
		res.Err = s.errorf(fmt.Errorf("sent, but saving the outbox state failed: %w", err))
		return res
	}
	if s.crash("marked") {
		return SendResult{}
	}
	id, err := s.fileCopy(ctx, b, key, out.wire)
	if errors.Is(err, errSimulatedCrash) {
		return SendResult{}
	}
	if err != nil {
		res.Err = err
		return res
	}
	res.ID = id
	s.afterSent(ctx, out.wire, &res)
	return res
}

// fileCopy stores wire in Sent (flag S) and removes the Outbox copy.
func (s *Sending) fileCopy(ctx context.Context, b *box, key string, wire []byte) (MsgID, error) {
	ne, err := s.deliver(ctx, RoleSent, wire, "S")
	if err != nil {
		return MsgID(key), fmt.Errorf("sent, but filing in Sent failed: %w", err)
	}
	if s.crash("filed") {
		return MsgID(ne.Key), errSimulatedCrash
	}
	if e, err := b.outbox.Find(key); err == nil {
		if err := b.outbox.Remove(e); err != nil {
			return MsgID(ne.Key), s.errorf(err)
		}
	}
	s.forget(b, key)
	return MsgID(ne.Key), nil
}

// errSimulatedCrash is returned by steps that internal tests stopped.
var errSimulatedCrash = errors.New("simulated crash")

func (s *Sending) crash(point string) bool { return s.opt.crashAt != nil && s.opt.crashAt(point) }

func (s *Sending) afterSent(ctx context.Context, wire []byte, res *SendResult) {
	if s.opt.AfterSent == nil {
		return
	}
	if err := s.opt.AfterSent(ctx, wire); err != nil {
		res.Err = s.errorf(fmt.Errorf("sent, but: %w", err))
	}
}

// queue keeps the message in the Outbox and schedules the next try.
func (s *Sending) queue(b *box, key string, cause error) SendResult {
	ent := b.st.Entries[key]
	if ent == nil {
		ent = &outboxEntry{}
		b.st.Entries[key] = ent
	}
	ent.Attempts++
	ent.Next = s.now().Add(Backoff(ent.Attempts))
	ent.LastError = clip(cause.Error(), 2000)
	res := SendResult{Status: Queued, ID: MsgID(key), Err: cause}
	if err := b.st.save(); err != nil {
		res.Err = errors.Join(cause, s.errorf(err))
	}
	return res
}

// refuse gives the message back: Outbox → Drafts, flag D.
func (s *Sending) refuse(b *box, key string, cause error) SendResult {
	res := SendResult{Status: Refused, ID: MsgID(key), Err: cause}
	e, err := b.outbox.Find(key)
	if err == nil {
		e, err = b.outbox.Move(e, b.drafts)
	}
	if err == nil {
		_, err = b.drafts.SetFlags(e, e.Flags.With("D"))
	}
	if err != nil {
		res.Err = errors.Join(cause, s.errorf(fmt.Errorf("moving it to Drafts: %w", err)))
	}
	s.forget(b, key)
	return res
}

// smtpOptions builds the dial options from [smtp]: TLS policy, the CA,
// the password (run password_cmd only when a username is set).
func (s *Sending) smtpOptions(ctx context.Context) (*smtp.Options, error) {
	o := &smtp.Options{
		TLS:       s.srv.TLS,
		Timeout:   s.opt.Timeout,
		Username:  s.srv.Username,
		Mechanism: s.srv.Auth,
	}
	if s.srv.TLS != TLSNone {
		if s.opt.TLSConfig != nil {
			o.TLSConfig = s.opt.TLSConfig.Clone()
		} else {
			cfg, err := tlsconf.Config(s.srv.Host, s.srv.CAFile)
			if err != nil {
				return nil, fmt.Errorf("smtp %s: %w", s.srv.Addr(), err)
			}
			o.TLSConfig = cfg
		}
	}
	if s.srv.Username != "" {
		pw, err := s.srv.PasswordFor(ctx)
		if err != nil {
			return nil, fmt.Errorf("smtp %s: %w", s.srv.Addr(), err)
		}
		o.Password = pw
	}
	return o, nil
}

func (s *Sending) dial(ctx context.Context, o *smtp.Options) (*smtp.Client, error) {
	if s.opt.Dial != nil {
		return s.opt.Dial(ctx, s.srv.Addr(), o)
	}
	return smtp.Dial(ctx, s.srv.Addr(), o)
}

var (
	_ Account = (*Sending)(nil)
	_ Sender  = (*Sending)(nil)
)
