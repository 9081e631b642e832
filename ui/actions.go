package ui

import (
	"errors"
	"fmt"
	"io/fs"
	"os/exec"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/message"
	"github.com/mailbag/mailbag/store/termsafe"
)

// handleKey routes a key press: Ctrl-C quits from anywhere; an open
// prompt, the search line or the help screen have the keyboard first; then
// the global keys; then the focused pane.
func (m *Model) handleKey(msg tea.KeyMsg) tea.Cmd {
	if key.Matches(msg, m.keys.Global.Quit) {
		if m.reviewing() && !m.quitArmed {
			// A message being composed lives only in a temporary file.
			m.quitArmed = true
			m.status.info("The message is not sent: ctrl+c again quits and loses it; p postpones it")
			return nil
		}
		return m.quit()
	}
	m.quitArmed = false
	m.status.clear()
	if m.opts.NoConfigPath != "" || len(m.accts) == 0 {
		switch msg.String() {
		case "q", "esc", "enter":
			return tea.Quit
		}
		return nil
	}
	switch {
	case m.prompt.active():
		return m.updatePrompt(msg)
	case m.searching:
		return m.updateSearch(msg)
	case m.showHelp:
		return m.updateHelp(msg)
	}
	switch {
	case key.Matches(msg, m.keys.Global.Help):
		m.showHelp = true
		m.layout()
		return nil
	case m.reviewing():
		return m.reviewKey(msg)
	case key.Matches(msg, m.keys.Global.NextPane):
		m.cycleFocus(1)
		return nil
	case key.Matches(msg, m.keys.Global.PrevPane):
		m.cycleFocus(-1)
		return nil
	}
	switch m.focus {
	case focusSidebar:
		return m.sidebarKey(msg)
	case focusReader:
		return m.readerKey(msg)
	default:
		return m.listKey(msg)
	}
}

func (m *Model) setFocus(f focus) {
	if f == focusReader && !m.readerOpen {
		f = focusList
	}
	m.focus = f
	m.layout()
}

func (m *Model) cycleFocus(d int) {
	order := []focus{focusSidebar, focusList}
	if m.readerOpen {
		order = append(order, focusReader)
	}
	i := 0
	for j, f := range order {
		if f == m.focus {
			i = j
		}
	}
	m.setFocus(order[(i+d+len(order))%len(order)])
}

func (m *Model) updateHelp(msg tea.KeyMsg) tea.Cmd {
	switch {
	case key.Matches(msg, m.keys.Global.Help), msg.String() == "q", msg.String() == "esc":
		m.showHelp = false
	case key.Matches(msg, m.keys.Reader.Down):
		m.helpVP.ScrollDown(1)
	case key.Matches(msg, m.keys.Reader.Up):
		m.helpVP.ScrollUp(1)
	case key.Matches(msg, m.keys.Reader.PageDown):
		m.helpVP.PageDown()
	case key.Matches(msg, m.keys.Reader.PageUp):
		m.helpVP.PageUp()
	case key.Matches(msg, m.keys.Reader.Top):
		m.helpVP.GotoTop()
	case key.Matches(msg, m.keys.Reader.Bottom):
		m.helpVP.GotoBottom()
	}
	return nil
}

func (m *Model) sidebarKey(msg tea.KeyMsg) tea.Cmd {
	switch m.sidebar.Update(msg) {
	case sidebarOpen:
		f, _ := m.sidebar.selected()
		m.setFocus(focusList)
		if f.acct == m.list.acct && f.name == m.list.folder {
			return nil
		}
		return m.openFolder(f.acct, f.name)
	case sidebarBack:
		m.setFocus(focusList)
	}
	return nil
}

func (m *Model) listKey(msg tea.KeyMsg) tea.Cmd {
	if msg.String() == "esc" && m.list.filter != "" {
		m.search.SetValue("")
		m.list.setFilter("")
		return nil
	}
	act, mail := m.list.Update(msg)
	switch act {
	case listOpen:
		if m.list.role == account.RoleDrafts {
			return m.editCurrent()
		}
		return m.openCurrent()
	case listQuit:
		return m.quit()
	case listFocusLeft:
		m.setFocus(focusSidebar)
	case listSearch:
		m.searching = true
		m.preSearch = m.search.Value()
		m.search.CursorEnd()
		return m.search.Focus()
	case listMail:
		if mail == mailDelete && m.list.role == account.RoleOutbox && m.list.current() != nil {
			m.prompt.confirm(promptDeleteQueued, "Delete this queued message? It will not be sent. (y/n)")
			return nil
		}
		return m.mailAction(mail)
	case listSync:
		return m.syncCurrent()
	case listEdit:
		return m.editCurrent()
	case listSendNow:
		return m.sendQueuedNow()
	}
	return nil
}

