package message

import (
	"bytes"
	"strings"
	"time"
)

// parseDate parses an RFC 5322 §3.3 date-time leniently, accepting the
// obsolete forms of §4.3 (two- and three-digit years, named zones, missing
// day of week, comments) and common broken forms seen in the wild: asctime
// order ("Mon Jan 2 15:04:05 2006"), ISO 8601, "GMT+0200", missing
// seconds, "+02:00" zones, AM/PM. It returns the zero time when no date can
// be found.
func parseDate(s string) time.Time {
	var (
		year, month, day = -1, 0, 0
		hour, min, sec   = 0, 0, 0
		pm, am           bool
		off              int // seconds east of UTC
		haveZone         bool
		depth            int
		tokStart         = -1
	)
	var token func(t string)
	token = func(t string) {
		// ISO 8601 date, optionally with time: 2006-01-02[T15:04:05[Z|±hh:mm]]
		if len(t) >= 10 && t[4] == '-' && t[7] == '-' && isDigits(t[:4]) {
			y, m, d := atoi(t[:4]), atoi(t[5:7]), atoi(t[8:10])
			if y >= 0 && m >= 1 && d >= 1 {
				year, month, day = y, m, d
			}
			t = t[10:]
			if len(t) > 0 && (t[0] == 'T' || t[0] == 't') {
				t = t[1:]
			} else {
				return
			}
		}
		if t == "" {
			return
		}
		c := t[0]
		switch {
		case c == '+' || c == '-':
			if o, ok := parseOffset(t); ok {
				off, haveZone = o, true
			}
		case strings.IndexByte(t, ':') > 0 && c >= '0' && c <= '9':
			// hh:mm[:ss][zone]
			i := 0
			num := func() int {
				j := i
				for i < len(t) && t[i] >= '0' && t[i] <= '9' && i-j < 2 {
					i++
				}
				if i == j {
					return -1
				}
				return atoi(t[j:i])
			}
			h := num()
			if i >= len(t) || t[i] != ':' {
				return
			}
			i++
			m := num()
			sv := 0
			if i < len(t) && t[i] == ':' {
				i++
				sv = num()
				// fractional seconds
				if i < len(t) && t[i] == '.' {
					i++
					for i < len(t) && t[i] >= '0' && t[i] <= '9' {
						i++
					}
				}
			}
			if h < 0 || m < 0 || sv < 0 {
				return
			}
			hour, min, sec = h, m, sv
			if rest := t[i:]; rest != "" {
				token(rest)
			}
		case c >= '0' && c <= '9':
			if !isDigits(t) {
				return
			}
			n := atoi(t)
			switch {
			case len(t) >= 4:
				if year < 0 {
					year = n
				}
			case day == 0 && n >= 1 && n <= 31:
				day = n
			case year < 0:
				year = n
				if len(t) == 2 || n < 100 {
					// RFC 5322 §4.3: 00–49 → 20xx, 50–99 → 19xx
					if n < 50 {
						year += 2000
					} else {
						year += 1900
					}
				} else {
					year += 1900 // three digits: add 1900
				}
			}
		default:
			word := strings.ToLower(t)
			word = strings.TrimSuffix(word, ".")
			if m := monthNum(word); m > 0 {
				month = m
				return
			}
			if word == "am" {
				am = true
				return
			}
			if word == "pm" {
				pm = true
				return
			}
			// GMT+0200, UTC-5
			if i := strings.IndexAny(word, "+-"); i > 0 {
				if z, ok := zoneName(word[:i]); ok {
					if o, ok := parseOffset(word[i:]); ok {
						off, haveZone = z+o, true
					}
				}
				return
			}
			if !haveZone {
				if z, ok := zoneName(word); ok {
					off, haveZone = z, true
				}
			}
		}
	}
	for i := 0; i <= len(s); i++ {
		c := byte(' ')
		if i < len(s) {
			c = s[i]
		}
		switch {
		case c == '(':
			if tokStart >= 0 && depth == 0 {
				token(s[tokStart:i])
				tokStart = -1
			}
			depth++
		case c == ')':
			if depth > 0 {
				depth--
			}
		case depth > 0:
		case c == ' ' || c == '\t' || c == ',' || c == '\r' || c == '\n':
			if tokStart >= 0 {
				token(s[tokStart:i])
				tokStart = -1
			}
		default:
			if tokStart < 0 {
				tokStart = i
			}
		}
	}
	if year < 0 || month == 0 || day == 0 {
		return time.Time{}
	}
	if pm && hour < 12 {
		hour += 12
	} else if am && hour == 12 {
		hour = 0
	}
	if sec == 60 { // leap second
		sec = 59
	}
	if year > 9999 || hour > 23 || min > 59 || sec > 59 {
		return time.Time{}
	}
	loc := time.UTC
	if off != 0 {
		loc = time.FixedZone("", off)
	}
	t := time.Date(year, time.Month(month), day, hour, min, sec, 0, loc)
	if t.Day() != day { // 31 Feb and the like
		return time.Time{}
	}
	return t
}

