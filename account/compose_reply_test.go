package account

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mailbag/mailbag/store/message"
)

func origMessage() *message.Message {
	return &message.Message{
		Summary: message.Summary{
			Date:       time.Date(2025, 3, 14, 9, 30, 0, 0, time.FixedZone("", -5*3600)),
			From:       "Bob Example <bob@example.test>",
			To:         "Alice <ALICE@example.test>, carol@example.test",
			Cc:         "\"Doe, John\" <john@example.test>, alice@work.test",
			Subject:    "Re: RE[2]: Aw: lunch",
			MessageID:  "m3@example.test",
			InReplyTo:  "m2@example.test",
			References: "m1@example.test m2@example.test",
		},
		Text: "Noon?\n\n> earlier\nbye\n",
	}
}

func TestReply(t *testing.T) {
	self := []string{"Alice <alice@example.test>", "Alice at work <alice@work.test>"}
	tests := []struct {
		name     string
		change   func(m *message.Message)
		all      bool
		wantFrom string
		wantTo   string
		wantCc   string
	}{
		{"sender", nil, false, "Alice <alice@example.test>", "Bob Example <bob@example.test>", ""},
		{"all", nil, true, "Alice <alice@example.test>", "Bob Example <bob@example.test>", `carol@example.test|"Doe, John" <john@example.test>`},
		{"reply-to", func(m *message.Message) { m.ReplyTo = "list@lists.test" }, false, "Alice <alice@example.test>", "list@lists.test", ""},
		{"all with reply-to", func(m *message.Message) { m.ReplyTo = "list@lists.test, carol@example.test" }, true, "Alice <alice@example.test>",
			"list@lists.test|carol@example.test", `"Doe, John" <john@example.test>`},
		{"to work address", func(m *message.Message) { m.To = "alice@work.test"; m.Cc = "" }, true, "Alice at work <alice@work.test>", "Bob Example <bob@example.test>", ""},
		{"own sent message", func(m *message.Message) { m.From = "alice@example.test" }, false, "Alice <alice@example.test>", "Alice <ALICE@example.test>|carol@example.test", ""},
		{"name with specials", func(m *message.Message) { m.From = "Bob @ Home: <bob@example.test>" }, false, "Alice <alice@example.test>", "\"Bob @ Home:\" <bob@example.test>", ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := origMessage()
			if tt.change != nil {
				tt.change(m)
			}
			d := Reply(m, self, tt.all)
			if d.From != tt.wantFrom || strings.Join(d.To, "|") != tt.wantTo || strings.Join(d.Cc, "|") != tt.wantCc {
				t.Fatalf("Reply(all=%v) From %q To %q Cc %q, want %q %q %q", tt.all, d.From, d.To, d.Cc, tt.wantFrom, tt.wantTo, tt.wantCc)
			}
		})
	}

	d := Reply(origMessage(), self, false)
	if d.Subject != "Re: lunch" {
		t.Fatalf("Subject = %q, want %q", d.Subject, "Re: lunch")
	}
	if d.InReplyTo != "m3@example.test" || strings.Join(d.References, " ") != "m1@example.test m2@example.test m3@example.test" {
		t.Fatalf("In-Reply-To %q References %q", d.InReplyTo, d.References)
	}
	wantBody := "On Fri, 14 Mar 2025 09:30 -0500, Bob Example wrote:\n> Noon?\n>\n>> earlier\n> bye\n\n"
	if d.Body != wantBody {
		t.Fatalf("Body = %q, want %q", d.Body, wantBody)
	}
	// The draft builds, threaded.
	var buf bytes.Buffer
	if _, err := d.Build(&buf, draftNow, BuildOptions{}); err != nil {
		t.Fatalf("Build(Reply) = %v", err)
	}
	if !strings.Contains(buf.String(), "In-Reply-To: <m3@example.test>\r\nReferences: <m1@example.test> <m2@example.test>\r\n <m3@example.test>") &&
		!strings.Contains(buf.String(), "References: <m1@example.test> <m2@example.test> <m3@example.test>") {
		t.Fatalf("built reply lacks threading:\n%s", buf.String())
	}
}

func TestReplyReferences(t *testing.T) {
	m := origMessage()
	m.References = ""
	if d := Reply(m, nil, false); strings.Join(d.References, " ") != "m2@example.test m3@example.test" {
		t.Fatalf("References from In-Reply-To = %q", d.References)
	}
	var ids []string
	for i := 0; i < 100; i++ {
		ids = append(ids, "id"+string(rune('a'+i%26))+strings.Repeat("x", i)+"@example.test")
	}
	m.References = strings.Join(ids, " ") + " bad-id <also bad> x@y@z"
	d := Reply(m, nil, false)
	if len(d.References) != draftMaxReferences || d.References[0] != ids[0] || d.References[len(d.References)-1] != "m3@example.test" {
		t.Fatalf("References = %d ids, first %q last %q", len(d.References), d.References[0], d.References[len(d.References)-1])
	}
}

