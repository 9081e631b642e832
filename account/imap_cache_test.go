package account

import (
	"strings"
	"testing"
	"unsafe"
)

func TestEnvPacker(t *testing.T) {
	long := strings.Repeat("x", packBlock/4+1)
	tests := []struct {
		name string
		in   []string
	}{
		{"empty", []string{"", ""}},
		{"small", []string{"a", "bc", "Sender 1 <sender1@example.test>"}},
		{"long", []string{long, "after"}},
		// Enough to need several blocks: earlier strings must not change.
		{"blocks", func() []string {
			var s []string
			for i := range 3000 {
				s = append(s, strings.Repeat(string(rune('a'+i%26)), 1+i%40))
			}
			return s
		}()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newEnvPacker()
			var got, shared []string
			for _, s := range tt.in {
				got = append(got, p.str(s))
				shared = append(shared, p.shared(s))
			}
			for i, s := range tt.in {
				if got[i] != s {
					t.Fatalf("str(%q) = %q, want %q", s, got[i], s)
				}
				if shared[i] != s {
					t.Fatalf("shared(%q) = %q, want %q", s, shared[i], s)
				}
			}
		})
	}
}

func TestEnvPackerShares(t *testing.T) {
	p := newEnvPacker()
	a := p.shared("Sender 7 <sender7@example.test>")
	b := p.shared(strings.Clone("Sender 7 <sender7@example.test>"))
	if unsafe.StringData(a) != unsafe.StringData(b) {
		t.Fatalf("shared(%q) twice gave two copies, want one", a)
	}
	m1, m2 := p.msg(), p.msg()
	if m1 == m2 || m1.UID != 0 || m2.BodyKey != "" {
		t.Fatalf("msg() = %p, %p (%+v), want two distinct zero messages", m1, m2, *m2)
	}
}
