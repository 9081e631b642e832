package ui

import (
	"fmt"
	"strings"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/termsafe"
)

var testBase = time.Date(2024, 3, 1, 12, 0, 0, 0, time.UTC)

// env builds an envelope dated n hours after testBase.
func env(key string, hours int, from, subject string) account.Envelope {
	return account.Envelope{
		Key: key, Name: "cur/" + key + ":2,S", Size: 1000,
		Date: testBase.Add(time.Duration(hours) * time.Hour),
		From: from, Subject: subject, MessageID: key + "@test", Flags: "S",
	}
}

func reply(e account.Envelope, parent account.Envelope) account.Envelope {
	e.InReplyTo = parent.MessageID
	e.References = strings.TrimSpace(parent.References + " " + parent.MessageID)
	return e
}

func newTestList(envs []account.Envelope, w, h int) *listModel {
	st := DefaultStyles()
	l := newList(defaultListKeys(), &st)
	l.SetSize(w, h)
	l.setEnvelopes(account.EnvelopeSlice(envs))
	return &l
}

// order returns the keys of the rows, with thread depth as leading dots.
func order(l *listModel) string {
	var parts []string
	for i := range l.rowCount() {
		r := l.row(i)
		s := strings.Repeat(".", int(r.depth)) + l.env(r.env).Key
		if r.hidden > 0 {
			s += fmt.Sprintf("+%d", r.hidden)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, " ")
}

func TestFmtDate(t *testing.T) {
	now := time.Date(2024, 6, 15, 18, 30, 0, 0, time.UTC)
	tests := []struct {
		t    time.Time
		want string
	}{
		{time.Date(2024, 6, 15, 9, 5, 0, 0, time.UTC), "09:05"},
		{time.Date(2024, 6, 14, 23, 59, 0, 0, time.UTC), "Jun 14"},
		{time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC), "Jan 02"},
		{time.Date(2023, 12, 31, 0, 0, 0, 0, time.UTC), "2023-12-31"},
		{time.Time{}, ""},
	}
	for _, tt := range tests {
		if got := fmtDate(tt.t, now); got != tt.want {
			t.Errorf("fmtDate(%v) = %q, want %q", tt.t, got, tt.want)
		}
	}
}

