// Package ui is mailbag's terminal interface: a Bubble Tea program with a
// folder sidebar, a message list and a message reader, driving the
// account.Account seam. All I/O happens in tea.Cmds with deadlines; state
// changes only in Update; every string that comes from a message or a
// server goes through store/termsafe before it reaches the screen.
package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/charmbracelet/bubbles/help"
	"github.com/charmbracelet/bubbles/textinput"
	"github.com/charmbracelet/bubbles/viewport"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/account"
)

// Options configure the UI.
type Options struct {
	// Config is the parsed configuration (keys, open command); may be nil.
	Config *account.Config
	// Demo marks the built-in demo: the status line says so.
	Demo bool
	// NoConfigPath, when not empty, is where the config file was looked
	// for and not found: the UI shows how to create it.
	NoConfigPath string
}

// Run runs the UI on the terminal until the user quits or ctx ends.
func Run(ctx context.Context, accts []account.Account, opts Options) error {
	m, err := New(accts, opts)
	if err != nil {
		return err
	}
	final, err := tea.NewProgram(m, tea.WithAltScreen(), tea.WithContext(ctx)).Run()
	if fm, ok := final.(*Model); ok {
		fm.cleanup()
	} else if mm, ok := m.(*Model); ok {
		mm.cleanup()
	}
	if errors.Is(err, tea.ErrProgramKilled) && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// focus is the pane that has the keyboard.
type focus int

const (
	focusList focus = iota
	focusSidebar
	focusReader
)

// Model is the root model: it owns the panes, routes keys to the focused
// one and command replies to the pane that asked.
type Model struct {
	accts  []account.Account
	opts   Options
	keys   keyMaps
	styles *Styles
	now    func() time.Time

	width, height int
	focus         focus
	readerOpen    bool
	seq           uint64 // last request number

	sidebar sidebarModel
	list    listModel
	reader  readerModel
	review  reviewModel
	prompt  promptModel
	status  statusModel

	compose *composeState // the message being composed, or nil
	queued  []int         // messages waiting in each account's Outbox
	// quitArmed: ctrl+c was pressed once on the review screen
	quitArmed bool
	// writes counts flag changes and moves still running; quitting waits
	// for them so that no change the user made is lost on exit.
	writes   int
	quitting bool
	syncing  []bool  // a sync of that account is running
	startup  startup // the syncs Init holds back

	searching bool
	search    textinput.Model
	preSearch string // filter before the search started, restored by Esc

	showHelp bool
	helpVP   viewport.Model
	help     help.Model

	undo        *moveMsg // the last delete/move, to move back
	downloadDir string
	openCmd     string
	tempDirs    []string
	sideW       int // sidebar width when shown beside the list; 0 hidden
}

// New builds the UI model. It fails only on a bad [keys] table, naming the
// action or key and its line.
func New(accts []account.Account, opts Options) (tea.Model, error) {
	km := defaultKeyMaps()
	openCmd := account.DefaultOpenCmd
	if opts.Config != nil {
		if err := km.apply(opts.Config.Keys); err != nil {
			return nil, err
		}
		if opts.Config.UI.OpenCmd != "" {
			openCmd = opts.Config.UI.OpenCmd
		}
	}
	st := DefaultStyles()
	names := make([]string, len(accts))
	for i, a := range accts {
		names[i] = a.Name()
	}
	m := &Model{
		accts:       accts,
		opts:        opts,
		keys:        km,
		styles:      &st,
		now:         time.Now,
		sidebar:     newSidebar(km.Sidebar, &st, names),
		list:        newList(km.List, &st),
		reader:      newReader(km.Reader, &st),
		review:      newReview(km.Review, &st),
		queued:      make([]int, len(accts)),
		syncing:     make([]bool, len(accts)),
		helpVP:      viewport.New(0, 0),
		help:        help.New(),
		openCmd:     openCmd,
		downloadDir: defaultDownloadDir(),
	}
	m.search = textinput.New()
	m.search.Prompt = "/"
	m.help.Styles.ShortKey = st.HelpKey
	m.help.Styles.ShortDesc = st.HelpDesc
	return m, nil
}

// defaultDownloadDir is ~/Downloads when it exists, else the working
// directory.
func defaultDownloadDir() string {
	if home, err := os.UserHomeDir(); err == nil {
		d := filepath.Join(home, "Downloads")
		if fi, err := os.Stat(d); err == nil && fi.IsDir() {
			return "~/Downloads"
		}
	}
	if wd, err := os.Getwd(); err == nil {
		return wd
	}
	return "."
}

func (m *Model) cleanup() {
	for _, d := range m.tempDirs {
		os.RemoveAll(d)
	}
	m.tempDirs = nil
}

func (m *Model) next() uint64 {
	m.seq++
	return m.seq
}

// startup orders the work of the first second, when everything competes
// for the CPU and the connection with what the user waits for: first the
// open folder's list from disk, then that folder's resync (its newest
// messages on a first open), then the syncs of every account.
type startup struct {
	listed   bool      // the open folder's first list has loaded
	openSync tea.Cmd   // that folder's resync, to start then
	held     []tea.Cmd // the accounts' syncs, to start when it ended
}

// Init loads every account's folders, opens the first account's INBOX and
// starts listening for account events; the syncs wait (see startup).
func (m *Model) Init() tea.Cmd {
	if len(m.accts) == 0 {
		return nil
	}
	cmds := []tea.Cmd{m.showFolder(0, "INBOX")}
	m.startup.openSync = m.syncFolder(0, "INBOX")
	for i, a := range m.accts {
		folders := m.reloadFolders(i)
		if s, ok := a.(account.Sender); ok {
			// Counting the Outbox may create the Drafts, Outbox and
			// Sent folders: list the folders after it.
			folders = tea.Sequence(countQueued(s, i), folders)
		}
		cmds = append(cmds, folders, waitEvent(a, i))
		m.startup.held = append(m.startup.held, m.startBackground(i)...)
	}
	return tea.Batch(cmds...)
}

// listed starts the open folder's resync after its first list, or the
// accounts' syncs when it has none.
func (m *Model) listed() tea.Cmd {
	if m.startup.listed {
		return nil
	}
	m.startup.listed = true
	if cmd := m.startup.openSync; cmd != nil {
		m.startup.openSync = nil
		return cmd
	}
	return m.releaseHeld()
}

// releaseHeld starts the accounts' syncs Init held back, once.
func (m *Model) releaseHeld() tea.Cmd {
	cmds := m.startup.held
	m.startup.held = nil
	return tea.Batch(cmds...)
}

func (m *Model) reloadFolders(acct int) tea.Cmd {
	seq := m.next()
	m.sidebar.seq[acct] = seq
	return loadFolders(m.accts[acct], acct, seq)
}

// openFolder shows a folder in the list, loads it and resyncs it.
func (m *Model) openFolder(acct int, name string) tea.Cmd {
	return tea.Batch(m.showFolder(acct, name), m.syncFolder(acct, name))
}

// showFolder shows a folder in the list and loads it.
func (m *Model) showFolder(acct int, name string) tea.Cmd {
	role := ""
	if f, ok := m.sidebar.folder(acct, name); ok {
		role = f.Role
	}
	if role == "" && name == "INBOX" {
		role = account.RoleInbox
	}
	m.list.reset(acct, name, role)
	m.sidebar.selectFolder(acct, name)
	m.readerOpen = false
	m.undo = nil
	return m.reloadList()
}

// Reloads of a folder that keeps changing are spaced by listGapPer for
// each envelope it had, at most maxListGap: every List copies the whole
// folder, so the spacing bounds the copying (and the garbage) per second.
// A small folder reloads at once; one of 50,000 envelopes at most twice a
// second.
const (
	listGapPer = 10 * time.Microsecond
	maxListGap = 500 * time.Millisecond
)

// reloadTickMsg starts a reload that waited for its gap.
type reloadTickMsg struct{ seq uint64 }

// reloadList asks for the envelopes of the open folder. A folder that
// changes often (an IMAP fill announces every chunk, each List copies a
// large folder) is listed by one request at a time, spaced by the gap its
// size sets: while a request is in flight or waiting, another change only
// notes that one more List is due.
func (m *Model) reloadList() tea.Cmd {
	if m.list.loading || m.list.waitSeq != 0 {
		m.list.again = true
		return nil
	}
	gap := min(time.Duration(m.list.len())*listGapPer, maxListGap)
	if wait := gap - time.Since(m.list.loadedAt); wait > 0 {
		seq := m.next()
		m.list.waitSeq = seq
		return tea.Tick(wait, func(time.Time) tea.Msg { return reloadTickMsg{seq: seq} })
	}
	return m.startList()
}

func (m *Model) startList() tea.Cmd {
	m.list.again = false
	seq := m.next()
	m.list.seq = seq
	m.list.loading = true
	return loadList(m.accts[m.list.acct], m.list.acct, m.list.folder, seq)
}

// Update is the root of the Elm loop: it routes messages to panes.
func (m *Model) Update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg.(type) {
	case flagsMsg, moveMsg:
		m.writes--
		model, cmd := m.update(msg)
		if m.quitting && m.writes == 0 {
			cmd = tea.Batch(cmd, tea.Quit)
		}
		return model, cmd
	}
	return m.update(msg)
}

