package message

import (
	"bytes"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

func TestReadSummary(t *testing.T) {
	tests := []struct {
		name string
		in   string
		want Summary
	}{
		{
			name: "plain",
			in: "From: Alice Example <alice@example.test>\r\n" +
				"To: bob@example.test, \"Carol C.\" <carol@example.test>\r\n" +
				"Cc: Dave <dave@example.test>\r\n" +
				"Subject: Hello\r\n" +
				"Date: Mon, 02 Jan 2006 15:04:05 -0700\r\n" +
				"Message-ID: <id1@example.test>\r\n" +
				"In-Reply-To: <id0@example.test>\r\n" +
				"References: <a@x> <b@x>\r\n <id0@example.test>\r\n" +
				"\r\nbody\r\n",
			want: Summary{
				Date:       time.Date(2006, 1, 2, 15, 4, 5, 0, time.FixedZone("", -7*3600)),
				From:       "Alice Example <alice@example.test>",
				To:         "bob@example.test, Carol C. <carol@example.test>",
				Cc:         "Dave <dave@example.test>",
				Subject:    "Hello",
				MessageID:  "id1@example.test",
				InReplyTo:  "id0@example.test",
				References: "a@x b@x id0@example.test",
			},
		},
		{
			name: "rfc2047 and folding",
			in: "Subject: =?ISO-8859-1?Q?Caf=E9?=\r\n =?UTF-8?B?IOKCrA==?= ok\r\n" +
				"From: =?iso-8859-1?q?Andr=E9?= <andre@example.test>\r\n" +
				"To: \"Doe, John\" <john@example.test>\r\n" +
				"\r\n",
			want: Summary{
				Subject: "Café € ok",
				From:    "André <andre@example.test>",
				To:      `"Doe, John" <john@example.test>`,
			},
		},
		{
			name: "other charsets in words",
			in: "Subject: =?KOI8-R?B?8NLJ18XU?=\n" +
				"From: =?ISO-2022-JP?B?GyRCRnxLXDhsGyhC?= <jp@example.test>\n" +
				"To: =?Shift_JIS?B?k/qWe4zq?= <sj@example.test>\n\n",
			want: Summary{
				Subject: "Привет",
				From:    "日本語 <jp@example.test>",
				To:      "日本語 <sj@example.test>",
			},
		},
		{
			name: "raw latin-1 and bare LF",
			in:   "Subject: Caf\xe9 cr\xe8me\nFrom: Ren\xe9 <r@example.test>\n\nx",
			want: Summary{Subject: "Café crème", From: "René <r@example.test>"},
		},
		{
			name: "broken address falls back to decoded raw",
			in:   "From: =?utf-8?q?J=C3=BCrgen?= <<broken@@>\r\nTo: undisclosed-recipients:;\r\n\r\n",
			want: Summary{From: "Jürgen <<broken@@>", To: "undisclosed-recipients:;"},
		},
		{
			name: "ids without brackets and junk",
			in: "Message-ID: id9@example.test\r\n" +
				"In-Reply-To: Your message of Monday <orig@example.test> (Joe)\r\n" +
				"References: x@y   z@w\r\n\r\n",
			want: Summary{MessageID: "id9@example.test", InReplyTo: "orig@example.test", References: "x@y z@w"},
		},
		{
			name: "mbox line, garbage line, header only",
			in:   "From alice@example.test Mon Jan  2 15:04:05 2006\nnot a header\nSubject: s\nDate: 2 Jan 06 15:04 GMT",
			want: Summary{Subject: "s", Date: time.Date(2006, 1, 2, 15, 4, 0, 0, time.UTC)},
		},
		{
			name: "first subject wins, body ignored",
			in:   "Subject: one\nSubject: two\n\nSubject: body\n",
			want: Summary{Subject: "one"},
		},
		{
			name: "encoded ESC stays decoded (termsafe is the caller's)",
			in:   "Subject: =?utf-8?q?a=1B[31mb?=\n\n",
			want: Summary{Subject: "a\x1b[31mb"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ReadSummary(strings.NewReader(tt.in))
			if err != nil {
				t.Fatalf("ReadSummary(%q) error %v", tt.in, err)
			}
			if !got.Date.Equal(tt.want.Date) {
				t.Fatalf("ReadSummary(%q).Date = %v, want %v", tt.in, got.Date, tt.want.Date)
			}
			got.Date, tt.want.Date = time.Time{}, time.Time{}
			if got != tt.want {
				t.Fatalf("ReadSummary(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestReadSummaryBounds(t *testing.T) {
	// 2000 fields: only the first 1000 are looked at.
	var b strings.Builder
	for i := 0; i < 2000; i++ {
		b.WriteString("X-Junk: y\r\n")
	}
	b.WriteString("Subject: late\r\n\r\n")
	got, err := ReadSummary(strings.NewReader("Subject: early\r\n" + b.String()))
	if err != nil || got.Subject != "early" {
		t.Fatalf("ReadSummary(2000 fields) = %+v, %v, want Subject early", got, err)
	}
	got, _ = ReadSummary(strings.NewReader(b.String()))
	if got.Subject != "" {
		t.Fatalf("ReadSummary(field after 1000) Subject = %q, want empty", got.Subject)
	}
	// A 1 MiB folded subject is cut at the header bound; the read stops.
	huge := "Subject: start" + strings.Repeat("\r\n xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx", 1<<14) + "\r\n\r\n"
	r := strings.NewReader(huge)
	got, err = ReadSummary(r)
	if err != nil || !strings.HasPrefix(got.Subject, "start") || len(got.Subject) > defaultMaxHeaderBytes {
		t.Fatalf("ReadSummary(huge) subject len %d, err %v", len(got.Subject), err)
	}
	if read := len(huge) - r.Len(); read > defaultMaxHeaderBytes+2*summaryBufSize {
		t.Fatalf("ReadSummary(huge) read %d bytes, want about %d", read, defaultMaxHeaderBytes)
	}
	// One unterminated 1 MiB line.
	got, err = ReadSummary(strings.NewReader("Subject: " + strings.Repeat("a", 1<<20)))
	if err != nil || len(got.Subject) > defaultMaxHeaderBytes {
		t.Fatalf("ReadSummary(long line) subject len %d, err %v", len(got.Subject), err)
	}
}

func TestParseDate(t *testing.T) {
	utc := func(y int, m time.Month, d, h, mi, s int) time.Time { return time.Date(y, m, d, h, mi, s, 0, time.UTC) }
	tests := []struct {
		in   string
		want time.Time
	}{
		{"Mon, 02 Jan 2006 15:04:05 +0000", utc(2006, 1, 2, 15, 4, 5)},
		{"02 Jan 2006 15:04:05 +0000", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon, 2 Jan 06 15:04:05 GMT", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon, 2 Jan 99 15:04:05 UT", utc(1999, 1, 2, 15, 4, 5)},
		{"Mon, 2 Jan 106 15:04:05 UT", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon, 2 Jan 2006 10:04:05 EST", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon, 2 Jan 2006 08:04:05 -0700 (PDT)", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon, 2 Jan 2006 15:04:05 +0000 (Coordinated (Universal) Time)", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon (comment), 2 Jan 2006 15:04 +0000", utc(2006, 1, 2, 15, 4, 0)},
		{"Mon Jan  2 15:04:05 2006", utc(2006, 1, 2, 15, 4, 5)},
		{"2006-01-02T17:04:05+02:00", utc(2006, 1, 2, 15, 4, 5)},
		{"2006-01-02 15:04:05", utc(2006, 1, 2, 15, 4, 5)},
		{"Monday, January 2, 2006 3:04:05 PM GMT", utc(2006, 1, 2, 15, 4, 5)},
		{"2 Jan 2006 17:04:05 GMT+0200", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon, 2 Jan 2006 16:04:05 CET", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon, 2 Jan 2006 15:04:05.123 +0000", utc(2006, 1, 2, 15, 4, 5)},
		{"Mon, 31 Feb 2006 15:04:05 +0000", time.Time{}},
		{"Mon, 2 Jan 2006 25:04:05 +0000", time.Time{}},
		{"yesterday", time.Time{}},
		{"", time.Time{}},
		{"((((", time.Time{}},
	}
	for _, tt := range tests {
		if got := parseDate(tt.in); !got.Equal(tt.want) {
			t.Fatalf("parseDate(%q) = %v, want %v", tt.in, got, tt.want)
		}
	}
}

var benchHeader = "Return-Path: <list-bounces@example.test>\r\n" +
	"Received: from mx.example.test (mx.example.test [192.0.2.1])\r\n\tby mail.example.test with ESMTPS id abc123\r\n\tfor <alice@example.test>; Mon, 02 Jan 2006 15:04:05 +0000\r\n" +
	"Received: from relay.example.test by mx.example.test; Mon, 02 Jan 2006 15:04:04 +0000\r\n" +
	"DKIM-Signature: v=1; a=rsa-sha256; c=relaxed/relaxed; d=example.test; s=sel;\r\n\th=from:to:subject:date; bh=47DEQpj8HBSa+/TImW+5JCeuQeRkm5NMpJWZG3hSuFU=;\r\n\tb=dGhpcyBpcyBub3QgYSByZWFsIHNpZ25hdHVyZSBidXQgaXQgaXMgbG9uZyBlbm91Z2g=\r\n" +
	"From: =?UTF-8?Q?J=C3=BCrgen_M=C3=BCller?= <juergen@example.test>\r\n" +
	"To: Alice Example <alice@example.test>, bob@example.test\r\n" +
	"Cc: go-dev <golang-dev@example.test>\r\n" +
	"Subject: =?UTF-8?B?UmU6IFtnby1kZXZdIMOcYmVyIGRpZSBMYXVmemVpdA==?=\r\n" +
	"Date: Mon, 2 Jan 2006 15:04:05 +0000 (UTC)\r\n" +
	"Message-ID: <CAF+abc123def456@mail.example.test>\r\n" +
	"In-Reply-To: <CAF+parent@mail.example.test>\r\n" +
	"References: <CAF+root@mail.example.test>\r\n <CAF+parent@mail.example.test>\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=\"UTF-8\"\r\n" +
	"List-Id: <golang-dev.example.test>\r\n" +
	"\r\n"

func BenchmarkReadSummary(b *testing.B) {
	msg := []byte(benchHeader + strings.Repeat("body line of text\r\n", 500))
	b.SetBytes(int64(len(benchHeader)))
	b.ReportAllocs()
	r := bytes.NewReader(msg)
	for b.Loop() {
		r.Reset(msg)
		if _, err := ReadSummary(r); err != nil {
			b.Fatal(err)
		}
	}
}

func FuzzReadSummary(f *testing.F) {
	f.Add([]byte(benchHeader))
	f.Add([]byte("Subject: =?x-unknown?q?a?=\nFrom: <<<\nDate: (((\n"))
	f.Add([]byte("From: \xff\xfe <a@b>\r\n\r\n"))
	f.Add([]byte(" lead\r\nTo: a@b,\r\n\tc@d\r\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		s, err := ReadSummary(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("ReadSummary error %v", err)
		}
		for _, v := range []string{s.From, s.To, s.Cc, s.Subject, s.MessageID, s.InReplyTo, s.References} {
			if !utf8.ValidString(v) {
				t.Fatalf("ReadSummary(%q) gave invalid UTF-8 %q", data, v)
			}
		}
	})
}
