// Package sample makes sample mail: a realistic demo mailbox for
// `mailbag demo` and fast bulk generation for tests and benchmarks. Both
// are deterministic for the same arguments.
package sample

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"mime"
	"mime/quotedprintable"
	"strings"
	"time"

	"github.com/mailbag/mailbag/store/maildir"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

// User is the address the demo mailbox belongs to.
const User = "Alice Example <alice@example.test>"

// demoMsg is one message of the demo mailbox.
type demoMsg struct {
	folder  string
	flags   maildir.Flags
	age     time.Duration // how long before now it was sent
	from    string        // header value, already encoded
	to      string
	cc      string
	subject string // header value, already encoded
	id      string // without brackets
	parent  *demoMsg
	extra   []string // further header lines
	ctype   string   // Content-Type of the body; text/plain UTF-8 when empty
	cte     string   // Content-Transfer-Encoding, 8bit when empty
	body    string
}

func (m *demoMsg) refs() []string {
	if m.parent == nil {
		return nil
	}
	return append(m.parent.refs(), m.parent.id)
}

func (m *demoMsg) render(now time.Time) []byte {
	var b bytes.Buffer
	date := now.Add(-m.age)
	fmt.Fprintf(&b, "Return-Path: <%s>\n", addrOf(m.from))
	fmt.Fprintf(&b, "Date: %s\n", date.Format(time.RFC1123Z))
	fmt.Fprintf(&b, "From: %s\n", m.from)
	to := m.to
	if to == "" {
		to = User
	}
	fmt.Fprintf(&b, "To: %s\n", to)
	if m.cc != "" {
		fmt.Fprintf(&b, "Cc: %s\n", m.cc)
	}
	fmt.Fprintf(&b, "Subject: %s\n", m.subject)
	fmt.Fprintf(&b, "Message-ID: <%s>\n", m.id)
	if refs := m.refs(); len(refs) > 0 {
		fmt.Fprintf(&b, "In-Reply-To: <%s>\n", refs[len(refs)-1])
		fmt.Fprintf(&b, "References: <%s>\n", strings.Join(refs, ">\n <"))
	}
	for _, h := range m.extra {
		b.WriteString(h + "\n")
	}
	b.WriteString("MIME-Version: 1.0\n")
	ctype, cte := m.ctype, m.cte
	if ctype == "" {
		ctype = "text/plain; charset=utf-8"
	}
	if cte == "" {
		cte = "8bit"
	}
	fmt.Fprintf(&b, "Content-Type: %s\nContent-Transfer-Encoding: %s\n\n", ctype, cte)
	b.WriteString(m.body)
	if !strings.HasSuffix(m.body, "\n") {
		b.WriteString("\n")
	}
	return b.Bytes()
}

func addrOf(h string) string {
	if i := strings.LastIndexByte(h, '<'); i >= 0 {
		return strings.TrimSuffix(h[i+1:], ">")
	}
	return h
}

// Demo fills d with a realistic demo mailbox: about 40 messages in INBOX
// and a few in Sent and Archive, dated over the weeks before now. It has
// threads several levels deep, RFC 2047 subjects and names in UTF-8,
// ISO-8859-1 and ISO-2022-JP, an HTML-only and a multipart/alternative
// message, attachments (a PDF, a PNG image, a text file), mailing-list
// traffic, and unread and flagged messages.
func Demo(d *maildir.Dir, now time.Time) error {
	msgs := demoMessages()
	batches := map[string]*maildir.Batch{}
	var order []string
	for _, m := range msgs {
		folder := m.folder
		if folder == "" {
			folder = maildir.Inbox
		}
		b, ok := batches[folder]
		if !ok {
			f, err := d.Folder(folder)
			if err != nil {
				return fmt.Errorf("sample: demo: %w", err)
			}
			b = f.NewBatch()
			batches[folder] = b
			order = append(order, folder)
		}
		if _, err := b.Add(bytes.NewReader(m.render(now)), m.flags); err != nil {
			return fmt.Errorf("sample: demo: %w", err)
		}
	}
	for _, folder := range order {
		if err := batches[folder].Commit(); err != nil {
			batches[folder].Abort()
			return fmt.Errorf("sample: demo: %w", err)
		}
	}
	return nil
}

const (
	day  = 24 * time.Hour
	hour = time.Hour
)

var (
	bob   = "Bob Builder <bob@example.com>"
	carol = "Carol Danvers <carol@example.net>"
	dave  = "Dave <dave@example.org>"
	erin  = "Erin Ops <erin@corp.example.co.uk>"
	frank = `"Frank O'Neil" <frank@corp.example.co.uk>`
)

