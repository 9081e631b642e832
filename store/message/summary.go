package message

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"net/mail"
	"strings"
	"time"
)

// Summary holds the header fields the message list needs, decoded to
// UTF-8 but not sanitised for the terminal (pass them through termsafe).
type Summary struct {
	Date time.Time // zero when missing or unparseable
	// From, To and Cc are display strings: "Name <a@b>, c@d".
	From, To, Cc string
	Subject      string
	MessageID    string // without angle brackets
	InReplyTo    string // without angle brackets
	References   string // ids without brackets, space separated, oldest first
}

// summaryBufSize is the read buffer of ReadSummary: most headers fit in it,
// so a summary costs one or two reads.
const summaryBufSize = 4096

// ReadSummary reads only the header of an RFC 5322 message from r (up to
// the blank line of §2.1) and decodes the fields of a Summary: RFC 2047
// encoded words, unlabelled 8-bit text, address lists (§3.4), the date
// (§3.3, leniently) and message identifiers (§3.6.4). It stops after 256 KiB
// of header or 1000 fields and returns what it read. The error is only
// for a failing reader; the Summary holds whatever was read before it.
func ReadSummary(r io.Reader) (Summary, error) {
	h := headerReader{
		br:        bufio.NewReaderSize(r, summaryBufSize),
		maxBytes:  defaultMaxHeaderBytes,
		maxFields: defaultMaxHeaderFields,
		want:      summaryField,
	}
	var sb summaryBuilder
	for {
		name, value, ok, _, err := h.next()
		if !ok {
			return sb.s, err
		}
		sb.add(fieldKind(name), toUTF8(value))
		if err != nil {
			return sb.s, err
		}
	}
}

// summaryBuilder fills a Summary from header fields: the first Date,
// Subject, Message-ID, In-Reply-To and References count; From, To and Cc
// fields are joined.
type summaryBuilder struct {
	s                                                Summary
	haveDate, haveSubject, haveID, haveIRT, haveRefs bool
}

// add decodes one field value (already UTF-8) of the given kind.
func (sb *summaryBuilder) add(kind int, v string) {
	s := &sb.s
	switch kind {
	case kDate:
		if !sb.haveDate {
			s.Date, sb.haveDate = parseDate(v), true
		}
	case kFrom:
		s.From = joinAddrs(s.From, formatAddressList(v))
	case kTo:
		s.To = joinAddrs(s.To, formatAddressList(v))
	case kCc:
		s.Cc = joinAddrs(s.Cc, formatAddressList(v))
	case kSubject:
		if !sb.haveSubject {
			s.Subject, sb.haveSubject = decodeWords(v), true
		}
	case kMessageID:
		if !sb.haveID {
			s.MessageID, sb.haveID = firstMsgID(v), true
		}
	case kInReplyTo:
		if !sb.haveIRT {
			s.InReplyTo, sb.haveIRT = firstMsgID(v), true
		}
	case kReferences:
		if !sb.haveRefs {
			s.References, sb.haveRefs = msgIDList(v), true
		}
	}
}

const (
	kOther = iota
	kDate
	kFrom
	kTo
	kCc
	kSubject
	kMessageID
	kInReplyTo
	kReferences
	kReplyTo
)

// fieldKind classifies a field name case-insensitively without allocating.
func fieldKind(name []byte) int {
	switch len(name) {
	case 2:
		if bytes.EqualFold(name, []byte("to")) {
			return kTo
		}
		if bytes.EqualFold(name, []byte("cc")) {
			return kCc
		}
	case 4:
		if bytes.EqualFold(name, []byte("date")) {
			return kDate
		}
		if bytes.EqualFold(name, []byte("from")) {
			return kFrom
		}
	case 7:
		if bytes.EqualFold(name, []byte("subject")) {
			return kSubject
		}
	case 8:
		if bytes.EqualFold(name, []byte("reply-to")) {
			return kReplyTo
		}
	case 10:
		if bytes.EqualFold(name, []byte("message-id")) {
			return kMessageID
		}
		if bytes.EqualFold(name, []byte("references")) {
			return kReferences
		}
	case 11:
		if bytes.EqualFold(name, []byte("in-reply-to")) {
			return kInReplyTo
		}
	}
	return kOther
}

func summaryField(name []byte) bool {
	k := fieldKind(name)
	return k != kOther && k != kReplyTo
}

func joinAddrs(a, b string) string {
	switch {
	case a == "":
		return b
	case b == "":
		return a
	}
	return a + ", " + b
}

