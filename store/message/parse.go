// Package message turns RFC 5322 / MIME (RFC 2045–2049) messages into what
// the reader shows: decoded headers, one text body, a list of attachments,
// and notes about anything broken. It also reads the summary the message
// list needs (ReadSummary) and saves attachments safely.
//
// Hostile input is bounded (see Limits) and never makes Parse fail as long
// as something can be shown: broken parts become Notes and the rest still
// shows.
//
// Sanitising: every string in a Message returned by Parse has already been
// passed through termsafe (termsafe.Line for one-line values such as
// headers, names, types and notes; termsafe.String for Text), so it can be
// printed as is. Render sanitises again (termsafe is idempotent), so a
// Message built by hand is printed safely too. Summary values returned by
// ReadSummary are decoded but not sanitised, like index.Envelope.
package message

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/url"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mailbag/mailbag/store/termsafe"
	"golang.org/x/text/encoding/charmap"
)

// Limits bound the work Parse does on one message. Zero fields take the
// defaults; a nil *Limits means all defaults.
type Limits struct {
	MaxDepth       int   // multipart nesting (default 20)
	MaxParts       int   // MIME parts, multiparts included (default 500)
	MaxHeaderBytes int   // bytes of one header block (default 256 KiB)
	MaxTextBytes   int64 // bytes of text shown (default 8 MiB)
}

func (l *Limits) withDefaults() Limits {
	var out Limits
	if l != nil {
		out = *l
	}
	if out.MaxDepth <= 0 {
		out.MaxDepth = 20
	}
	if out.MaxParts <= 0 {
		out.MaxParts = 500
	}
	if out.MaxHeaderBytes <= 0 {
		out.MaxHeaderBytes = defaultMaxHeaderBytes
	}
	if out.MaxTextBytes <= 0 {
		out.MaxTextBytes = 8 << 20
	}
	return out
}

// Field is one header field, its value unfolded and decoded (RFC 2047).
type Field struct {
	Name, Value string
}

// Message is a message as the reader shows it.
type Message struct {
	Header []Field // every header field in order, for a "full headers" view
	Summary
	ReplyTo string
	// Text is the body to show: text/plain preferred, else text/html
	// converted to text, other charsets decoded; inline text parts after
	// the first are appended.
	Text        string
	Attachments []Attachment
	// Notes describe broken or skipped parts ("part 3: unknown charset
	// x-foo, shown raw"); the rest of the message still shows.
	Notes []string
}

// Attachment is a part the reader lists rather than shows.
type Attachment struct {
	Index int    // 1-based position in Message.Attachments
	Name  string // file name from the message ("" when it has none)
	Type  string // media type, lower case: "application/pdf"
	Size  int64  // decoded size in bytes
	part  string // MIME part number ("" the message itself, "2.1" …)
}

// Part returns the MIME part number of the attachment in IMAP style
// (RFC 3501 §6.4.5): "" for the message itself, else "2", "2.1" ….
func (a Attachment) Part() string { return a.part }

// ErrNothing is returned by Parse when the input holds nothing to show.
var ErrNothing = errors.New("message: nothing to show")

// Parse reads a message from r and builds what the reader shows. A nil lim
// means the default Limits. It returns an error only when nothing at all
// can be shown (empty input, or reading fails before any header).
func Parse(r io.Reader, lim *Limits) (*Message, error) {
	p := &parser{lim: lim.withDefaults()}
	p.textLeft = 2 * p.lim.MaxTextBytes // alternatives may decode twice
	br := bufio.NewReaderSize(r, 16<<10)
	h, err := p.readHeader(br, "")
	if err != nil && len(h.fields) == 0 {
		return nil, fmt.Errorf("message: read header: %w", err)
	}
	if len(h.fields) == 0 {
		if _, err := br.Peek(1); err != nil {
			return nil, ErrNothing
		}
	}
	m := &Message{}
	var sb summaryBuilder
	for _, f := range h.fields {
		k := fieldKind([]byte(f.Name))
		sb.add(k, f.Value)
		if k == kReplyTo {
			m.ReplyTo = joinAddrs(m.ReplyTo, formatAddressList(f.Value))
		}
		m.Header = append(m.Header, Field{Name: termsafe.Line(f.Name), Value: termsafe.Line(decodeWords(f.Value))})
	}
	m.Summary = sb.s
	c := p.entity(br, &h, "", 0)
	m.Text = c.text
	if int64(len(m.Text)) > p.lim.MaxTextBytes {
		m.Text = cutUTF8(m.Text, int(p.lim.MaxTextBytes))
		p.note("", fmt.Sprintf("text cut at %d bytes", p.lim.MaxTextBytes))
	}
	m.Text = strings.TrimRight(termsafe.String(m.Text), " \t\n")
	m.Attachments = c.atts
	for i := range m.Attachments {
		a := &m.Attachments[i]
		a.Index = i + 1
		a.Name = termsafe.Line(a.Name)
		a.Type = termsafe.Line(a.Type)
	}
	m.Notes = p.notes
	for i := range m.Notes {
		m.Notes[i] = termsafe.Line(m.Notes[i])
	}
	s := &m.Summary
	for _, v := range []*string{&s.From, &s.To, &s.Cc, &s.Subject, &s.MessageID, &s.InReplyTo, &s.References, &m.ReplyTo} {
		*v = termsafe.Line(*v)
	}
	return m, nil
}

