package account

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/mailbag/mailbag/store/index"
	"github.com/mailbag/mailbag/store/maildir"
)

// ErrClosed is returned by the methods of an account after Close.
var ErrClosed = errors.New("account closed")

// roleNames are the folder names that play a role when the config names
// no folder for it (compared ignoring case), the first being the name a
// missing folder is created with.
var roleNames = [...]struct {
	role  string
	names []string
}{
	{RoleInbox, []string{maildir.Inbox}},
	{RoleSent, []string{"Sent"}},
	{RoleDrafts, []string{"Drafts"}},
	{RoleTrash, []string{"Trash"}},
	{RoleJunk, []string{"Junk", "Spam"}},
	{RoleArchive, []string{"Archive"}},
	{RoleOutbox, []string{"Outbox"}},
}

// Local is an account on a local Maildir++ tree: mail another program
// delivers, an archive, or (until their backends exist) the cache of a
// POP3 or IMAP account. Its methods are safe for concurrent use.
type Local struct {
	cfg AccountConfig
	dir *maildir.Dir

	mu      sync.Mutex
	indexes map[string]*index.Index // by folder name, as the maildir spells it
	events  chan Event
	closed  bool
}

// NewLocal opens the account's maildir (creating it, 0700, when missing).
func NewLocal(cfg AccountConfig) (*Local, error) {
	if cfg.Maildir == "" {
		return nil, fmt.Errorf("%s: no maildir", cfg.Name)
	}
	d, err := maildir.Open(cfg.Maildir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	return &Local{
		cfg:     cfg,
		dir:     d,
		indexes: make(map[string]*index.Index),
		events:  make(chan Event, 16),
	}, nil
}

// Name returns the account's name.
func (l *Local) Name() string { return l.cfg.Name }

// Address returns the account's address as configured.
func (l *Local) Address() string { return l.cfg.Address }

// Maildir returns the root of the account's maildir.
func (l *Local) Maildir() string { return l.dir.Root() }

// Caps: moving and flags work; there is no network work and nothing to
// send with (yet).
func (l *Local) Caps() Caps { return Caps{Move: true, Flags: true, Offline: true} }

func (l *Local) check(ctx context.Context) error {
	l.mu.Lock()
	closed := l.closed
	l.mu.Unlock()
	if closed {
		return fmt.Errorf("%s: %w", l.cfg.Name, ErrClosed)
	}
	return ctx.Err()
}

// Role returns the role folder name plays in this account, or "".
func (l *Local) Role(name string) string {
	for role, n := range l.cfg.Folders {
		if strings.EqualFold(n, name) {
			return role
		}
	}
	for _, rn := range roleNames {
		if _, ok := l.cfg.Folders[rn.role]; ok {
			continue // the config gave this role to another folder
		}
		for _, n := range rn.names {
			if strings.EqualFold(n, name) {
				return rn.role
			}
		}
	}
	return ""
}

// RoleFolder returns the name of the folder playing role, creating it
// when missing: the folder the config names, else an existing folder
// with one of the role's usual names (ignoring case), else a new folder
// ("Trash", "Sent", "Drafts", "Archive", "Junk", "Outbox").
func (l *Local) RoleFolder(ctx context.Context, role string) (string, error) {
	if err := l.check(ctx); err != nil {
		return "", err
	}
	name, err := l.roleFolder(role)
	if err != nil {
		return "", err
	}
	if _, err := l.dir.Folder(name); err != nil {
		return "", fmt.Errorf("%s: %s folder: %w", l.cfg.Name, role, err)
	}
	return name, nil
}

func (l *Local) roleFolder(role string) (string, error) {
	if n, ok := l.cfg.Folders[role]; ok {
		return n, nil
	}
	for _, rn := range roleNames {
		if rn.role != role {
			continue
		}
		existing, err := l.dir.Folders()
		if err != nil {
			return "", fmt.Errorf("%s: %w", l.cfg.Name, err)
		}
		for _, want := range rn.names {
			for _, have := range existing {
				if strings.EqualFold(have, want) {
					return have, nil
				}
			}
		}
		return rn.names[0], nil
	}
	return "", fmt.Errorf("%s: unknown folder role %q", l.cfg.Name, role)
}

// Folders lists the folders of the maildir, INBOX first, with their
// message counts; a message without the S (seen) flag is unread.
func (l *Local) Folders(ctx context.Context) ([]Folder, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	names, err := l.dir.Folders()
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.cfg.Name, err)
	}
	out := make([]Folder, 0, len(names))
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		fo, err := l.folderInfo(name)
		if err != nil {
			return nil, err
		}
		out = append(out, fo)
	}
	return out, nil
}

