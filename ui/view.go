package ui

import (
	"fmt"
	"strings"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/lipgloss"

	"github.com/mailbag/mailbag/store/termsafe"
)

// Layout limits.
const (
	sidebarMinTerm = 80 // below this many columns the sidebar folds away
	helpLineMinH   = 12 // below this many rows the key hint line goes
)

// layout gives every pane its size for the terminal size and focus.
func (m *Model) layout() {
	if m.width <= 0 || m.height <= 0 {
		return
	}
	m.sideW = 0
	if m.width >= sidebarMinTerm {
		m.sideW = min(max(m.width/5, 16), 28)
	}
	mainW := m.mainWidth()
	mainH := m.mainHeight()
	if m.sideW > 0 {
		m.sidebar.SetSize(m.sideW, mainH)
	} else {
		m.sidebar.SetSize(m.width, mainH)
	}
	m.list.SetSize(mainW, mainH)
	m.reader.SetSize(mainW, mainH)
	m.review.SetSize(mainW, mainH)
	m.helpVP.Width, m.helpVP.Height = mainW, mainH
	m.helpVP.SetContent(m.helpContent(mainW))
	m.help.Width = m.width
}

func (m *Model) mainWidth() int {
	if m.sideW > 0 {
		return max(m.width-m.sideW-1, 1)
	}
	return max(m.width, 1)
}

func (m *Model) mainHeight() int {
	h := m.height - 1 // status line
	if m.height >= helpLineMinH {
		h-- // key hints
	}
	return max(h, 1)
}

// focusedKeys is the key map of the pane with the focus.
func (m *Model) focusedKeys() (string, help.KeyMap) {
	if m.reviewing() {
		return "Compose", m.keys.Review
	}
	switch m.focus {
	case focusSidebar:
		return "Folders", m.keys.Sidebar
	case focusReader:
		return "Message", m.keys.Reader
	default:
		return "Message list", m.keys.List
	}
}

// helpContent is the full help of the focused pane, one key a line.
func (m *Model) helpContent(w int) string {
	title, km := m.focusedKeys()
	var lines []string
	section := func(name string, groups [][]key.Binding) {
		lines = append(lines, m.styles.HelpTitle.Render(cell(name, w)))
		var entries []string
		// Two columns when there is room: a pane's keys fit one screen.
		cols := 1
		if w >= 72 {
			cols = 2
		}
		colW := w / cols
		for _, g := range groups {
			for _, b := range g {
				if !b.Enabled() {
					continue
				}
				kw := min(14, colW/3)
				k := cell(b.Help().Key, kw)
				d := cell(b.Help().Desc, max(colW-kw-2, 0))
				entries = append(entries, "  "+m.styles.HelpKey.Render(k)+m.styles.HelpDesc.Render(d))
			}
		}
		rows := (len(entries) + cols - 1) / cols
		for r := range rows {
			line := ""
			for c := range cols {
				if i := c*rows + r; i < len(entries) {
					line += entries[i]
				}
			}
			lines = append(lines, line)
		}
		lines = append(lines, "")
	}
	section(title+" keys", km.FullHelp())
	section("Everywhere", m.keys.Global.FullHelp())
	lines = append(lines, m.styles.Dim.Render(cell("? or q closes this help; j/k scroll", w)))
	return strings.Join(lines, "\n")
}

// View renders the whole screen: sidebar, main pane, status line and key
// hints, clipped to the terminal.
func (m *Model) View() string {
	if m.width <= 0 || m.height <= 0 {
		return ""
	}
	if m.opts.NoConfigPath != "" || len(m.accts) == 0 {
		return m.clip(m.welcomeView())
	}
	mainW, mainH := m.mainWidth(), m.mainHeight()
	cur := folderRef{acct: m.list.acct, name: m.list.folder}
	var main string
	switch {
	case m.showHelp:
		main = m.helpVP.View()
	case m.prompt.isPicker():
		main = m.prompt.pickerView(m.styles, mainW, mainH)
	case m.prompt.kind == promptAttachPath && (len(m.prompt.choices) > 0 || m.prompt.noMatch):
		main = m.prompt.completionView(m.styles, mainW, mainH)
	case m.reviewing():
		main = m.review.View()
	case m.focus == focusReader:
		main = m.reader.View()
	case m.focus == focusSidebar && m.sideW == 0:
		main = m.sidebar.View(cur, true)
	default:
		main = m.list.View(m.now(), m.focus == focusList)
	}
	if m.sideW > 0 {
		sep := m.styles.SidebarSeparator.Render(strings.TrimSuffix(strings.Repeat("│\n", mainH), "\n"))
		main = lipgloss.JoinHorizontal(lipgloss.Top, m.sidebar.View(cur, m.focus == focusSidebar), sep, main)
	}
	parts := []string{main, m.statusLine()}
	if m.height >= helpLineMinH {
		_, km := m.focusedKeys()
		parts = append(parts, m.help.ShortHelpView(append(km.ShortHelp(), m.keys.Global.Help)))
	}
	return m.clip(strings.Join(parts, "\n"))
}

