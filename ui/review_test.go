package ui

import (
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/charmbracelet/lipgloss"

	"github.com/mailbag/mailbag/account"
)

func TestReviewRender(t *testing.T) {
	st := DefaultStyles()
	for _, tc := range []struct {
		name  string
		c     *composeState
		want  []string
		avoid []string
	}{
		{
			name: "hostile values are shown safely",
			c: &composeState{kind: composeReply, stage: stageReview, draft: &account.Draft{
				From: "me@example.test", To: []string{"x\x1b[2J@example.test"}, Subject: "Re: \x1b]0;owned\x07hi",
				Body: "line \x1b[31mred\n",
			}, atts: []attInfo{{name: "evil\u202egnp.exe", typ: "application/x-msdownload", size: 2048}}},
			want:  []string{"Review the reply", "To: x␛[2J@example.test", "Subject: Re: ␛]0;owned␇hi", "[1] evil<U+202E>gnp.exe (application/x-msdownload, 2.0K)", "line ␛[31mred"},
			avoid: []string{"\x1b]0;", "\x07", "\u202e", "\x1b[31m", "\x1b[2J"},
		},
		{
			name:  "no recipient, Bcc and Cc shown",
			c:     &composeState{stage: stageReview, draft: &account.Draft{From: "me@example.test", Bcc: []string{"b@example.test"}, Cc: []string{"c@example.test"}}},
			want:  []string{"Review the new message", "To: ", "Cc: c@example.test", "Bcc: b@example.test"},
			avoid: []string{"(no recipient)"},
		},
		{
			name: "long body is cut",
			c:    &composeState{stage: stageReview, draft: &account.Draft{From: "me@example.test", Body: strings.Repeat("row\n", 30)}},
			want: []string{"… 10 more lines", "(no recipient)"},
		},
		{
			name: "broken",
			c:    &composeState{stage: stageReview, broken: errors.New("draft line 2: unknown header"), draft: &account.Draft{}},
			want: []string{"The message has an error: draft line 2: unknown header", "e edits it again"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := newReview(defaultReviewKeys(), &st)
			r.SetSize(80, 60)
			r.set(tc.c, "home")
			view := r.View()
			for _, w := range tc.want {
				if !strings.Contains(view, w) {
					t.Fatalf("review view lacks %q:\n%s", w, view)
				}
			}
			for _, a := range tc.avoid {
				if strings.Contains(view, a) {
					t.Fatalf("review view holds %q:\n%s", a, view)
				}
			}
			for i, l := range strings.Split(view, "\n") {
				if w := lipgloss.Width(l); w > 80 {
					t.Fatalf("line %d is %d cells wide, more than 80: %q", i, w, l)
				}
			}
		})
	}
}

type wrapped struct{ err error }

func (w wrapped) Error() string { return "outer: " + w.err.Error() }
func (w wrapped) Unwrap() error { return w.err }

func TestServerWords(t *testing.T) {
	inner := errors.New("SMTP error 550: no such user")
	for _, tc := range []struct {
		err  error
		want string
	}{
		{nil, "no reason given"},
		{inner, "SMTP error 550: no such user"},
		{fmt.Errorf("home: smtp 127.0.0.1:25: %w", wrapped{inner}), "SMTP error 550: no such user"},
		{fmt.Errorf("rcpts: %w", errors.Join(inner, errors.New("other"))), "SMTP error 550: no such user"},
	} {
		if got := serverWords(tc.err); got != tc.want {
			t.Fatalf("serverWords(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
