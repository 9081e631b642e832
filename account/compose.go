package account

import (
	"bytes"
	"fmt"
	"io"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/emersion/go-message/mail"
)

// Draft is a message being composed: what the editor shows (From, To, Cc,
// Bcc, Subject, attachments, body) plus the threading fields a reply
// carries. Address fields hold one RFC 5322 address each ("Name <a@b>" or
// "a@b"); an element holding a comma-separated list is accepted too.
type Draft struct {
	From        string
	To, Cc, Bcc []string
	Subject     string
	// InReplyTo and References are message ids without angle brackets
	// (RFC 5322 §3.6.4), References oldest first.
	InReplyTo  string
	References []string
	// Body is the text, with LF line endings.
	Body        string
	Attachments []DraftAttachment
}

// DraftAttachment is a file to attach, or bytes (a forwarded message).
type DraftAttachment struct {
	// Path is read when the message is built; it is what "Attach:" lines
	// of the template hold.
	Path string
	// Name is the file name in the message; default the base of Path.
	Name string
	// Data is the content when Path is empty.
	Data []byte
	// ContentType is the media type; "" detects it from Name, then from
	// the content.
	ContentType string
}

// SendEnvelope is the SMTP envelope of a built message (RFC 5321 §2.3.1):
// the reverse path and every recipient, Bcc included.
type SendEnvelope struct {
	From  string
	Rcpts []string
}

// BuildOptions tune Build.
type BuildOptions struct {
	// EightBit allows an 8bit text part when the server offers 8BITMIME
	// (RFC 6152); otherwise non-ASCII text is quoted-printable.
	EightBit bool
	// Domain is the right side of the Message-ID; default the domain of
	// From.
	Domain string
}

// Bounds on what Build accepts.
const (
	draftMaxAttachments = 100 << 20 // bytes, all attachments together
	draftMaxNameBytes   = 200       // attachment file names are shortened to this
	draftMaxLine        = 998       // RFC 5322 §2.1.1, without CRLF
	draftMaxReferences  = 30
)

// templateFields are the header names a template may hold, in order.
var templateFields = [...]string{"From", "To", "Cc", "Bcc", "Subject", "Attach"}

// Template renders the draft as the file the editor opens: the editable
// header fields (From, To, Cc, Bcc, Subject, then one Attach: line per
// attached file), a blank line, the body. Values are shown decoded, for
// people: ParseTemplate reads them back.
func (d *Draft) Template() []byte {
	var b bytes.Buffer
	fmt.Fprintf(&b, "From: %s\n", draftOneLine(d.From))
	for _, f := range []struct {
		name string
		list []string
	}{{"To", d.To}, {"Cc", d.Cc}, {"Bcc", d.Bcc}} {
		fmt.Fprintf(&b, "%s: %s\n", f.name, draftEditList(f.list))
	}
	fmt.Fprintf(&b, "Subject: %s\n", draftOneLine(d.Subject))
	for _, a := range d.Attachments {
		if a.Path != "" {
			fmt.Fprintf(&b, "Attach: %s\n", draftOneLine(a.Path))
		}
	}
	b.WriteString("\n")
	b.WriteString(d.Body)
	return b.Bytes()
}

// TemplateError is a problem in an edited template, with its line.
type TemplateError struct {
	Line int
	Text string // the offending line (trimmed, at most 80 bytes)
	Msg  string
}

func (e *TemplateError) Error() string {
	return fmt.Sprintf("draft line %d: %s: %q", e.Line, e.Msg, e.Text)
}