func TestDisplayName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Alice Example <alice@example.test>", "Alice Example"},
		{`"Doe, John" <john@example.test>, Bob <bob@example.test>`, "Doe, John"},
		{"<bare@example.test>", "bare@example.test"},
		{"plain@example.test", "plain@example.test"},
		{"a@x.test, b@y.test", "a@x.test"},
		{"", ""},
	}
	for _, tt := range tests {
		if got := displayName(tt.in); got != tt.want {
			t.Errorf("displayName(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
}

func TestFmtSize(t *testing.T) {
	tests := []struct {
		n    int64
		want string
	}{{0, "0"}, {999, "999"}, {1500, "1.5K"}, {20 * 1024, "20K"}, {3 << 20, "3.0M"}, {50 << 20, "50M"}}
	for _, tt := range tests {
		if got := fmtSize(tt.n); got != tt.want {
			t.Errorf("fmtSize(%d) = %q, want %q", tt.n, got, tt.want)
		}
	}
}

func threadFixture() []account.Envelope {
	a := env("a", 0, "Ann <ann@test>", "plan")
	b := reply(env("b", 2, "Bob <bob@test>", "Re: plan"), a)
	c := reply(env("c", 5, "Cy <cy@test>", "Re: plan"), b)
	d := reply(env("d", 3, "Dee <dee@test>", "Re: plan"), a)
	d.InReplyTo = "" // only References
	e := env("e", 4, "Eve <eve@test>", "lunch")
	f := env("f", 1, "Fay <fay@test>", "orphan reply")
	f.InReplyTo = "missing@test"
	return []account.Envelope{c, e, a, f, d, b}
}

func TestListOrder(t *testing.T) {
	tests := []struct {
		name    string
		threads bool
		reverse bool
		fold    string // key of a thread to fold
		want    string
	}{
		{"flat newest first", false, false, "", "c e d b f a"},
		{"flat oldest first", false, true, "", "a f b d e c"},
		{"threads newest first", true, false, "", "a .b ..c .d e f"},
		{"threads oldest first", true, true, "", "f e a .b ..c .d"},
		{"thread folded", true, false, "a", "a+3 e f"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newTestList(threadFixture(), 80, 10)
			if tt.reverse {
				l.toggleReverse()
			}
			if tt.threads {
				l.toggleThreads()
			}
			if tt.fold != "" {
				for i := range l.rowCount() {
					if l.env(l.row(i).env).Key == tt.fold {
						l.cursor = i
					}
				}
				l.toggleFold()
			}
			if got := order(l); got != tt.want {
				t.Fatalf("rows = %q, want %q", got, tt.want)
			}
		})
	}
}

func TestTreePrefix(t *testing.T) {
	l := newTestList(threadFixture(), 80, 10)
	l.toggleThreads()
	want := []string{"", "├─", "│ └─", "└─", "", ""}
	for i := range l.rows {
		if got := treePrefix(l.rows, i); got != want[i] {
			t.Errorf("treePrefix(row %d %s) = %q, want %q", i, l.env(l.rows[i].env).Key, got, want[i])
		}
	}
}

func TestBaseSubject(t *testing.T) {
	tests := []struct {
		in   string
		base string
		re   bool
	}{
		{"Hello  World", "hello world", false},
		{"Re: Hello", "hello", true},
		{"RE: Re:  hello", "hello", true},
		{"Aw: Re[2]: hello", "hello", true},
		{"Fwd: hello", "fwd: hello", false},
		{"Re:", "", true},
		{"Ticket: 12", "ticket: 12", false},
	}
	for _, tt := range tests {
		if base, re := baseSubject(tt.in); base != tt.base || re != tt.re {
			t.Errorf("baseSubject(%q) = %q, %v; want %q, %v", tt.in, base, re, tt.base, tt.re)
		}
	}
}

func TestThreadBySubject(t *testing.T) {
	a := env("a", 0, "A", "Book recommendation")
	b := env("b", 5, "B", "Re: book  recommendation")
	early := env("c", -5, "C", "Re: Book recommendation") // older than the original: stays alone
	l := newTestList([]account.Envelope{a, b, early}, 80, 10)
	l.toggleThreads()
	if got, want := order(l), "a .b c"; got != want {
		t.Fatalf("rows = %q, want %q", got, want)
	}
}

func TestThreadCycle(t *testing.T) {
	x := env("x", 0, "X", "x")
	y := env("y", 1, "Y", "y")
	z := env("z", 2, "Z", "z")
	x.InReplyTo, y.InReplyTo, z.InReplyTo = "y@test", "z@test", "x@test"
	self := env("s", 3, "S", "self")
	self.InReplyTo = "s@test"
	self.References = "s@test s@test"
	l := newTestList([]account.Envelope{x, y, z, self}, 80, 10)
	l.toggleThreads()
	if len(l.rows) != 4 {
		t.Fatalf("rows = %q, want every message once", order(l))
	}
	seen := map[string]bool{}
	for _, r := range l.rows {
		seen[l.env(r.env).Key] = true
	}
	if len(seen) != 4 {
		t.Fatalf("rows = %q, want every message once", order(l))
	}
}

func TestListFilter(t *testing.T) {
	tests := []struct {
		steps []string // filter values typed one after another
		want  string
	}{
		{[]string{"b"}, "b"},            // Bob <bob@test>
		{[]string{"re: plan"}, "c d b"}, // subject, case-insensitive
		{[]string{"R", "RE", "RE:"}, "c d b"},
		{[]string{"ann", "an"}, "c d b f a"}, // widening re-filters from scratch
		{[]string{"lunch", ""}, "c e d b f a"},
		{[]string{"nothing"}, ""},
		{[]string{"EVE"}, "e"},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.steps, ","), func(t *testing.T) {
			l := newTestList(threadFixture(), 80, 10)
			l.toggleThreads() // a filter shows a flat list even with threads on
			for _, s := range tt.steps {
				l.setFilter(s)
			}
			got := order(l)
			if tt.steps[len(tt.steps)-1] == "" {
				l.toggleThreads()
				got = order(l)
			}
			if got != tt.want {
				t.Fatalf("filter %q: rows = %q, want %q", tt.steps, got, tt.want)
			}
		})
	}
}