// folderInfo describes one folder with its counts.
func (l *Local) folderInfo(name string) (Folder, error) {
	fo := Folder{Name: name, Role: l.Role(name)}
	f, err := l.dir.Folder(name)
	if err != nil {
		return fo, fmt.Errorf("%s: %w", l.cfg.Name, err)
	}
	entries, err := f.List()
	if err != nil {
		return fo, fmt.Errorf("%s: %w", l.cfg.Name, err)
	}
	fo.Total = len(entries)
	for _, e := range entries {
		if !e.Flags.Has(maildir.FlagSeen) {
			fo.Unread++
		}
	}
	return fo, nil
}

// folder opens an existing folder; it never creates one.
func (l *Local) folder(name string) (*maildir.Folder, error) {
	if !l.dir.HasFolder(name) {
		return nil, fmt.Errorf("%s: no folder %q", l.cfg.Name, name)
	}
	f, err := l.dir.Folder(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", l.cfg.Name, err)
	}
	return f, nil
}

// List returns the envelopes of a folder from its index, which is kept
// per folder and brought up to date with the maildir on every call.
func (l *Local) List(ctx context.Context, folder string) ([]Envelope, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	f, err := l.folder(folder)
	if err != nil {
		return nil, err
	}
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return nil, fmt.Errorf("%s: %w", l.cfg.Name, ErrClosed)
	}
	ix, ok := l.indexes[f.Name()]
	if !ok {
		ix = index.Open(f, nil)
		l.indexes[f.Name()] = ix
	}
	l.mu.Unlock()
	envs, err := ix.Load() // safe for concurrent use
	if err != nil {
		return nil, fmt.Errorf("%s: %s: %w", l.cfg.Name, folder, err)
	}
	return envs, nil
}

// Open returns the message file. The file may have been renamed since it
// was listed (flags changed); it is found by its key. A message that is
// gone gives an error naming the key and wrapping maildir.ErrNotFound.
func (l *Local) Open(ctx context.Context, folder string, id MsgID) (io.ReadCloser, error) {
	if err := l.check(ctx); err != nil {
		return nil, err
	}
	f, err := l.folder(folder)
	if err != nil {
		return nil, err
	}
	e, err := f.Find(string(id))
	if err != nil {
		return nil, fmt.Errorf("%s: %s: open %s: %w", l.cfg.Name, folder, id, err)
	}
	file, _, err := f.Open(e)
	if err != nil {
		return nil, fmt.Errorf("%s: %s: open %s: %w", l.cfg.Name, folder, id, err)
	}
	return file, nil
}

// SetFlags adds and then removes flag letters on each message.
func (l *Local) SetFlags(ctx context.Context, folder string, ids []MsgID, add, remove maildir.Flags) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	f, err := l.folder(folder)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := f.Find(string(id))
		if err != nil {
			return fmt.Errorf("%s: %s: set flags of %s: %w", l.cfg.Name, folder, id, err)
		}
		flags := e.Flags.With(add).Without(remove)
		if flags == e.Flags {
			continue
		}
		if _, err := f.SetFlags(e, flags); err != nil {
			return fmt.Errorf("%s: %w", l.cfg.Name, err)
		}
	}
	return nil
}

// Move moves messages to another folder, creating it when missing. The
// messages keep their MsgID (the maildir key) and flags, so a move can
// be undone by moving them back.
func (l *Local) Move(ctx context.Context, from string, ids []MsgID, to string) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	src, err := l.folder(from)
	if err != nil {
		return err
	}
	dst, err := l.dir.Folder(to)
	if err != nil {
		return fmt.Errorf("%s: move to %q: %w", l.cfg.Name, to, err)
	}
	return l.move(ctx, src, ids, dst)
}

func (l *Local) move(ctx context.Context, src *maildir.Folder, ids []MsgID, dst *maildir.Folder) error {
	if src.Path() == dst.Path() {
		return nil
	}
	for _, id := range ids {
		if err := ctx.Err(); err != nil {
			return err
		}
		e, err := src.Find(string(id))
		if err != nil {
			return fmt.Errorf("%s: %s: move %s: %w", l.cfg.Name, src.Name(), id, err)
		}
		if _, err := src.Move(e, dst); err != nil {
			return fmt.Errorf("%s: %w", l.cfg.Name, err)
		}
	}
	return nil
}

