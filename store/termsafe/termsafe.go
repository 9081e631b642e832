// Package termsafe is the one sanitiser for every string that comes from a
// message or a server before it reaches a terminal.
//
// It makes inert everything a terminal would interpret rather than print:
// ESC and the other C0 controls (ECMA-48 §5.2, except TAB and LF), DEL,
// the C1 controls U+0080–U+009F (ECMA-48 §5.3, which include the 8-bit CSI
// U+009B), carriage returns that are not part of CRLF, Unicode bidirectional
// controls (UAX #9 §2: U+202A–U+202E, U+2066–U+2069, U+200E, U+200F,
// U+061C) and invisible characters (U+200B–U+200D, U+2060–U+2064, U+FEFF,
// U+2028, U+2029, U+206A–U+206F, U+FFF9–U+FFFB, U+180E). Each becomes a
// visible placeholder: C0 controls and DEL their U+2400 Control Picture
// (␛ for ESC, ␀ for NUL, ␍ for CR, ␡ for DEL), the rest "<U+XXXX>". Invalid
// UTF-8 becomes U+FFFD.
//
// Every function is idempotent (sanitising twice changes nothing) and never
// panics. Width and Truncate measure the way lipgloss.Width does (grapheme
// clusters; East Asian wide and emoji are two cells, combining marks zero).
package termsafe

import (
	"fmt"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/x/ansi"
)

// String sanitises multi-line text: it keeps LF and TAB (callers may expand
// tabs), turns CRLF into LF, and replaces everything else described in the
// package comment.
func String(s string) string {
	return sanitise(s, false)
}

// Line sanitises a value shown on one line (a subject, a name, a file
// name): like String, and also TAB, LF and CRLF become a space.
func Line(s string) string {
	return sanitise(s, true)
}

func sanitise(s string, line bool) string {
	// Fast path: printable ASCII (plus TAB and LF in multi-line text)
	// needs no change.
	i := 0
	for ; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			continue
		}
		if !line && (c == '\n' || c == '\t') {
			continue
		}
		break
	}
	if i == len(s) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	b.WriteString(s[:i])
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			i++
			switch {
			case c >= 0x20 && c < 0x7f:
				b.WriteByte(c)
			case c == '\n' || c == '\t':
				if line {
					b.WriteByte(' ')
				} else {
					b.WriteByte(c)
				}
			case c == '\r' && i < len(s) && s[i] == '\n':
				i++
				if line {
					b.WriteByte(' ')
				} else {
					b.WriteByte('\n')
				}
			case c == 0x7f:
				b.WriteRune(0x2421) // ␡
			default: // C0 control, including ESC and lone CR
				b.WriteRune(0x2400 + rune(c))
			}
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b.WriteRune(utf8.RuneError)
			i++
			continue
		}
		if Unsafe(r) {
			writeCode(&b, r)
		} else {
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

// Unsafe reports whether r is a non-ASCII rune this package replaces: a C1
// control, a bidi control or an invisible formatting character.
func Unsafe(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f: // C1
		return true
	case r == 0x061c, r == 0x180e, r == 0x200e, r == 0x200f:
		return true
	case r >= 0x200b && r <= 0x200d: // zero-width space, (non-)joiner
		return true
	case r >= 0x2028 && r <= 0x202e: // line/paragraph separators, bidi embeddings
		return true
	case r >= 0x2060 && r <= 0x206f: // word joiner, invisible operators, bidi isolates, deprecated formats
		return true
	case r == 0xfeff, r >= 0xfff9 && r <= 0xfffb:
		return true
	}
	return false
}

func writeCode(b *strings.Builder, r rune) {
	b.WriteString("<U+")
	h := strconv.FormatInt(int64(r), 16)
	for n := len(h); n < 4; n++ {
		b.WriteByte('0')
	}
	b.WriteString(strings.ToUpper(h))
	b.WriteByte('>')
}

// Width returns the number of terminal cells s occupies, measured like
// lipgloss.Width: per grapheme cluster, East Asian wide characters and
// emoji two cells, combining marks zero, controls zero. For text with
// several lines it returns the widest line. Pass sanitised strings: raw
// escape sequences are not counted.
func Width(s string) int {
	w := 0
	for {
		line, rest, more := strings.Cut(s, "\n")
		if lw := ansi.StringWidth(line); lw > w {
			w = lw
		}
		if !more {
			return w
		}
		s = rest
	}
}

// Truncate cuts s so that it fits in cells terminal cells, never splitting
// a grapheme cluster. When it cuts, it appends tail and makes room for it.
// s should be a single sanitised line.
func Truncate(s string, cells int, tail string) string {
	if cells <= 0 {
		return ""
	}
	if Width(s) <= cells {
		return s
	}
	tw := Width(tail)
	if tw > cells {
		tail, tw = "", 0
	}
	limit := cells - tw
	w, i := 0, 0
	for i < len(s) {
		// Measure as ansi.StringWidth (and so lipgloss.Width) does: ASCII
		// one byte at a time, everything else by grapheme cluster.
		n, cw := 1, 0
		if c := s[i]; c >= utf8.RuneSelf {
			cluster, gw := ansi.FirstGraphemeCluster(s[i:], ansi.GraphemeWidth)
			n, cw = max(len(cluster), 1), gw
		} else if c >= 0x20 && c < 0x7f {
			cw = 1
		}
		if w+cw > limit {
			break
		}
		w += cw
		i += n
	}
	return s[:i] + tail
}

// Check reports the first thing that makes s unsafe to print, or nil: the
// invariant every String result satisfies (valid UTF-8; no control except
// TAB and LF; no DEL, C1, bidi or invisible character). With line set, TAB
// and LF are refused too, as in Line results. Tests of code that prints
// message text use it.
func Check(s string, line bool) error {
	if !utf8.ValidString(s) {
		return fmt.Errorf("termsafe: invalid UTF-8")
	}
	for i, r := range s {
		switch {
		case r == '\n' || r == '\t':
			if line {
				return fmt.Errorf("termsafe: %U at byte %d of a line", r, i)
			}
		case r < 0x20 || r == 0x7f:
			return fmt.Errorf("termsafe: control %U at byte %d", r, i)
		case Unsafe(r):
			return fmt.Errorf("termsafe: unsafe %U at byte %d", r, i)
		}
	}
	return nil
}