func TestListWindow(t *testing.T) {
	var envs []account.Envelope
	for i := range 100 {
		envs = append(envs, env(fmt.Sprintf("k%03d", i), i, fmt.Sprintf("Sender %d <s%d@test>", i, i), fmt.Sprintf("subject %03d", i)))
	}
	tests := []struct {
		keys       []string
		wantCursor int
		wantOffset int
	}{
		{nil, 0, 0},
		{[]string{"j", "j", "j"}, 3, 0},
		{[]string{"G"}, 99, 90},
		{[]string{"G", "g"}, 0, 0},
		{[]string{"pgdown"}, 10, 10},
		{[]string{"ctrl+d"}, 5, 5},
		{[]string{"j", "j", "j", "j", "j", "j", "j", "j", "j", "j", "j"}, 11, 2},
		{[]string{"k"}, 0, 0},
		{[]string{"end", "ctrl+u"}, 94, 85},
	}
	for _, tt := range tests {
		t.Run(strings.Join(tt.keys, ","), func(t *testing.T) {
			l := newTestList(envs, 60, 10)
			for _, k := range tt.keys {
				l.Update(keyMsg(k))
			}
			if l.cursor != tt.wantCursor || l.offset != tt.wantOffset {
				t.Fatalf("after %q: cursor, offset = %d, %d; want %d, %d", tt.keys, l.cursor, l.offset, tt.wantCursor, tt.wantOffset)
			}
			view := l.View(testBase, true)
			lines := strings.Split(view, "\n")
			if len(lines) != 10 {
				t.Fatalf("View has %d lines, want 10", len(lines))
			}
			for i, line := range lines {
				if w := termsafe.Width(line); w != 60 {
					t.Fatalf("line %d is %d cells wide, want 60: %q", i, w, line)
				}
			}
			wantSubject := fmt.Sprintf("subject %03d", 99-tt.wantCursor)
			if !strings.Contains(lines[tt.wantCursor-tt.wantOffset], wantSubject) {
				t.Fatalf("cursor line %q does not show %q", lines[tt.wantCursor-tt.wantOffset], wantSubject)
			}
		})
	}
}

func TestListRemoveKeepsPosition(t *testing.T) {
	l := newTestList(threadFixture(), 80, 10) // c e d b f a
	l.cursor = 1
	l.remove([]string{"e"})
	if got, want := order(l), "c d b f a"; got != want {
		t.Fatalf("rows after remove = %q, want %q", got, want)
	}
	if k := l.currentKey(); k != "d" {
		t.Fatalf("cursor on %q after remove, want the next message d", k)
	}
	// Flags changed here and a second removal (of the remaining
	// envelopes, not of the ones first listed).
	l.setFlags("f", "FS")
	l.remove([]string{"c", "a"})
	if got, want := order(l), "d b f"; got != want {
		t.Fatalf("rows after a second remove = %q, want %q", got, want)
	}
	if e := l.find("f"); e == nil || e.Flags != "FS" {
		t.Fatalf("f after the removals = %+v, want flags FS", e)
	}
	if l.len() != 3 {
		t.Fatalf("%d envelopes left, want 3", l.len())
	}
}

func TestRowWidths(t *testing.T) {
	hostile := env("h", 1, "\x1b[31mEvil\u202e <e@test>", "\x1b[2Jwide 漢字漢字漢字漢字 subject\u202e that goes on and on and on")
	for _, w := range []int{20, 40, 59, 60, 80, 200} {
		l := newTestList(append(threadFixture(), hostile), w, 8)
		l.toggleThreads()
		for i, line := range strings.Split(l.View(testBase, true), "\n") {
			if got := termsafe.Width(line); got != w {
				t.Fatalf("width %d: line %d is %d cells: %q", w, i, got, line)
			}
			if strings.ContainsAny(line, "\x1b\u202e") {
				t.Fatalf("width %d: line %d has raw control characters: %q", w, i, line)
			}
		}
	}
}

func TestWithFlag(t *testing.T) {
	tests := []struct {
		f    maildir.Flags
		c    byte
		on   bool
		want maildir.Flags
	}{
		{"", 'S', true, "S"},
		{"FS", 'R', true, "FRS"},
		{"FRS", 'R', false, "FS"},
		{"S", 'S', true, "S"},
		{"DFS", 'A', true, "ADFS"},
	}
	for _, tt := range tests {
		if got := withFlag(tt.f, tt.c, tt.on); got != tt.want {
			t.Errorf("withFlag(%q, %c, %v) = %q, want %q", tt.f, tt.c, tt.on, got, tt.want)
		}
	}
}

func TestWrapText(t *testing.T) {
	tests := []struct {
		in   string
		w    int
		want []string
	}{
		{"short", 10, []string{"short"}},
		{"hello world again", 11, []string{"hello world", "again"}},
		{"abcdefghij", 4, []string{"abcd", "efgh", "ij"}},
		{"a\n\nb", 5, []string{"a", "", "b"}},
		{"漢字漢字", 5, []string{"漢字", "漢字"}},
	}
	for _, tt := range tests {
		got := wrapText(tt.in, tt.w)
		if strings.Join(got, "|") != strings.Join(tt.want, "|") {
			t.Errorf("wrapText(%q, %d) = %q, want %q", tt.in, tt.w, got, tt.want)
		}
	}
}