// clip makes sure nothing wraps or scrolls off the screen.
func (m *Model) clip(s string) string {
	return lipgloss.NewStyle().MaxWidth(m.width).MaxHeight(m.height).Render(s)
}

// statusLine renders the place, the list position and the last message,
// or the open prompt or search line.
func (m *Model) statusLine() string {
	w := m.width
	st := m.styles
	if m.prompt.active() && !m.prompt.isPicker() {
		return m.prompt.lineView(st, w)
	}
	if m.searching {
		m.search.Width = max(w-20, 1)
		count := fmt.Sprintf(" %d match", m.list.rowCount())
		if m.list.rowCount() != 1 {
			count += "es"
		}
		in := m.search.View()
		pad := max(w-lipgloss.Width(in)-termsafe.Width(count), 0)
		return in + strings.Repeat(" ", pad) + st.Dim.Render(count)
	}
	place := ""
	if m.list.acct < len(m.accts) {
		place = termsafe.Line(m.accts[m.list.acct].Name()) + " › " + termsafe.Line(m.list.folder)
	}
	if m.opts.Demo {
		place = "demo · " + place
	}
	info := ""
	if n := m.list.rowCount(); n > 0 {
		info = fmt.Sprintf(" %d/%d", m.list.cursor+1, n)
	}
	if m.list.loading && !m.list.loaded {
		info = " loading…"
	}
	if m.list.threaded {
		info += " threads"
	}
	if !m.list.newestFirst {
		info += " oldest-first"
	}
	if m.list.filter != "" {
		info += " filter:" + termsafe.Line(m.search.Value())
	}

	left := " " + place
	right := ""
	rs := st.StatusBar
	switch m.status.kind {
	case statusInfo:
		right, rs = m.status.text, st.StatusInfo
	case statusError:
		right, rs = m.status.text, st.StatusError
	case statusBusy:
		right, rs = m.status.text, st.StatusBusy
	}
	// The outbox count stays in sight: it goes before the message.
	if n := m.queuedTotal(); n > 0 {
		q := fmt.Sprintf("outbox: %d waiting", n)
		if right != "" {
			q += " · "
		} else {
			rs = st.StatusBusy
		}
		right = q + right
	}
	// The message gets the room it needs, the place what is left.
	if right != "" {
		right = termsafe.Truncate(right, max(w-2, 0), "…") + " "
	}
	rw := termsafe.Width(right)
	leftText := termsafe.Truncate(left+info, max(w-rw-1, 0), "…")
	lw := termsafe.Width(leftText)
	gap := max(w-lw-rw, 0)
	pw := min(termsafe.Width(left), lw)
	placePart := termsafe.Truncate(leftText, pw, "")
	infoPart := leftText[len(placePart):]
	return st.StatusPlace.Render(placePart) + st.StatusBar.Render(infoPart+strings.Repeat(" ", gap)) + rs.Render(right)
}

// welcomeView explains where the config goes when there is none.
func (m *Model) welcomeView() string {
	w := max(m.width-2, 10)
	var lines []string
	add := func(style lipgloss.Style, s string) {
		for _, l := range wrapText(s, w) {
			lines = append(lines, " "+style.Render(l))
		}
	}
	plain := lipgloss.NewStyle()
	add(m.styles.Title, "Welcome to mailbag")
	lines = append(lines, "")
	if m.opts.NoConfigPath != "" {
		add(plain, "There is no configuration file yet. mailbag looks for it at:")
		add(m.styles.HelpKey, "  "+termsafe.Line(m.opts.NoConfigPath))
	} else {
		add(plain, "The configuration has no accounts.")
	}
	lines = append(lines, "")
	add(plain, "A minimal one, for mail already in a local maildir:")
	for _, l := range []string{
		"[accounts.home]",
		`address = "You <you@example.org>"`,
		`maildir = "~/Mail/home"`,
	} {
		add(m.styles.Dim, "  "+l)
	}
	lines = append(lines, "")
	add(plain, "Add a [accounts.home.pop3] or .imap table to fetch mail (see config.example.toml).")
	add(plain, "To look around first, run:  mailbag demo")
	lines = append(lines, "")
	add(m.styles.Dim, "q quits")
	return strings.Join(lines, "\n")
}