// ParseTemplate reads back a file written by Template and edited by the
// user. Header lines are "Name: value" with Name one of From, To, Cc, Bcc,
// Subject, Attach (any case); a line starting with a space or tab
// continues the previous one; the first empty line ends the header.
// Unknown names, malformed lines, control characters, addresses that do
// not parse and attachments that are not readable files are errors
// (*TemplateError) naming the line. Values are single lines by
// construction, so no header can be injected through them.
//
// The result has no threading fields and no in-memory attachments; use
// (*Draft).Apply to keep those of an existing draft.
func ParseTemplate(b []byte) (*Draft, error) {
	text := strings.ReplaceAll(string(b), "\r\n", "\n")
	d := &Draft{}
	type field struct {
		name, value string
		line        int
		text        string
	}
	var fields []field
	lineNo := 0
	rest := text
	for rest != "" {
		var line string
		line, rest, _ = strings.Cut(rest, "\n")
		lineNo++
		if strings.TrimSpace(line) == "" {
			break // end of header (RFC 5322 §2.1)
		}
		bad := func(msg string) error {
			return &TemplateError{Line: lineNo, Text: draftClip(line), Msg: msg}
		}
		if i := strings.IndexFunc(line, draftBadRune); i >= 0 {
			return nil, bad(fmt.Sprintf("control character %U in header", []rune(line[i:])[0]))
		}
		line = strings.ReplaceAll(line, "\t", " ")
		if line[0] == ' ' {
			if len(fields) == 0 {
				return nil, bad("continuation line without a header before it")
			}
			f := &fields[len(fields)-1]
			f.value += " " + strings.TrimSpace(line)
			continue
		}
		name, value, ok := strings.Cut(line, ":")
		if !ok {
			return nil, bad(`not a header line ("Name: value"); leave an empty line before the body`)
		}
		canon := ""
		for _, n := range templateFields {
			if strings.EqualFold(strings.TrimSpace(name), n) {
				canon = n
			}
		}
		if canon == "" {
			return nil, bad("unknown header " + strconv.Quote(strings.TrimSpace(name)) + " (known: " + strings.Join(templateFields[:], ", ") + ")")
		}
		fields = append(fields, field{name: canon, value: strings.TrimSpace(value), line: lineNo, text: draftClip(line)})
	}
	d.Body = rest
	seen := map[string]bool{}
	for _, f := range fields {
		bad := func(msg string) error { return &TemplateError{Line: f.line, Text: f.text, Msg: msg} }
		if (f.name == "From" || f.name == "Subject") && seen[f.name] {
			return nil, bad(f.name + " given twice")
		}
		seen[f.name] = true
		switch f.name {
		case "From":
			if f.value == "" {
				continue
			}
			a, err := draftParseList(f.value)
			if err != nil || len(a) != 1 {
				return nil, bad("From must be one address")
			}
			d.From = draftEditAddr(a[0])
		case "To", "Cc", "Bcc":
			if f.value == "" {
				continue
			}
			list, err := draftParseList(f.value)
			if err != nil {
				return nil, bad(err.Error())
			}
			for _, a := range list {
				s := draftEditAddr(a)
				switch f.name {
				case "To":
					d.To = append(d.To, s)
				case "Cc":
					d.Cc = append(d.Cc, s)
				default:
					d.Bcc = append(d.Bcc, s)
				}
			}
		case "Subject":
			d.Subject = f.value
		case "Attach":
			if f.value == "" {
				continue
			}
			p := draftExpandHome(f.value)
			st, err := os.Stat(p)
			if err != nil {
				return nil, bad("attachment: " + err.Error())
			}
			if !st.Mode().IsRegular() {
				return nil, bad("attachment is not a regular file")
			}
			d.Attachments = append(d.Attachments, DraftAttachment{Path: p})
		}
	}
	return d, nil
}

// Apply replaces the editable parts of d (From, To, Cc, Bcc, Subject,
// file attachments, body) with those of an edited template, keeping its
// threading fields and in-memory attachments.
func (d *Draft) Apply(template []byte) error {
	nd, err := ParseTemplate(template)
	if err != nil {
		return err
	}
	for _, a := range d.Attachments {
		if a.Path == "" {
			nd.Attachments = append(nd.Attachments, a)
		}
	}
	nd.InReplyTo, nd.References = d.InReplyTo, d.References
	*d = *nd
	return nil
}

