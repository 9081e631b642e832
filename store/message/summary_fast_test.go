package message

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// readSummarySlow is ReadSummary as it was before SummaryReader: the
// general headerReader and summaryBuilder, which Parse still uses. The
// fast path must agree with it on every input within the bounds.
func readSummarySlow(r io.Reader) (Summary, error) {
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

// sameSummary reports how a and b differ ("" when they do not): the dates
// must be the same instant in the same zone offset.
func sameSummary(a, b Summary) string {
	_, ao := a.Date.Zone()
	_, bo := b.Date.Zone()
	if !a.Date.Equal(b.Date) || ao != bo || a.Date.IsZero() != b.Date.IsZero() {
		return "Date"
	}
	a.Date, b.Date = time.Time{}, time.Time{}
	if a != b {
		return "fields"
	}
	return ""
}

// fastVsSlowSeeds are shapes that exercise each fast path and its edges.
var fastVsSlowSeeds = []string{
	benchHeader,
	"From: Alice <a@b>\r\nTo: x@y\r\n\r\n",
	"From: \"Doe, John\" <j@x>, \"Q\" <q@x>\nTo: <a@b>\nTo: c@d\nCc: \n\n",
	"From: =?utf-8?q?J=C3=BCrgen?= <j@x>\nTo: =?iso-8859-1?q?Andr=E9?= <a@x>, =?us-ascii?q?=FF?= <u@x>\n\n",
	"From: =?koi8-r?b?8NLJ18XU?= <k@x>\nSubject: =?x-unknown?q?a?= =?utf-8?q?b?=\n\n",
	"Subject: =?utf-8?b?w6k=?= =?utf-8?b?w6k=?=\t=?UTF-8?Q?_x?= y =?utf-8?q?z?=\n\n",
	"Subject: =?utf-8?b?bad*?= =?utf-8?q?=zz?= =?utf-8?q?ok?= =??= =?utf-8?x?a?= =?\n\n",
	"Subject: =?utf-8?q?=FF=FE?= and =?iso-8859-1?b?/w==?=\n\n",
	"Subject: =?uſ-ascii?q?x?=\n\n",
	"Subject: Caf\xe9\nFrom: Ren\xe9 <r@x>\nDate: Mon, 2 Jan 2006 15:04:05 +0000\n\n",
	"Date: Mon, 2 Jan 2006 15:04:05 +0530 (IST)\n\n",
	"Date: 2 Jan 2006 15:04 -0000\n\n",
	"Date: Sun, 31 Feb 2021 01:02:03 +0100\n\n",
	"Date: Mon, 2 Jan 2006 15:04:60 +0000\n\n",
	"Date: Mon, 2 Jan 06 15:04:05 EST\n\n",
	"Date: Mon, 2 Jan 2006 15:04:05 +0000 (a (b) c)\n\n",
	"Date:\tThu,\t02 Jan 2006 15:04:05 +2400\n\n",
	"Date: Jan, 2 Jan 2006 15:04:05 +0000\n\n",
	"Date: Mon, 2 Jan 2006 15:04:05 +0000\nDate: Tue, 3 Jan 2006 15:04:05 +0000\n\n",
	"Message-ID: <a b@c>\nIn-Reply-To: junk <x@y> more\nReferences: <a@b>\n <c\n @d> <> <e@f\n\n",
	"Message-ID: plain@id\nIn-Reply-To: nothing\nReferences: x@y z w@v\n\n",
	"Subject: folded\n  line\r\n\tthree\r\nSubject: second\n\n",
	"Subject:    \n\n",
	" continuation first\nnot a field\nX: y\nSubject : spaced name\n\n",
	"From alice@example.test Mon Jan  2 15:04:05 2006\nSubject: mbox\n",
	"Subject: no blank line and no newline",
	"Subject: cr only\r",
	"Subject: a\r\r\nFrom: b@c\r\n\r\nSubject: body",
	"Subject: x\n\r\nFrom: body@x\n",
	"\r\nSubject: body\n",
	"To: undisclosed-recipients:;\nCc: a@b, , c@d,\nFrom: =?utf-8?q?a=2C_b?= <x@y>\n\n",
	"From: \"a\\\"b\" <x@y>\nTo: a@b@c, <@x>, x@\nCc: Name <a@b> trailing\n\n",
	"From: x@y (comment)\nTo: <a@b>\n\n",
	"To: \"\" <a@b>, a@b <a@b>\n\n",
	"To: =?utf-8?q?a@b?= <a@b>, \"=?utf-8?q?x?=\" <c@d>\n\n",
	"To: \u00a0a@b\u00a0, \u2028c@d\n\n",
	"SUBJECT: upper\nfrom: lower <l@x>\nMESSAGE-ID: <UP@X>\nREFERENCES: <r@x>\nIN-REPLY-TO: <i@x>\nDATE: mon, 2 jan 2006 15:04:05 +0000\n\n",
	"Reply-To: r@x\nX-Subject: not\nSubjects: not\n\n",
}

func TestSummaryFastVsSlow(t *testing.T) {
	for _, in := range fastVsSlowSeeds {
		want, werr := readSummarySlow(strings.NewReader(in))
		got, gerr := ReadSummary(strings.NewReader(in))
		if d := sameSummary(got, want); d != "" || (gerr == nil) != (werr == nil) {
			t.Fatalf("ReadSummary(%q) = %+v, %v, want %+v, %v (%s differs)", in, got, gerr, want, werr, d)
		}
	}
}

func FuzzSummaryFastVsSlow(f *testing.F) {
	for _, s := range fastVsSlowSeeds {
		f.Add([]byte(s))
	}
	var sr SummaryReader // reused, as index workers do
	f.Fuzz(func(t *testing.T, data []byte) {
		if len(data) >= defaultMaxHeaderBytes {
			return // the bounds are cut differently
		}
		want, _ := readSummarySlow(bytes.NewReader(data))
		got, err := sr.ReadSummary(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("ReadSummary(%q) error %v", data, err)
		}
		if d := sameSummary(got, want); d != "" {
			t.Fatalf("ReadSummary(%q) = %+v, want %+v (%s differs)", data, got, want, d)
		}
	})
}

func FuzzWordsFastVsSlow(f *testing.F) {
	for _, s := range []string{
		"=?utf-8?q?a_b?= =?UTF-8?B?w6k=?=", "x =?iso-8859-1?q?=E9?= y", "=?us-ascii?q?=80?=",
		"=?utf-8?b?!!?=", "=?utf-8?q?=F?=", "=?koi8-r?b?8NLJ18XU?=", "=?", "=?a?b?c?=", "\xff=?utf-8?q?x?=",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		s = toUTF8([]byte(s)) // as add passes values: valid UTF-8
		want := decodeWords(s)
		var tmp []byte
		got, ok := appendWords([]byte("prefix"), []byte(s), &tmp)
		if !ok {
			if string(got) != "prefix" {
				t.Fatalf("appendWords(%q) refused but wrote %q", s, got)
			}
			return
		}
		if string(got) != "prefix"+want {
			t.Fatalf("appendWords(%q) = %q, want %q", s, got[len("prefix"):], want)
		}
	})
}

