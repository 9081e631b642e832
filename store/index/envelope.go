package index

import (
	"time"

	"github.com/mailbag/mailbag/store/maildir"
)

// Envelope is what the message list needs to know about one message,
// without opening its file. Strings are decoded (RFC 2047) but not
// sanitised: callers pass them through termsafe before they reach a
// terminal.
type Envelope struct {
	Key  string // maildir unique name (the file name before ":2,")
	Name string // current file name, relative to the folder: "cur/KEY:2,S" or "new/KEY"
	Size int64  // file size in bytes
	Date time.Time
	// Addresses as display strings ("Name <addr>, …").
	From, To, Cc string
	Subject      string
	MessageID    string // without angle brackets
	InReplyTo    string // without angle brackets
	References   string // message-ids without brackets, space separated, oldest first
	Flags        maildir.Flags
}