// Build writes the draft as an RFC 5322 message with MIME (RFC 2045-2049)
// to w and returns its envelope. Everything is checked before the first
// byte is written:
//
//   - From must be one address and there must be at least one recipient;
//     every header value must be free of control characters (CR and LF
//     above all: no header injection, whatever the source);
//   - non-ASCII display names and subject are RFC 2047 encoded words;
//   - Date is now; Message-ID is random on opts.Domain or From's domain;
//   - Bcc never appears in the message, only in the envelope;
//   - the text is UTF-8, 7bit when it is ASCII with lines of at most 998
//     bytes, 8bit when opts.EightBit and the same holds, quoted-printable
//     otherwise (soft line breaks keep long lines intact, RFC 2045 §6.7);
//   - with attachments the message is multipart/mixed (RFC 2046 §5.1.3),
//     each attachment base64 with a detected media type and its file name
//     (non-ASCII names as RFC 2047 words, as go-message writes them and
//     mail readers expect); a message/rfc822 attachment stays 7bit or 8bit when it
//     can (RFC 2046 §5.2.1).
func (d *Draft) Build(w io.Writer, now time.Time, opts BuildOptions) (SendEnvelope, error) {
	var env SendEnvelope
	fail := func(format string, args ...any) (SendEnvelope, error) {
		return SendEnvelope{}, fmt.Errorf("compose: "+format, args...)
	}
	from, err := draftAddrs("From", []string{d.From})
	if err != nil {
		return fail("%v", err)
	}
	if len(from) != 1 {
		return fail("From must be exactly one address, got %d", len(from))
	}
	to, err := draftAddrs("To", d.To)
	if err != nil {
		return fail("%v", err)
	}
	cc, err := draftAddrs("Cc", d.Cc)
	if err != nil {
		return fail("%v", err)
	}
	bcc, err := draftAddrs("Bcc", d.Bcc)
	if err != nil {
		return fail("%v", err)
	}
	if len(to)+len(cc)+len(bcc) == 0 {
		return fail("no recipients")
	}
	if err := draftCheckValue("Subject", d.Subject); err != nil {
		return fail("%v", err)
	}
	var ids []string
	if d.InReplyTo != "" {
		if !draftValidMsgID(d.InReplyTo) {
			return fail("In-Reply-To: invalid message id %q", d.InReplyTo)
		}
	}
	for _, id := range d.References {
		if !draftValidMsgID(id) {
			return fail("References: invalid message id %q", id)
		}
		ids = append(ids, id)
	}
	atts, err := draftOpenAttachments(d.Attachments)
	if err != nil {
		return fail("%v", err)
	}
	defer func() {
		for _, a := range atts {
			a.close()
		}
	}()

	env.From = from[0].Address
	seen := map[string]bool{}
	for _, list := range [][]*mail.Address{to, cc, bcc} {
		for _, a := range list {
			if k := strings.ToLower(a.Address); !seen[k] {
				seen[k] = true
				env.Rcpts = append(env.Rcpts, a.Address)
			}
		}
	}

	// go-message writes fields in the reverse order of insertion: set
	// them last to first so the message reads Date, From, To, … .
	body := strings.ToValidUTF8(strings.ReplaceAll(d.Body, "\r\n", "\n"), "\uFFFD")
	enc := draftTextEncoding(body, opts.EightBit)
	var h gomail.Header
	if len(atts) == 0 {
		h.Set("Content-Transfer-Encoding", enc)
		h.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	}
	h.Set("MIME-Version", "1.0")
	if len(ids) > 0 {
		h.SetMsgIDList("References", ids)
	}
	if d.InReplyTo != "" {
		h.SetMsgIDList("In-Reply-To", []string{d.InReplyTo})
	}
	h.SetMessageID(draftMessageID(now, opts.Domain, env.From))
	if d.Subject != "" {
		h.SetSubject(d.Subject)
	}
	if len(cc) > 0 {
		h.SetAddressList("Cc", cc)
	}
	if len(to) > 0 {
		h.SetAddressList("To", to)
	}
	h.SetAddressList("From", from)
	h.SetDate(now)

	var th gomail.InlineHeader
	th.SetContentType("text/plain", map[string]string{"charset": "utf-8"})
	th.Set("Content-Transfer-Encoding", enc)

	if len(atts) == 0 {
		tw, err := gomail.CreateSingleInlineWriter(w, h)
		if err != nil {
			return fail("%v", err)
		}
		if err := draftWriteText(tw, body, enc); err != nil {
			return fail("%v", err)
		}
		if err := tw.Close(); err != nil {
			return fail("%v", err)
		}
		return env, nil
	}

	mw, err := gomail.CreateWriter(w, h)
	if err != nil {
		return fail("%v", err)
	}
	tw, err := mw.CreateSingleInline(th)
	if err != nil {
		return fail("%v", err)
	}
	if err := draftWriteText(tw, body, enc); err != nil {
		return fail("%v", err)
	}
	if err := tw.Close(); err != nil {
		return fail("%v", err)
	}
	for _, a := range atts {
		var ah gomail.AttachmentHeader
		ah.SetContentType(a.mediaType, map[string]string{"name": a.name})
		ah.SetFilename(a.name)
		ah.Set("Content-Transfer-Encoding", a.encoding(opts.EightBit))
		aw, err := mw.CreateAttachment(ah)
		if err != nil {
			return fail("attachment %s: %v", a.name, err)
		}
		if err := a.write(aw); err != nil {
			return fail("attachment %s: %v", a.name, err)
		}
		if err := aw.Close(); err != nil {
			return fail("attachment %s: %v", a.name, err)
		}
	}
	if err := mw.Close(); err != nil {
		return fail("%v", err)
	}
	return env, nil
}