func q(s string) string { return mime.QEncoding.Encode("utf-8", s) }

func latin1(s string) string {
	b, _ := charmap.ISO8859_1.NewEncoder().String(s)
	return b
}

func iso2022jp(s string) string {
	b, _ := japanese.ISO2022JP.NewEncoder().String(s)
	return b
}

func qp(s string) string {
	var b bytes.Buffer
	w := quotedprintable.NewWriter(&b)
	w.Write([]byte(s))
	w.Close()
	return b.String()
}

func b64(data []byte) string {
	s := base64.StdEncoding.EncodeToString(data)
	var b strings.Builder
	for len(s) > 76 {
		b.WriteString(s[:76] + "\n")
		s = s[76:]
	}
	b.WriteString(s + "\n")
	return b.String()
}

func demoMessages() []*demoMsg {
	var all []*demoMsg
	add := func(m *demoMsg) *demoMsg { all = append(all, m); return m }
	subjectRe := func(p *demoMsg) string {
		if strings.HasPrefix(p.subject, "Re: ") {
			return p.subject
		}
		return "Re: " + p.subject
	}

	// A hiking thread, four levels deep, with Alice's reply in Sent.
	h1 := add(&demoMsg{flags: "S", age: 20*day + 3*hour, from: bob, cc: carol, subject: "Weekend hiking trip?",
		id: "hike1@example.com", body: "Hi Alice,\n\nAnyone up for the ridge trail this Saturday? Weather looks good.\nI can drive; we'd leave at 7.\n\nBob\n"})
	h2 := add(&demoMsg{flags: "S", age: 20*day + 1*hour, from: carol, cc: bob, subject: subjectRe(h1), id: "hike2@example.net", parent: h1,
		body: "Count me in! Should we bring the small stove?\n\n> Anyone up for the ridge trail this Saturday?\n\nCarol\n"})
	h3 := add(&demoMsg{flags: "RS", age: 19*day + 22*hour, from: bob, cc: carol, subject: subjectRe(h1), id: "hike3@example.com", parent: h2,
		body: "Yes, and the big thermos.\n\n> Should we bring the small stove?\n\nAlice, are you coming?\n"})
	h4 := add(&demoMsg{folder: "Sent", flags: "S", age: 19*day + 20*hour, from: User, to: bob, cc: carol, subject: subjectRe(h1), id: "hike4@example.test", parent: h3,
		body: "I'm in. I'll bring sandwiches for everyone.\n\n> Alice, are you coming?\n"})
	add(&demoMsg{flags: "S", age: 19*day + 18*hour, from: dave, cc: bob + ", " + carol, subject: subjectRe(h1), id: "hike5@example.org", parent: h4,
		body: "Room for one more? I have new boots to break in.\n"})
	add(&demoMsg{flags: "FS", age: 19*day + 2*hour, from: carol, subject: "Photos from the ridge", id: "hike6@example.net", parent: h4,
		ctype: `multipart/mixed; boundary="photo-boundary"`, cte: "7bit",
		body: "--photo-boundary\nContent-Type: text/plain; charset=utf-8\n\nHere is the best one from the summit.\n\n" +
			"--photo-boundary\nContent-Type: image/png\nContent-Disposition: attachment; filename=\"summit.png\"\nContent-Transfer-Encoding: base64\n\n" +
			b64(demoPNG()) + "--photo-boundary--\n"})

	// A work thread with a PDF attachment.
	r1 := add(&demoMsg{flags: "FS", age: 14*day + 5*hour, from: erin, to: User, cc: frank, subject: "Quarterly report draft", id: "q1@corp.example.co.uk",
		ctype: `multipart/mixed; boundary="=_report"`, cte: "7bit",
		body: "This is a multi-part message in MIME format.\n--=_report\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: 8bit\n\n" +
			"Hi Alice,\n\nattached is the draft of the Q2 report. Comments by Thursday, please.\n\n– Erin\n\n" +
			"--=_report\nContent-Type: application/pdf; name=\"Q2-report-draft.pdf\"\nContent-Disposition: attachment; filename=\"Q2-report-draft.pdf\"\nContent-Transfer-Encoding: base64\n\n" +
			b64(demoPDF()) + "--=_report--\n"})
	r2 := add(&demoMsg{folder: "Sent", flags: "S", age: 13*day + 4*hour, from: User, to: erin, cc: frank, subject: subjectRe(r1), id: "q2@example.test", parent: r1,
		body: "Looks good. Page 3: the revenue table is missing the June column.\n\n> attached is the draft of the Q2 report.\n"})
	r3 := add(&demoMsg{flags: "S", age: 13*day + 2*hour, from: erin, cc: frank, subject: subjectRe(r1), id: "q3@corp.example.co.uk", parent: r2,
		body: "Good catch, fixed. Frank, can you check the totals?\n"})
	add(&demoMsg{flags: "", age: 12*day + 23*hour, from: frank, cc: erin, subject: subjectRe(r1), id: "q4@corp.example.co.uk", parent: r3,
		body: "Totals check out. Ship it.\n"})

	// Japanese, in ISO-2022-JP as Japanese mail usually is.
	j1 := add(&demoMsg{flags: "S", age: 10*day + 6*hour,
		from:    mime.BEncoding.Encode("iso-2022-jp", iso2022jp("山田 太郎")) + " <taro.yamada@example.jp>",
		subject: mime.BEncoding.Encode("iso-2022-jp", iso2022jp("会議の資料について")), id: "jp1@example.jp",
		ctype: "text/plain; charset=iso-2022-jp", cte: "7bit",
		body: iso2022jp("アリスさん\n\n明日の会議の資料を共有します。\nご確認をお願いします。\n\n山田\n")})
	add(&demoMsg{flags: "", age: 9*day + 20*hour,
		from:    mime.BEncoding.Encode("utf-8", "佐藤 花子") + " <hanako.sato@example.jp>",
		subject: "Re: " + mime.BEncoding.Encode("utf-8", "会議の資料について"), id: "jp2@example.jp", parent: j1,
		body: "山田さん、アリスさん\n\n資料ありがとうございます。三ページ目に質問があります。\n\n佐藤\n"})

	// ISO-8859-1, quoted-printable.
	add(&demoMsg{flags: "S", age: 8*day + 2*hour,
		from:    mime.QEncoding.Encode("iso-8859-1", latin1("José García")) + " <jose@example.org>",
		subject: mime.QEncoding.Encode("iso-8859-1", latin1("Café crème à Montréal")), id: "latin1@example.org",
		ctype: "text/plain; charset=iso-8859-1", cte: "quoted-printable",
		body: qp(latin1("Salut Alice,\n\nOn se retrouve au café près de la gare ? J'ai réservé pour 19 h.\n\nÀ bientôt,\nJosé\n"))})

	// UTF-8 names and an emoji subject.
	add(&demoMsg{flags: "", age: 2*day + 7*hour, from: q("Zoë Ærinsdóttir") + " <zoe@example.net>",
		subject: mime.BEncoding.Encode("utf-8", "🎉 Party invitation – Saturday"), id: "party@example.net",
		body: "Hi Alice!\n\nI'm turning 30 and throwing a party. Bring a friend 🎂\n\nZoë\n"})

	// HTML only.
	add(&demoMsg{flags: "S", age: 6*day + 9*hour, from: "Tech Weekly <news@weekly.example.com>", subject: "Tech Weekly #212: terminals are back",
		id: "weekly212@weekly.example.com", ctype: "text/html; charset=utf-8", cte: "quoted-printable",
		extra: []string{"List-Unsubscribe: <https://weekly.example.com/u/alice>"},
		body: qp(`<!DOCTYPE html><html><head><style>p{color:#333}</style></head><body>` +
			`<h1>Tech Weekly #212</h1><p>This week: <b>terminal user interfaces</b> are back in fashion.</p>` +
			`<ul><li><a href="https://example.com/tui">Why TUIs?</a></li><li><a href="https://example.com/maildir">Maildir, 25 years on</a></li></ul>` +
			`<p>Thanks for reading &mdash; the editors</p><img src="https://weekly.example.com/pixel.gif" width="1" height="1"></body></html>`)})

	// multipart/alternative.
	add(&demoMsg{flags: "", age: 1*day + 3*hour, from: "Example Shop <orders@shop.example.com>", subject: "Your order #A-1042 has shipped",
		id: "order1042@shop.example.com", ctype: `multipart/alternative; boundary="alt-42"`, cte: "7bit",
		body: "--alt-42\nContent-Type: text/plain; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
			qp("Good news! Your order #A-1042 (1 × mechanical keyboard) is on its way.\nTracking: EX123456789\n") +
			"\n--alt-42\nContent-Type: text/html; charset=utf-8\nContent-Transfer-Encoding: quoted-printable\n\n" +
			qp(`<html><body><p>Good news! Your order <b>#A-1042</b> (1 &times; mechanical keyboard) is on its way.</p><p>Tracking: <a href="https://shop.example.com/t/EX123456789">EX123456789</a></p></body></html>`) +
			"\n--alt-42--\n"})

	// A text attachment.
	add(&demoMsg{flags: "S", age: 4*day + 4*hour, from: dave, subject: "Notes from the retro", id: "retro@example.org",
		ctype: `multipart/mixed; boundary="notes"`, cte: "7bit",
		body: "--notes\nContent-Type: text/plain; charset=utf-8\n\nNotes attached, as promised.\n\n--notes\n" +
			"Content-Type: text/plain; charset=utf-8; name=\"retro-notes.txt\"\nContent-Disposition: attachment; filename=\"retro-notes.txt\"\n\n" +
			"Went well:\n- releases on time\n- fewer pages at night\n\nTo improve:\n- flaky integration tests\n- too many meetings\n--notes--\n"})

	// Mailing-list traffic.
	list := []string{
		"List-Id: Go nuts <golang-nuts.lists.example.org>",
		"List-Post: <mailto:golang-nuts@lists.example.org>",
		"List-Unsubscribe: <mailto:golang-nuts+unsubscribe@lists.example.org>",
		"Precedence: list",
	}
	l1 := add(&demoMsg{flags: "S", age: 5*day + 8*hour, from: "Gopher Gus <gus@example.org>", to: "golang-nuts@lists.example.org",
		subject: "[go-nuts] fsync on a directory after rename?", id: "gn1@example.org", extra: list,
		body: "Is it enough to fsync the file before rename, or must I fsync the\ndirectory too?\n"})
	l2 := add(&demoMsg{flags: "S", age: 5*day + 6*hour, from: "Rita Kernel <rita@example.net>", to: "golang-nuts@lists.example.org",
		subject: subjectRe(l1), id: "gn2@example.net", parent: l1, extra: list,
		body: "> must I fsync the directory too?\n\nYes: the rename lives in the directory. Fsync the target directory.\n"})
	l3 := add(&demoMsg{flags: "S", age: 5*day + 1*hour, from: "Gopher Gus <gus@example.org>", to: "golang-nuts@lists.example.org",
		subject: subjectRe(l1), id: "gn3@example.org", parent: l2, extra: list,
		body: "Thanks! And for a move between directories, which one first?\n"})
	add(&demoMsg{flags: "", age: 4*day + 22*hour, from: "Rita Kernel <rita@example.net>", to: "golang-nuts@lists.example.org",
		subject: subjectRe(l1), id: "gn4@example.net", parent: l3, extra: list,
		body: "The target first: then a crash leaves the file in both, never in neither.\n"})
	add(&demoMsg{flags: "", age: 3*day + 5*hour, from: "Pat Parser <pat@example.com>", to: "golang-nuts@lists.example.org",
		subject: "[go-nuts] ANN: a tiny RFC 5322 header parser", id: "gn5@example.com", extra: list,
		body: "Hi all, I wrote a header parser that reads only what it needs.\n"})

	// A postmortem thread with three levels.
	o1 := add(&demoMsg{flags: "S", age: 11*day + 2*hour, from: erin, to: "ops@corp.example.co.uk", cc: User,
		subject: "Server outage postmortem", id: "pm1@corp.example.co.uk",
		body: "Timeline, causes and follow-ups are in the wiki. Please review.\n"})
	o2 := add(&demoMsg{flags: "S", age: 11*day + 1*hour, from: frank, to: "ops@corp.example.co.uk", cc: User,
		subject: subjectRe(o1), id: "pm2@corp.example.co.uk", parent: o1,
		body: "The disk filled up because log rotation was off. Action item: alerts at 80%.\n"})
	add(&demoMsg{flags: "S", age: 10*day + 23*hour, from: erin, to: "ops@corp.example.co.uk", cc: User,
		subject: subjectRe(o1), id: "pm3@corp.example.co.uk", parent: o2, body: "Agreed, I'll file the ticket.\n"})

	// Everyday single messages.
	singles := []struct {
		from, subject, body string
		age                 time.Duration
		flags               maildir.Flags
	}{
		{"Billing <billing@example.com>", "Invoice #4711 for May", "Your invoice #4711 over 42.00 EUR is due on the 15th.\n", 18 * day, "S"},
		{bob, "Lunch on Friday?", "The new ramen place? 12:30?\n", 16 * day, "RS"},
		{"CI <ci@build.example.org>", "Build failed: main (#1234)", "TestFetchLargeMailbox failed after 30s.\nSee https://build.example.org/1234\n", 15 * day, "S"},
		{"CI <ci@build.example.org>", "Build fixed: main (#1235)", "All green again.\n", 15*day - 3*hour, "S"},
		{carol, "Book recommendation", "You have to read \"The Mythical Man-Month\" if you haven't yet.\n", 12 * day, "S"},
		{"Calendar <calendar@example.com>", "Reminder: dentist tomorrow at 9:00", "This is your reminder.\n", 9 * day, "S"},
		{q("Łukasz Kowalski") + " <lukasz@example.org>", "Re: conference talk", "Świetnie! See you in Kraków.\n", 7 * day, "S"},
		{"Security <security@example.com>", "New sign-in to your account", "A new device signed in from Lisbon, PT.\nIf this was you, ignore this mail.\n", 6 * day, "S"},
		{dave, "Board games night", "Thursday, my place, 19:00. I'll get Carcassonne.\n", 3 * day, "FS"},
		{erin, "1:1 moved to Wednesday", "Same time, different day.\n", 2 * day, "S"},
		{"Landlord <rent@example.net>", "Heating maintenance on Monday", "Technicians will need access between 8 and 12.\n", 1 * day, ""},
		{bob, "Re: Weekend hiking trip? – next one", "Same group in two weeks? Lake loop this time.\n", 20 * hour, ""},
		{frank, "Quick question about the API", "Does /v2/messages page by date or by id?\n", 5 * hour, "F"},
		{"Newsletter <hello@garden.example.com>", "Spring planting guide", "Tomatoes go out after the last frost.\n", 40 * time.Minute, ""},
		{carol, "Re: Book recommendation – finished it", "Loved the chapter on the surgical team.\n", 10*day + 5*hour, "S"},
		{"Library <library@example.org>", "Your loan is due in 3 days", "\"Designing Data-Intensive Applications\" is due on Friday.\n", 8*day + 1*hour, "S"},
		{q("Søren Andersson") + " <soren@example.net>", "Visiting Copenhagen?", "Let me know when you're in town, the harbour baths are open.\n", 3 * hour, ""},
	}
	for i, s := range singles {
		add(&demoMsg{flags: s.flags, age: s.age, from: s.from, subject: s.subject, id: fmt.Sprintf("single%d@example.test", i), body: s.body})
	}

	// Sent and Archive.
	add(&demoMsg{folder: "Sent", flags: "S", age: 16*day - 2*hour, from: User, to: bob, subject: "Re: Lunch on Friday?", id: "sent-lunch@example.test", body: "12:30 works. See you there.\n"})
	add(&demoMsg{folder: "Sent", flags: "S", age: 8 * day, from: User, to: "José García <jose@example.org>", subject: "Re: " + mime.QEncoding.Encode("utf-8", "Café crème à Montréal"), id: "sent-cafe@example.test", body: "Parfait, à 19 h !\n"})
	add(&demoMsg{folder: "Sent", flags: "S", age: 3 * hour, from: User, to: frank, subject: "Re: Quick question about the API", id: "sent-api@example.test", body: "By date, newest first; the cursor is opaque.\n"})
	for i, s := range []string{"Flight confirmation LIS → BER", "Tax documents 2024", "Apartment lease (signed)", "Warranty: washing machine", "Conference talk accepted!", "Old project handover notes"} {
		add(&demoMsg{folder: "Archive", flags: "S", age: time.Duration(25+i*3) * day, from: []string{carol, erin, "Landlord <rent@example.net>", "Shop <orders@shop.example.com>", "Program Committee <pc@conf.example.org>", frank}[i],
			subject: s, id: fmt.Sprintf("archive%d@example.test", i), body: "Kept for reference.\n"})
	}
	return all
}

// demoPDF returns a small PDF-like file with binary bytes, as attachments
// usually are.
func demoPDF() []byte {
	var b bytes.Buffer
	b.WriteString("%PDF-1.4\n%\xe2\xe3\xcf\xd3\n1 0 obj\n<< /Type /Catalog /Pages 2 0 R >>\nendobj\n")
	b.WriteString("2 0 obj\n<< /Type /Pages /Kids [3 0 R] /Count 1 >>\nendobj\n")
	b.WriteString("3 0 obj\n<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] >>\nendobj\n")
	b.WriteString("4 0 obj\n<< /Length 64 /Filter /FlateDecode >>\nstream\n")
	for i := range 64 {
		b.WriteByte(byte(i*37 + 11))
	}
	b.WriteString("\nendstream\nendobj\ntrailer\n<< /Root 1 0 R >>\n%%EOF\n")
	return b.Bytes()
}

// demoPNG returns a small gradient image.
func demoPNG() []byte {
	img := image.NewRGBA(image.Rect(0, 0, 32, 24))
	for y := range 24 {
		for x := range 32 {
			img.Set(x, y, color.RGBA{uint8(x * 8), uint8(y * 10), 160, 255})
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}
