package message

import (
	"bytes"
	"io"
	"mime"
	"net/mail"
	"slices"
	"strings"
	"time"
	"unicode/utf8"
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

// summaryBufSize is the first read of ReadSummary: most headers fit in
// it, so a summary costs one or two reads.
const summaryBufSize = 4096

// ReadSummary reads only the header of an RFC 5322 message from r (up to
// the blank line of §2.1) and decodes the fields of a Summary: RFC 2047
// encoded words, unlabelled 8-bit text, address lists (§3.4), the date
// (§3.3, leniently) and message identifiers (§3.6.4). It stops after 256 KiB
// of header or 1000 fields and returns what it read. The error is only
// for a failing reader; the Summary holds whatever was read before it.
//
// A caller that summarises many messages should keep a SummaryReader.
func ReadSummary(r io.Reader) (Summary, error) {
	var sr SummaryReader
	return sr.ReadSummary(r)
}

// SummaryReader reads summaries as ReadSummary does, keeping its buffers
// from one message to the next, so a worker that summarises a folder
// allocates little more than the strings of each Summary. The zero value
// is ready to use. A SummaryReader is not safe for concurrent use.
type SummaryReader struct {
	buf    []byte           // the header block, as read
	ends   []int            // offsets of the LFs in buf
	unfold []byte           // a folded field value, unfolded (§2.2.3)
	latin  []byte           // a value of raw 8-bit text, as UTF-8
	name   []byte           // a decoded display name
	tmp    []byte           // the content of one encoded word
	field  [numKinds][]byte // decoded values by kind
	have   [numKinds]bool   // a first-wins field was seen
	date   time.Time
}

// ReadSummary is ReadSummary reusing sr's buffers. The strings of the
// Summary share one allocation and do not alias sr.
func (sr *SummaryReader) ReadSummary(r io.Reader) (Summary, error) {
	hdr, err := sr.readHeader(r)
	for k := range sr.field {
		sr.field[k] = sr.field[k][:0]
	}
	sr.have = [numKinds]bool{}
	sr.date = time.Time{}
	// The fields of §2.2, unfolded as headerReader does: lines without a
	// colon and stray continuation lines are skipped, bare LF is a line end.
	ends := sr.ends
	line := func(k int) []byte { // line k without its line ending
		start, end := 0, len(hdr)
		if k > 0 {
			start = ends[k-1] + 1
		}
		if k < len(ends) {
			end = ends[k]
		}
		if end > start && hdr[end-1] == '\r' {
			end--
		}
		return hdr[start:end]
	}
	nlines := len(ends)
	if len(ends) == 0 || ends[len(ends)-1] < len(hdr)-1 {
		nlines++ // a last line without LF
	}
	fields := 0
	for k := 0; k < nlines && fields < defaultMaxHeaderFields; {
		ln := line(k)
		k++
		if len(ln) == 0 { // blank line: end of header
			break
		}
		if ln[0] == ' ' || ln[0] == '\t' {
			continue
		}
		colon := bytes.IndexByte(ln, ':')
		if colon <= 0 {
			continue
		}
		name := trimBlanksRight(ln[:colon])
		if !validName(name) {
			continue
		}
		fields++
		kind := fieldKind(name)
		want := kind != kOther && kind != kReplyTo && !sr.have[kind]
		value, folded := ln[colon+1:], false
		for ; k < nlines; k++ {
			cont := line(k)
			if len(cont) == 0 || cont[0] != ' ' && cont[0] != '\t' {
				break
			}
			if want {
				if !folded {
					sr.unfold = append(sr.unfold[:0], value...)
					folded = true
				}
				sr.unfold = append(sr.unfold, cont...)
			}
		}
		if !want {
			continue
		}
		if folded {
			value = sr.unfold
		}
		sr.add(kind, trimBlanks(value))
	}
	return sr.summary(), err
}

// readHeader reads from r into sr.buf until the blank line that ends the
// header (§2.1), the end of input, a read error or the byte bound, and
// returns the header without the blank line; sr.ends gets the offsets of
// its line feeds. Reads start at summaryBufSize bytes and double, so a
// short header costs one read.
func (sr *SummaryReader) readHeader(r io.Reader) ([]byte, error) {
	const limit = defaultMaxHeaderBytes
	if cap(sr.buf) < summaryBufSize {
		sr.buf = make([]byte, 0, summaryBufSize)
	}
	buf := sr.buf[:0]
	defer func() { sr.buf = buf[:0] }()
	sr.ends = sr.ends[:0]
	scan, empty := 0, 0 // scan: start of the first line not yet complete
	for len(buf) < limit {
		want := min(max(summaryBufSize, len(buf)), limit-len(buf))
		if cap(buf)-len(buf) < want {
			buf = slices.Grow(buf, want)
		}
		n, err := r.Read(buf[len(buf) : len(buf)+want])
		buf = buf[:len(buf)+n]
		for {
			i := bytes.IndexByte(buf[scan:], '\n')
			if i < 0 {
				break
			}
			if i == 0 || i == 1 && buf[scan] == '\r' { // blank line (§2.1)
				return buf[:scan], nil
			}
			sr.ends = append(sr.ends, scan+i)
			scan += i + 1
		}
		if err != nil {
			return buf, eofNil(err)
		}
		if n > 0 {
			empty = 0
		} else if empty++; empty >= 100 {
			return buf, io.ErrNoProgress
		}
	}
	return buf, nil
}

// add decodes the value v of one wanted field, with the same result as
// summaryBuilder.add(kind, toUTF8(v)), using fast paths for the common
// shapes and falling back to the general decoders for the rest.
func (sr *SummaryReader) add(kind int, v []byte) {
	if !utf8.Valid(v) {
		sr.latin = append(sr.latin[:0], toUTF8(v)...)
		v = sr.latin
	}
	dst := sr.field[kind]
	switch kind {
	case kDate:
		if t, ok := parseDateFast(v); ok {
			sr.date = t
		} else {
			sr.date = parseDate(string(v))
		}
		sr.have[kind] = true
		return
	case kFrom, kTo, kCc:
		mark := len(dst)
		if mark > 0 {
			dst = append(dst, ", "...)
		}
		start := len(dst)
		dst = sr.appendAddressList(dst, v)
		if len(dst) == start { // joinAddrs: nothing to add
			dst = dst[:mark]
		}
	case kSubject:
		var ok bool
		if dst, ok = appendWords(dst, v, &sr.tmp); !ok {
			dst = append(dst, decodeWords(string(v))...)
		}
	case kMessageID, kInReplyTo:
		dst = appendFirstMsgID(dst, v)
	case kReferences:
		dst = appendMsgIDList(dst, v)
	}
	sr.field[kind] = dst
	if kind != kFrom && kind != kTo && kind != kCc {
		sr.have[kind] = true
	}
}

// summary returns the decoded fields, their strings cut from one
// allocation.
func (sr *SummaryReader) summary() Summary {
	order := [...]int{kFrom, kTo, kCc, kSubject, kMessageID, kInReplyTo, kReferences}
	n := 0
	for _, k := range order {
		n += len(sr.field[k])
	}
	var b strings.Builder
	b.Grow(n)
	for _, k := range order {
		b.Write(sr.field[k])
	}
	all := b.String()
	var out [len(order)]string
	for i, k := range order {
		out[i], all = all[:len(sr.field[k])], all[len(sr.field[k]):]
	}
	return Summary{Date: sr.date, From: out[0], To: out[1], Cc: out[2], Subject: out[3],
		MessageID: out[4], InReplyTo: out[5], References: out[6]}
}

// appendAddressList appends formatAddressList(string(v)) to dst, for v of
// valid UTF-8: the common simple lists are formatted in place, anything
// else by formatAddressList.
func (sr *SummaryReader) appendAddressList(dst, v []byte) []byte {
	if len(v) == 0 {
		return dst
	}
	mark := len(dst)
	if out, ok := sr.appendFastAddressList(dst, v); ok {
		return out
	}
	return append(dst[:mark], formatAddressList(string(v))...)
}

// appendFastAddressList is fastAddressList on bytes: it appends the
// formatted list and reports true, or reports false (with dst's contents
// past its length undefined) for anything fastAddressList refuses, or for
// a display name in a charset appendWords leaves to the general decoder.
func (sr *SummaryReader) appendFastAddressList(dst, v []byte) ([]byte, bool) {
	class := byteClasses(v)
	if class&cForbid != 0 {
		return dst, false
	}
	mark := len(dst)
	for len(v) > 0 {
		// Split at the next comma outside quotes.
		end, inQuote := len(v), false
		if class&cQuote == 0 {
			if i := bytes.IndexByte(v, ','); i >= 0 {
				end = i
			}
		} else {
			for i := 0; i < len(v); i++ {
				if v[i] == '"' {
					inQuote = !inQuote
				} else if v[i] == ',' && !inQuote {
					end = i
					break
				}
			}
		}
		if inQuote {
			return dst, false
		}
		item := bytes.TrimSpace(v[:end])
		if end < len(v) {
			v = v[end+1:]
		} else {
			v = nil
		}
		if len(item) == 0 {
			continue
		}
		var name, addr []byte
		if lt := bytes.IndexByte(item, '<'); lt >= 0 {
			if item[len(item)-1] != '>' {
				return dst, false
			}
			addr = item[lt+1 : len(item)-1]
			name = bytes.TrimSpace(item[:lt])
			if len(name) >= 2 && name[0] == '"' && name[len(name)-1] == '"' {
				name = name[1 : len(name)-1]
			}
			if bytes.IndexByte(name, '"') >= 0 {
				return dst, false
			}
		} else {
			addr = item
		}
		if !simpleAddr(addr) {
			return dst, false
		}
		if len(dst) > mark {
			dst = append(dst, ", "...)
		}
		var ok bool
		if sr.name, ok = appendWords(sr.name[:0], name, &sr.tmp); !ok {
			return dst, false
		}
		name = sr.name
		if len(name) == 0 || bytes.Equal(name, addr) {
			dst = append(dst, addr...)
			continue
		}
		if byteClasses(name)&cNameBad != 0 {
			return dst, false
		}
		dst = append(dst, name...)
		dst = append(dst, " <"...)
		dst = append(dst, addr...)
		dst = append(dst, '>')
	}
	return dst, len(dst) > mark
}

// simpleAddr reports whether addr is what fastAddressList accepts as an
// address: one "@" with text on both sides, no white space, brackets,
// quotes or commas.
func simpleAddr(addr []byte) bool {
	at := bytes.IndexByte(addr, '@')
	return at > 0 && at < len(addr)-1 && bytes.LastIndexByte(addr, '@') == at &&
		byteClasses(addr)&cAddrBad == 0
}

// Byte classes for the address fast path.
const (
	cForbid  = 1 << iota // \ ( ) : ; [ ]: fastAddressList refuses the list
	cQuote               // "
	cAddrBad             // not in a simple address: space, tab, < > " ,
	cNameBad             // not in an unquoted display name: , < > "
)

// classOf is the constant table of byte classes.
var classOf = [256]uint8{
	'\\': cForbid, '(': cForbid, ')': cForbid, ':': cForbid, ';': cForbid, '[': cForbid, ']': cForbid,
	'"': cQuote | cAddrBad | cNameBad,
	',': cAddrBad | cNameBad, '<': cAddrBad | cNameBad, '>': cAddrBad | cNameBad,
	' ': cAddrBad, '\t': cAddrBad,
}

// byteClasses returns the union of the classes of the bytes of b.
func byteClasses(b []byte) uint8 {
	var c uint8
	for _, x := range b {
		c |= classOf[x]
	}
	return c
}

// hasSpace reports whether an id holds white space (stripSpace's set).
func hasSpace(b []byte) bool {
	for _, c := range b {
		if c == ' ' || c == '\t' || c == '\r' || c == '\n' {
			return true
		}
	}
	return false
}

// trimBlanks removes leading and trailing spaces and tabs.
func trimBlanks(b []byte) []byte {
	for len(b) > 0 && (b[0] == ' ' || b[0] == '\t') {
		b = b[1:]
	}
	return trimBlanksRight(b)
}

// trimBlanksRight removes trailing spaces and tabs.
func trimBlanksRight(b []byte) []byte {
	for len(b) > 0 && (b[len(b)-1] == ' ' || b[len(b)-1] == '\t') {
		b = b[:len(b)-1]
	}
	return b
}

// appendFirstMsgID appends firstMsgID(string(v)) to dst.
func appendFirstMsgID(dst, v []byte) []byte {
	if i := bytes.IndexByte(v, '<'); i >= 0 {
		if j := bytes.IndexByte(v[i+1:], '>'); j >= 0 {
			if id := v[i+1 : i+1+j]; !hasSpace(id) {
				return append(dst, id...)
			}
		}
	}
	return append(dst, firstMsgID(string(v))...)
}

// appendMsgIDList appends msgIDList(string(v)) to dst.
func appendMsgIDList(dst, v []byte) []byte {
	mark := len(dst)
	rest := v
	for {
		i := bytes.IndexByte(rest, '<')
		if i < 0 {
			break
		}
		j := bytes.IndexByte(rest[i+1:], '>')
		if j < 0 {
			break
		}
		id := rest[i+1 : i+1+j]
		rest = rest[i+1+j+1:]
		if hasSpace(id) {
			id = []byte(stripSpace(string(id)))
		}
		if len(id) > 0 {
			if len(dst) > mark {
				dst = append(dst, ' ')
			}
			dst = append(dst, id...)
		}
	}
	if len(dst) == mark {
		return append(dst, msgIDList(string(v))...)
	}
	return dst
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
	numKinds
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
