package account

import (
	"net/mail"
	"regexp"
	"strings"

	"github.com/mailbag/mailbag/store/message"
)

// Subject prefixes a reply or a forward replaces (mutt's reply_regexp:
// "Re:", "RE[2]:", German "Aw:"; "Fwd:", "Fw:").
var (
	draftRePrefix  = regexp.MustCompile(`(?i)^\s*((re|aw)(\[\d+\])?\s*:\s*)+`)
	draftFwdPrefix = regexp.MustCompile(`(?i)^\s*((fwd?)\s*:\s*)+`)
)

// Reply drafts an answer to orig (RFC 5322 §3.6.3, §3.6.4):
//
//   - Subject "Re: " once, whatever prefixes orig had;
//   - To the Reply-To addresses, else From; when those are all the user's
//     own (replying to a sent message), orig's To;
//   - with all, Cc orig's To and Cc, less the user's addresses (self,
//     compared case-insensitively) and those already in To;
//   - From the entry of self orig was addressed to, else self[0];
//   - In-Reply-To orig's Message-ID, References orig's References (or its
//     In-Reply-To) followed by that id, at most 30 (first and last kept);
//   - the body "On DATE, NAME wrote:" and orig's text quoted with "> ".
//
// Every value taken from orig is folded to one line with control
// characters removed: a hostile message cannot inject header lines into
// the reply.
func Reply(orig *message.Message, self []string, all bool) *Draft {
	d := &Draft{Subject: "Re: " + draftRePrefix.ReplaceAllString(draftOneLine(orig.Subject), "")}
	mine := map[string]bool{}
	for _, s := range self {
		for _, a := range draftLenientList(s) {
			mine[strings.ToLower(a.Address)] = true
		}
	}
	isMine := func(a *mail.Address) bool { return mine[strings.ToLower(a.Address)] }

	origTo := draftLenientList(orig.To)
	origCc := draftLenientList(orig.Cc)
	recipients := append(append([]*mail.Address(nil), origTo...), origCc...)
	to := draftLenientList(orig.ReplyTo)
	if len(to) == 0 {
		to = draftLenientList(orig.From)
	}
	allMine := len(to) > 0
	for _, a := range to {
		allMine = allMine && isMine(a)
	}
	if allMine && len(origTo) > 0 {
		to = origTo
	}
	seen := map[string]bool{}
	for _, a := range to {
		if k := strings.ToLower(a.Address); !seen[k] {
			seen[k] = true
			d.To = append(d.To, draftEditAddr(a))
		}
	}
	if all {
		for _, a := range recipients {
			if k := strings.ToLower(a.Address); !seen[k] && !isMine(a) {
				seen[k] = true
				d.Cc = append(d.Cc, draftEditAddr(a))
			}
		}
	}

	if len(self) > 0 {
		d.From = draftOneLine(self[0])
	pick:
		for _, s := range self {
			for _, a := range draftLenientList(s) {
				for _, r := range recipients {
					if strings.EqualFold(a.Address, r.Address) {
						d.From = draftOneLine(s)
						break pick
					}
				}
			}
		}
	}

	if id := draftOneLine(orig.MessageID); draftValidMsgID(id) {
		d.InReplyTo = id
	}
	refs := orig.References
	if strings.TrimSpace(refs) == "" {
		refs = orig.InReplyTo
	}
	for _, id := range strings.Fields(refs) {
		if id = strings.Trim(id, "<>"); draftValidMsgID(id) && id != d.InReplyTo {
			d.References = append(d.References, id)
		}
	}
	if d.InReplyTo != "" {
		d.References = append(d.References, d.InReplyTo)
	}
	if n := len(d.References); n > draftMaxReferences {
		d.References = append(d.References[:1:1], d.References[n-draftMaxReferences+1:]...)
	}

	name := ""
	if from := draftLenientList(orig.From); len(from) > 0 {
		name = draftOneLine(from[0].Name)
		if name == "" {
			name = from[0].Address
		}
	}
	if name == "" {
		name = "the sender"
	}
	var b strings.Builder
	if orig.Date.IsZero() {
		b.WriteString(name + " wrote:\n")
	} else {
		b.WriteString("On " + orig.Date.Format("Mon, 2 Jan 2006 15:04 -0700") + ", " + name + " wrote:\n")
	}
	for _, line := range strings.Split(strings.TrimRight(draftCleanText(orig.Text), "\n"), "\n") {
		switch {
		case line == "":
			b.WriteString(">\n")
		case line[0] == '>':
			b.WriteString(">" + line + "\n")
		default:
			b.WriteString("> " + line + "\n")
		}
	}
	b.WriteString("\n")
	d.Body = b.String()
	return d
}

// Forward drafts a forward of orig with subject "Fwd: " (once). Inline,
// the body is a "---------- Forwarded message ----------" block with
// orig's From, Date, Subject, To and Cc, then its text (attachments are
// not carried: forward as an attachment for those). asAttachment attaches
// raw, the whole original, as message/rfc822 (RFC 2046 §5.2.1); with no
// raw it forwards inline. From is left for the caller to set.
func Forward(orig *message.Message, raw []byte, asAttachment bool) *Draft {
	subject := draftFwdPrefix.ReplaceAllString(draftOneLine(orig.Subject), "")
	d := &Draft{Subject: "Fwd: " + subject}
	if asAttachment && raw != nil {
		name := draftFileName(subject)
		if name == "attachment" || subject == "" {
			name = "forwarded message"
		}
		d.Attachments = []DraftAttachment{{Name: name + ".eml", Data: raw, ContentType: "message/rfc822"}}
		return d
	}
	var b strings.Builder
	b.WriteString("\n\n---------- Forwarded message ----------\n")
	field := func(k, v string) {
		if v = draftOneLine(v); v != "" {
			b.WriteString(k + ": " + v + "\n")
		}
	}
	field("From", orig.From)
	if !orig.Date.IsZero() {
		field("Date", orig.Date.Format("Mon, 2 Jan 2006 15:04:05 -0700"))
	}
	field("Subject", orig.Subject)
	field("To", orig.To)
	field("Cc", orig.Cc)
	b.WriteString("\n")
	b.WriteString(draftCleanText(orig.Text))
	d.Body = b.String()
	return d
}

// draftLenientList parses an address list as the message store formats
// it ("Name <a@b>, c@d"). When the list does not parse as RFC 5322 (a
// display name with unquoted specials), each comma-separated piece with
// an <address> or a bare address is taken on its own.
func draftLenientList(s string) []*mail.Address {
	s = draftOneLine(s)
	if s == "" {
		return nil
	}
	if list, err := draftParseList(s); err == nil {
		return list
	}
	var out []*mail.Address
	for _, piece := range strings.Split(s, ",") {
		piece = strings.TrimSpace(piece)
		if a, err := mail.ParseAddress(piece); err == nil {
			out = append(out, a)
			continue
		}
		i, j := strings.LastIndexByte(piece, '<'), strings.LastIndexByte(piece, '>')
		if i >= 0 && j > i {
			if a, err := mail.ParseAddress(piece[i : j+1]); err == nil {
				a.Name = strings.Trim(strings.TrimSpace(piece[:i]), `"`)
				out = append(out, a)
			}
		}
	}
	return out
}

// draftCleanText removes control characters other than tab and newline
// from text quoted into a draft, and makes line ends LF.
func draftCleanText(s string) string {
	s = strings.ReplaceAll(strings.ToValidUTF8(s, "\uFFFD"), "\r\n", "\n")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if draftBadRune(r) {
			return -1
		}
		return r
	}, s)
}