func (m *Model) readerKey(msg tea.KeyMsg) tea.Cmd {
	act, mail := m.reader.Update(msg)
	switch act {
	case readerBack:
		m.readerOpen = false
		m.setFocus(focusList)
	case readerNext:
		return m.step(1)
	case readerPrev:
		return m.step(-1)
	case readerSave:
		return m.attachmentAction(false)
	case readerOpenAtt:
		return m.attachmentAction(true)
	case readerMail:
		return m.mailAction(mail)
	}
	return nil
}

// mailAction does what a message key asks, from the list or the reader.
func (m *Model) mailAction(a mailAction) tea.Cmd {
	switch a {
	case mailToggleUnread:
		return m.toggleFlag(maildir.FlagSeen)
	case mailToggleFlag:
		return m.toggleFlag(maildir.FlagFlagged)
	case mailDelete:
		return m.removeCurrent(opDelete, "")
	case mailMove:
		return m.pickMoveTarget()
	case mailArchive:
		return m.archiveCurrent()
	case mailUndo:
		return m.doUndo()
	case mailCompose:
		return m.composeFrom(composeNew)
	case mailReply:
		return m.composeFrom(composeReply)
	case mailReplyAll:
		return m.composeFrom(composeReplyAll)
	case mailForward:
		return m.composeFrom(composeForward)
	case mailForwardAtt:
		return m.composeFrom(composeForwardAtt)
	}
	return nil
}

func (m *Model) updateSearch(msg tea.KeyMsg) tea.Cmd {
	switch msg.String() {
	case "esc": // clear the filter
		m.searching = false
		m.search.Blur()
		m.search.SetValue("")
		m.list.setFilter("")
		return nil
	case "enter": // keep it
		m.searching = false
		m.search.Blur()
		return nil
	case "up", "ctrl+p":
		m.list.moveBy(-1)
		return nil
	case "down", "ctrl+n":
		m.list.moveBy(1)
		return nil
	}
	var cmd tea.Cmd
	m.search, cmd = m.search.Update(msg)
	m.list.setFilter(m.search.Value())
	return cmd
}

// openCurrent opens the message under the list cursor in the reader.
func (m *Model) openCurrent() tea.Cmd {
	e := m.list.current()
	if e == nil {
		return nil
	}
	seq := m.next()
	m.reader.start(m.list.acct, m.list.folder, *e, seq)
	m.readerOpen = true
	m.setFocus(focusReader)
	return openMessage(m.accts[m.list.acct], m.list.acct, m.list.folder, e.Key, seq)
}

// step opens the next (d=1) or previous (d=-1) message of the list.
func (m *Model) step(d int) tea.Cmd {
	before := m.list.cursor
	m.list.moveBy(d)
	if m.list.cursor == before {
		if d > 0 {
			m.status.info("No next message")
		} else {
			m.status.info("No previous message")
		}
		return nil
	}
	return m.openCurrent()
}

// opened shows an opened message and marks it read.
func (m *Model) opened(msg openMsg) tea.Cmd {
	if msg.seq != m.reader.seq {
		return nil
	}
	m.reader.set(msg.msg, msg.err)
	if msg.err != nil || msg.acct != m.list.acct || msg.folder != m.list.folder {
		return nil
	}
	e := m.list.find(msg.key)
	if e == nil || e.Flags.Has(maildir.FlagSeen) || !m.accts[msg.acct].Caps().Flags {
		return nil
	}
	old := e.Flags
	now := withFlag(old, maildir.FlagSeen, true)
	m.list.setFlags(msg.key, now)
	return m.track(setFlags(m.accts[msg.acct], msg.acct, msg.folder, msg.key, old, now))
}

// target is the message an action applies to: the one in the reader when
// it has the focus, else the one under the list cursor.
func (m *Model) target() *account.Envelope {
	if m.focus == focusReader && m.reader.acct == m.list.acct && m.reader.folder == m.list.folder {
		return m.list.find(m.reader.env.Key)
	}
	return m.list.current()
}

// withFlag adds or removes a flag letter, keeping the letters in ASCII
// order as maildir requires.
func withFlag(f maildir.Flags, c byte, on bool) maildir.Flags {
	var b []byte
	for _, x := range []byte(f) {
		if x != c {
			b = append(b, x)
		}
	}
	if on {
		i := 0
		for i < len(b) && b[i] < c {
			i++
		}
		b = append(b[:i], append([]byte{c}, b[i:]...)...)
	}
	return maildir.Flags(b)
}

