package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/store/message"
	"github.com/mailbag/mailbag/store/termsafe"
)

// promptKind says what a prompt is asking for.
type promptKind int

const (
	promptNone         promptKind = iota
	promptSaveDir                 // directory to save an attachment into
	promptOverwrite               // confirm overwriting an existing file
	promptMove                    // pick a folder to move a message to
	promptAttach                  // pick an attachment to save or open
	promptDiscard                 // confirm discarding the message being composed
	promptDeleteQueued            // confirm deleting a message from the Outbox
	promptAttachPath              // the path of a file to attach (Tab completes)
	promptDetach                  // pick an attachment to remove from the draft
)

// promptModel is the one prompt open at a time: a line of input on the
// status line, a yes/no question, or a picker (a filtered list shown in
// the main area).
type promptModel struct {
	kind  promptKind
	title string
	input textinput.Model

	// picker
	choices []string // shown (sanitised)
	values  []int    // what each choice stands for
	matches []int    // indices into choices passing the filter
	cursor  int

	// context of the question
	acct    int
	folder  string
	key     string
	att     message.Attachment
	openAtt bool   // attachment picker: open rather than save
	dir     string // overwrite: the directory

	// attach path: the completion request awaited; choices then holds
	// the candidates of the last completion
	seq     uint64
	noMatch bool
}

func (p *promptModel) active() bool { return p.kind != promptNone }

func (p *promptModel) close() { *p = promptModel{} }

func newInput(value string) textinput.Model {
	in := textinput.New()
	in.Prompt = ""
	in.SetValue(value)
	in.CursorEnd()
	in.Focus()
	return in
}

// ask opens a one-line text prompt.
func (p *promptModel) ask(kind promptKind, title, value string) {
	p.kind, p.title, p.input = kind, title, newInput(value)
}

// confirm opens a yes/no question.
func (p *promptModel) confirm(kind promptKind, title string) {
	p.kind, p.title = kind, title
}

// pick opens a picker over choices (raw strings; sanitised here).
func (p *promptModel) pick(kind promptKind, title string, choices []string, values []int) {
	p.kind, p.title, p.input = kind, title, newInput("")
	p.choices = make([]string, len(choices))
	for i, c := range choices {
		p.choices[i] = termsafe.Line(c)
	}
	p.values = values
	p.filter()
}

func (p *promptModel) isPicker() bool {
	return p.kind == promptMove || p.kind == promptAttach || p.kind == promptDetach
}

// isConfirm reports a yes/no question.
func (p *promptModel) isConfirm() bool {
	return p.kind == promptOverwrite || p.kind == promptDiscard || p.kind == promptDeleteQueued
}

func (p *promptModel) filter() {
	q := strings.ToLower(p.input.Value())
	p.matches = p.matches[:0]
	for i, c := range p.choices {
		if q == "" || strings.Contains(strings.ToLower(c), q) {
			p.matches = append(p.matches, i)
		}
	}
	p.cursor = min(max(p.cursor, 0), max(len(p.matches)-1, 0))
}

// chosen is the value under the picker's cursor.
func (p *promptModel) chosen() (int, bool) {
	if p.cursor < 0 || p.cursor >= len(p.matches) {
		return 0, false
	}
	return p.values[p.matches[p.cursor]], true
}

type promptResult int

const (
	promptContinue promptResult = iota
	promptCancel
	promptAccept
	promptDecline
)

// Update handles a key while the prompt is open.
func (p *promptModel) Update(msg tea.KeyMsg) (promptResult, tea.Cmd) {
	if p.isConfirm() {
		switch msg.String() {
		case "y", "Y":
			return promptAccept, nil
		case "n", "N", "esc", "q":
			return promptDecline, nil
		}
		return promptContinue, nil
	}
	switch msg.String() {
	case "esc":
		return promptCancel, nil
	case "enter":
		return promptAccept, nil
	}
	if p.isPicker() {
		switch msg.String() {
		case "up", "ctrl+p", "ctrl+k":
			p.cursor = max(p.cursor-1, 0)
			return promptContinue, nil
		case "down", "ctrl+n", "ctrl+j":
			p.cursor = min(p.cursor+1, max(len(p.matches)-1, 0))
			return promptContinue, nil
		}
	}
	var cmd tea.Cmd
	p.input, cmd = p.input.Update(msg)
	if p.isPicker() {
		p.filter()
	}
	return promptContinue, cmd
}

// lineView renders a status-line prompt in w cells.
func (p *promptModel) lineView(st *Styles, w int) string {
	title := termsafe.Truncate(p.title, max(w-1, 0), "…")
	if p.isConfirm() {
		return st.Prompt.Render(title) + strings.Repeat(" ", max(w-termsafe.Width(title), 0))
	}
	p.input.Width = max(w-termsafe.Width(title)-2, 1)
	return st.Prompt.Render(title+" ") + p.input.View()
}

// pickerView renders a picker in w×h cells.
func (p *promptModel) pickerView(st *Styles, w, h int) string {
	lines := []string{st.Prompt.Render(cell(p.title, w))}
	p.input.Width = max(w-3, 1)
	lines = append(lines, "> "+p.input.View())
	room := max(h-len(lines), 0)
	start := 0
	if p.cursor >= room {
		start = p.cursor - room + 1
	}
	for i := start; i < len(p.matches) && len(lines) < h; i++ {
		line := cell("  "+p.choices[p.matches[i]], w)
		if i == p.cursor {
			line = st.PickCursor.Render(line)
		}
		lines = append(lines, line)
	}
	if len(p.matches) == 0 && len(lines) < h {
		hint := "  no match"
		if v := strings.TrimSpace(p.input.Value()); v != "" && p.kind == promptMove {
			hint = "  enter creates the folder " + termsafe.Line(v)
		}
		lines = append(lines, st.Empty.Render(cell(hint, w)))
	}
	return strings.Join(lines[:min(len(lines), h)], "\n")
}

// completionView lists the candidates of the last Tab completion in w×h
// cells.
func (p *promptModel) completionView(st *Styles, w, h int) string {
	lines := []string{st.Prompt.Render(cell("Completions (keep typing, tab again):", w))}
	if p.noMatch {
		lines = append(lines, st.Empty.Render(cell("  no file matches", w)))
	}
	for _, c := range p.choices {
		if len(lines) >= h {
			break
		}
		lines = append(lines, cell("  "+termsafe.Line(c), w))
	}
	if n := len(p.choices) - (h - 1); n > 0 && h > 1 {
		lines[h-1] = st.Dim.Render(cell(fmt.Sprintf("  … and %d more", n+1), w))
	}
	return strings.Join(lines[:min(len(lines), h)], "\n")
}
