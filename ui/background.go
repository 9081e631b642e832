package ui

import (
	"context"
	"fmt"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/account"
)

// Background work an account asks for without a key press: a sync on
// start and every check_every (POP3 download, IMAP resync), a resync of
// an IMAP folder when it is opened, and the outbox flushed on start,
// after each sync and when the connection returns. All of it runs in
// tea.Cmds; its results come back as messages to Update.

type (
	// syncTickMsg: an account's check_every has passed.
	syncTickMsg struct{ acct int }
	// folderSyncedMsg: a folder's background resync ended.
	folderSyncedMsg struct {
		acct   int
		folder string
		err    error
	}
	// flushedMsg: an outbox flush ended.
	flushedMsg struct {
		acct int
		err  error
	}
)

// checkEverier is implemented by backends that poll a server.
type checkEverier interface{ CheckEvery() time.Duration }

// folderSyncer is implemented by backends whose folders live on a server.
type folderSyncer interface {
	SyncFolder(ctx context.Context, folder string) error
}

// startBackground is what Init starts for account i.
func (m *Model) startBackground(i int) []tea.Cmd {
	a := m.accts[i]
	var cmds []tea.Cmd
	if a.Caps().Sync {
		cmds = append(cmds, m.startSync(i), m.scheduleSync(i))
	}
	if s, ok := a.(account.Sender); ok {
		cmds = append(cmds, flushOutbox(s, i))
	}
	return cmds
}

// startSync syncs account i unless a sync of it is already running.
func (m *Model) startSync(i int) tea.Cmd {
	if m.syncing[i] {
		return nil
	}
	m.syncing[i] = true
	m.status.busy(m.accts[i].Name() + ": syncing…")
	return syncAccount(m.accts[i], i)
}

// scheduleSync arms the next periodic sync of account i.
func (m *Model) scheduleSync(i int) tea.Cmd {
	c, ok := account.As[checkEverier](m.accts[i])
	if !ok || c.CheckEvery() <= 0 {
		return nil
	}
	return tea.Tick(c.CheckEvery(), func(time.Time) tea.Msg { return syncTickMsg{acct: i} })
}

// syncFolder resyncs an opened folder of a server-backed account.
func (m *Model) syncFolder(acct int, folder string) tea.Cmd {
	s, ok := account.As[folderSyncer](m.accts[acct])
	if !ok {
		return nil
	}
	name := m.accts[acct].Name()
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), syncTimeout)
		defer cancel()
		err := s.SyncFolder(ctx, folder)
		if err != nil {
			err = fmt.Errorf("%s: %s: sync: %w", name, folder, err)
		}
		return folderSyncedMsg{acct: acct, folder: folder, err: err}
	}
}

// flushOutbox sends what waits in an account's outbox and is due.
func flushOutbox(s account.Sender, acct int) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), syncTimeout)
		defer cancel()
		return flushedMsg{acct: acct, err: s.Flush(ctx, func(account.Progress) {})}
	}
}

// background handles the results of background work.
func (m *Model) background(msg tea.Msg) tea.Cmd {
	switch msg := msg.(type) {
	case syncTickMsg:
		return tea.Batch(m.startSync(msg.acct), m.scheduleSync(msg.acct))
	case folderSyncedMsg:
		held := m.releaseHeld()
		if msg.err != nil {
			m.status.error(msg.err)
			return held
		}
		cmds := []tea.Cmd{held, m.reloadFolders(msg.acct)}
		if msg.acct == m.list.acct && msg.folder == m.list.folder {
			cmds = append(cmds, m.reloadList())
		}
		return tea.Batch(cmds...)
	case flushedMsg:
		if msg.err != nil {
			m.status.error(msg.err)
		}
		s, _ := m.accts[msg.acct].(account.Sender)
		return tea.Batch(countQueued(s, msg.acct), m.reloadFolders(msg.acct))
	}
	return nil
}
