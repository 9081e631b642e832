package message

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"github.com/mailbag/mailbag/store/termsafe"
)

// FuzzParseRender: parsing and rendering any bytes must not panic, must
// stay bounded in time and size, and must print only terminal-safe text.
// Seeds: testdata/fuzz/FuzzParseRender (broken messages) and the ones below.
func FuzzParseRender(f *testing.F) {
	f.Add([]byte(saveMsg))
	f.Add([]byte(benchHeader + "body"))
	f.Add([]byte("Content-Type: text/html\n\n<ul><li><a href=x>y</a><blockquote><pre>\x1b[1m\n</pre>"))
	f.Fuzz(func(t *testing.T, data []byte) {
		start := time.Now()
		m, err := Parse(bytes.NewReader(data), nil)
		if err != nil {
			return
		}
		for _, w := range []int{0, 1, 7, 80} {
			out := Render(m, w)
			if err := termsafe.Check(out, false); err != nil {
				t.Fatalf("Render(Parse(%q), %d) unsafe: %v", data, w, err)
			}
			if max := 40*len(data) + 4096; len(out) > max {
				t.Fatalf("Render(Parse(%q), %d) is %d bytes, want <= %d", data, w, len(out), max)
			}
		}
		for _, s := range []string{m.From, m.To, m.Cc, m.Subject, m.ReplyTo, m.MessageID, m.References} {
			if err := termsafe.Check(s, true); err != nil {
				t.Fatalf("Parse(%q) header %q unsafe: %v", data, s, err)
			}
		}
		for _, a := range m.Attachments {
			if n := SafeFileName(a.Name, a.Index); n == "" || strings.ContainsAny(n, "/\\\x00") || n[0] == '.' {
				t.Fatalf("SafeFileName(%q) = %q", a.Name, n)
			}
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Fatalf("Parse+Render(%d bytes) took %v", len(data), d)
		}
	})
}
