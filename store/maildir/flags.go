package maildir

import "strings"

// Flags are the Maildir info flags of a message ("2," semantics), kept as
// their letters in ASCII order, as the maildir specification requires:
// D draft, F flagged, P passed, R replied, S seen, T trashed.
type Flags string

// The standard maildir flag letters.
const (
	FlagDraft   = 'D'
	FlagFlagged = 'F'
	FlagPassed  = 'P'
	FlagReplied = 'R'
	FlagSeen    = 'S'
	FlagTrashed = 'T'
)

// Has reports whether f contains the flag letter c.
func (f Flags) Has(c byte) bool { return strings.IndexByte(string(f), c) >= 0 }