func TestParseDateFast(t *testing.T) {
	tests := []struct {
		in string
		ok bool // the fast path takes it
	}{
		{"Mon, 02 Jan 2006 15:04:05 -0700", true},
		{"mon,2 JAN 2006 15:04:05 +0000", true},
		{"2 Jan 2006 5:04 +0530 (IST)", true},
		{"Sat, 03 Jun 2023 00:22:56 -0500", true},
		{"Mon, 31 Feb 2006 15:04:05 +0000", true}, // zero, as parseDate
		{"Mon, 2 Jan 2006 15:04:05 +0000 (UTC) ", true},
		{"Mon, 2 Jan 06 15:04:05 +0000", false},
		{"Mon, 2 Jan 2006 15:04:05 GMT", false},
		{"Mon, 2 Jan 2006 15:04:60 +0000", false},
		{"Mon, 2 Jan 2006 15:04:05 +2400", false},
		{"Mon, 2 Jan 2006 15:04:05.123 +0000", false},
		{"Mon, 2 Jan 2006 15:04:05 +0000 (a (b))", false},
		{"Mon, 2 Jan 2006 15:04:05 +0000 x", false},
		{"Mon 2 Jan 2006 15:04:05 +0000", false},
		{"Foo, 2 Jan 2006 15:04:05 +0000", false},
		{"Monday, 2 Jan 2006 15:04:05 +0000", false},
		{"32 Jan 2006 15:04:05 +0000", false},
		{"2 January 2006 15:04:05 +0000", false},
		{"2006-01-02T15:04:05Z", false},
		{"", false},
	}
	for _, tt := range tests {
		got, ok := parseDateFast([]byte(tt.in))
		if ok != tt.ok {
			t.Fatalf("parseDateFast(%q) ok = %v, want %v", tt.in, ok, tt.ok)
		}
		if want := parseDate(tt.in); ok && sameSummary(Summary{Date: got}, Summary{Date: want}) != "" {
			t.Fatalf("parseDateFast(%q) = %v, want %v", tt.in, got, want)
		}
	}
}