func TestKeyConfig(t *testing.T) {
	tests := []struct {
		binds   []account.KeyBinding
		wantErr string // substring; "" no error
	}{
		{[]account.KeyBinding{{Action: "down", Keys: []string{"n", "ctrl+n"}, Line: 3}}, ""},
		{[]account.KeyBinding{{Action: "page_down", Keys: []string{"space"}, Line: 3}}, ""},
		{[]account.KeyBinding{{Action: "delete", Keys: nil, Line: 4}}, ""},
		{[]account.KeyBinding{{Action: "frobnicate", Keys: []string{"x"}, Line: 7}}, `line 7: keys.frobnicate: unknown action`},
		{[]account.KeyBinding{{Action: "down", Keys: []string{"ctrl+shift+meta+q"}, Line: 9}}, `line 9: keys.down: key "ctrl+shift+meta+q": unknown key name`},
		{[]account.KeyBinding{{Action: "up", Keys: []string{"f21"}, Line: 2}}, `key "f21"`},
	}
	for _, tt := range tests {
		km := defaultKeyMaps()
		err := km.apply(tt.binds)
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("apply(%+v) = %v, want nil", tt.binds, err)
		case tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)):
			t.Errorf("apply(%+v) = %v, want error containing %q", tt.binds, err, tt.wantErr)
		}
	}
	// A binding replaces the defaults in every pane.
	km := defaultKeyMaps()
	if err := km.apply([]account.KeyBinding{{Action: "down", Keys: []string{"n"}}, {Action: "delete"}}); err != nil {
		t.Fatal(err)
	}
	l := newList(km.List, nil)
	if l.Update(keyMsg("j")); l.keys.Down.Keys()[0] != "n" {
		t.Fatalf("list down keys = %q, want [n]", l.keys.Down.Keys())
	}
	if km.Reader.Down.Keys()[0] != "n" || km.Sidebar.Down.Keys()[0] != "n" {
		t.Fatalf("down not rebound in every pane: reader %q sidebar %q", km.Reader.Down.Keys(), km.Sidebar.Down.Keys())
	}
	if km.List.Delete.Enabled() {
		t.Fatalf("delete with no keys is still enabled")
	}
}

// keyMsg builds the tea.KeyMsg whose String() is s.
func keyMsg(s string) tea.KeyMsg {
	switch s {
	case "enter":
		return tea.KeyMsg{Type: tea.KeyEnter}
	case "esc":
		return tea.KeyMsg{Type: tea.KeyEsc}
	case "tab":
		return tea.KeyMsg{Type: tea.KeyTab}
	case "up":
		return tea.KeyMsg{Type: tea.KeyUp}
	case "down":
		return tea.KeyMsg{Type: tea.KeyDown}
	case "pgdown":
		return tea.KeyMsg{Type: tea.KeyPgDown}
	case "pgup":
		return tea.KeyMsg{Type: tea.KeyPgUp}
	case "home":
		return tea.KeyMsg{Type: tea.KeyHome}
	case "end":
		return tea.KeyMsg{Type: tea.KeyEnd}
	case "ctrl+c":
		return tea.KeyMsg{Type: tea.KeyCtrlC}
	case "ctrl+d":
		return tea.KeyMsg{Type: tea.KeyCtrlD}
	case "ctrl+u":
		return tea.KeyMsg{Type: tea.KeyCtrlU}
	case "backspace":
		return tea.KeyMsg{Type: tea.KeyBackspace}
	}
	return tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune(s)}
}

// Messages of the same date are listed by key, whatever order List gave.
func TestSortByDateTiesByKey(t *testing.T) {
	envs := []account.Envelope{
		env("k5", 2, "A", "s"), env("k3", 1, "A", "s"), env("k9", 1, "A", "s"),
		env("k1", 1, "A", "s"), env("k0", 3, "A", "s"), env("k2", 0, "A", "s"), env("k7", 2, "A", "s"),
	}
	l := newTestList(envs, 80, 10)
	l.toggleReverse() // oldest first
	if got, want := order(l), "k2 k1 k3 k9 k5 k7 k0"; got != want {
		t.Fatalf("order = %q, want %q", got, want)
	}
}