type parser struct {
	lim      Limits
	parts    int
	stopped  bool  // part limit reached
	textLeft int64 // text bytes that may still be decoded
	notes    []string
}

const maxNotes = 100

func (p *parser) note(part, msg string) {
	if len(p.notes) >= maxNotes {
		return
	}
	if len(p.notes) == maxNotes-1 {
		msg, part = "more problems not listed", ""
	}
	if part != "" {
		msg = "part " + part + ": " + msg
	}
	p.notes = append(p.notes, msg)
}

// partHeader is the header of one entity, with the MIME fields parsed.
type partHeader struct {
	fields     []Field // raw values (UTF-8, not RFC 2047 decoded)
	mediaType  string  // lower case; "" when Content-Type is absent
	params     map[string]string
	badType    bool // Content-Type present but unusable
	cte        string
	disp       string
	dispParams map[string]string
}

// readHeader reads one header block, bounded by Limits.MaxHeaderBytes and
// 1000 fields; past the bound the rest of the block is skipped.
func (p *parser) readHeader(br *bufio.Reader, part string) (partHeader, error) {
	var h partHeader
	hr := headerReader{br: br, maxBytes: p.lim.MaxHeaderBytes, maxFields: defaultMaxHeaderFields}
	var err error
	for {
		name, value, ok, truncated, rerr := hr.next()
		if ok {
			h.fields = append(h.fields, Field{Name: toUTF8(name), Value: toUTF8(value)})
		}
		if truncated {
			p.note(part, "header too long, the rest of it is skipped")
			rerr = skipHeader(br)
		}
		if !ok || rerr != nil {
			err = rerr
			break
		}
	}
	for _, f := range h.fields {
		switch strings.ToLower(f.Name) {
		case "content-type":
			if h.mediaType == "" && !h.badType {
				h.mediaType, h.params = parseMediaType(f.Value)
				if h.mediaType == "" {
					h.badType = true
				}
			}
		case "content-transfer-encoding":
			if h.cte == "" {
				h.cte = strings.ToLower(strings.TrimSpace(f.Value))
			}
		case "content-disposition":
			if h.disp == "" {
				h.disp, h.dispParams = parseMediaType(f.Value)
				if h.disp == "" {
					h.disp = "attachment"
				}
			}
		}
	}
	return h, err
}

// skipHeader discards header lines up to and including the blank line.
func skipHeader(br *bufio.Reader) error {
	lineStart := true
	for {
		line, err := br.ReadSlice('\n')
		if lineStart && (string(line) == "\n" || string(line) == "\r\n") {
			return nil
		}
		lineStart = err == nil
		if err != nil && err != bufio.ErrBufferFull {
			return eofNil(err)
		}
	}
}

