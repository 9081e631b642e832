package account

import (
	"bytes"
	"crypto/rand"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	gomail "github.com/emersion/go-message/mail"
)

var draftNow = time.Date(2025, 3, 14, 15, 9, 26, 0, time.FixedZone("", 3600))

// parsedMsg is a built message read back with go-message.
type parsedMsg struct {
	raw         []byte
	header      gomail.Header
	text        string
	textCTE     string
	attachments map[string][]byte // file name → content
	attTypes    map[string]string
}

func buildAndParse(t *testing.T, d *Draft, opts BuildOptions) (parsedMsg, SendEnvelope) {
	t.Helper()
	var buf bytes.Buffer
	env, err := d.Build(&buf, draftNow, opts)
	if err != nil {
		t.Fatalf("Build(%+v) = %v", d, err)
	}
	p := parsedMsg{raw: buf.Bytes(), attachments: map[string][]byte{}, attTypes: map[string]string{}}
	for i, line := range bytes.Split(p.raw, []byte("\r\n")) {
		if len(line) > 998 {
			t.Fatalf("line %d is %d bytes long", i+1, len(line))
		}
		if bytes.ContainsAny(line, "\r\n") {
			t.Fatalf("line %d has a bare CR or LF: %q", i+1, line)
		}
	}
	mr, err := gomail.CreateReader(bytes.NewReader(p.raw))
	if err != nil {
		t.Fatalf("CreateReader = %v\n%s", err, p.raw)
	}
	p.header = mr.Header
	for {
		part, err := mr.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("NextPart = %v", err)
		}
		b, err := io.ReadAll(part.Body)
		if err != nil {
			t.Fatalf("reading part = %v", err)
		}
		switch h := part.Header.(type) {
		case *gomail.InlineHeader:
			p.text = string(b)
			p.textCTE = h.Get("Content-Transfer-Encoding")
		case *gomail.AttachmentHeader:
			name, err := h.Filename()
			if err != nil {
				t.Fatalf("Filename = %v", err)
			}
			p.attachments[name] = b
			p.attTypes[name], _, _ = h.ContentType()
		}
	}
	return p, env
}

