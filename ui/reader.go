package ui

import (
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"
	"github.com/charmbracelet/lipgloss"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/message"
	"github.com/mailbag/mailbag/store/termsafe"
)

// readerModel is the message pane: headers, body in a viewport, and the
// attachment list.
type readerModel struct {
	keys          readerKeys
	st            *Styles
	width, height int

	acct    int
	folder  string
	env     account.Envelope
	seq     uint64 // the Open request awaited
	loading bool
	msg     *message.Message
	err     error

	allHeaders bool
	vp         viewport.Model
}

func newReader(keys readerKeys, st *Styles) readerModel {
	return readerModel{keys: keys, st: st, vp: viewport.New(0, 0)}
}

// SetSize sets the pane's size in cells and rewraps the message.
func (r *readerModel) SetSize(w, h int) {
	w, h = max(w, 0), max(h, 0)
	if w == r.width && h == r.height {
		return
	}
	r.width, r.height = w, h
	r.vp.Width, r.vp.Height = w, h
	r.render()
}

// start shows that a message is being opened.
func (r *readerModel) start(acct int, folder string, env account.Envelope, seq uint64) {
	r.acct, r.folder, r.env, r.seq = acct, folder, env, seq
	r.loading, r.msg, r.err = true, nil, nil
	r.vp.GotoTop()
	r.render()
}

// set shows the parsed message (or why it could not be opened).
func (r *readerModel) set(m *message.Message, err error) {
	r.loading, r.msg, r.err = false, m, err
	r.render()
	r.vp.GotoTop()
}

// attachments of the open message.
func (r *readerModel) attachments() []message.Attachment {
	if r.msg == nil {
		return nil
	}
	return r.msg.Attachments
}

// render lays the message out for the current width into the viewport.
func (r *readerModel) render() {
	w := max(r.width, 1)
	var lines []string
	header := func(name, value string) {
		if strings.TrimSpace(value) == "" {
			return
		}
		label := name + ": "
		lw := termsafe.Width(label)
		if lw >= w/2 {
			label, lw = "", 0
		}
		wrapped := wrapText(termsafe.Line(value), w-lw)
		for i, l := range wrapped {
			if i == 0 {
				lines = append(lines, r.st.HeaderName.Render(label)+r.valueStyle(name).Render(l))
			} else {
				lines = append(lines, strings.Repeat(" ", lw)+r.valueStyle(name).Render(l))
			}
		}
	}
	switch {
	case r.msg != nil && r.allHeaders:
		for _, f := range r.msg.Header {
			header(termsafe.Line(f.Name), f.Value)
		}
	case r.msg != nil:
		s := r.msg.Summary
		header("From", s.From)
		header("To", s.To)
		header("Cc", s.Cc)
		if !s.Date.IsZero() {
			header("Date", s.Date.Format("Mon, 2 Jan 2006 15:04 -0700"))
		}
		header("Subject", s.Subject)
	default:
		e := r.env
		header("From", e.From)
		header("To", e.To)
		if !e.Date.IsZero() {
			header("Date", e.Date.Format("Mon, 2 Jan 2006 15:04 -0700"))
		}
		header("Subject", e.Subject)
	}
	if r.msg != nil && len(r.msg.Attachments) > 0 {
		for i, a := range r.msg.Attachments {
			label := "Attach: "
			if i > 0 {
				label = strings.Repeat(" ", len(label))
			}
			name := a.Name
			if name == "" {
				name = "(unnamed)"
			}
			desc := fmt.Sprintf("[%d] %s (%s, %s)", i+1, termsafe.Line(name), termsafe.Line(a.Type), fmtSize(a.Size))
			for j, l := range wrapText(desc, max(w-len(label), 1)) {
				if j > 0 {
					label = strings.Repeat(" ", len(label))
				}
				lines = append(lines, r.st.HeaderName.Render(label)+r.st.Attachment.Render(l))
			}
		}
	}
	lines = append(lines, r.st.Rule.Render(strings.Repeat("─", w)))
	switch {
	case r.loading:
		lines = append(lines, r.st.Empty.Render(cell("Loading…", w)))
	case r.err != nil:
		for _, l := range wrapText("Cannot open this message: "+termsafe.Line(r.err.Error()), w) {
			lines = append(lines, r.st.StatusError.UnsetBackground().Render(l))
		}
	case r.msg != nil:
		for _, n := range r.msg.Notes {
			for _, l := range wrapText("["+termsafe.Line(n)+"]", w) {
				lines = append(lines, r.st.Note.Render(l))
			}
		}
		lines = append(lines, wrapText(termsafe.String(expandTabs(r.msg.Text)), w)...)
	}
	r.vp.SetContent(strings.Join(lines, "\n"))
}

