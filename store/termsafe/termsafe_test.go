package termsafe

import (
	"mime"
	"strings"
	"testing"
)

func TestString(t *testing.T) {
	tests := []struct{ in, want string }{
		{"plain text", "plain text"},
		{"tab\tand\nnewline", "tab\tand\nnewline"},
		{"crlf\r\nline", "crlf\nline"},
		{"lone\rcr", "lone␍cr"},
		{"\x1b[31mred\x1b[0m", "␛[31mred␛[0m"},
		{"nul\x00bel\x07bs\x08", "nul␀bel␇bs␈"},
		{"del\x7f", "del␡"},
		{"c1 csi \u009b31m nel \u0085", "c1 csi <U+009B>31m nel <U+0085>"},
		{"osc \x1b]8;;http://evil\x07link\x1b]8;;\x07", "osc ␛]8;;http://evil␇link␛]8;;␇"},
		{"bidi \u202eevil\u202c", "bidi <U+202E>evil<U+202C>"},
		{"isolates \u2066x\u2069 \u2067 \u2068", "isolates <U+2066>x<U+2069> <U+2067> <U+2068>"},
		{"marks \u200e\u200f\u061c", "marks <U+200E><U+200F><U+061C>"},
		{"zw \u200b\u200c\u200d\u2060\ufeff", "zw <U+200B><U+200C><U+200D><U+2060><U+FEFF>"},
		{"seps \u2028\u2029", "seps <U+2028><U+2029>"},
		{"bad \xff\xfe utf8 \xed\xa0\x80", "bad \ufffd\ufffd utf8 \ufffd\ufffd\ufffd"},
		{"ok 日本語 é ë 👍🏽 \ufffd", "ok 日本語 é ë 👍🏽 \ufffd"},
		{"placeholder ␛ stays", "placeholder ␛ stays"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := String(tt.in); got != tt.want {
			t.Fatalf("String(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := String(String(tt.in)); got != tt.want {
			t.Fatalf("String(String(%q)) = %q, want %q (idempotence)", tt.in, got, tt.want)
		}
	}
}

func TestLine(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Subject", "Subject"},
		{"a\tb\nc\r\nd", "a b c d"},
		{"a\rb", "a␍b"},
		{"\x1b]0;title\x07", "␛]0;title␇"},
		{"name\u202egpj.exe", "name<U+202E>gpj.exe"},
	}
	for _, tt := range tests {
		if got := Line(tt.in); got != tt.want {
			t.Fatalf("Line(%q) = %q, want %q", tt.in, got, tt.want)
		}
		if got := Line(Line(tt.in)); got != tt.want {
			t.Fatalf("Line(Line(%q)) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

// An RFC 2047 encoded word can hide an escape sequence from a naive
// header check; after decoding it must still come out inert.
func TestAfterRFC2047(t *testing.T) {
	tests := []struct{ in, want string }{
		{"=?utf-8?q?=1B]0;pwned=07hi?=", "␛]0;pwned␇hi"},
		{"=?utf-8?b?G1sySg==?=", "␛[2J"},
		{"=?iso-8859-1?q?=9B31m?=", "<U+009B>31m"},
		{"=?utf-8?q?a=E2=80=AEb?=", "a<U+202E>b"},
		{"=?utf-8?q?x=0D=0Ay?=", "x y"},
	}
	dec := mime.WordDecoder{}
	for _, tt := range tests {
		d, err := dec.DecodeHeader(tt.in)
		if err != nil {
			t.Fatalf("DecodeHeader(%q): %v", tt.in, err)
		}
		if got := Line(d); got != tt.want {
			t.Fatalf("Line(decode(%q)) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestWidth(t *testing.T) {
	tests := []struct {
		in   string
		want int
	}{
		{"", 0},
		{"abc", 3},
		{"日本語", 6},
		{"e\u0301", 1},  // combining acute
		{"👍🏽", 2},       // emoji with skin tone modifier
		{"👨‍👩‍👧", 2},    // ZWJ family
		{"ab\ncdef", 4}, // widest line
		{"␛[31m", 5},
	}
	for _, tt := range tests {
		if got := Width(tt.in); got != tt.want {
			t.Fatalf("Width(%q) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in    string
		cells int
		tail  string
		want  string
	}{
		{"hello", 10, "…", "hello"},
		{"hello", 5, "…", "hello"},
		{"hello world", 5, "…", "hell…"},
		{"日本語です", 5, "…", "日本…"},
		{"日本語です", 4, "", "日本"},
		{"日本語です", 3, "", "日"},
		{"e\u0301e\u0301e\u0301", 2, "", "e\u0301e\u0301"},
		{"👨‍👩‍👧👨‍👩‍👧", 3, "", "👨‍👩‍👧"},
		{"abc", 0, "…", ""},
		{"abc", 2, "...", "ab"},
	}
	for _, tt := range tests {
		got := Truncate(tt.in, tt.cells, tt.tail)
		if got != tt.want {
			t.Fatalf("Truncate(%q, %d, %q) = %q, want %q", tt.in, tt.cells, tt.tail, got, tt.want)
		}
		if w := Width(got); w > tt.cells && tt.cells >= 0 {
			t.Fatalf("Truncate(%q, %d, %q) width %d", tt.in, tt.cells, tt.tail, w)
		}
	}
}

func FuzzSanitise(f *testing.F) {
	for _, s := range []string{"", "a\r\nb\rc", "\x1b[31m", "\u009b\u202e\u200b\ufeff", "\xff\xed\xa0\x80", "日本👍🏽", "\t\n"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		str, line := String(s), Line(s)
		if err := Check(str, false); err != nil {
			t.Fatalf("String(%q) = %q: %v", s, str, err)
		}
		if err := Check(line, true); err != nil {
			t.Fatalf("Line(%q) = %q: %v", s, line, err)
		}
		if again := String(str); again != str {
			t.Fatalf("String not idempotent on %q: %q then %q", s, str, again)
		}
		if again := Line(line); again != line {
			t.Fatalf("Line not idempotent on %q: %q then %q", s, line, again)
		}
		if l2 := Line(str); l2 != line && !strings.Contains(s, "\r") {
			t.Fatalf("Line(String(%q)) = %q, want Line = %q", s, l2, line)
		}
		tr := Truncate(line, 7, "…")
		if Width(tr) > 7 || !strings.HasPrefix(line, strings.TrimSuffix(tr, "…")) {
			t.Fatalf("Truncate(%q, 7) = %q", line, tr)
		}
	})
}