// Postpone stores a draft (flags D and S) durably in the Drafts folder,
// then removes the draft replace, when given, that it supersedes. It is
// how an account without [smtp] keeps a message being written.
func (l *Local) Postpone(ctx context.Context, raw io.Reader, replace MsgID) (MsgID, error) {
	name, err := l.RoleFolder(ctx, RoleDrafts)
	if err != nil {
		return "", err
	}
	f, err := l.folder(name)
	if err != nil {
		return "", err
	}
	e, err := f.Deliver(raw, "DS")
	if err != nil {
		return "", fmt.Errorf("%s: %s: %w", l.cfg.Name, name, err)
	}
	if replace != "" && string(replace) != e.Key {
		old, err := f.Find(string(replace))
		if err == nil {
			err = f.Remove(old)
		}
		if err != nil && !errors.Is(err, maildir.ErrNotFound) {
			return MsgID(e.Key), fmt.Errorf("%s: remove the old draft: %w", l.cfg.Name, err)
		}
	}
	return MsgID(e.Key), nil
}

// Delete moves messages to the Trash folder (created when missing); in
// the Trash folder it removes them for good.
func (l *Local) Delete(ctx context.Context, folder string, ids []MsgID) error {
	if err := l.check(ctx); err != nil {
		return err
	}
	src, err := l.folder(folder)
	if err != nil {
		return err
	}
	if l.Role(src.Name()) == RoleTrash {
		for _, id := range ids {
			if err := ctx.Err(); err != nil {
				return err
			}
			e, err := src.Find(string(id))
			if err != nil {
				return fmt.Errorf("%s: %s: delete %s: %w", l.cfg.Name, folder, id, err)
			}
			if err := src.Remove(e); err != nil {
				return fmt.Errorf("%s: %w", l.cfg.Name, err)
			}
		}
		return nil
	}
	trash, err := l.RoleFolder(ctx, RoleTrash)
	if err != nil {
		return err
	}
	dst, err := l.dir.Folder(trash)
	if err != nil {
		return fmt.Errorf("%s: %w", l.cfg.Name, err)
	}
	return l.move(ctx, src, ids, dst)
}

// Sync does nothing: a local account has no server.
func (l *Local) Sync(ctx context.Context, progress func(Progress)) error {
	return l.check(ctx)
}

// Events returns the account's event channel. A local account watches
// nothing, so no events arrive; the channel is closed by Close.
func (l *Local) Events() <-chan Event { return l.events }

// Close closes the event channel; later calls to other methods fail with
// ErrClosed. It is safe to call more than once.
func (l *Local) Close() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.closed {
		l.closed = true
		close(l.events)
		l.indexes = nil
	}
	return nil
}

// Open builds the accounts of a configuration, in file order. Every
// account is, for now, served from its maildir: local accounts, and
// POP3 and IMAP accounts readable offline from what was downloaded. On
// error the accounts already opened are closed.
func Open(cfg *Config) ([]Account, error) {
	out := make([]Account, 0, len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		acct, err := openAccount(a)
		if err != nil {
			for _, o := range out {
				o.Close()
			}
			return nil, err
		}
		out = append(out, acct)
	}
	return out, nil
}

// openAccount builds the backend an account's config asks for: POP3,
// IMAP or a local maildir, wrapped with sending when it has [smtp]. An
// IMAP account's sent mail is also appended to the server's Sent folder.
func openAccount(a AccountConfig) (Account, error) {
	var (
		base    Account
		sendOpt *SendOptions
		err     error
	)
	switch {
	case a.POP3 != nil:
		base, err = NewPOP3(a, nil)
	case a.IMAP != nil:
		var im *IMAP
		im, err = NewIMAP(a, &IMAPOptions{FullOffline: a.IMAP.FullOffline,
			SubscribedOnly: a.IMAP.SubscribedOnly, DeleteExpunge: a.IMAP.DeleteExpunge})
		if err == nil {
			base, sendOpt = im, &SendOptions{AfterSent: im.AppendSent}
		}
	default:
		base, err = NewLocal(a)
	}
	if err != nil {
		return nil, err
	}
	if a.SMTP == nil {
		return base, nil
	}
	s, err := WithSMTP(base, a, sendOpt)
	if err != nil {
		base.Close()
		return nil, err
	}
	return s, nil
}

var _ Account = (*Local)(nil)
