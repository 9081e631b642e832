package message

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"

	"golang.org/x/text/encoding"
	"golang.org/x/text/encoding/charmap"
	"golang.org/x/text/encoding/japanese"
)

func enc(t *testing.T, e encoding.Encoding, s string) string {
	t.Helper()
	b, err := e.NewEncoder().String(s)
	if err != nil {
		t.Fatalf("encode %q: %v", s, err)
	}
	return b
}

func mustParse(t *testing.T, raw string, lim *Limits) *Message {
	t.Helper()
	m, err := Parse(strings.NewReader(raw), lim)
	if err != nil {
		t.Fatalf("Parse(%.200q) error %v", raw, err)
	}
	return m
}

func hasNote(m *Message, sub string) bool {
	for _, n := range m.Notes {
		if strings.Contains(n, sub) {
			return true
		}
	}
	return false
}

func TestParseCharsets(t *testing.T) {
	tests := []struct {
		name, charset, cte, body, want string
	}{
		{"utf-8", "utf-8", "8bit", "Grüße", "Grüße"},
		{"iso-8859-1", "ISO-8859-1", "8bit", "Gr\xfc\xdfe \x93q\x94", "Grüße “q”"},
		{"windows-1252", "windows-1252", "quoted-printable", "=80 5 =96 ok", "€ 5 – ok"},
		{"unlabelled 8-bit", "", "8bit", "caf\xe9", "café"},
		{"us-ascii with 8-bit", "us-ascii", "8bit", "caf\xe9", "café"},
		{"bad utf-8", "utf-8", "8bit", "a\xffb", "a\ufffdb"},
		{"shift_jis", "Shift_JIS", "8bit", enc(t, japanese.ShiftJIS, "日本語のテキスト"), "日本語のテキスト"},
		{"iso-2022-jp", "ISO-2022-JP", "7bit", enc(t, japanese.ISO2022JP, "こんにちは世界"), "こんにちは世界"},
		{"koi8-r", "KOI8-R", "8bit", enc(t, charmap.KOI8R, "Привет, мир"), "Привет, мир"},
		{"koi8-r base64", "koi8-r", "base64", base64.StdEncoding.EncodeToString([]byte(enc(t, charmap.KOI8R, "Привет"))), "Привет"},
		{"quoted charset param", `"UTF-8"`, "", "ok", "ok"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ct := "text/plain"
			if tt.charset != "" {
				ct += "; charset=" + tt.charset
			}
			raw := "Subject: x\r\nContent-Type: " + ct + "\r\nContent-Transfer-Encoding: " + tt.cte + "\r\n\r\n" + tt.body + "\r\n"
			m := mustParse(t, raw, nil)
			if m.Text != tt.want {
				t.Fatalf("Parse(%q).Text = %q, want %q (notes %q)", raw, m.Text, tt.want, m.Notes)
			}
		})
	}
}

func TestParseUnknownCharset(t *testing.T) {
	m := mustParse(t, "Content-Type: text/plain; charset=x-foo\n\nhello \xe9\n", nil)
	if m.Text != "hello é" || !hasNote(m, `unknown charset "x-foo", shown raw`) {
		t.Fatalf("Parse(x-foo) = %q, notes %q", m.Text, m.Notes)
	}
}