// parseMediaType parses a Content-Type or Content-Disposition value (RFC
// 2045 §5.1, RFC 2183, with RFC 2231 parameter continuations and
// charsets). When the strict parser fails it falls back to a lenient
// split; it returns "" when there is no usable type. Parameter values have
// RFC 2047 encoded words decoded (non-standard, common in file names).
func parseMediaType(v string) (string, map[string]string) {
	mt, params, err := mime.ParseMediaType(v)
	if err != nil {
		mt, params = lenientMediaType(v)
	} else if strings.Contains(v, "*") {
		// mime.ParseMediaType drops RFC 2231 values in charsets other
		// than UTF-8 and US-ASCII; recover them.
		_, lp := lenientMediaType(v)
		for k, pv := range lp {
			if _, ok := params[k]; !ok {
				params[k] = pv
			}
		}
	}
	mt = strings.ToLower(mt)
	for k, pv := range params {
		params[k] = decodeWords(pv)
	}
	if t, sub, ok := strings.Cut(mt, "/"); !ok || t == "" || sub == "" || strings.Contains(sub, "/") {
		if !strings.Contains(mt, "/") && mt != "" && isDisposition(mt) {
			return mt, params
		}
		mt = ""
	}
	return mt, params
}

// isDisposition reports whether t is a Content-Disposition type (RFC 2183
// §2: inline, attachment, or an extension token).
func isDisposition(t string) bool {
	return !strings.ContainsAny(t, " \t\"()<>@,;:\\/[]?=")
}

func lenientMediaType(v string) (string, map[string]string) {
	parts := strings.Split(v, ";")
	mt := strings.ToLower(strings.TrimSpace(parts[0]))
	if strings.ContainsAny(mt, " \t\"()<>@,:\\[]?=") {
		mt = ""
	}
	params := map[string]string{}
	for _, p := range parts[1:] {
		k, val, ok := strings.Cut(p, "=")
		if !ok {
			continue
		}
		k = strings.ToLower(strings.TrimSpace(k))
		val = strings.Trim(strings.TrimSpace(val), `"`)
		if strings.HasSuffix(k, "*") {
			// RFC 2231 §4: charset'language'percent-encoded
			k = strings.TrimSuffix(k, "*")
			if i := strings.Index(val, "'"); i >= 0 {
				if j := strings.Index(val[i+1:], "'"); j >= 0 {
					cs, enc := val[:i], val[i+1+j+1:]
					if u, err := url.PathUnescape(enc); err == nil {
						val = decodeCharset([]byte(u), cs)
					}
				}
			}
		}
		if k != "" {
			if _, dup := params[k]; !dup {
				params[k] = val
			}
		}
	}
	return mt, params
}

func (h *partHeader) isAttachment() bool { return h.disp == "attachment" }

// fileName is the part's name: Content-Disposition filename (RFC 2183 §2.3),
// else the Content-Type name parameter.
func (h *partHeader) fileName() string {
	if n := strings.TrimSpace(h.dispParams["filename"]); n != "" {
		return n
	}
	return strings.TrimSpace(h.params["name"])
}

// attachmentType is the media type listed for an attachment.
func (h *partHeader) attachmentType() string {
	if h.badType || h.mediaType == "" || !strings.Contains(h.mediaType, "/") {
		return "application/octet-stream"
	}
	return h.mediaType
}

// content is what an entity contributes to the message.
type content struct {
	text string
	kind int // kindNone, kindPlain, kindHTML
	atts []Attachment
}

const (
	kindNone = iota
	kindPlain
	kindHTML
)

func childPart(part string, i int) string {
	if part == "" {
		return strconv.Itoa(i)
	}
	return part + "." + strconv.Itoa(i)
}

// entity handles one entity whose header h was read from br (RFC 2045
// §5.2: a missing or unusable Content-Type means text/plain).
func (p *parser) entity(br *bufio.Reader, h *partHeader, part string, depth int) content {
	p.parts++
	if p.parts > p.lim.MaxParts {
		if !p.stopped {
			p.note("", fmt.Sprintf("MIME part limit (%d) reached, the rest is not shown", p.lim.MaxParts))
			p.stopped = true
		}
		return content{}
	}
	mt := h.mediaType
	if h.badType {
		if h.isAttachment() || h.fileName() != "" {
			return p.attachment(br, h, part, false)
		}
		p.note(part, "bad Content-Type, shown as text/plain")
		mt = "text/plain"
	}
	if mt == "" {
		mt = "text/plain"
	}
	switch {
	case strings.HasPrefix(mt, "multipart/"):
		boundary := h.params["boundary"]
		if boundary == "" || len(boundary) > 200 {
			p.note(part, "multipart without a usable boundary, shown as text")
			return p.textPart(br, h, part, "text/plain")
		}
		if depth >= p.lim.MaxDepth {
			p.note(part, fmt.Sprintf("MIME depth limit (%d) reached, contents not shown", p.lim.MaxDepth))
			return content{}
		}
		return p.multipart(br, mt, boundary, part, depth)
	case mt == "message/rfc822" || mt == "message/global":
		return p.attachment(br, h, part, true)
	case h.isAttachment():
		return p.attachment(br, h, part, false)
	case mt == "text/plain" || mt == "text/html" || mt == "text/enriched" ||
		mt == "text/x-diff" || mt == "text/x-patch" || mt == "text/markdown":
		return p.textPart(br, h, part, mt)
	case strings.HasPrefix(mt, "text/") && depth == 0:
		return p.textPart(br, h, part, mt)
	}
	return p.attachment(br, h, part, false)
}

