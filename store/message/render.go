package message

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/mailbag/mailbag/store/termsafe"
)

// Render returns what `mailbag show` prints: the decoded From, To, Cc,
// Date and Subject, a blank line, the text body, then the attachment list
// (number, name, type, size) and the notes. Every string passes through
// termsafe. A width above 0 wraps longer lines at word boundaries (tabs
// are expanded to 8-column stops first); 0 leaves lines as they are.
func Render(m *Message, width int) string {
	if m == nil {
		return ""
	}
	var b strings.Builder
	head := func(name, v string) {
		if v = termsafe.Line(v); v != "" {
			writeWrapped(&b, name+": "+v, width, "    ")
		}
	}
	head("From", m.From)
	head("To", m.To)
	head("Cc", m.Cc)
	if !m.Date.IsZero() {
		head("Date", m.Date.Format("Mon, 02 Jan 2006 15:04:05 -0700"))
	}
	head("Subject", m.Subject)
	b.WriteByte('\n')
	if text := strings.TrimRight(termsafe.String(m.Text), " \t\n"); text != "" {
		for _, line := range strings.Split(text, "\n") {
			writeWrapped(&b, line, width, "")
		}
	}
	if len(m.Attachments) > 0 {
		b.WriteString("\nAttachments:\n")
		for i, a := range m.Attachments {
			n := a.Index
			if n == 0 {
				n = i + 1
			}
			name := termsafe.Line(a.Name)
			if name == "" {
				name = "(no name)"
			}
			line := fmt.Sprintf("  %d. %s (%s, %s)", n, name, termsafe.Line(a.Type), HumanSize(a.Size))
			writeWrapped(&b, line, width, "     ")
		}
	}
	if len(m.Notes) > 0 {
		b.WriteString("\nNotes:\n")
		for _, note := range m.Notes {
			writeWrapped(&b, "  - "+termsafe.Line(note), width, "    ")
		}
	}
	return b.String()
}

// HumanSize formats a byte count for people: "512 B", "1.5 KiB", "3.2 MiB".
func HumanSize(n int64) string {
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	units := []string{"KiB", "MiB", "GiB", "TiB"}
	f := float64(n) / 1024
	i := 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if f < 10 {
		return fmt.Sprintf("%.1f %s", f, units[i])
	}
	return fmt.Sprintf("%.0f %s", f, units[i])
}

// expandTabs replaces tabs with spaces up to the next multiple of 8 cells.
func expandTabs(line string) string {
	if !strings.Contains(line, "\t") {
		return line
	}
	var b strings.Builder
	col := 0
	for {
		i := strings.IndexByte(line, '\t')
		if i < 0 {
			b.WriteString(line)
			return b.String()
		}
		b.WriteString(line[:i])
		col += termsafe.Width(line[:i])
		pad := 8 - col%8
		b.WriteString(strings.Repeat(" ", pad))
		col += pad
		line = line[i+1:]
	}
}

// writeWrapped writes one sanitised line, wrapped to width cells at
// spaces (words longer than a line are cut between grapheme clusters);
// continuation lines start with indent.
func writeWrapped(b *strings.Builder, line string, width int, indent string) {
	line = expandTabs(line)
	if width <= 0 || termsafe.Width(line) <= width {
		b.WriteString(line)
		b.WriteByte('\n')
		return
	}
	if termsafe.Width(indent)*2 >= width {
		indent = ""
	}
	first := true
	for line != "" {
		avail := width
		prefix := ""
		if !first {
			prefix = indent
			avail -= termsafe.Width(indent)
			line = strings.TrimLeft(line, " ")
			if line == "" {
				break
			}
		}
		if termsafe.Width(line) <= avail {
			b.WriteString(prefix + line + "\n")
			break
		}
		cut := termsafe.Truncate(line, avail, "")
		// Prefer to break at the last space that fits.
		if i := strings.LastIndexByte(cut, ' '); i > 0 && strings.TrimLeft(cut[:i], " ") != "" {
			cut = cut[:i]
		}
		if cut == "" { // a cluster wider than the line: emit it alone
			cut = termsafe.Truncate(line, 2, "")
			if cut == "" {
				_, n := utf8.DecodeRuneInString(line)
				cut = line[:n]
			}
		}
		b.WriteString(prefix + strings.TrimRight(cut, " ") + "\n")
		line = line[len(cut):]
		first = false
	}
}