func TestParseHeaders(t *testing.T) {
	raw := "From: =?ISO-8859-1?Q?Andr=E9_Pirard?= <PIRARD@vm1.ulg.ac.be>\r\n" +
		"To: =?US-ASCII?Q?Keith_Moore?= <moore@cs.utk.edu>, =?KOI8-R?B?8NLJ18XU?= <r@example.test>\r\n" +
		"Cc: =?ISO-8859-1?Q?Olle_J=E4rnefors?= <ojarnef@admin.kth.se>\r\n" +
		"Reply-To: list@example.test\r\n" +
		"Subject: =?ISO-8859-1?B?SWYgeW91IGNhbiByZWFkIHRoaXMgeW8=?=\r\n =?ISO-8859-2?B?dSB1bmRlcnN0YW5kIHRoZSBleGFtcGxlLg==?=\r\n" +
		"X-Evil: =?utf-8?q?=1B]0;title=07?=\r\n" +
		"Date: Fri, 21 Nov 1997 09:55:06 -0600\r\n" +
		"\r\nbody\r\n"
	m := mustParse(t, raw, nil)
	checks := []struct{ name, got, want string }{
		{"From", m.From, "André Pirard <PIRARD@vm1.ulg.ac.be>"},
		{"To", m.To, "Keith Moore <moore@cs.utk.edu>, Привет <r@example.test>"},
		{"Cc", m.Cc, "Olle Järnefors <ojarnef@admin.kth.se>"},
		{"ReplyTo", m.ReplyTo, "list@example.test"},
		{"Subject", m.Subject, "If you can read this you understand the example."},
		{"Text", m.Text, "body"},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Fatalf("Parse(%q).%s = %q, want %q", raw, c.name, c.got, c.want)
		}
	}
	if m.Date.Year() != 1997 {
		t.Fatalf("Parse(%q).Date = %v", raw, m.Date)
	}
	if len(m.Header) != 7 || m.Header[5].Name != "X-Evil" || m.Header[5].Value != "␛]0;title␇" {
		t.Fatalf("Parse(%q).Header = %q", raw, m.Header)
	}
}