// parseOffset parses "+hhmm", "-hh:mm", "+h" and "+hh" zone offsets.
func parseOffset(t string) (int, bool) {
	if len(t) < 2 {
		return 0, false
	}
	sign := 1
	if t[0] == '-' {
		sign = -1
	}
	t = strings.Replace(t[1:], ":", "", 1)
	if !isDigits(t) || len(t) > 4 {
		return 0, false
	}
	var h, m int
	switch len(t) {
	case 1, 2:
		h = atoi(t)
	case 3:
		h, m = atoi(t[:1]), atoi(t[1:])
	case 4:
		h, m = atoi(t[:2]), atoi(t[2:])
	}
	if h > 23 || m > 59 {
		return 0, false
	}
	return sign * (h*3600 + m*60), true
}

func isDigits(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return true
}

// atoi converts a short run of ASCII digits; callers check isDigits.
func atoi(s string) int {
	n := 0
	for i := 0; i < len(s) && i < 9; i++ {
		if s[i] < '0' || s[i] > '9' {
			return -1
		}
		n = n*10 + int(s[i]-'0')
	}
	return n
}

func monthNum(w string) int {
	if len(w) < 3 {
		return 0
	}
	switch w[:3] {
	case "jan":
		return 1
	case "feb":
		return 2
	case "mar":
		return 3
	case "apr":
		return 4
	case "may":
		return 5
	case "jun":
		return 6
	case "jul":
		return 7
	case "aug":
		return 8
	case "sep":
		return 9
	case "oct":
		return 10
	case "nov":
		return 11
	case "dec":
		return 12
	}
	return 0
}

// zoneName maps the zone names of RFC 5322 §4.3 and a few common others to
// offsets in seconds east of UTC. Military zones other than Z are taken as
// UTC, as §4.3 advises.
func zoneName(w string) (int, bool) {
	const h = 3600
	switch w {
	case "ut", "utc", "gmt", "z", "wet":
		return 0, true
	case "edt":
		return -4 * h, true
	case "est", "cdt":
		return -5 * h, true
	case "cst", "mdt":
		return -6 * h, true
	case "mst", "pdt":
		return -7 * h, true
	case "pst":
		return -8 * h, true
	case "cet", "met", "bst", "west", "mez":
		return 1 * h, true
	case "cest", "mest", "eet", "sast", "mesz":
		return 2 * h, true
	case "eest", "msk":
		return 3 * h, true
	case "ist":
		return 5*h + 30*60, true
	case "hkt", "sgt", "awst":
		return 8 * h, true
	case "jst", "kst":
		return 9 * h, true
	case "aest":
		return 10 * h, true
	case "aedt":
		return 11 * h, true
	case "nzst":
		return 12 * h, true
	case "nzdt":
		return 13 * h, true
	}
	if len(w) == 1 && w[0] >= 'a' && w[0] <= 'z' && w != "j" {
		return 0, true
	}
	return 0, false
}