func FuzzDateFastVsSlow(f *testing.F) {
	for _, s := range []string{"Mon, 02 Jan 2006 15:04:05 -0700", "2 Jan 2006 5:04 +0530 (IST)",
		"Mon, 31 Feb 2006 15:04:05 +0000", "Tue, 1 Mar 0000 00:00:00 -2359"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		got, ok := parseDateFast([]byte(s))
		if !ok {
			return
		}
		if want := parseDate(s); sameSummary(Summary{Date: got}, Summary{Date: want}) != "" {
			t.Fatalf("parseDateFast(%q) = %v, want %v", s, got, want)
		}
	})
}

// TestSummaryReaderReuse summarises different messages with one reader:
// nothing of one message may leak into the next, and earlier Summaries
// must not change when the reader's buffers are reused.
func TestSummaryReaderReuse(t *testing.T) {
	var sr SummaryReader
	msgs := []string{
		benchHeader + "body",
		"Subject: second\n\n",
		strings.Repeat("X-Long: "+strings.Repeat("y", 100)+"\n", 300) + "From: late@x\n\n", // grows the buffer
		"To: =?utf-8?q?T=C3=B6?= <t@x>\n\n",
		"",
	}
	var got []Summary
	for _, m := range msgs {
		s, err := sr.ReadSummary(strings.NewReader(m))
		if err != nil {
			t.Fatalf("ReadSummary(%.40q) error %v", m, err)
		}
		got = append(got, s)
	}
	for i, m := range msgs {
		want, _ := readSummarySlow(strings.NewReader(m))
		if d := sameSummary(got[i], want); d != "" {
			t.Fatalf("reused ReadSummary(%.40q) = %+v, want %+v (%s differs)", m, got[i], want, d)
		}
	}
}

// chunkReader returns its data n bytes per Read, then err.
type chunkReader struct {
	data []byte
	n    int
	err  error
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.data) == 0 {
		return 0, c.err
	}
	k := min(len(p), c.n, len(c.data))
	copy(p, c.data[:k])
	c.data = c.data[k:]
	return k, nil
}

func TestSummaryReaderReads(t *testing.T) {
	boom := errors.New("boom")
	msg := "Subject: split\r\n across reads\r\nFrom: a@b\r\n\r\nSubject: body\r\n"
	tests := []struct {
		name    string
		r       io.Reader
		want    Summary
		wantErr error
	}{
		{"one byte per read", &chunkReader{data: []byte(msg), n: 1, err: io.EOF},
			Summary{Subject: "split across reads", From: "a@b"}, nil},
		{"CR and LF of the blank line apart", &chunkReader{data: []byte(msg), n: 43, err: io.EOF},
			Summary{Subject: "split across reads", From: "a@b"}, nil},
		{"error mid-header keeps what was read", &chunkReader{data: []byte("Subject: partial\r\nFrom: a@"), n: 7, err: boom},
			Summary{Subject: "partial", From: "a@"}, boom},
		{"no progress", &chunkReader{data: []byte("Subject: stuck"), n: 100, err: nil},
			Summary{Subject: "stuck"}, io.ErrNoProgress},
	}
	for _, tt := range tests {
		var sr SummaryReader
		got, err := sr.ReadSummary(tt.r)
		if !errors.Is(err, tt.wantErr) || got != tt.want {
			t.Fatalf("%s: ReadSummary = %+v, %v, want %+v, %v", tt.name, got, err, tt.want, tt.wantErr)
		}
	}
}

func BenchmarkSummaryReader(b *testing.B) {
	msg := []byte(benchHeader + strings.Repeat("body line of text\r\n", 500))
	b.SetBytes(int64(len(benchHeader)))
	b.ReportAllocs()
	r := bytes.NewReader(msg)
	var sr SummaryReader
	for b.Loop() {
		r.Reset(msg)
		if _, err := sr.ReadSummary(r); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkReadSummarySlow(b *testing.B) {
	msg := []byte(benchHeader + strings.Repeat("body line of text\r\n", 500))
	b.SetBytes(int64(len(benchHeader)))
	b.ReportAllocs()
	r := bytes.NewReader(msg)
	for b.Loop() {
		r.Reset(msg)
		if _, err := readSummarySlow(r); err != nil {
			b.Fatal(err)
		}
	}
}