func TestParseStructure(t *testing.T) {
	alt := "Content-Type: multipart/alternative; boundary=\"alt\"\r\n\r\n" +
		"--alt\r\nContent-Type: text/html\r\n\r\n<p>html <b>version</b></p>\r\n" +
		"--alt\r\nContent-Type: text/plain\r\n\r\nplain version\r\n" +
		"--alt--\r\n"
	tests := []struct {
		name      string
		raw       string
		wantText  string
		wantAtts  []string // "name|type|size"
		wantNotes []string
	}{
		{
			name:     "html only",
			raw:      "Content-Type: text/html; charset=utf-8\n\n<html><head><title>T</title><style>p{}</style></head><body><h1>Hi</h1><p>a &amp; b&nbsp;c</p><script>alert(1)</script><blockquote>quoted<br>two</blockquote><a href=\"https://x.test/\">link</a></body></html>",
			wantText: "Hi\n\na & b\u00a0c\n\n> quoted\n> two\n\nlink [https://x.test/]",
		},
		{name: "alternative prefers plain", raw: alt, wantText: "plain version"},
		{
			name: "alternative html only",
			raw: "Content-Type: multipart/alternative; boundary=a\n\n--a\nContent-Type: text/html\n\n<p>only <i>html</i></p>\n" +
				"--a\nContent-Type: application/x-foo\n\nzz\n--a--\n",
			wantText: "only html",
		},
		{
			name: "mixed with inline text and attachments",
			raw: "Content-Type: multipart/mixed; boundary=m\n\npreamble\n--m\n\nfirst\n" +
				"--m\nContent-Type: image/png\nContent-Disposition: attachment; filename=\"pic.png\"\nContent-Transfer-Encoding: base64\n\naGVsbG8=\n" +
				"--m\nContent-Type: text/plain\nContent-Disposition: inline\n\nsecond\n" +
				"--m\nContent-Type: text/calendar; name=invite.ics\n\nBEGIN:VCALENDAR\n" +
				"--m--\nepilogue\n",
			wantText: "first\n\nsecond",
			wantAtts: []string{"pic.png|image/png|5", "invite.ics|text/calendar|15"},
		},
		{
			name: "related html with image",
			raw: "Content-Type: multipart/related; boundary=r\n\n--r\nContent-Type: text/html\n\n<p>see <img src=cid:x alt=logo></p>\n" +
				"--r\nContent-Type: image/gif\nContent-ID: <x>\n\nGIF89a\n--r--\n",
			wantText: "see [logo]",
			wantAtts: []string{"|image/gif|6"},
		},
		{
			name: "nested alternative in mixed",
			raw: "Content-Type: multipart/mixed; boundary=outer\n\n--outer\n" + strings.ReplaceAll(alt, "\r\n", "\n") +
				"\n--outer\nContent-Type: application/pdf; name=a.pdf\n\n%PDF\n--outer--\n",
			wantText: "plain version",
			wantAtts: []string{"a.pdf|application/pdf|4"},
		},
		{
			name: "message/rfc822 attachment named from subject",
			raw: "Content-Type: multipart/mixed; boundary=m\n\n--m\n\nsee attached\n--m\nContent-Type: message/rfc822\n\n" +
				"Subject: =?utf-8?q?Fwd=3A_Gr=C3=BC=C3=9Fe?=\nFrom: a@b\n\ninner body\n--m--\n",
			wantText: "see attached",
			wantAtts: []string{"Fwd: Grüße.eml|message/rfc822|65"},
		},
		{
			name:      "multipart without boundary parameter",
			raw:       "Content-Type: multipart/mixed\n\nsome text\n",
			wantText:  "some text",
			wantNotes: []string{"without a usable boundary"},
		},
		{
			name:      "boundary never appears",
			raw:       "Content-Type: multipart/mixed; boundary=zzz\n\njust text\nmore\n",
			wantText:  "just text\nmore",
			wantNotes: []string{"no MIME boundary found"},
		},
		{
			name:      "truncated part",
			raw:       "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Type: text/plain\n\nhalf a mess",
			wantText:  "half a mess",
			wantNotes: []string{"without its closing boundary"},
		},
		{
			name: "bad base64",
			raw: "Content-Type: multipart/mixed; boundary=b\n\n--b\nContent-Transfer-Encoding: base64\n\naGVsbG8g!!d29y*bGQ=\n" +
				"--b\nContent-Type: application/octet-stream; name=x.bin\nContent-Transfer-Encoding: base64\n\n%%%%\n--b--\n",
			wantText:  "hello world",
			wantAtts:  []string{"x.bin|application/octet-stream|0"},
			wantNotes: []string{"part 1: 3 invalid base64 characters skipped", "part 2: 4 invalid base64"},
		},
		{
			name:      "bad content-type",
			raw:       "Content-Type: text/plain/what; ;;; charset=\n\nstill shown\n",
			wantText:  "still shown",
			wantNotes: []string{"bad Content-Type"},
		},
		{
			name:     "bad content-type on a named part is an attachment",
			raw:      "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nhi\n--b\nContent-Type: @@@\nContent-Disposition: attachment; filename=data.bin\n\nxyz\n--b--\n",
			wantText: "hi",
			wantAtts: []string{"data.bin|application/octet-stream|3"},
		},
		{
			name:      "unknown transfer encoding",
			raw:       "Content-Transfer-Encoding: x-uuencode\n\nbegin 644 x\n",
			wantText:  "begin 644 x",
			wantNotes: []string{`unknown transfer encoding "x-uuencode"`},
		},
		{
			name:     "top-level attachment",
			raw:      "Content-Type: application/pdf\nContent-Disposition: attachment; filename=\"r.pdf\"\n\n%PDF-1.4\n",
			wantAtts: []string{"r.pdf|application/pdf|9"},
		},
		{
			name:     "escape sequences in body are inert",
			raw:      "Subject: x\n\nhello \x1b[2J\x1b]8;;http://e/\x07link\x1b]8;;\x07 \u009b1m \u202egnp.exe\r\nnext\rline\n",
			wantText: "hello ␛[2J␛]8;;http://e/␇link␛]8;;␇ <U+009B>1m <U+202E>gnp.exe\nnext␍line",
		},
		{
			name:     "qp with a line over 4 KiB",
			raw:      "Content-Transfer-Encoding: quoted-printable\n\n" + strings.Repeat("=C3=A9", 2000) + "=\n end\n",
			wantText: strings.Repeat("é", 2000) + " end",
		},
		{
			name:      "qp tolerant",
			raw:       "Content-Transfer-Encoding: quoted-printable\n\na=3db =  \nc =ZZ d=e9=\r\n",
			wantText:  "a=b c =ZZ dé",
			wantNotes: []string{"1 invalid quoted-printable escapes kept"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := mustParse(t, tt.raw, nil)
			if m.Text != tt.wantText {
				t.Fatalf("Parse(%.300q).Text = %q, want %q (notes %q)", tt.raw, m.Text, tt.wantText, m.Notes)
			}
			var atts []string
			for _, a := range m.Attachments {
				atts = append(atts, fmt.Sprintf("%s|%s|%d", a.Name, a.Type, a.Size))
			}
			if strings.Join(atts, ",") != strings.Join(tt.wantAtts, ",") {
				t.Fatalf("Parse(%.300q).Attachments = %q, want %q", tt.raw, atts, tt.wantAtts)
			}
			for _, n := range tt.wantNotes {
				if !hasNote(m, n) {
					t.Fatalf("Parse(%.300q).Notes = %q, want one containing %q", tt.raw, m.Notes, n)
				}
			}
			if len(tt.wantNotes) == 0 && len(m.Notes) > 0 {
				t.Fatalf("Parse(%.300q).Notes = %q, want none", tt.raw, m.Notes)
			}
		})
	}
}