// parseDateFast parses the date-time form that nearly every mailer writes,
// RFC 5322 §3.3 without obsolete syntax:
//
//	[day-name ","] day month year hh:mm[:ss] (+|-)hhmm [(comment)]
//
// with the same result as parseDate. ok is false for anything else (named
// zones, two-digit years, nested comments, out-of-range fields…), which
// parseDate then handles.
func parseDateFast(b []byte) (t time.Time, ok bool) {
	i := 0
	if len(b) > 0 && (b[0] < '0' || b[0] > '9') {
		if len(b) < 4 || b[3] != ',' || !isDayName(b[:3]) {
			return time.Time{}, false
		}
		i = skipBlanks(b, 4)
	}
	day, i := fastNum(b, i, 1, 2)
	if day < 1 || day > 31 || !isBlank(b, i) {
		return time.Time{}, false
	}
	i = skipBlanks(b, i)
	if len(b) < i+3 {
		return time.Time{}, false
	}
	month := monthNum3(b[i : i+3])
	if month == 0 || !isBlank(b, i+3) {
		return time.Time{}, false
	}
	i = skipBlanks(b, i+3)
	year, i := fastNum(b, i, 4, 4)
	if year < 0 || !isBlank(b, i) {
		return time.Time{}, false
	}
	i = skipBlanks(b, i)
	hour, i := fastNum(b, i, 1, 2)
	if hour < 0 || hour > 23 || i >= len(b) || b[i] != ':' {
		return time.Time{}, false
	}
	min, i := fastNum(b, i+1, 2, 2)
	if min < 0 || min > 59 {
		return time.Time{}, false
	}
	sec := 0
	if i < len(b) && b[i] == ':' {
		if sec, i = fastNum(b, i+1, 2, 2); sec < 0 || sec > 59 {
			return time.Time{}, false
		}
	}
	if !isBlank(b, i) {
		return time.Time{}, false
	}
	i = skipBlanks(b, i)
	if i >= len(b) || b[i] != '+' && b[i] != '-' {
		return time.Time{}, false
	}
	sign := 1
	if b[i] == '-' {
		sign = -1
	}
	zone, i := fastNum(b, i+1, 4, 4)
	if zone < 0 || zone/100 > 23 || zone%100 > 59 {
		return time.Time{}, false
	}
	// Nothing may follow but white space and one unnested comment.
	i = skipBlanks(b, i)
	if i < len(b) {
		if b[i] != '(' {
			return time.Time{}, false
		}
		j := bytes.IndexByte(b[i+1:], ')')
		if j < 0 || bytes.IndexByte(b[i+1:i+1+j], '(') >= 0 {
			return time.Time{}, false
		}
		if i = skipBlanks(b, i+1+j+1); i != len(b) {
			return time.Time{}, false
		}
	}
	off := sign * (zone/100*3600 + zone%100*60)
	loc := time.UTC
	if off != 0 {
		loc = time.FixedZone("", off)
	}
	t = time.Date(year, time.Month(month), day, hour, min, sec, 0, loc)
	if t.Day() != day { // 31 Feb and the like
		return time.Time{}, true
	}
	return t, true
}

// fastNum reads between lo and hi ASCII digits at b[i:] and returns their
// value and the index after them; the value is -1 when fewer than lo
// digits, or more than hi, are there.
func fastNum(b []byte, i, lo, hi int) (int, int) {
	n, j := 0, i
	for j < len(b) && b[j] >= '0' && b[j] <= '9' {
		if j-i == hi {
			return -1, j
		}
		n = n*10 + int(b[j]-'0')
		j++
	}
	if j-i < lo {
		return -1, j
	}
	return n, j
}

// isBlank reports whether b[i] is a space or tab.
func isBlank(b []byte, i int) bool {
	return i < len(b) && (b[i] == ' ' || b[i] == '\t')
}

func skipBlanks(b []byte, i int) int {
	for isBlank(b, i) {
		i++
	}
	return i
}

// lower3 packs three ASCII bytes, upper case folded to lower, into a key.
func lower3(b []byte) uint32 {
	return uint32(b[0]|0x20)<<16 | uint32(b[1]|0x20)<<8 | uint32(b[2]|0x20)
}

func key3(s string) uint32 { return uint32(s[0])<<16 | uint32(s[1])<<8 | uint32(s[2]) }

// isDayName reports whether b is an RFC 5322 §3.3 day-name, in any case.
func isDayName(b []byte) bool {
	switch lower3(b) {
	case key3("mon"), key3("tue"), key3("wed"), key3("thu"), key3("fri"), key3("sat"), key3("sun"):
		return true
	}
	return false
}

// monthNum3 is monthNum for a three-letter month name in any case.
func monthNum3(b []byte) int {
	k := lower3(b)
	for m, name := range [...]string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"} {
		if k == key3(name) {
			return m + 1
		}
	}
	return 0
}
