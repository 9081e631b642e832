package account

import (
	"strconv"
	"strings"
)

// keyLines finds the line on which each key of a TOML document is first
// defined, keyed by the dotted path as toml.Key.String spells it. Table
// headers, dotted keys and keys of inline tables are recorded, and so are
// the implicit parents of a dotted key. BurntSushi/toml v1.6.0 keeps key
// positions private (MetaData.keyInfo), so this scanner recovers them.
//
// It runs only on documents the TOML parser has already accepted, so it is
// lenient: it knows enough of TOML 1.0 (strings of all four kinds,
// comments, arrays and inline tables spanning lines) to never mistake a
// value for a key, and it always makes progress on anything else.
func keyLines(src []byte) map[string]int {
	lines, _, _ := scanKeys(src)
	return lines
}

// scanKeys is keyLines that also reports the deepest key path (its
// number of parts and line), which the TOML decoder handles in quadratic
// time.
func scanKeys(src []byte) (lines map[string]int, depth, depthLine int) {
	sc := lineScanner{s: src, line: 1, out: make(map[string]int)}
	sc.document()
	return sc.out, sc.depth, sc.depthLine
}

type lineScanner struct {
	s         []byte
	i         int
	line      int
	out       map[string]int
	depth     int // parts of the deepest key path seen
	depthLine int
}

func (sc *lineScanner) eof() bool { return sc.i >= len(sc.s) }

func (sc *lineScanner) peek() byte {
	if sc.eof() {
		return 0
	}
	return sc.s[sc.i]
}

func (sc *lineScanner) has(p string) bool {
	return strings.HasPrefix(string(sc.s[sc.i:min(len(sc.s), sc.i+len(p))]), p)
}

// advance moves one byte on, counting lines.
func (sc *lineScanner) advance() {
	if sc.eof() {
		return
	}
	if sc.s[sc.i] == '\n' {
		sc.line++
	}
	sc.i++
}

func (sc *lineScanner) skipBlank() {
	for c := sc.peek(); c == ' ' || c == '\t'; c = sc.peek() {
		sc.i++
	}
}

// skipSpace skips blanks, newlines and comments (inside arrays and
// multi-line inline tables).
func (sc *lineScanner) skipSpace() {
	for !sc.eof() {
		switch sc.peek() {
		case ' ', '\t', '\r', '\n':
			sc.advance()
		case '#':
			sc.skipLine()
		default:
			return
		}
	}
}

// skipLine moves to the newline ending the current line (not past it).
func (sc *lineScanner) skipLine() {
	for !sc.eof() && sc.peek() != '\n' {
		sc.i++
	}
}

// maxKeyDepth bounds the key paths recorded: the config's deepest key
// has four parts, and deeper ones fall back to their parent's line. The
// bound keeps a hostile file from costing quadratic time.
const maxKeyDepth = 8

func (sc *lineScanner) record(path []string, line int) {
	if len(path) > sc.depth {
		sc.depth, sc.depthLine = len(path), line
	}
	for n := 1; n <= len(path) && n <= maxKeyDepth; n++ {
		k := keyString(path[:n])
		if _, ok := sc.out[k]; !ok {
			sc.out[k] = line
		}
	}
}

func (sc *lineScanner) document() {
	var table []string
	for !sc.eof() {
		sc.skipBlank()
		switch c := sc.peek(); {
		case c == '\n' || c == '\r':
			sc.advance()
		case c == '#':
			sc.skipLine()
		case c == '[':
			sc.i++
			if sc.peek() == '[' {
				sc.i++
			}
			line := sc.line
			table = sc.keyPath()
			sc.record(table, line)
			sc.skipLine()
		case c == 0 && sc.eof():
			return
		default:
			line := sc.line
			start := sc.i
			path := append(append([]string(nil), table...), sc.keyPath()...)
			sc.record(path, line)
			sc.skipBlank()
			if sc.peek() != '=' || sc.i == start {
				sc.skipLine() // not a key/value line: never stall
				continue
			}
			sc.i++
			sc.value(path)
			sc.skipLine() // trailing blanks and comment
		}
	}
}