func TestParseLimits(t *testing.T) {
	// Nesting deeper than the limit: the outer parts still show.
	var b strings.Builder
	b.WriteString("Content-Type: multipart/mixed; boundary=b0\n\n")
	for i := 0; i < 50; i++ {
		fmt.Fprintf(&b, "--b%d\nContent-Type: multipart/mixed; boundary=b%d\n\n", i, i+1)
	}
	b.WriteString("--b50\n\ndeep text\n")
	m := mustParse(t, b.String(), nil)
	if !hasNote(m, "MIME depth limit (20) reached") || m.Text != "" {
		t.Fatalf("Parse(depth 50) = %q, notes %q", m.Text, m.Notes)
	}
	m = mustParse(t, b.String(), &Limits{MaxDepth: 60})
	if m.Text != "deep text" {
		t.Fatalf("Parse(depth 50, MaxDepth 60) = %q, notes %q", m.Text, m.Notes)
	}

	// 10,000 parts: the first ones show, then a note.
	b.Reset()
	b.WriteString("Content-Type: multipart/mixed; boundary=p\n\n--p\n\nbody text\n")
	for i := 0; i < 10000; i++ {
		fmt.Fprintf(&b, "--p\nContent-Type: application/octet-stream; name=f%d\n\nx\n", i)
	}
	b.WriteString("--p--\n")
	m = mustParse(t, b.String(), nil)
	if m.Text != "body text" || len(m.Attachments) != 498 || !hasNote(m, "MIME part limit (500) reached") {
		t.Fatalf("Parse(10000 parts): text %q, %d attachments, notes %q", m.Text, len(m.Attachments), m.Notes)
	}

	// Text beyond MaxTextBytes is cut with a note.
	m = mustParse(t, "\n"+strings.Repeat("abcdefghij", 1000), &Limits{MaxTextBytes: 1000})
	if len(m.Text) != 1000 || !hasNote(m, "text cut at 1000 bytes") {
		t.Fatalf("Parse(10000 bytes, MaxTextBytes 1000): %d bytes, notes %q", len(m.Text), m.Notes)
	}

	// A huge header is bounded; the body after it still shows.
	huge := "Subject: s\nX-Big: " + strings.Repeat("y", 1<<20) + "\nX-After: z\n\nbody\n"
	m = mustParse(t, huge, &Limits{MaxHeaderBytes: 1 << 10})
	if m.Text != "body" || m.Subject != "s" || !hasNote(m, "header too long") {
		t.Fatalf("Parse(1 MiB header): text %q subject %q notes %q", m.Text, m.Subject, m.Notes)
	}

	if _, err := Parse(strings.NewReader(""), nil); err == nil {
		t.Fatalf("Parse(\"\") error nil, want ErrNothing")
	}
}