// formatAddressList parses an RFC 5322 §3.4 address list (with RFC 2047
// encoded display names) and formats it for display as
// "Name <a@b>, c@d". When the list does not parse, it returns the value
// with encoded words decoded.
func formatAddressList(v string) string {
	if v == "" {
		return ""
	}
	if s, ok := fastAddressList(v); ok {
		return s
	}
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{CharsetReader: charsetReader}}
	list, err := p.ParseList(v)
	if err != nil || len(list) == 0 {
		return strings.TrimSpace(decodeWords(v))
	}
	var b strings.Builder
	for i, a := range list {
		if i > 0 {
			b.WriteString(", ")
		}
		name := decodeWords(a.Name)
		if name == "" || name == a.Address {
			b.WriteString(a.Address)
			continue
		}
		if strings.ContainsAny(name, ",<>\"") {
			b.WriteByte('"')
			b.WriteString(strings.ReplaceAll(strings.ReplaceAll(name, `\`, `\\`), `"`, `\"`))
			b.WriteByte('"')
		} else {
			b.WriteString(name)
		}
		b.WriteString(" <")
		b.WriteString(a.Address)
		b.WriteByte('>')
	}
	return decodeWords(b.String())
}

// firstMsgID returns the first RFC 5322 §3.6.4 msg-id in v without its
// angle brackets; without brackets, the first word that looks like one.
func firstMsgID(v string) string {
	if i := strings.IndexByte(v, '<'); i >= 0 {
		if j := strings.IndexByte(v[i+1:], '>'); j >= 0 {
			return stripSpace(v[i+1 : i+1+j])
		}
	}
	for _, w := range strings.Fields(v) {
		w = strings.Trim(w, "<>")
		if strings.IndexByte(w, '@') > 0 {
			return w
		}
	}
	if f := strings.Fields(v); len(f) == 1 {
		return strings.Trim(f[0], "<>")
	}
	return ""
}

// msgIDList returns the msg-ids of a References field (§3.6.4) without
// brackets, space separated, in field order (oldest first).
func msgIDList(v string) string {
	var b strings.Builder
	rest := v
	for {
		i := strings.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := strings.IndexByte(rest[i+1:], '>')
		if j < 0 {
			break
		}
		if id := stripSpace(rest[i+1 : i+1+j]); id != "" {
			if b.Len() > 0 {
				b.WriteByte(' ')
			}
			b.WriteString(id)
		}
		rest = rest[i+1+j+1:]
	}
	if b.Len() == 0 {
		for _, w := range strings.Fields(v) {
			if strings.IndexByte(w, '@') > 0 {
				if b.Len() > 0 {
					b.WriteByte(' ')
				}
				b.WriteString(w)
			}
		}
	}
	return b.String()
}

// stripSpace removes white space inside an id (folded ids in the wild).
func stripSpace(s string) string {
	if strings.IndexAny(s, " \t\r\n") < 0 {
		return s
	}
	return strings.Join(strings.Fields(s), "")
}

// fastAddressList formats the common simple lists ("Name <a@b>, c@d",
// quoted names without escapes) without the full §3.4 parser; ok is false
// for anything else (comments, groups, escapes, odd shapes).
func fastAddressList(v string) (string, bool) {
	if strings.ContainsAny(v, "\\():;[]") {
		return "", false
	}
	var b strings.Builder
	b.Grow(len(v))
	for v != "" {
		// Split at the next comma outside quotes.
		end, inQuote := len(v), false
		for i := 0; i < len(v); i++ {
			if v[i] == '"' {
				inQuote = !inQuote
			} else if v[i] == ',' && !inQuote {
				end = i
				break
			}
		}
		if inQuote {
			return "", false
		}
		item := strings.TrimSpace(v[:end])
		if end < len(v) {
			v = v[end+1:]
		} else {
			v = ""
		}
		if item == "" {
			continue
		}
		var name, addr string
		if lt := strings.IndexByte(item, '<'); lt >= 0 {
			if !strings.HasSuffix(item, ">") {
				return "", false
			}
			addr = item[lt+1 : len(item)-1]
			name = strings.TrimSpace(item[:lt])
			if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
				name = name[1 : len(name)-1]
			}
			if strings.IndexByte(name, '"') >= 0 {
				return "", false
			}
		} else {
			addr = item
		}
		if at := strings.IndexByte(addr, '@'); at <= 0 || at == len(addr)-1 ||
			strings.ContainsAny(addr, " \t<>\",") || strings.Count(addr, "@") != 1 {
			return "", false
		}
		if b.Len() > 0 {
			b.WriteString(", ")
		}
		name = decodeWords(name)
		if name == "" || name == addr {
			b.WriteString(addr)
			continue
		}
		if strings.ContainsAny(name, ",<>\"") {
			return "", false
		}
		b.WriteString(name)
		b.WriteString(" <")
		b.WriteString(addr)
		b.WriteByte('>')
	}
	return b.String(), b.Len() > 0
}
