package ui

import (
	"fmt"
	"os"
	"os/exec"
	"strings"

	"github.com/charmbracelet/bubbles/textinput"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
)

// composeKind says how a message being composed started.
type composeKind int

const (
	composeNew        composeKind = iota
	composeReply                  // to the sender (Reply-To)
	composeReplyAll               // to the sender and every recipient but the user
	composeForward                // inline
	composeForwardAtt             // the original attached as message/rfc822
	composeResume                 // a draft from Drafts (or queued mail moved back there)
)

func (k composeKind) String() string {
	return [...]string{"compose", "reply", "reply all", "forward", "forward", "draft"}[k]
}

// composeStage is where a message being composed is.
type composeStage int

const (
	stagePreparing composeStage = iota // the draft file is being written
	stageEditing                       // the editor has the terminal
	stageReview                        // the review screen has the keyboard
	stageBusy                          // sending or postponing
)

// composeOrig is the message a reply or forward answers: it gets the
// replied (R) or passed (P) flag once the answer is sent.
type composeOrig struct {
	folder, key string
	flag        byte
}

// attInfo describes an attachment on the review screen.
type attInfo struct {
	name, typ string
	size      int64
}

// composeState is the one message being composed. The draft lives in
// memory and in a file in a private temporary directory that the editor
// opens; every edit is read back through account.Draft.Apply.
type composeState struct {
	seq   uint64 // replies of this compose's commands carry it
	acct  int
	kind  composeKind
	stage composeStage
	busy  string // what stageBusy is doing

	draft *account.Draft
	atts  []attInfo // one per draft.Attachments

	dir, path string // private temporary directory (0700) and the draft file (0600)
	written   []byte // the file as last written by mailbag
	fresh     bool   // nothing written by the user yet: unchanged or empty aborts

	draftID account.MsgID // the stored draft this one replaces
	orig    *composeOrig

	broken error // the file does not parse and the user left it so
}

// reviewing reports whether the review screen has the keyboard.
func (m *Model) reviewing() bool {
	return m.compose != nil && (m.compose.stage == stageReview || m.compose.stage == stageBusy)
}

// editorCommand is the editor from [ui] editor, $VISUAL, $EDITOR or vi.
func (m *Model) editorCommand() string {
	var u account.UIConfig
	if m.opts.Config != nil {
		u = m.opts.Config.UI
	}
	return u.EditorCommand(os.Getenv)
}

// startCompose begins a new message, a reply, a forward or the resumption
// of a draft (folder and key name the original or the draft).
func (m *Model) startCompose(kind composeKind, acct int, folder, key string) tea.Cmd {
	if m.compose != nil {
		m.status.info("A message is being composed already")
		return nil
	}
	if acct >= len(m.accts) {
		return nil
	}
	c := &composeState{seq: m.next(), acct: acct, kind: kind, fresh: kind != composeResume}
	switch kind {
	case composeReply, composeReplyAll:
		c.orig = &composeOrig{folder: folder, key: key, flag: maildir.FlagReplied}
	case composeForward, composeForwardAtt:
		c.orig = &composeOrig{folder: folder, key: key, flag: maildir.FlagPassed}
	}
	m.compose = c
	m.status.busy("Preparing the " + kind.String() + "…")
	return prepareCompose(m.accts[acct], c.seq, kind, folder, key, "")
}

// resumeQueued moves a queued message back to Drafts and edits it.
func (m *Model) resumeQueued(key string) tea.Cmd {
	if m.compose != nil {
		m.status.info("A message is being composed already")
		return nil
	}
	acct := m.list.acct
	c := &composeState{seq: m.next(), acct: acct, kind: composeResume}
	m.compose = c
	m.status.busy("Moving the message back to Drafts…")
	return prepareCompose(m.accts[acct], c.seq, composeResume, m.draftsFolder(acct), key, m.list.folder)
}

func (m *Model) draftsFolder(acct int) string {
	if n := m.sidebar.byRole(acct, account.RoleDrafts); n != "" {
		return n
	}
	return "Drafts"
}