func (p *parser) multipart(br *bufio.Reader, mt, boundary, part string, depth int) content {
	mr := newMultipartReader(br, boundary, int(min(p.lim.MaxTextBytes, 1<<20)))
	var kids []content
	for i := 1; !p.stopped; i++ {
		pb, err := mr.next()
		if err == io.EOF {
			break
		}
		if err != nil {
			p.note(part, "read error: "+err.Error())
			break
		}
		cp := childPart(part, i)
		cbr := bufio.NewReaderSize(pb, 4096)
		ch, err := p.readHeader(cbr, cp)
		if err != nil && err != io.ErrUnexpectedEOF {
			p.note(cp, "read error: "+err.Error())
			break
		}
		kids = append(kids, p.entity(cbr, &ch, cp, depth+1))
	}
	if !mr.sawBoundary() {
		label := part
		if label == "" {
			label = "message"
		}
		p.note("", label+": no MIME boundary found in the body, shown as text")
		return content{text: p.decodeText(mr.preamble, "", part), kind: kindPlain}
	}
	if mr.truncated() && !p.stopped {
		p.note(part, "multipart ends without its closing boundary (truncated?)")
	}
	if mt == "multipart/alternative" {
		return chooseAlternative(kids)
	}
	// multipart/mixed, related and others (RFC 2046 §5.1.3, RFC 2387):
	// the first text part is the body, later inline text is appended.
	var c content
	var b strings.Builder
	for _, k := range kids {
		if k.kind != kindNone && strings.TrimSpace(k.text) != "" {
			if c.kind == kindNone {
				c.kind = k.kind
			} else {
				b.WriteString("\n\n")
			}
			b.WriteString(strings.TrimRight(k.text, "\n"))
		}
		c.atts = append(c.atts, k.atts...)
	}
	c.text = b.String()
	return c
}

// chooseAlternative picks from multipart/alternative (RFC 2046 §5.1.4):
// text/plain first, else HTML, else the last part that shows something.
func chooseAlternative(kids []content) content {
	for _, want := range []int{kindPlain, kindHTML} {
		for _, k := range kids {
			if k.kind == want && strings.TrimSpace(k.text) != "" {
				return k
			}
		}
	}
	for i := len(kids) - 1; i >= 0; i-- {
		if kids[i].kind != kindNone || len(kids[i].atts) > 0 {
			return kids[i]
		}
	}
	return content{}
}

