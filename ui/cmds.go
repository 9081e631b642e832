package ui

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/message"
)

// Deadlines of the account calls made from commands: Bubble Tea cannot
// cancel a running command, so every call carries its own.
const (
	ioTimeout   = 30 * time.Second
	syncTimeout = 5 * time.Minute
)

// Replies of the commands. Each carries its request (account, folder,
// sequence number) so that the pane that asked can drop stale replies.
type (
	foldersMsg struct {
		acct    int
		seq     uint64
		folders []account.Folder
		err     error
	}
	listMsg struct {
		acct   int
		folder string
		seq    uint64
		envs   account.Envelopes
		byDate []int32 // sortByDate(envs), sorted off the UI goroutine
		err    error
	}
	openMsg struct {
		acct   int
		folder string
		key    string
		seq    uint64
		msg    *message.Message
		err    error
	}
	flagsMsg struct {
		acct     int
		folder   string
		key      string
		old, now maildir.Flags
		err      error
	}
	// moveMsg reports a delete, move, archive or undo.
	moveMsg struct {
		op       moveOp
		acct     int
		from, to string // to is "" for a delete
		keys     []string
		err      error
	}
	eventMsg struct {
		acct int
		ev   account.Event
		ok   bool // false: the account's event channel is closed
	}
	saveMsg struct {
		acct    int
		folder  string
		key     string
		att     message.Attachment
		dir     string
		path    string
		open    bool // saved into a temporary directory, to be opened
		tempDir string
		err     error
	}
	execMsg struct {
		name string
		err  error
	}
	syncMsg struct {
		acct int
		err  error
	}
)

type moveOp int

const (
	opDelete moveOp = iota
	opMove
	opArchive
	opUndo
)

func (o moveOp) String() string {
	return [...]string{"delete", "move", "archive", "undo"}[o]
}

func loadFolders(a account.Account, acct int, seq uint64) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		fs, err := a.Folders(ctx)
		if err != nil {
			err = fmt.Errorf("%s: folders: %w", a.Name(), err)
		}
		return foldersMsg{acct: acct, seq: seq, folders: fs, err: err}
	}
}

func loadList(a account.Account, acct int, folder string, seq uint64) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		envs, err := account.ListView(ctx, a, folder)
		if err != nil {
			err = fmt.Errorf("%s: %s: %w", a.Name(), folder, err)
			return listMsg{acct: acct, folder: folder, seq: seq, err: err}
		}
		return listMsg{acct: acct, folder: folder, seq: seq, envs: envs, byDate: sortByDate(envs)}
	}
}

func openMessage(a account.Account, acct int, folder, key string, seq uint64) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		msg, err := func() (*message.Message, error) {
			rc, err := a.Open(ctx, folder, account.MsgID(key))
			if err != nil {
				return nil, err
			}
			defer rc.Close()
			return message.Parse(rc, nil)
		}()
		if err != nil {
			err = fmt.Errorf("%s: %s: open: %w", a.Name(), folder, err)
		}
		return openMsg{acct: acct, folder: folder, key: key, seq: seq, msg: msg, err: err}
	}
}

// setFlags changes one message's flags from old to now.
func setFlags(a account.Account, acct int, folder, key string, old, now maildir.Flags) tea.Cmd {
	var add, remove []byte
	for _, c := range []byte(now) {
		if !old.Has(c) {
			add = append(add, c)
		}
	}
	for _, c := range []byte(old) {
		if !now.Has(c) {
			remove = append(remove, c)
		}
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		err := a.SetFlags(ctx, folder, []account.MsgID{account.MsgID(key)}, maildir.Flags(add), maildir.Flags(remove))
		if err != nil {
			err = fmt.Errorf("%s: %s: flags: %w", a.Name(), folder, err)
		}
		return flagsMsg{acct: acct, folder: folder, key: key, old: old, now: now, err: err}
	}
}

// moveMessages deletes (to is "") or moves messages.
func moveMessages(a account.Account, op moveOp, acct int, from string, keys []string, to string) tea.Cmd {
	ids := make([]account.MsgID, len(keys))
	for i, k := range keys {
		ids[i] = account.MsgID(k)
	}
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		var err error
		if op == opDelete {
			err = a.Delete(ctx, from, ids)
		} else {
			err = a.Move(ctx, from, ids, to)
		}
		if err != nil {
			err = fmt.Errorf("%s: %s %s: %w", a.Name(), op, from, err)
		}
		return moveMsg{op: op, acct: acct, from: from, to: to, keys: keys, err: err}
	}
}

// waitEvent waits for one pushed event of an account; the model re-arms
// it after each one.
func waitEvent(a account.Account, acct int) tea.Cmd {
	ch := a.Events()
	if ch == nil {
		return nil
	}
	return func() tea.Msg {
		ev, ok := <-ch
		return eventMsg{acct: acct, ev: ev, ok: ok}
	}
}

func syncAccount(a account.Account, acct int) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), syncTimeout)
		defer cancel()
		err := a.Sync(ctx, func(account.Progress) {})
		if err != nil {
			err = fmt.Errorf("%s: sync: %w", a.Name(), err)
		}
		return syncMsg{acct: acct, err: err}
	}
}

// saveAttachment reads the message again and writes one attachment into
// dir ("~/" expanded). With open set, dir is ignored: the file goes into a
// new private temporary directory.
func saveAttachment(a account.Account, acct int, folder, key string, att message.Attachment, dir string, overwrite, open bool) tea.Cmd {
	return func() tea.Msg {
		out := saveMsg{acct: acct, folder: folder, key: key, att: att, dir: dir, open: open}
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if open {
			tmp, err := os.MkdirTemp("", "mailbag-open-")
			if err != nil {
				out.err = fmt.Errorf("open attachment: %w", err)
				return out
			}
			out.tempDir, dir = tmp, tmp
		} else {
			d, err := expandHome(dir)
			if err != nil {
				out.err = err
				return out
			}
			dir = d
		}
		rc, err := a.Open(ctx, folder, account.MsgID(key))
		if err != nil {
			out.err = fmt.Errorf("%s: %s: open: %w", a.Name(), folder, err)
			return out
		}
		defer rc.Close()
		out.path, out.err = message.SaveAttachment(rc, att, dir, overwrite)
		if out.path == "" && out.err != nil && !errors.Is(out.err, os.ErrExist) {
			out.err = fmt.Errorf("save %s: %w", att.Name, out.err)
		}
		return out
	}
}

func expandHome(p string) (string, error) {
	p = strings.TrimSpace(p)
	if p == "~" || strings.HasPrefix(p, "~/") {
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("expand %s: %w", p, err)
		}
		p = filepath.Join(home, p[1:])
	}
	if p == "" {
		p = "."
	}
	return p, nil
}