func (r *readerModel) valueStyle(name string) lipgloss.Style {
	if strings.EqualFold(name, "Subject") {
		return r.st.Subject
	}
	return r.st.HeaderValue
}

type readerAction int

const (
	readerNone readerAction = iota
	readerBack
	readerNext
	readerPrev
	readerSave
	readerOpenAtt
	readerMail // a message key: the mailAction says which
)

// Update handles a key press.
func (r *readerModel) Update(msg tea.KeyMsg) (readerAction, mailAction) {
	if a := r.update(msg); a != readerNone {
		return a, mailNone
	}
	if ma := r.keys.match(msg); ma != mailNone {
		return readerMail, ma
	}
	return readerNone, mailNone
}

func (r *readerModel) update(msg tea.KeyMsg) readerAction {
	k := r.keys
	switch {
	case key.Matches(msg, k.Down):
		r.vp.ScrollDown(1)
	case key.Matches(msg, k.Up):
		r.vp.ScrollUp(1)
	case key.Matches(msg, k.Top):
		r.vp.GotoTop()
	case key.Matches(msg, k.Bottom):
		r.vp.GotoBottom()
	case key.Matches(msg, k.PageDown):
		r.vp.PageDown()
	case key.Matches(msg, k.PageUp):
		r.vp.PageUp()
	case key.Matches(msg, k.HalfDown):
		r.vp.HalfPageDown()
	case key.Matches(msg, k.HalfUp):
		r.vp.HalfPageUp()
	case key.Matches(msg, k.Headers):
		r.allHeaders = !r.allHeaders
		r.render()
	case key.Matches(msg, k.Back), key.Matches(msg, k.Left):
		return readerBack
	case key.Matches(msg, k.NextMsg):
		return readerNext
	case key.Matches(msg, k.PrevMsg):
		return readerPrev
	case key.Matches(msg, k.Save):
		return readerSave
	case key.Matches(msg, k.OpenAtt):
		return readerOpenAtt
	}
	return readerNone
}

// View renders the reader in its size.
func (r *readerModel) View() string {
	if r.width <= 0 || r.height <= 0 {
		return ""
	}
	return r.vp.View()
}

// expandTabs replaces tabs by spaces to the next multiple of 8 columns
// (byte columns: good enough for the ASCII text tabs are used with).
func expandTabs(s string) string {
	if !strings.Contains(s, "\t") {
		return s
	}
	var b strings.Builder
	col := 0
	for _, c := range s {
		switch c {
		case '\t':
			n := 8 - col%8
			b.WriteString(strings.Repeat(" ", n))
			col += n
		case '\n':
			b.WriteRune(c)
			col = 0
		default:
			b.WriteRune(c)
			col++
		}
	}
	return b.String()
}

// wrapText wraps already safe text to w cells: at spaces where it can,
// hard-breaking words longer than a line.
func wrapText(s string, w int) []string {
	w = max(w, 1)
	var out []string
	for _, line := range strings.Split(s, "\n") {
		line = strings.TrimRight(line, " \r")
		if termsafe.Width(line) <= w {
			out = append(out, line)
			continue
		}
		var cur strings.Builder
		curW := 0
		flush := func() {
			out = append(out, strings.TrimRight(cur.String(), " "))
			cur.Reset()
			curW = 0
		}
		for _, word := range strings.SplitAfter(line, " ") {
			ww := termsafe.Width(word)
			if curW+ww <= w || (curW+ww == w+1 && strings.HasSuffix(word, " ")) {
				cur.WriteString(word)
				curW += ww
				continue
			}
			if curW > 0 {
				flush()
			}
			for termsafe.Width(word) > w {
				head := termsafe.Truncate(word, w, "")
				if head == "" || !strings.HasPrefix(word, head) {
					// a cell wider than the line: emit it alone
					_, size := utf8.DecodeRuneInString(word)
					head = word[:size]
				}
				out = append(out, head)
				word = word[len(head):]
			}
			cur.WriteString(word)
			curW = termsafe.Width(word)
		}
		if curW > 0 || cur.Len() > 0 {
			flush()
		}
	}
	return out
}