func addrs(t *testing.T, h gomail.Header, key string) []string {
	t.Helper()
	list, err := h.AddressList(key)
	if err != nil {
		t.Fatalf("AddressList(%s) = %v", key, err)
	}
	var out []string
	for _, a := range list {
		out = append(out, a.Name+" <"+a.Address+">")
	}
	return out
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestBuildHeaders(t *testing.T) {
	d := &Draft{
		From:       "Jürgen Groß <juergen@example.test>",
		To:         []string{`"Doe, John" <john@example.test>`, "Zoë <zoe@example.test>"},
		Cc:         []string{"carol@example.test, Dave <dave@example.test>"},
		Bcc:        []string{"Secret Sam <sam@hidden.test>", "JOHN@example.test"},
		Subject:    "Grüße – über den Zaun 🐈",
		InReplyTo:  "orig.1@example.test",
		References: []string{"root@example.test", "orig.1@example.test"},
		Body:       "Hallo,\nwie geht's?\n",
	}
	p, env := buildAndParse(t, d, BuildOptions{})
	tests := []struct{ key, got, want string }{
		{"From", strings.Join(addrs(t, p.header, "From"), ", "), "Jürgen Groß <juergen@example.test>"},
		{"To", strings.Join(addrs(t, p.header, "To"), ", "), "Doe, John <john@example.test>, Zoë <zoe@example.test>"},
		{"Cc", strings.Join(addrs(t, p.header, "Cc"), ", "), " <carol@example.test>, Dave <dave@example.test>"},
		{"Bcc", p.header.Get("Bcc"), ""},
		{"MIME-Version", p.header.Get("MIME-Version"), "1.0"},
		{"Content-Type", p.header.Get("Content-Type"), "text/plain; charset=utf-8"},
		{"In-Reply-To", p.header.Get("In-Reply-To"), "<orig.1@example.test>"},
		{"References", p.header.Get("References"), "<root@example.test> <orig.1@example.test>"},
		{"text", p.text, "Hallo,\r\nwie geht's?\r\n"},
		{"CTE", p.textCTE, "7bit"},
		{"envelope from", env.From, "juergen@example.test"},
		{"rcpts", strings.Join(env.Rcpts, " "), "john@example.test zoe@example.test carol@example.test dave@example.test sam@hidden.test"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("%s = %q, want %q", tt.key, tt.got, tt.want)
		}
	}
	if subj, err := p.header.Subject(); err != nil || subj != d.Subject {
		t.Errorf("Subject = %q, %v, want %q", subj, err, d.Subject)
	}
	if date, err := p.header.Date(); err != nil || !date.Equal(draftNow) {
		t.Errorf("Date = %v, %v, want %v", date, err, draftNow)
	}
	id, err := p.header.MessageID()
	if err != nil || !strings.HasSuffix(id, "@example.test") || len(id) < 30 {
		t.Errorf("Message-ID = %q, %v, want a random id @example.test", id, err)
	}
	raw := string(p.raw)
	if strings.Contains(strings.ToLower(raw), "hidden.test") || strings.Contains(raw, "Secret Sam") {
		t.Errorf("Bcc leaked into the message:\n%s", raw)
	}
	for _, line := range strings.Split(raw, "\r\n") {
		if line == "" {
			break
		}
		for _, r := range line {
			if r >= 0x80 {
				t.Fatalf("non-ASCII in header line %q (want RFC 2047)", line)
			}
		}
	}
	// Another build has another Message-ID; a given Domain is used.
	p2, _ := buildAndParse(t, d, BuildOptions{Domain: "mx.example.org"})
	id2, _ := p2.header.MessageID()
	if id2 == id || !strings.HasSuffix(id2, "@mx.example.org") {
		t.Errorf("second Message-ID = %q (first %q), want a new one @mx.example.org", id2, id)
	}
}

func TestBuildText(t *testing.T) {
	long := strings.Repeat("0123456789", 1000) // 10,000 characters
	tests := []struct {
		name, body string
		eightBit   bool
		wantCTE    string
	}{
		{"ascii", "hello\nworld\n", false, "7bit"},
		{"utf8 no 8BITMIME", "grüße\n", false, "quoted-printable"},
		{"utf8 8BITMIME", "grüße\n", true, "8bit"},
		{"long line", long + "\n", false, "quoted-printable"},
		{"long utf8 line 8BITMIME", strings.Repeat("ü", 600) + "\n", true, "quoted-printable"},
		{"998 bytes", strings.Repeat("x", 998) + "\n", false, "7bit"},
		{"control", "bell\a here\n", false, "quoted-printable"},
		{"dots and From", ".\n..\nFrom here\n.hidden\n", false, "7bit"},
		{"trailing space", "space   \nend", false, "7bit"},
		{"crlf", "a\r\nb\r\n", true, "7bit"},
		{"empty", "", false, "7bit"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := &Draft{From: "a@example.test", To: []string{"b@example.test"}, Body: tt.body}
			p, _ := buildAndParse(t, d, BuildOptions{EightBit: tt.eightBit})
			if p.header.Get("Content-Transfer-Encoding") != tt.wantCTE {
				t.Fatalf("Content-Transfer-Encoding = %q, want %q", p.header.Get("Content-Transfer-Encoding"), tt.wantCTE)
			}
			want := strings.ReplaceAll(strings.ReplaceAll(tt.body, "\r\n", "\n"), "\n", "\r\n")
			if p.text != want {
				t.Fatalf("text = %.60q… (%d bytes), want %.60q… (%d bytes)", p.text, len(p.text), want, len(want))
			}
		})
	}
}

