package maildir

import "strings"

// Flags are the Maildir info flags of a message ("2," semantics), kept as
// their letters in ASCII order, as the maildir specification requires:
// D draft, F flagged, P passed, R replied, S seen, T trashed. Lower-case
// letters are keywords some programs (Dovecot) define; they are kept.
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

// ParseFlags returns the flags named by the letters of s, sorted in ASCII
// order and deduplicated; anything but A–Z and a–z is dropped. When s is
// already in that form it is returned without copying.
func ParseFlags(s string) Flags {
	if isCanonical(s) {
		return Flags(s)
	}
	var set [52]bool
	for i := 0; i < len(s); i++ {
		if j := letterIndex(s[i]); j >= 0 {
			set[j] = true
		}
	}
	return fromSet(&set)
}

// With returns f with every letter of add set.
func (f Flags) With(add Flags) Flags {
	if add == "" {
		return ParseFlags(string(f))
	}
	return ParseFlags(string(f) + string(add))
}

// Without returns f with every letter of remove cleared.
func (f Flags) Without(remove Flags) Flags {
	var set [52]bool
	for i := 0; i < len(f); i++ {
		if j := letterIndex(f[i]); j >= 0 {
			set[j] = true
		}
	}
	for i := 0; i < len(remove); i++ {
		if j := letterIndex(remove[i]); j >= 0 {
			set[j] = false
		}
	}
	return fromSet(&set)
}

// String returns the letters.
func (f Flags) String() string { return string(f) }

// letterIndex maps A–Z to 0–25 and a–z to 26–51 (ASCII order), else -1.
func letterIndex(c byte) int {
	switch {
	case 'A' <= c && c <= 'Z':
		return int(c - 'A')
	case 'a' <= c && c <= 'z':
		return 26 + int(c-'a')
	}
	return -1
}

func fromSet(set *[52]bool) Flags {
	var buf [52]byte
	n := 0
	for j, ok := range set {
		if !ok {
			continue
		}
		if j < 26 {
			buf[n] = byte('A' + j)
		} else {
			buf[n] = byte('a' + j - 26)
		}
		n++
	}
	return Flags(buf[:n])
}

// isCanonical reports whether s holds only letters in strictly increasing
// ASCII order.
func isCanonical(s string) bool {
	prev := -1
	for i := 0; i < len(s); i++ {
		j := letterIndex(s[i])
		if j <= prev {
			return false
		}
		prev = j
	}
	return true
}