// keyPath reads a dotted key: bare, "basic" or 'literal' parts.
func (sc *lineScanner) keyPath() []string {
	var path []string
	for {
		sc.skipBlank()
		switch c := sc.peek(); {
		case c == '"':
			sc.i++
			start := sc.i
			for !sc.eof() && sc.peek() != '"' && sc.peek() != '\n' {
				if sc.peek() == '\\' {
					sc.i++
				}
				sc.i++
			}
			raw := string(sc.s[start:min(sc.i, len(sc.s))])
			if sc.peek() == '"' {
				sc.i++
			}
			if u, err := strconv.Unquote(`"` + raw + `"`); err == nil {
				raw = u
			}
			path = append(path, raw)
		case c == '\'':
			sc.i++
			start := sc.i
			for !sc.eof() && sc.peek() != '\'' && sc.peek() != '\n' {
				sc.i++
			}
			path = append(path, string(sc.s[start:sc.i]))
			if sc.peek() == '\'' {
				sc.i++
			}
		case isBare(c):
			start := sc.i
			for isBare(sc.peek()) {
				sc.i++
			}
			path = append(path, string(sc.s[start:sc.i]))
		default:
			return path
		}
		sc.skipBlank()
		if sc.peek() != '.' {
			return path
		}
		sc.i++
	}
}

func isBare(c byte) bool {
	return c >= 'A' && c <= 'Z' || c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-'
}

// value skips one value; keys of inline tables are recorded under path
// (nil inside arrays, where keys have no path of their own).
func (sc *lineScanner) value(path []string) {
	sc.skipBlank()
	switch {
	case sc.has(`"""`):
		sc.i += 3
		for !sc.eof() && !sc.has(`"""`) {
			if sc.peek() == '\\' {
				sc.advance()
			}
			sc.advance()
		}
		sc.i += 3
		for n := 0; n < 2 && sc.peek() == '"'; n++ { // up to two quotes may end the content
			sc.i++
		}
	case sc.has(`'''`):
		sc.i += 3
		for !sc.eof() && !sc.has(`'''`) {
			sc.advance()
		}
		sc.i += 3
		for n := 0; n < 2 && sc.peek() == '\''; n++ {
			sc.i++
		}
	case sc.peek() == '"':
		sc.i++
		for !sc.eof() && sc.peek() != '"' && sc.peek() != '\n' {
			if sc.peek() == '\\' {
				sc.i++
			}
			sc.i++
		}
		if sc.peek() == '"' {
			sc.i++
		}
	case sc.peek() == '\'':
		sc.i++
		for !sc.eof() && sc.peek() != '\'' && sc.peek() != '\n' {
			sc.i++
		}
		if sc.peek() == '\'' {
			sc.i++
		}
	case sc.peek() == '[':
		sc.i++
		for {
			sc.skipSpace()
			if sc.eof() {
				return
			}
			if sc.peek() == ']' {
				sc.i++
				return
			}
			if sc.peek() == ',' {
				sc.i++
				continue
			}
			before := sc.i
			sc.value(nil)
			if sc.i == before {
				sc.i++ // never stall
			}
		}
	case sc.peek() == '{':
		sc.i++
		for {
			sc.skipSpace()
			if sc.eof() {
				return
			}
			switch sc.peek() {
			case '}':
				sc.i++
				return
			case ',':
				sc.i++
				continue
			}
			line := sc.line
			before := sc.i
			sub := sc.keyPath()
			var full []string
			if path != nil {
				full = append(append([]string(nil), path...), sub...)
				sc.record(full, line)
			}
			sc.skipBlank()
			if sc.peek() == '=' {
				sc.i++
				sc.value(full)
			}
			if sc.i == before {
				sc.i++ // never stall
			}
		}
	default: // number, bool, date-time
		for !sc.eof() {
			switch sc.peek() {
			case ',', ']', '}', '\n', '#':
				return
			}
			sc.i++
		}
	}
}

// keyString spells a key path as toml.Key.String does.
func keyString(path []string) string {
	var b strings.Builder
	for n, k := range path {
		if n > 0 {
			b.WriteByte('.')
		}
		bare := k != ""
		for i := 0; i < len(k); i++ {
			if !isBare(k[i]) {
				bare = false
				break
			}
		}
		if bare {
			b.WriteString(k)
		} else {
			b.WriteString(strconv.Quote(k))
		}
	}
	return b.String()
}