func TestAttachmentNames(t *testing.T) {
	tests := []struct {
		name, disp, ctype, want, wantSafe string
	}{
		{"rfc2231 continuation", "attachment; filename*0*=UTF-8''%E2%82%AC%20rates; filename*1=\".pdf\"", "application/pdf", "€ rates.pdf", "€ rates.pdf"},
		{"rfc2231 latin-1 (lenient)", "attachment; filename*=iso-8859-1''caf%E9.txt", "application/octet-stream", "café.txt", "café.txt"},
		{"rfc2047 in filename", "attachment; filename=\"=?utf-8?q?R=C3=A9sum=C3=A9.doc?=\"", "application/msword", "Résumé.doc", "Résumé.doc"},
		{"content-type name", "", "application/zip; name=\"archive.zip\"", "archive.zip", "archive.zip"},
		{"traversal", "attachment; filename=\"../../etc/passwd\"", "text/plain", "../../etc/passwd", "passwd"},
		{"windows traversal", "attachment; filename=\"..\\\\..\\\\boot.ini\"", "text/plain", `..\..\boot.ini`, "boot.ini"},
		{"absolute", "attachment; filename=\"/etc/shadow\"", "text/plain", "/etc/shadow", "shadow"},
		{"dot file", "attachment; filename=\".bashrc\"", "text/plain", ".bashrc", "bashrc"},
		{"only dots", "attachment; filename=\"..\"", "text/plain", "..", "attachment-1"},
		{"nul", "attachment; filename*=utf-8''a%00b.txt", "text/plain", "a␀b.txt", "a_b.txt"},
		{"bidi", "attachment; filename*=utf-8''invoice%E2%80%AEfdp.exe", "application/octet-stream", "invoice<U+202E>fdp.exe", "invoice_U+202E_fdp.exe"},
		{"escape", "attachment; filename*=utf-8''%1B%5B31mred", "text/plain", "␛[31mred", "_[31mred"},
		{"none", "attachment", "application/octet-stream", "", "attachment-1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			raw := "Content-Type: multipart/mixed; boundary=b\n\n--b\n\nbody\n--b\nContent-Type: " + tt.ctype + "\n"
			if tt.disp != "" {
				raw += "Content-Disposition: " + tt.disp + "\n"
			}
			raw += "\ndata\n--b--\n"
			m := mustParse(t, raw, nil)
			if len(m.Attachments) != 1 {
				t.Fatalf("Parse(%q) attachments %+v, notes %q", raw, m.Attachments, m.Notes)
			}
			a := m.Attachments[0]
			if a.Name != tt.want {
				t.Fatalf("Parse(%q) name = %q, want %q", raw, a.Name, tt.want)
			}
			if got := SafeFileName(a.Name, a.Index); got != tt.wantSafe {
				t.Fatalf("SafeFileName(%q) = %q, want %q", a.Name, got, tt.wantSafe)
			}
		})
	}
}

func TestSafeFileName(t *testing.T) {
	long := strings.Repeat("ü", 300) + ".tar.gz"
	tests := []struct{ in, want string }{
		{"report.pdf", "report.pdf"},
		{"../../../x", "x"},
		{"a/b/", "attachment-3"},
		{"C:\\Users\\x\\evil.bat", "evil.bat"},
		{"..hidden..name..", "hidden.name"},
		{"con:fu?sed*.txt", "con_fu_sed_.txt"},
		{"bad\xffutf8", "bad_utf8"},
		{"zw\u200bsp\ufeff", "zwsp"},
		{"  spaced  ", "spaced"},
		{"", "attachment-3"},
		{"\x00\x01", "attachment-3"},
	}
	for _, tt := range tests {
		if got := SafeFileName(tt.in, 3); got != tt.want {
			t.Fatalf("SafeFileName(%q, 3) = %q, want %q", tt.in, got, tt.want)
		}
	}
	got := SafeFileName(long, 1)
	if len(got) > maxFileNameBytes || !strings.HasSuffix(got, ".gz") || !strings.HasPrefix(got, "üü") || !bytes.Equal([]byte(got), []byte(strings.ToValidUTF8(got, "?"))) {
		t.Fatalf("SafeFileName(300 ü) = %q (%d bytes)", got, len(got))
	}
}

func BenchmarkParse(b *testing.B) {
	att := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte("0123456789abcdef"), 1<<18)) // 4 MiB decoded
	var w strings.Builder
	for len(att) > 76 {
		w.WriteString(att[:76] + "\r\n")
		att = att[76:]
	}
	w.WriteString(att + "\r\n")
	hdr := strings.Replace(benchHeader, "Content-Type: text/plain; charset=\"UTF-8\"\r\n", "", 1)
	raw := []byte(hdr[:len(hdr)-2] + "Content-Type: multipart/mixed; boundary=b\r\n\r\n--b\r\n\r\n" +
		strings.Repeat("Some body text for the reader.\r\n", 200) +
		"--b\r\nContent-Type: application/octet-stream; name=big.bin\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
		w.String() + "--b--\r\n")
	b.SetBytes(int64(len(raw)))
	b.ReportAllocs()
	for b.Loop() {
		m, err := Parse(bytes.NewReader(raw), nil)
		if err != nil || len(m.Attachments) != 1 || m.Attachments[0].Size != 4<<20 {
			b.Fatalf("Parse: %v %+v", err, m)
		}
	}
}