// composeReady starts the editor on a prepared draft.
func (m *Model) composeReady(msg composeReadyMsg) tea.Cmd {
	c := m.compose
	if c == nil || msg.seq != c.seq {
		if msg.dir != "" {
			return removeDir(msg.dir)
		}
		return nil
	}
	m.status.done()
	if msg.dir != "" {
		m.tempDirs = append(m.tempDirs, msg.dir)
	}
	if msg.err != nil {
		m.compose = nil
		m.status.error(msg.err)
		var cmds []tea.Cmd
		if msg.dir != "" {
			cmds = append(cmds, removeDir(msg.dir))
		}
		if msg.moved {
			cmds = append(cmds, m.reloadFolders(c.acct), m.reloadList(), m.recount(c.acct))
		}
		return tea.Batch(cmds...)
	}
	c.draft, c.dir, c.path, c.written, c.draftID = msg.draft, msg.dir, msg.path, msg.written, msg.draftID
	c.atts = msg.atts
	if msg.moved {
		// The editor first; the refreshes after it, side by side (a
		// reload of the list may wait, see reloadList).
		return tea.Sequence(m.launchEditor(), tea.Batch(m.reloadFolders(c.acct), m.reloadList(), m.recount(c.acct)))
	}
	return m.launchEditor()
}

// launchEditor hands the terminal to the editor on the draft file, run
// through sh -c with the path as "$1" (never spliced into the command).
func (m *Model) launchEditor() tea.Cmd {
	c := m.compose
	c.stage = stageEditing
	cmd := exec.Command("sh", "-c", m.editorCommand()+` "$1"`, "sh", c.path)
	seq := c.seq
	return tea.ExecProcess(cmd, func(err error) tea.Msg { return editorDoneMsg{seq: seq, err: err} })
}

// editorDone reads the file back once the editor has returned.
func (m *Model) editorDone(msg editorDoneMsg) tea.Cmd {
	c := m.compose
	if c == nil || msg.seq != c.seq {
		return nil
	}
	if msg.err != nil {
		m.status.error(fmt.Errorf("editor %s: %w", m.editorCommand(), msg.err))
		if c.fresh {
			return m.closeCompose()
		}
		c.stage = stageReview
		m.renderReview()
		return nil
	}
	return readEdited(c.seq, c.path, *c.draft, c.written, c.fresh)
}

// edited takes the result of an edit: abort, back to the editor on an
// error in the headers, or the review screen.
func (m *Model) edited(msg editedMsg) tea.Cmd {
	c := m.compose
	if c == nil || msg.seq != c.seq {
		return nil
	}
	switch {
	case msg.err != nil:
		m.status.error(msg.err)
		if c.draft == nil || c.fresh {
			return m.closeCompose()
		}
		c.stage = stageReview
	case msg.abort:
		if c.fresh {
			m.status.info("aborted: nothing written")
			return m.closeCompose()
		}
		// An emptied file after the first edit keeps the last version.
		m.status.info("nothing written: the message is as it was")
		c.stage = stageReview
		c.broken = nil
	case msg.parseErr != nil:
		c.fresh = false
		c.written = msg.written
		if msg.gaveUp {
			// The user left the error unfixed: stop reopening the editor.
			c.broken = msg.parseErr
			c.stage = stageReview
			m.status.error(msg.parseErr)
			break
		}
		m.status.error(msg.parseErr)
		return m.launchEditor()
	default:
		c.fresh = false
		c.broken = nil
		c.draft, c.atts = msg.draft, msg.atts
		c.stage = stageReview
	}
	m.renderReview()
	return nil
}

// renderReview shows the compose state on the review screen.
func (m *Model) renderReview() {
	m.review.set(m.compose, m.accts[m.compose.acct].Name())
	m.layout()
}

// closeCompose ends the compose and removes its temporary directory.
func (m *Model) closeCompose() tea.Cmd {
	c := m.compose
	m.compose = nil
	m.layout()
	if c == nil || c.dir == "" {
		return nil
	}
	return removeDir(c.dir)
}