// toggleFlag flips a flag of the current message: seen (read/unread) or
// flagged.
func (m *Model) toggleFlag(c byte) tea.Cmd {
	e := m.target()
	if e == nil {
		return nil
	}
	if !m.accts[m.list.acct].Caps().Flags {
		m.status.info(m.accts[m.list.acct].Name() + ": this account cannot change flags")
		return nil
	}
	old := e.Flags
	now := withFlag(old, c, !old.Has(c))
	m.list.setFlags(e.Key, now)
	return m.track(setFlags(m.accts[m.list.acct], m.list.acct, m.list.folder, e.Key, old, now))
}

// removeCurrent deletes or moves the current message. It leaves the list
// at once; in the reader the next message opens.
func (m *Model) removeCurrent(op moveOp, to string) tea.Cmd {
	e := m.target()
	if e == nil {
		return nil
	}
	a := m.accts[m.list.acct]
	if op != opDelete && !a.Caps().Move {
		m.status.info(a.Name() + ": this account cannot move messages")
		return nil
	}
	if op != opDelete && to == m.list.folder {
		m.status.info("The message is already in " + to)
		return nil
	}
	k := e.Key
	m.list.remove([]string{k})
	cmds := []tea.Cmd{m.track(moveMessages(a, op, m.list.acct, m.list.folder, []string{k}, to))}
	if m.focus == focusReader {
		if m.list.current() != nil {
			cmds = append(cmds, m.openCurrent())
		} else {
			m.readerOpen = false
			m.setFocus(focusList)
		}
	}
	return tea.Batch(cmds...)
}

func (m *Model) archiveCurrent() tea.Cmd {
	to := m.sidebar.byRole(m.list.acct, account.RoleArchive)
	if to == "" {
		to = "Archive"
	}
	return m.removeCurrent(opArchive, to)
}

func (m *Model) pickMoveTarget() tea.Cmd {
	if m.target() == nil {
		return nil
	}
	acct := m.list.acct
	var names []string
	var values []int
	for i, f := range m.sidebar.folders[acct] {
		if f.Name != m.list.folder {
			names = append(names, f.Name)
			values = append(values, i)
		}
	}
	if len(names) == 0 {
		m.status.info("No other folder to move to")
		return nil
	}
	m.prompt.pick(promptMove, "Move to folder (type to filter, enter moves, esc cancels)", names, values)
	m.prompt.acct = acct
	return textinput.Blink
}

// moved handles the reply to a delete, move, archive or undo.
func (m *Model) moved(msg moveMsg) tea.Cmd {
	cmds := []tea.Cmd{m.reloadFolders(msg.acct), m.recount(msg.acct)}
	if msg.err != nil {
		m.status.error(msg.err)
		if msg.acct == m.list.acct && (msg.from == m.list.folder || msg.to == m.list.folder) {
			cmds = append(cmds, m.reloadList())
		}
		return tea.Batch(cmds...)
	}
	n := len(msg.keys)
	what := "1 message"
	if n != 1 {
		what = fmt.Sprintf("%d messages", n)
	}
	switch msg.op {
	case opDelete:
		trash := m.sidebar.byRole(msg.acct, account.RoleTrash)
		if trash == "" {
			trash = "Trash"
		}
		if msg.from == trash {
			m.status.info("Deleted " + what + " for good")
			m.undo = nil
			break
		}
		m.undo = &moveMsg{op: opUndo, acct: msg.acct, from: trash, to: msg.from, keys: msg.keys}
		m.status.info("Deleted " + what + " (u undoes)")
	case opMove, opArchive:
		m.undo = &moveMsg{op: opUndo, acct: msg.acct, from: msg.to, to: msg.from, keys: msg.keys}
		m.status.info("Moved " + what + " to " + msg.to + " (u undoes)")
	case opUndo:
		m.status.info("Restored " + what + " to " + msg.to)
		if msg.acct == m.list.acct && msg.to == m.list.folder {
			cmds = append(cmds, m.reloadList())
		}
	}
	return tea.Batch(cmds...)
}

// doUndo moves the last deleted or moved messages back.
func (m *Model) doUndo() tea.Cmd {
	u := m.undo
	if u == nil {
		m.status.info("Nothing to undo")
		return nil
	}
	m.undo = nil
	return m.track(moveMessages(m.accts[u.acct], opUndo, u.acct, u.from, u.keys, u.to))
}

func (m *Model) syncCurrent() tea.Cmd {
	a := m.accts[m.list.acct]
	if a.Caps().Sync {
		return m.startSync(m.list.acct)
	}
	return tea.Batch(m.reloadFolders(m.list.acct), m.reloadList())
}

