package ui

import (
	"fmt"
	"strings"
	"time"

	"github.com/mailbag/mailbag/store/termsafe"
)

// fmtDate formats a list date: the time for today, "Jan 02" for this year,
// the full date otherwise. The zero time is blank.
func fmtDate(t, now time.Time) string {
	if t.IsZero() {
		return ""
	}
	t = t.In(now.Location())
	y, m, d := t.Date()
	ny, nm, nd := now.Date()
	switch {
	case y == ny && m == nm && d == nd:
		return t.Format("15:04")
	case y == ny:
		return t.Format("Jan 02")
	default:
		return t.Format("2006-01-02")
	}
}

// fmtSize is a short human size: "512", "12K", "1.2M".
func fmtSize(n int64) string {
	switch {
	case n < 1000:
		return fmt.Sprintf("%d", n)
	case n < 10*1024:
		return fmt.Sprintf("%.1fK", float64(n)/1024)
	case n < 1000*1024:
		return fmt.Sprintf("%dK", (n+512)/1024)
	case n < 10*1024*1024:
		return fmt.Sprintf("%.1fM", float64(n)/(1024*1024))
	default:
		return fmt.Sprintf("%dM", (n+512*1024)/(1024*1024))
	}
}

// displayName turns the first address of "Name <addr>, …" into what a
// list shows: the name when there is one, else the address. The result is
// not sanitised.
func displayName(list string) string {
	s := strings.TrimSpace(list)
	if s == "" {
		return ""
	}
	// first address: split on a comma outside quotes and angle brackets
	inQuote, inAngle := false, false
	for i, r := range s {
		switch r {
		case '"':
			inQuote = !inQuote
		case '<':
			if !inQuote {
				inAngle = true
			}
		case '>':
			inAngle = false
		case ',':
			if !inQuote && !inAngle {
				s = strings.TrimSpace(s[:i])
				goto first
			}
		}
	}
first:
	if i := strings.LastIndexByte(s, '<'); i >= 0 {
		name := strings.TrimSpace(s[:i])
		name = strings.Trim(name, `"`)
		name = strings.TrimSpace(name)
		if name != "" {
			return name
		}
		addr := s[i+1:]
		if j := strings.IndexByte(addr, '>'); j >= 0 {
			addr = addr[:j]
		}
		return strings.TrimSpace(addr)
	}
	return s
}

// cell sanitises s to one line and fits it into exactly w cells:
// truncated with an ellipsis, padded with spaces.
func cell(s string, w int) string {
	if w <= 0 {
		return ""
	}
	t := termsafe.Truncate(termsafe.Line(s), w, "…")
	if pad := w - termsafe.Width(t); pad > 0 {
		t += strings.Repeat(" ", pad)
	}
	return t
}

// cellRight is cell, right-aligned.
func cellRight(s string, w int) string {
	if w <= 0 {
		return ""
	}
	t := termsafe.Truncate(termsafe.Line(s), w, "…")
	if pad := w - termsafe.Width(t); pad > 0 {
		t = strings.Repeat(" ", pad) + t
	}
	return t
}

// fitLine fits an already safe (sanitised, possibly styled) line into w
// cells by padding; callers make sure it is not wider.
func padTo(s string, w int) string {
	if pad := w - termsafe.Width(s); pad > 0 {
		return s + strings.Repeat(" ", pad)
	}
	return s
}