// reviewKey handles a key on the review screen.
func (m *Model) reviewKey(msg tea.KeyMsg) tea.Cmd {
	c := m.compose
	if c.stage == stageBusy {
		m.status.busy(c.busy)
		return nil
	}
	switch m.review.Update(msg) {
	case reviewSend:
		return m.sendCompose()
	case reviewEdit:
		c.stage = stageEditing
		if c.broken != nil {
			return m.launchEditor() // the user's text with the error is in the file
		}
		return writeTemplate(c.seq, c.path, c.draft.Template())
	case reviewAttach:
		if c.broken != nil {
			m.status.info("Fix the message first: e edits it")
			return nil
		}
		m.prompt.ask(promptAttachPath, "Attach file (tab completes):", "")
		m.prompt.seq = m.next()
		return textinput.Blink
	case reviewDetach:
		if c.broken != nil {
			m.status.info("Fix the message first: e edits it")
			return nil
		}
		if len(c.atts) == 0 {
			m.status.info("There is no attachment to remove")
			return nil
		}
		names := make([]string, len(c.atts))
		values := make([]int, len(c.atts))
		for i, a := range c.atts {
			names[i] = fmt.Sprintf("[%d] %s (%s, %s)", i+1, a.name, a.typ, fmtSize(a.size))
			values[i] = i
		}
		m.prompt.pick(promptDetach, "Remove which attachment? (enter removes, esc cancels)", names, values)
		return textinput.Blink
	case reviewPostpone:
		if c.broken != nil {
			m.status.info("Fix the message first: e edits it")
			return nil
		}
		c.stage, c.busy = stageBusy, "Postponing…"
		m.status.busy(c.busy)
		m.renderReview()
		return postponeCompose(m.accts[c.acct], c.acct, c.seq, *c.draft, c.draftID, c.dir, m.now())
	case reviewDiscard:
		m.prompt.confirm(promptDiscard, "Discard this message? (y/n)")
		return nil
	}
	return nil
}

// sendCompose builds and sends the message being reviewed.
func (m *Model) sendCompose() tea.Cmd {
	c := m.compose
	if c.broken != nil {
		m.status.info("Fix the message first: e edits it")
		return nil
	}
	a := m.accts[c.acct]
	if _, ok := a.(account.Sender); !ok {
		m.status.info(a.Name() + ": this account has no [smtp] server; p postpones the message to Drafts")
		return nil
	}
	c.stage, c.busy = stageBusy, "Sending…"
	m.status.busy(c.busy)
	m.renderReview()
	return sendCompose(a, c.acct, c.seq, *c.draft, c.draftID, c.orig, c.dir, m.now())
}

// sent reports a send attempt, of the message being composed or of a
// queued one sent now.
func (m *Model) sent(msg sendDoneMsg) tea.Cmd {
	m.status.done()
	cmds := []tea.Cmd{m.reloadFolders(msg.acct)}
	if msg.acct == m.list.acct {
		cmds = append(cmds, m.reloadList())
	}
	if msg.queuedErr == nil && msg.acct < len(m.queued) && msg.haveQueued {
		m.queued[msg.acct] = msg.queued
	}
	c := m.compose
	mine := msg.compose && c != nil && msg.seq == c.seq
	if msg.compose && !mine {
		return tea.Batch(cmds...)
	}
	if mine && msg.draftID != "" {
		c.draftID = msg.draftID
	}
	switch {
	case msg.buildErr != nil:
		m.status.error(msg.buildErr)
		if mine {
			c.stage = stageReview
			m.renderReview()
		}
		return tea.Batch(cmds...)
	case msg.err != nil:
		m.status.error(msg.err)
		if mine {
			c.stage = stageReview
			m.renderReview()
		}
		return tea.Batch(cmds...)
	}
	switch msg.res.Status {
	case account.Sent:
		text := "sent"
		if len(msg.res.Rejected) > 0 {
			text += "; refused for " + strings.Join(msg.res.Rejected, ", ")
		}
		if msg.flagErr != nil {
			text += " (" + msg.flagErr.Error() + ")"
		}
		m.status.info(text)
	case account.Queued:
		m.status.info("queued in the outbox: " + serverWords(msg.res.Err))
	case account.Refused:
		m.status.error(fmt.Errorf("refused: %s — saved in Drafts", serverWords(msg.res.Err)))
	}
	if mine {
		cmds = append(cmds, m.closeCompose())
	}
	return tea.Batch(cmds...)
}

// serverWords is the innermost error of a send failure: the server's
// reply ("SMTP error 550: no such user") or the network's words, without
// the account and address context around them, to fit the status line.
func serverWords(err error) string {
	if err == nil {
		return "no reason given"
	}
	for {
		var next error
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			next = u.Unwrap()
		case interface{ Unwrap() []error }:
			if list := u.Unwrap(); len(list) > 0 {
				next = list[0]
			}
		}
		if next == nil {
			return err.Error()
		}
		err = next
	}
}

// postponed reports a draft stored in Drafts.
func (m *Model) postponed(msg postponedMsg) tea.Cmd {
	c := m.compose
	if c == nil || msg.seq != c.seq {
		return nil
	}
	m.status.done()
	if msg.err != nil {
		m.status.error(msg.err)
		c.stage = stageReview
		m.renderReview()
		return nil
	}
	m.status.info("postponed to " + msg.folder)
	cmds := []tea.Cmd{m.closeCompose(), m.reloadFolders(msg.acct)}
	if msg.acct == m.list.acct {
		cmds = append(cmds, m.reloadList())
	}
	return tea.Batch(cmds...)
}

