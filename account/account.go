// Package account holds what an account is: its configuration, the Account
// interface the UI drives, and the backends behind it (local maildir, POP3,
// IMAP) together with sending. It never imports the UI.
package account

import (
	"context"
	"io"
	"time"

	"github.com/mailbag/mailbag/store/index"
	"github.com/mailbag/mailbag/store/maildir"
)

// Envelope is one row of a message list.
type Envelope = index.Envelope

// Envelopes is a read-only sequence of a folder's envelopes, in no
// particular order, as the message list holds them.
type Envelopes interface {
	Len() int
	At(i int) Envelope
}

// EnvelopeSlice is Envelopes over the slice List returns.
type EnvelopeSlice []Envelope

func (s EnvelopeSlice) Len() int          { return len(s) }
func (s EnvelopeSlice) At(i int) Envelope { return s[i] }

// SortKeys is implemented by Envelopes that give what a list is sorted by,
// DateAt(i) == At(i).Date and KeyAt(i) == At(i).Key, without building the
// whole Envelope.
type SortKeys interface {
	DateAt(i int) time.Time
	KeyAt(i int) string
}

// Viewer is implemented by backends that keep a folder's envelopes in
// memory (the IMAP cache): View returns what List would, as a view of
// that memory, so that a list of 100,000 messages is not held twice. A
// wrapper (see As) that changes what List returns must implement it too.
type Viewer interface {
	View(ctx context.Context, folder string) (Envelopes, error)
}

// ListView returns the envelopes of folder: a's View when it has one,
// else what List returns.
func ListView(ctx context.Context, a Account, folder string) (Envelopes, error) {
	if v, ok := As[Viewer](a); ok {
		return v.View(ctx, folder)
	}
	envs, err := a.List(ctx, folder)
	if err != nil {
		return nil, err
	}
	return EnvelopeSlice(envs), nil
}

// MsgID names a message inside a folder. For maildir-backed folders it is
// the maildir key, which stays the same when the message moves between
// folders or changes flags.
type MsgID string

// Folder roles (RFC 6154 special-use names, lower case, plus inbox).
const (
	RoleInbox   = "inbox"
	RoleSent    = "sent"
	RoleDrafts  = "drafts"
	RoleTrash   = "trash"
	RoleJunk    = "junk"
	RoleArchive = "archive"
	RoleOutbox  = "outbox"
)

// Folder describes one folder of an account.
type Folder struct {
	Name   string // "INBOX", "Sent", "lists/go" (display path, '/' separated)
	Role   string // one of the Role constants, or ""
	Total  int
	Unread int
}

// Caps says what a backend can do.
type Caps struct {
	Move    bool
	Flags   bool
	Sync    bool // Sync does network work
	Send    bool
	Offline bool // readable with no network
}

// Progress reports the state of a running sync.
type Progress struct {
	Account string
	Stage   string // "connecting", "listing", "downloading", "deleting", "done"
	Done    int
	Total   int
	Bytes   int64
}

// Event is pushed by an account: new mail, removed mail, connection state.
type Event struct {
	Account string
	Folder  string // "" for account-wide events
	Kind    EventKind
	Err     error
	Time    time.Time
}

// EventKind says what an Event is about.
type EventKind int

const (
	EventFolderChanged EventKind = iota // the folder's messages changed: reload its list
	EventOnline
	EventOffline
	EventError
)

// Account is the seam between the UI and the backends. Every method that
// does I/O takes a context with a deadline and blocks; the UI calls them
// from tea.Cmds only.
type Account interface {
	Name() string
	Address() string
	Caps() Caps
	// Folders lists the folders with counts, from the local store.
	Folders(ctx context.Context) ([]Folder, error)
	// List returns the envelopes of a folder, in no particular order.
	List(ctx context.Context, folder string) ([]Envelope, error)
	// Open returns the raw RFC 5322 message.
	Open(ctx context.Context, folder string, id MsgID) (io.ReadCloser, error)
	// SetFlags adds and removes maildir flag letters on messages.
	SetFlags(ctx context.Context, folder string, ids []MsgID, add, remove maildir.Flags) error
	// Move moves messages to another folder of the same account.
	Move(ctx context.Context, from string, ids []MsgID, to string) error
	// Delete moves messages to Trash; in Trash it removes them for good.
	Delete(ctx context.Context, folder string, ids []MsgID) error
	// Sync does the backend's network work (POP3 download, IMAP resync).
	Sync(ctx context.Context, progress func(Progress)) error
	// Events delivers pushed changes; it is closed by Close.
	Events() <-chan Event
	Close() error
}

// SendStatus says where a message went after a send attempt.
type SendStatus int

const (
	// Sent: the server accepted it (for at least one recipient) and it is in Sent.
	Sent SendStatus = iota
	// Queued: a temporary failure (network, 4xx); it waits in the Outbox and is retried.
	Queued
	// Refused: a permanent failure (5xx, policy); it is back in Drafts, with the server's words in the error.
	Refused
)

// SendResult reports one send attempt.
type SendResult struct {
	Status   SendStatus
	ID       MsgID    // where the message now is (in Sent, Outbox or Drafts)
	Rejected []string // recipients the server refused while others were accepted, with its words
	Err      error    // why it was queued or refused
}

// Sender is implemented by accounts that can send mail (an [smtp] table).
// A message is always durably in exactly one of Drafts, Outbox or Sent.
type Sender interface {
	// Send queues the RFC 5322 message in the Outbox durably, then tries to
	// submit it. The returned error is for failures to store it at all.
	Send(ctx context.Context, raw io.Reader) (SendResult, error)
	// SendDraft moves a draft into the Outbox and tries to submit it.
	SendDraft(ctx context.Context, id MsgID) (SendResult, error)
	// Postpone stores the message in Drafts; replace, when not empty, is a
	// draft it supersedes (removed after the new one is durable).
	Postpone(ctx context.Context, raw io.Reader, replace MsgID) (MsgID, error)
	// Flush retries every queued message whose backoff has passed.
	Flush(ctx context.Context, progress func(Progress)) error
	// Queued is the number of messages waiting in the Outbox.
	Queued(ctx context.Context) (int, error)
}

// As finds a T in a or in the accounts it wraps (through an
// Unwrap() Account method, as the sending wrapper has), so callers can
// reach a backend's own methods: As[interface{ CheckEvery() time.Duration }](a).
func As[T any](a Account) (T, bool) {
	for a != nil {
		if t, ok := a.(T); ok {
			return t, true
		}
		u, ok := a.(interface{ Unwrap() Account })
		if !ok {
			break
		}
		a = u.Unwrap()
	}
	var zero T
	return zero, false
}

// writeStateFile replaces a state file beside a maildir atomically and durably.
func writeStateFile(path string, data []byte) error {
	return maildir.WriteFile(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}