// A hostile original cannot put header lines into the reply.
func TestReplyHostile(t *testing.T) {
	m := &message.Message{
		Summary: message.Summary{
			From:      "Eve\r\nBcc: victim@example.test <eve@example.test>",
			To:        "alice@example.test",
			Subject:   "hi\r\nBcc: victim@example.test\x1b]0;pwned\x07",
			MessageID: "id@x>\r\nX-Injected: yes",
		},
		Text: "line\x1b[2J\r\nnext\x00\n",
	}
	for _, all := range []bool{false, true} {
		d := Reply(m, []string{"alice@example.test"}, all)
		var buf bytes.Buffer
		env, err := d.Build(&buf, draftNow, BuildOptions{})
		if err != nil {
			t.Fatalf("Build(Reply(hostile)) = %v", err)
		}
		out := buf.String()
		if strings.Contains(out, "\r\nBcc:") || strings.Contains(out, "X-Injected") || strings.Contains(out, "\x1b") || strings.Contains(out, "\x00") {
			t.Fatalf("hostile values got through:\n%q", out)
		}
		for _, r := range env.Rcpts {
			if strings.Contains(r, "victim") {
				t.Fatalf("victim became a recipient: %v", env.Rcpts)
			}
		}
		if d.InReplyTo != "" {
			t.Fatalf("invalid Message-ID kept: %q", d.InReplyTo)
		}
		// And through the editor round trip.
		if _, err := ParseTemplate(d.Template()); err != nil {
			t.Fatalf("ParseTemplate(Template(Reply(hostile))) = %v", err)
		}
	}
}

func TestForward(t *testing.T) {
	m := origMessage()
	m.Subject = "Fwd: FW: lunch"
	d := Forward(m, nil, false)
	if d.Subject != "Fwd: lunch" {
		t.Fatalf("Subject = %q", d.Subject)
	}
	want := "\n\n---------- Forwarded message ----------\nFrom: Bob Example <bob@example.test>\nDate: Fri, 14 Mar 2025 09:30:00 -0500\n" +
		"Subject: Fwd: FW: lunch\nTo: Alice <ALICE@example.test>, carol@example.test\nCc: \"Doe, John\" <john@example.test>, alice@work.test\n\nNoon?\n\n> earlier\nbye\n"
	if d.Body != want {
		t.Fatalf("Body = %q, want %q", d.Body, want)
	}
	if len(d.To) != 0 || len(d.Attachments) != 0 || d.InReplyTo != "" {
		t.Fatalf("inline forward = %+v", d)
	}

	raw := []byte("From: bob@example.test\nSubject: lunch\nMessage-ID: <m3@example.test>\n\nNoon?\n")
	d = Forward(m, raw, true)
	if d.Body != "" || len(d.Attachments) != 1 || d.Attachments[0].Name != "lunch.eml" || d.Attachments[0].ContentType != "message/rfc822" {
		t.Fatalf("attachment forward = %+v", d)
	}
	d.From, d.To = "alice@example.test", []string{"dave@example.test"}
	for _, eightBit := range []bool{false, true} {
		p, _ := buildAndParse(t, d, BuildOptions{EightBit: eightBit})
		got := p.attachments["lunch.eml"]
		if string(got) != strings.ReplaceAll(string(raw), "\n", "\r\n") || p.attTypes["lunch.eml"] != "message/rfc822" {
			t.Fatalf("forwarded attachment = %q (%s)", got, p.attTypes["lunch.eml"])
		}
	}
	// 8-bit original: 8bit with 8BITMIME, base64 without.
	raw8 := []byte("Subject: caf\xc3\xa9\r\n\r\nd\xc3\xa9j\xc3\xa0 vu\r\n")
	d.Attachments = Forward(m, raw8, true).Attachments
	for _, tt := range []struct {
		eightBit bool
		cte      string
	}{{true, "8bit"}, {false, "base64"}} {
		var buf bytes.Buffer
		if _, err := d.Build(&buf, draftNow, BuildOptions{EightBit: tt.eightBit}); err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(buf.String(), "Content-Transfer-Encoding: "+tt.cte+"\r\nContent-Disposition: attachment") {
			t.Fatalf("EightBit %v: want %s for the forwarded message:\n%s", tt.eightBit, tt.cte, buf.String())
		}
		p, _ := buildAndParse(t, d, BuildOptions{EightBit: tt.eightBit})
		if !bytes.Equal(p.attachments["lunch.eml"], raw8) {
			t.Fatalf("EightBit %v: forwarded message came back as %q", tt.eightBit, p.attachments["lunch.eml"])
		}
	}
}