// templateWritten starts the editor again once the file holds the draft.
func (m *Model) templateWritten(msg templateWrittenMsg) tea.Cmd {
	c := m.compose
	if c == nil || msg.seq != c.seq {
		return nil
	}
	if msg.err != nil {
		m.status.error(msg.err)
		c.stage = stageReview
		m.renderReview()
		return nil
	}
	c.written = msg.written
	return m.launchEditor()
}

// attachStat adds a file checked by statAttachment.
func (m *Model) attachStat(msg attachStatMsg) tea.Cmd {
	c := m.compose
	if c == nil || msg.seq != c.seq {
		return nil
	}
	if msg.err != nil {
		m.status.error(msg.err)
		return nil
	}
	c.draft.Attachments = append(c.draft.Attachments, account.DraftAttachment{Path: msg.path})
	c.atts = append(c.atts, msg.info)
	m.status.info("Attached " + msg.info.name)
	m.renderReview()
	return nil
}

// detach removes attachment i from the draft.
func (m *Model) detach(i int) {
	c := m.compose
	if c == nil || i < 0 || i >= len(c.atts) || i >= len(c.draft.Attachments) {
		return
	}
	name := c.atts[i].name
	c.draft.Attachments = append(c.draft.Attachments[:i:i], c.draft.Attachments[i+1:]...)
	c.atts = append(c.atts[:i:i], c.atts[i+1:]...)
	m.status.info("Removed " + name)
	m.renderReview()
}

// completed applies a Tab completion to the attach prompt, unless the
// user typed on meanwhile.
func (m *Model) completed(msg completeMsg) {
	p := &m.prompt
	if p.kind != promptAttachPath || p.seq != msg.seq || p.input.Value() != msg.input {
		return
	}
	if msg.err != nil {
		p.choices, p.noMatch = nil, false
		m.status.error(msg.err)
		return
	}
	p.input.SetValue(msg.value)
	p.input.CursorEnd()
	p.choices = nil
	for _, c := range msg.candidates {
		p.choices = append(p.choices, c) // sanitised when drawn
	}
	p.noMatch = len(msg.candidates) == 0 && msg.value == msg.input && !msg.unique
}

// recount asks one account how much mail waits in its Outbox.
func (m *Model) recount(acct int) tea.Cmd {
	if s, ok := m.accts[acct].(account.Sender); ok {
		return countQueued(s, acct)
	}
	return nil
}

func (m *Model) queuedTotal() int {
	n := 0
	for _, q := range m.queued {
		n += q
	}
	return n
}

// composeFromList starts a reply or forward of the message the action
// applies to (the reader's, else the list cursor's).
func (m *Model) composeFrom(kind composeKind) tea.Cmd {
	if kind == composeNew {
		return m.startCompose(composeNew, m.list.acct, "", "")
	}
	if m.focus == focusReader {
		r := &m.reader
		return m.startCompose(kind, r.acct, r.folder, r.env.Key)
	}
	e := m.list.current()
	if e == nil {
		m.status.info("No message to " + kind.String())
		return nil
	}
	return m.startCompose(kind, m.list.acct, m.list.folder, e.Key)
}

// editCurrent resumes a draft (in Drafts) or takes a queued message back
// (in the Outbox).
func (m *Model) editCurrent() tea.Cmd {
	e := m.list.current()
	switch m.list.role {
	case account.RoleDrafts:
		if e == nil {
			return nil
		}
		return m.startCompose(composeResume, m.list.acct, m.list.folder, e.Key)
	case account.RoleOutbox:
		if e == nil {
			return nil
		}
		return m.resumeQueued(e.Key)
	}
	m.status.info("e edits a draft (in Drafts) or queued mail (in the Outbox)")
	return nil
}

// sendQueuedNow sends the Outbox message under the cursor now.
func (m *Model) sendQueuedNow() tea.Cmd {
	if m.list.role != account.RoleOutbox {
		m.status.info("S sends queued mail now, in the Outbox")
		return nil
	}
	e := m.list.current()
	if e == nil {
		return nil
	}
	a := m.accts[m.list.acct]
	s, ok := a.(account.Sender)
	if !ok {
		m.status.info(a.Name() + ": this account has no [smtp] server")
		return nil
	}
	m.status.busy("Sending…")
	return sendQueued(a, s, m.list.acct, m.list.folder, m.draftsFolder(m.list.acct), e.Key)
}