func TestBuildAttachments(t *testing.T) {
	big := make([]byte, 5<<20)
	rand.Read(big)
	png := append([]byte("\x89PNG\r\n\x1a\n"), big[:1000]...)
	odd := `we"ird; name=x.txt`
	tests := []struct {
		file, name string // file on disk, name given ("" = from the path)
		data       []byte
		wantName   string
		wantType   string
	}{
		{"big.bin", "", big, "big.bin", "application/octet-stream"},
		{"noext", "", png, "noext", "image/png"},
		{"notes.txt", "", []byte("plain notes\n"), "notes.txt", "text/plain"},
		{"x.dat", "Ünïcødé 名前.pdf", []byte("%PDF-1.4\n"), "Ünïcødé 名前.pdf", "application/pdf"},
		{"y.dat", odd, []byte{0, 1, 2, 255}, odd, "text/plain"},
		{"z.dat", "evil\r\nX-Injected: yes.txt", []byte("z"), "evil__X-Injected: yes.txt", "text/plain"},
		{"empty.bin", "", nil, "empty.bin", "application/octet-stream"},
	}
	d := &Draft{From: "a@example.test", To: []string{"b@example.test"}, Subject: "files", Body: "see attached\n"}
	for _, tt := range tests {
		d.Attachments = append(d.Attachments, DraftAttachment{Path: writeFile(t, tt.file, tt.data), Name: tt.name})
	}
	p, _ := buildAndParse(t, d, BuildOptions{})
	if mt, _, _ := p.header.ContentType(); mt != "multipart/mixed" {
		t.Fatalf("Content-Type = %q, want multipart/mixed", mt)
	}
	if p.text != "see attached\r\n" {
		t.Fatalf("text = %q", p.text)
	}
	for _, tt := range tests {
		got, ok := p.attachments[tt.wantName]
		if !ok {
			t.Fatalf("attachment %q missing; have %d", tt.wantName, len(p.attachments))
		}
		if !bytes.Equal(got, tt.data) {
			t.Fatalf("attachment %q: %d bytes back, want %d", tt.wantName, len(got), len(tt.data))
		}
		if p.attTypes[tt.wantName] != tt.wantType {
			t.Fatalf("attachment %q: type %q, want %q", tt.wantName, p.attTypes[tt.wantName], tt.wantType)
		}
	}
	if bytes.Contains(p.raw, []byte("\r\nX-Injected")) {
		t.Fatalf("attachment name injected a header")
	}
}

func TestBuildRejects(t *testing.T) {
	ok := func() *Draft {
		return &Draft{From: "a@example.test", To: []string{"b@example.test"}, Subject: "s"}
	}
	tests := []struct {
		name   string
		change func(d *Draft)
		want   string
	}{
		{"subject CRLF", func(d *Draft) { d.Subject = "hi\r\nBcc: victim@example.test" }, "Subject: control character"},
		{"subject LF", func(d *Draft) { d.Subject = "hi\nX: y" }, "Subject: control character"},
		{"subject NUL", func(d *Draft) { d.Subject = "a\x00b" }, "Subject: control character"},
		{"to CRLF", func(d *Draft) { d.To = []string{"b@example.test\r\nBcc: v@example.test"} }, "To: control character"},
		{"name CR", func(d *Draft) { d.From = "\"Eve\rX: y\" <e@example.test>" }, "From: control character"},
		{"encoded name CRLF", func(d *Draft) { d.To = []string{"=?utf-8?q?Eve=0D=0AX=3A_y?= <e@example.test>"} }, "To: control character"},
		{"in-reply-to", func(d *Draft) { d.InReplyTo = "a@b>\r\nX: y" }, "In-Reply-To"},
		{"references", func(d *Draft) { d.References = []string{"a b@c"} }, "References"},
		{"no from", func(d *Draft) { d.From = "" }, "From must be exactly one"},
		{"two froms", func(d *Draft) { d.From = "a@example.test, c@example.test" }, "From must be exactly one"},
		{"no rcpt", func(d *Draft) { d.To = nil }, "no recipients"},
		{"bad addr", func(d *Draft) { d.Cc = []string{"not an address"} }, "Cc:"},
		{"missing file", func(d *Draft) { d.Attachments = []DraftAttachment{{Path: "/nonexistent/file"}} }, "attachment"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := ok()
			tt.change(d)
			var buf bytes.Buffer
			_, err := d.Build(&buf, draftNow, BuildOptions{})
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Build = %v, want an error containing %q", err, tt.want)
			}
			if buf.Len() != 0 {
				t.Fatalf("Build wrote %d bytes before failing", buf.Len())
			}
		})
	}
}