// attachmentAction starts saving or opening an attachment of the open
// message, asking which one when there are several.
func (m *Model) attachmentAction(open bool) tea.Cmd {
	atts := m.reader.attachments()
	switch len(atts) {
	case 0:
		m.status.info("This message has no attachments")
		return nil
	case 1:
		return m.attachmentChosen(atts[0], open)
	}
	names := make([]string, len(atts))
	values := make([]int, len(atts))
	for i, a := range atts {
		names[i] = fmt.Sprintf("[%d] %s (%s)", i+1, a.Name, fmtSize(a.Size))
		values[i] = i
	}
	title := "Save which attachment?"
	if open {
		title = "Open which attachment?"
	}
	m.prompt.pick(promptAttach, title, names, values)
	m.prompt.openAtt = open
	return textinput.Blink
}

func (m *Model) attachmentChosen(a message.Attachment, open bool) tea.Cmd {
	r := &m.reader
	if open {
		m.status.busy("Opening " + a.Name + "…")
		return saveAttachment(m.accts[r.acct], r.acct, r.folder, r.env.Key, a, "", false, true)
	}
	name := a.Name
	if name == "" {
		name = "attachment"
	}
	m.prompt.ask(promptSaveDir, "Save "+termsafe.Line(name)+" to directory:", m.downloadDir)
	m.prompt.att = a
	m.prompt.acct, m.prompt.folder, m.prompt.key = r.acct, r.folder, r.env.Key
	return textinput.Blink
}

func (m *Model) updatePrompt(msg tea.KeyMsg) tea.Cmd {
	if m.prompt.kind == promptAttachPath && msg.Type == tea.KeyTab {
		m.prompt.seq = m.next()
		return completePath(m.prompt.seq, m.prompt.input.Value())
	}
	res, cmd := m.prompt.Update(msg)
	switch res {
	case promptCancel, promptDecline:
		m.prompt.close()
		m.status.info("Cancelled")
		return nil
	case promptContinue:
		return cmd
	}
	p := m.prompt
	m.prompt.close()
	switch p.kind {
	case promptSaveDir:
		dir := strings.TrimSpace(p.input.Value())
		if dir == "" {
			dir = m.downloadDir
		}
		m.status.busy("Saving " + p.att.Name + "…")
		return saveAttachment(m.accts[p.acct], p.acct, p.folder, p.key, p.att, dir, false, false)
	case promptOverwrite:
		m.status.busy("Saving " + p.att.Name + "…")
		return saveAttachment(m.accts[p.acct], p.acct, p.folder, p.key, p.att, p.dir, true, false)
	case promptMove:
		v, ok := p.chosen()
		if !ok || p.acct >= len(m.sidebar.folders) || v >= len(m.sidebar.folders[p.acct]) {
			// no folder matches: move to a new folder of that name
			if name := strings.Trim(strings.TrimSpace(p.input.Value()), "/"); name != "" {
				return m.removeCurrent(opMove, name)
			}
			return nil
		}
		return m.removeCurrent(opMove, m.sidebar.folders[p.acct][v].Name)
	case promptAttach:
		v, ok := p.chosen()
		atts := m.reader.attachments()
		if !ok || v >= len(atts) {
			return nil
		}
		return m.attachmentChosen(atts[v], p.openAtt)
	case promptDiscard:
		m.status.info("discarded")
		if c := m.compose; c != nil && c.draftID != "" {
			m.status.info("discarded the changes; the draft stays in Drafts")
		}
		return m.closeCompose()
	case promptDeleteQueued:
		return m.removeCurrent(opDelete, "")
	case promptAttachPath:
		path := strings.TrimSpace(p.input.Value())
		if path == "" || m.compose == nil {
			return nil
		}
		return statAttachment(m.compose.seq, path)
	case promptDetach:
		if v, ok := p.chosen(); ok {
			m.detach(v)
		}
		return nil
	}
	return nil
}

// saved handles a saved attachment: confirm an overwrite, report, or run
// the opener on it.
func (m *Model) saved(msg saveMsg) tea.Cmd {
	m.status.done()
	if msg.tempDir != "" {
		m.tempDirs = append(m.tempDirs, msg.tempDir)
	}
	if msg.err != nil {
		if errors.Is(msg.err, fs.ErrExist) && !msg.open {
			m.prompt.confirm(promptOverwrite, fmt.Sprintf("%s exists in %s. Overwrite? (y/n)", termsafe.Line(msg.att.Name), termsafe.Line(msg.dir)))
			m.prompt.att, m.prompt.dir = msg.att, msg.dir
			m.prompt.acct, m.prompt.folder, m.prompt.key = msg.acct, msg.folder, msg.key
			return nil
		}
		m.status.error(msg.err)
		return nil
	}
	if !msg.open {
		m.status.info("Saved " + msg.path)
		return nil
	}
	args := strings.Fields(m.openCmd)
	if len(args) == 0 {
		args = []string{account.DefaultOpenCmd}
	}
	c := exec.Command(args[0], append(args[1:], msg.path)...)
	name := args[0]
	return tea.ExecProcess(c, func(err error) tea.Msg { return execMsg{name: name, err: err} })
}