// track counts a command that changes mail, so quitting can wait for it.
func (m *Model) track(cmd tea.Cmd) tea.Cmd {
	m.writes++
	return cmd
}

// quit ends the program once every change the user made is stored; a
// second quit while waiting ends it at once.
func (m *Model) quit() tea.Cmd {
	if m.writes == 0 || m.quitting {
		return tea.Quit
	}
	m.quitting = true
	m.status.info(fmt.Sprintf("saving %d change(s) before quitting…", m.writes))
	return nil
}

func (m *Model) update(msg tea.Msg) (tea.Model, tea.Cmd) {
	switch msg := msg.(type) {
	case tea.WindowSizeMsg:
		m.width, m.height = msg.Width, msg.Height
		m.layout()
		return m, nil
	case tea.KeyMsg:
		// Keys typed quickly can arrive as one message ("jj"); outside a
		// text input each is a command of its own.
		if msg.Type == tea.KeyRunes && len(msg.Runes) > 1 && !msg.Paste && !m.prompt.active() && !m.searching {
			cmds := make([]tea.Cmd, 0, len(msg.Runes))
			for _, r := range msg.Runes {
				cmds = append(cmds, m.handleKey(tea.KeyMsg{Type: tea.KeyRunes, Runes: []rune{r}, Alt: msg.Alt}))
			}
			return m, tea.Sequence(cmds...)
		}
		return m, m.handleKey(msg)
	case foldersMsg:
		if msg.seq != m.sidebar.seq[msg.acct] {
			return m, nil
		}
		if msg.err != nil {
			m.status.error(msg.err)
			return m, nil
		}
		m.sidebar.setFolders(msg.acct, msg.folders)
		if _, ok := m.sidebar.selected(); !ok {
			m.sidebar.selectFolder(m.list.acct, m.list.folder)
		}
		if msg.acct == m.list.acct {
			if f, ok := m.sidebar.folder(msg.acct, m.list.folder); ok {
				m.list.setRole(f.Role)
			}
		}
		return m, nil
	case listMsg:
		if !m.startup.listed {
			start := m.listed()
			_, cmd := m.update(msg)
			return m, tea.Batch(start, cmd)
		}
		if msg.acct != m.list.acct || msg.folder != m.list.folder || msg.seq != m.list.seq {
			return m, nil // stale
		}
		m.list.loading = false
		if msg.err != nil {
			m.list.loaded = true
			m.status.error(msg.err)
		} else {
			m.list.setSorted(msg.envs, msg.byDate)
			m.list.loadedAt = time.Now()
		}
		if m.list.again {
			return m, m.reloadList()
		}
		return m, nil
	case reloadTickMsg:
		if msg.seq != m.list.waitSeq {
			return m, nil // for a folder no longer open
		}
		m.list.waitSeq = 0
		return m, m.startList()
	case openMsg:
		return m, m.opened(msg)
	case flagsMsg:
		if msg.err != nil {
			m.status.error(msg.err)
			if msg.acct == m.list.acct && msg.folder == m.list.folder {
				m.list.setFlags(msg.key, msg.old)
			}
			return m, nil
		}
		return m, m.reloadFolders(msg.acct)
	case moveMsg:
		return m, m.moved(msg)
	case eventMsg:
		return m, m.event(msg)
	case saveMsg:
		return m, m.saved(msg)
	case execMsg:
		if msg.err != nil {
			m.status.error(fmt.Errorf("%s: %w", msg.name, msg.err))
		}
		return m, nil
	case syncMsg:
		m.syncing[msg.acct] = false
		m.status.done()
		if msg.err != nil {
			m.status.error(msg.err)
		} else {
			m.status.info(m.accts[msg.acct].Name() + ": synced")
		}
		cmds := []tea.Cmd{m.reloadFolders(msg.acct), m.recount(msg.acct)}
		if msg.acct == m.list.acct {
			cmds = append(cmds, m.reloadList())
		}
		if s, ok := m.accts[msg.acct].(account.Sender); ok {
			cmds = append(cmds, flushOutbox(s, msg.acct))
		}
		return m, tea.Batch(cmds...)
	case composeReadyMsg:
		return m, m.composeReady(msg)
	case editorDoneMsg:
		return m, m.editorDone(msg)
	case editedMsg:
		return m, m.edited(msg)
	case templateWrittenMsg:
		return m, m.templateWritten(msg)
	case sendDoneMsg:
		return m, m.sent(msg)
	case postponedMsg:
		return m, m.postponed(msg)
	case attachStatMsg:
		return m, m.attachStat(msg)
	case completeMsg:
		m.completed(msg)
		return m, nil
	case syncTickMsg, folderSyncedMsg, flushedMsg:
		return m, m.background(msg)
	case queuedMsg:
		if msg.err == nil && msg.acct < len(m.queued) {
			m.queued[msg.acct] = msg.n
		}
		return m, nil
	}
	// cursor blinks and other internal messages of the text inputs
	var cmd tea.Cmd
	switch {
	case m.prompt.active():
		m.prompt.input, cmd = m.prompt.input.Update(msg)
	case m.searching:
		m.search, cmd = m.search.Update(msg)
	}
	return m, cmd
}

// event handles a pushed account event and re-arms the listener.
func (m *Model) event(msg eventMsg) tea.Cmd {
	if !msg.ok {
		return nil
	}
	a := m.accts[msg.acct]
	cmds := []tea.Cmd{waitEvent(a, msg.acct)}
	switch msg.ev.Kind {
	case account.EventFolderChanged:
		cmds = append(cmds, m.reloadFolders(msg.acct), m.recount(msg.acct))
		if msg.acct == m.list.acct && (msg.ev.Folder == "" || msg.ev.Folder == m.list.folder) {
			cmds = append(cmds, m.reloadList())
		}
	case account.EventOnline:
		m.status.info(a.Name() + ": online")
		if s, ok := a.(account.Sender); ok {
			cmds = append(cmds, flushOutbox(s, msg.acct))
		}
	case account.EventOffline:
		m.status.info(a.Name() + ": offline")
	case account.EventError:
		if msg.ev.Err != nil {
			m.status.error(fmt.Errorf("%s: %w", a.Name(), msg.ev.Err))
		}
	}
	return tea.Batch(cmds...)
}