func TestTemplateRoundTrip(t *testing.T) {
	att := writeFile(t, "report.pdf", []byte("%PDF"))
	d := &Draft{
		From:        "Jürgen Groß <juergen@example.test>",
		To:          []string{`"Doe, John" <john@example.test>`, "zoe@example.test"},
		Cc:          []string{"Carol <carol@example.test>"},
		Bcc:         []string{"sam@hidden.test"},
		Subject:     "Re: Grüße",
		Body:        "line one\n\nFrom: not a header\n> quoted\n",
		Attachments: []DraftAttachment{{Path: att}, {Name: "fwd.eml", Data: []byte("x")}},
		InReplyTo:   "x@y",
	}
	tpl := d.Template()
	wantTpl := "From: Jürgen Groß <juergen@example.test>\nTo: \"Doe, John\" <john@example.test>, zoe@example.test\n" +
		"Cc: Carol <carol@example.test>\nBcc: sam@hidden.test\nSubject: Re: Grüße\nAttach: " + att + "\n\n" + d.Body
	if string(tpl) != wantTpl {
		t.Fatalf("Template() =\n%s\nwant\n%s", tpl, wantTpl)
	}
	got, err := ParseTemplate(tpl)
	if err != nil {
		t.Fatalf("ParseTemplate = %v", err)
	}
	if got.From != d.From || strings.Join(got.To, "|") != strings.Join(d.To, "|") || strings.Join(got.Cc, "|") != "Carol <carol@example.test>" ||
		strings.Join(got.Bcc, "|") != "sam@hidden.test" || got.Subject != d.Subject || got.Body != d.Body ||
		len(got.Attachments) != 1 || got.Attachments[0].Path != att {
		t.Fatalf("ParseTemplate(Template()) = %+v, want %+v", got, d)
	}
	// Apply keeps what the template does not show.
	edited := strings.Replace(string(tpl), "Subject: Re: Grüße", "Subject: changed", 1)
	if err := d.Apply([]byte(edited)); err != nil {
		t.Fatalf("Apply = %v", err)
	}
	if d.Subject != "changed" || d.InReplyTo != "x@y" || len(d.Attachments) != 2 {
		t.Fatalf("after Apply: %+v", d)
	}
}

func TestTemplateFromHostileValues(t *testing.T) {
	d := &Draft{From: "a@example.test", To: []string{"b@example.test"}, Subject: "evil\r\nBcc: victim@example.test\x1b[2J"}
	got, err := ParseTemplate(d.Template())
	if err != nil {
		t.Fatalf("ParseTemplate(Template()) = %v", err)
	}
	if got.Subject != "evil Bcc: victim@example.test [2J" || len(got.Bcc) != 0 {
		t.Fatalf("hostile subject came back as %q, Bcc %v", got.Subject, got.Bcc)
	}
}

