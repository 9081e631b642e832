package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/store/termsafe"
)

// reviewBodyLines is how much of the body the review screen shows.
const reviewBodyLines = 20

// reviewModel is the screen shown after the editor: the headers, the
// body's first lines and the attachments of the message about to be
// sent, with keys to send, edit, attach, postpone or discard.
type reviewModel struct {
	keys          reviewKeys
	st            *Styles
	width, height int
	vp            viewport.Model

	c       *composeState
	account string
}

func newReview(keys reviewKeys, st *Styles) reviewModel {
	return reviewModel{keys: keys, st: st, vp: viewport.New(0, 0)}
}

// SetSize sets the pane's size in cells.
func (r *reviewModel) SetSize(w, h int) {
	w, h = max(w, 0), max(h, 0)
	if w == r.width && h == r.height {
		return
	}
	r.width, r.height = w, h
	r.vp.Width, r.vp.Height = w, h
	r.render()
}

// set shows a compose state.
func (r *reviewModel) set(c *composeState, account string) {
	r.c, r.account = c, account
	r.render()
}

func (r *reviewModel) render() {
	c := r.c
	if c == nil {
		r.vp.SetContent("")
		return
	}
	w := max(r.width, 1)
	var lines []string
	add := func(style func(...string) string, s string) {
		for _, l := range wrapText(s, w) {
			lines = append(lines, style(l))
		}
	}
	title := "Review the " + c.kind.String() + " (" + termsafe.Line(r.account) + ")"
	if c.kind == composeNew {
		title = "Review the new message (" + termsafe.Line(r.account) + ")"
	}
	add(r.st.Title.Render, title)
	if c.stage == stageBusy {
		add(r.st.StatusBusy.UnsetBackground().Render, c.busy)
	}
	if c.broken != nil {
		add(r.st.StatusError.UnsetBackground().Render, "The message has an error: "+termsafe.Line(c.broken.Error()))
		add(r.st.Dim.Render, "e edits it again (your text is kept), x discards it")
		r.vp.SetContent(strings.Join(lines, "\n"))
		return
	}
	lines = append(lines, "")
	d := c.draft
	header := func(name, value string) {
		label := name + ": "
		lw := termsafe.Width(label)
		wrapped := wrapText(termsafe.Line(value), max(w-lw, 1))
		for i, l := range wrapped {
			if i == 0 {
				lines = append(lines, r.st.HeaderName.Render(label)+r.valueStyle(name, value)(l))
			} else {
				lines = append(lines, strings.Repeat(" ", lw)+r.valueStyle(name, value)(l))
			}
		}
	}
	header("From", d.From)
	header("To", strings.Join(d.To, ", "))
	if len(d.Cc) > 0 {
		header("Cc", strings.Join(d.Cc, ", "))
	}
	if len(d.Bcc) > 0 {
		header("Bcc", strings.Join(d.Bcc, ", "))
	}
	header("Subject", d.Subject)
	for i, a := range c.atts {
		label := "Attach: "
		if i > 0 {
			label = strings.Repeat(" ", len(label))
		}
		desc := fmt.Sprintf("[%d] %s (%s, %s)", i+1, termsafe.Line(a.name), termsafe.Line(a.typ), fmtSize(a.size))
		for j, l := range wrapText(desc, max(w-len(label), 1)) {
			if j > 0 {
				label = strings.Repeat(" ", len(label))
			}
			lines = append(lines, r.st.HeaderName.Render(label)+r.st.Attachment.Render(l))
		}
	}
	lines = append(lines, r.st.Rule.Render(strings.Repeat("─", w)))
	body := strings.Split(strings.TrimRight(termsafe.String(expandTabs(d.Body)), "\n"), "\n")
	more := 0
	if len(body) > reviewBodyLines {
		more = len(body) - reviewBodyLines
		body = body[:reviewBodyLines]
	}
	for _, l := range body {
		lines = append(lines, wrapText(l, w)...)
	}
	if more > 0 {
		add(r.st.Dim.Render, fmt.Sprintf("… %d more lines", more))
	}
	r.vp.SetContent(strings.Join(lines, "\n"))
}

// valueStyle marks an empty To in the error style: sending needs a
// recipient.
func (r *reviewModel) valueStyle(name, value string) func(...string) string {
	switch {
	case name == "Subject":
		return r.st.Subject.Render
	case name == "To" && strings.TrimSpace(value) == "" && len(r.c.draft.Cc)+len(r.c.draft.Bcc) == 0:
		return func(s ...string) string {
			return r.st.StatusError.UnsetBackground().Render("(no recipient)")
		}
	}
	return r.st.HeaderValue.Render
}

type reviewAction int

const (
	reviewNone reviewAction = iota
	reviewSend
	reviewEdit
	reviewAttach
	reviewDetach
	reviewPostpone
	reviewDiscard
)

// Update handles a key press.
func (r *reviewModel) Update(msg tea.KeyMsg) reviewAction {
	k := r.keys
	switch {
	case key.Matches(msg, k.Send):
		return reviewSend
	case key.Matches(msg, k.Edit):
		return reviewEdit
	case key.Matches(msg, k.Attach):
		return reviewAttach
	case key.Matches(msg, k.Detach):
		return reviewDetach
	case key.Matches(msg, k.Postpone):
		return reviewPostpone
	case key.Matches(msg, k.Discard):
		return reviewDiscard
	case key.Matches(msg, k.Down):
		r.vp.ScrollDown(1)
	case key.Matches(msg, k.Up):
		r.vp.ScrollUp(1)
	}
	return reviewNone
}

// View renders the review screen in its size.
func (r *reviewModel) View() string {
	if r.width <= 0 || r.height <= 0 {
		return ""
	}
	return r.vp.View()
}