// countReader counts the bytes read through it.
type countReader struct {
	r io.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// attachment lists a part without showing it. For a message/rfc822 part the
// name defaults to the embedded message's subject.
func (p *parser) attachment(br *bufio.Reader, h *partHeader, part string, isMsg bool) content {
	dec, d, known := transferDecoder(h.cte, br)
	if !known {
		p.note(part, fmt.Sprintf("unknown transfer encoding %q, listed raw", h.cte))
	}
	cr := &countReader{r: dec}
	name := h.fileName()
	if isMsg {
		ebr := bufio.NewReaderSize(cr, 4096)
		hr := headerReader{br: ebr, maxBytes: p.lim.MaxHeaderBytes, maxFields: defaultMaxHeaderFields,
			want: func(n []byte) bool { return fieldKind(n) == kSubject }}
		if _, v, ok, _, _ := hr.next(); ok && name == "" {
			subj := strings.TrimSpace(decodeWords(toUTF8(v)))
			if subj == "" {
				subj = "message"
			}
			name = subj + ".eml"
		}
		io.Copy(io.Discard, ebr)
	} else if _, err := io.Copy(io.Discard, cr); err != nil && err != io.ErrUnexpectedEOF {
		p.note(part, "read error: "+err.Error())
	}
	p.noteInvalid(d, part)
	typ := h.attachmentType()
	if isMsg && name == "" {
		name = "message.eml"
	}
	return content{atts: []Attachment{{Name: name, Type: typ, Size: cr.n, part: part}}}
}

// noteInvalid notes bad transfer-encoding input the decoder worked around.
func (p *parser) noteInvalid(d interface{ invalid() int }, part string) {
	switch d := d.(type) {
	case *base64Reader:
		if d.bad > 0 {
			p.note(part, fmt.Sprintf("%d invalid base64 characters skipped", d.bad))
		}
	case *qpReader:
		if d.bad > 0 {
			p.note(part, fmt.Sprintf("%d invalid quoted-printable escapes kept as they were", d.bad))
		}
	}
}

// textPart decodes a text part for display.
func (p *parser) textPart(br *bufio.Reader, h *partHeader, part, mt string) content {
	budget := min(p.lim.MaxTextBytes, p.textLeft)
	if budget <= 0 {
		p.note(part, "text limit reached, part not shown")
		return content{}
	}
	dec, d, known := transferDecoder(h.cte, br)
	if !known {
		p.note(part, fmt.Sprintf("unknown transfer encoding %q, shown raw", h.cte))
	}
	raw, err := io.ReadAll(io.LimitReader(dec, budget+1))
	if err != nil && err != io.ErrUnexpectedEOF {
		p.note(part, "read error: "+err.Error())
	}
	if int64(len(raw)) > budget {
		raw = raw[:budget]
		p.note(part, fmt.Sprintf("text cut at %d bytes", budget))
		io.Copy(io.Discard, dec)
	}
	p.noteInvalid(d, part)
	text := p.decodeText(raw, h.params["charset"], part)
	p.textLeft -= int64(len(text))
	if mt == "text/html" {
		t, cut := htmlToText(text, int(p.lim.MaxTextBytes))
		if cut {
			p.note(part, "HTML text cut")
		}
		return content{text: t, kind: kindHTML}
	}
	return content{text: text, kind: kindPlain}
}

// decodeText converts text in the charset label (RFC 2046 §4.1.2) to
// UTF-8, noting unknown charsets (then shown raw).
func (p *parser) decodeText(b []byte, label, part string) string {
	l := strings.ToLower(strings.TrimSpace(label))
	switch l {
	case "", "us-ascii", "ascii", "utf-8", "utf8", "iso-8859-1", "latin1", "iso_8859-1", "windows-1252", "cp1252":
		return decodeCharset(b, l)
	}
	r, err := charsetReader(l, bytes.NewReader(b))
	if err != nil {
		p.note(part, fmt.Sprintf("unknown charset %q, shown raw", label))
		return toUTF8(b)
	}
	out, err := io.ReadAll(io.LimitReader(r, 4*int64(len(b))+16))
	if err != nil {
		p.note(part, fmt.Sprintf("charset %q: %v", label, err))
	}
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// decodeCharset handles the charsets that need no table lookup. Text
// labelled ISO-8859-1 or US-ASCII is read as windows-1252, as the WHATWG
// Encoding Standard does: mailers label it so and use its punctuation.
// Unlabelled 8-bit text that is not UTF-8 is taken as windows-1252 too.
func decodeCharset(b []byte, label string) string {
	switch label {
	case "utf-8", "utf8":
		return strings.ToValidUTF8(string(b), "\uFFFD")
	case "", "us-ascii", "ascii":
		return toUTF8(b)
	case "iso-8859-1", "latin1", "iso_8859-1", "windows-1252", "cp1252":
		out, err := charmap.Windows1252.NewDecoder().Bytes(b)
		if err == nil {
			return string(out)
		}
		return toUTF8(b)
	}
	r, err := charsetReader(label, bytes.NewReader(b))
	if err != nil {
		return toUTF8(b)
	}
	out, _ := io.ReadAll(io.LimitReader(r, 4*int64(len(b))+16))
	return strings.ToValidUTF8(string(out), "\uFFFD")
}

// cutUTF8 cuts s to at most n bytes without splitting a rune.
func cutUTF8(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}