func TestParseTemplate(t *testing.T) {
	att := writeFile(t, "a.txt", []byte("a"))
	tests := []struct {
		name, in string
		wantLine int    // 0: no error
		wantMsg  string // part of the error
		check    func(d *Draft) bool
	}{
		{"minimal", "To: b@example.test\n\nbody", 0, "", func(d *Draft) bool { return d.To[0] == "b@example.test" && d.Body == "body" }},
		{"crlf", "To: b@example.test\r\nSubject: s\r\n\r\nline\r\n", 0, "", func(d *Draft) bool { return d.Subject == "s" && d.Body == "line\n" }},
		{"case and spaces", "to:   b@example.test  \nSUBJECT:x\n\n", 0, "", func(d *Draft) bool { return d.To[0] == "b@example.test" && d.Subject == "x" }},
		{"continuation", "To: a@example.test,\n  b@example.test\n\n", 0, "", func(d *Draft) bool { return len(d.To) == 2 }},
		{"repeated To", "To: a@example.test\nTo: b@example.test\n\n", 0, "", func(d *Draft) bool { return len(d.To) == 2 }},
		{"empty fields", "From: \nTo: b@example.test\nCc:\nBcc:\nSubject:\nAttach:\n\n", 0, "", func(d *Draft) bool { return d.From == "" && len(d.Cc) == 0 }},
		{"attach", "To: b@example.test\nAttach: " + att + "\n\n", 0, "", func(d *Draft) bool { return len(d.Attachments) == 1 }},
		{"no body", "To: b@example.test\n", 0, "", func(d *Draft) bool { return d.Body == "" }},
		{"body with colons", "To: b@example.test\n\nX-Evil: yes\n", 0, "", func(d *Draft) bool { return d.Body == "X-Evil: yes\n" }},
		{"unknown header", "To: b@example.test\nX-Evil: yes\n\n", 2, "unknown header \"X-Evil\"", nil},
		{"no colon", "To: b@example.test\nhello there\n\n", 2, "not a header line", nil},
		{"escape", "Subject: a\x1b[31m\n\n", 1, "control character", nil},
		{"bare CR", "Subject: a\rBcc: x@y.test\n\n", 1, "control character", nil},
		{"leading continuation", " To: b@example.test\n\n", 1, "continuation", nil},
		{"bad address", "To: b@example.test\nCc: <<nope\n\n", 2, "address list", nil},
		{"two froms", "From: a@example.test\nFrom: b@example.test\n\n", 2, "twice", nil},
		{"from list", "From: a@example.test, b@example.test\n\n", 1, "one address", nil},
		{"missing attachment", "Attach: /nonexistent/x\n\n", 1, "attachment", nil},
		{"directory attachment", "Attach: " + filepath.Dir(att) + "\n\n", 1, "regular file", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d, err := ParseTemplate([]byte(tt.in))
			if tt.wantLine == 0 {
				if err != nil || !tt.check(d) {
					t.Fatalf("ParseTemplate(%q) = %+v, %v", tt.in, d, err)
				}
				return
			}
			var te *TemplateError
			if !errors.As(err, &te) || te.Line != tt.wantLine || !strings.Contains(err.Error(), tt.wantMsg) {
				t.Fatalf("ParseTemplate(%q) = %v, want line %d with %q", tt.in, err, tt.wantLine, tt.wantMsg)
			}
		})
	}
}

func FuzzParseTemplateBuild(f *testing.F) {
	f.Add([]byte("From: a@example.test\nTo: Bob <b@example.test>\nSubject: hi\n\nbody\n"))
	f.Add([]byte("To: \"x\\\"y\" <b@example.test>\nSubject: =?utf-8?q?a=0D=0Ab?=\n\n.\n"))
	f.Add([]byte("To: b@example.test,\n c@example.test\nBcc: d@example.test\n\n" + strings.Repeat("ü", 2000)))
	f.Fuzz(func(t *testing.T, b []byte) {
		d, err := ParseTemplate(b)
		if err != nil {
			return
		}
		d.Attachments = nil
		if d.From == "" {
			d.From = "a@example.test"
		}
		var buf bytes.Buffer
		if _, err := d.Build(&buf, draftNow, BuildOptions{}); err != nil {
			return
		}
		mr, err := gomail.CreateReader(bytes.NewReader(buf.Bytes()))
		if err != nil {
			t.Fatalf("built message does not parse: %v\n%q", err, buf.Bytes())
		}
		fields := mr.Header.Fields()
		for fields.Next() {
			switch strings.ToLower(fields.Key()) {
			case "date", "from", "to", "cc", "subject", "message-id", "mime-version", "content-type", "content-transfer-encoding", "content-disposition":
			default:
				t.Fatalf("unexpected header %q in %q", fields.Key(), buf.Bytes())
			}
		}
	})
}

func ExampleDraft_Build() {
	d := &Draft{
		From:    "Alice <alice@example.test>",
		To:      []string{"Bob <bob@example.test>"},
		Bcc:     []string{"archive@example.test"},
		Subject: "Lunch?",
		Body:    "Noon at the usual place?\n",
	}
	var msg bytes.Buffer
	env, err := d.Build(&msg, time.Now(), BuildOptions{})
	if err != nil {
		panic(err)
	}
	fmt.Println(env.From, env.Rcpts, strings.Contains(msg.String(), "archive@"))
	// Output: alice@example.test [bob@example.test archive@example.test] false
}
