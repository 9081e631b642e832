package ui

import (
	"strconv"
	"strings"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/account"
)

// sideEntry is one line of the sidebar: an account, or one of its folders.
type sideEntry struct {
	acct   int
	folder int // index into the account's folders; -1 for the account line
}

// sidebarModel is the pane listing accounts and their folders with unread
// counts.
type sidebarModel struct {
	keys          sidebarKeys
	st            *Styles
	width, height int

	names   []string           // account names
	folders [][]account.Folder // per account, INBOX first
	seq     []uint64           // per account: the Folders request awaited
	entries []sideEntry
	cursor  int
	offset  int
}

func newSidebar(keys sidebarKeys, st *Styles, names []string) sidebarModel {
	s := sidebarModel{
		keys: keys, st: st, names: names,
		folders: make([][]account.Folder, len(names)),
		seq:     make([]uint64, len(names)),
	}
	s.rebuild()
	return s
}

// SetSize sets the pane's size in cells.
func (s *sidebarModel) SetSize(w, h int) {
	s.width, s.height = max(w, 0), max(h, 0)
	s.scroll()
}

// setFolders stores an account's folders, INBOX first, keeping the cursor
// on the same line.
func (s *sidebarModel) setFolders(acct int, fs []account.Folder) {
	cur, ok := s.selected()
	sorted := make([]account.Folder, 0, len(fs))
	for _, f := range fs {
		if f.Role == account.RoleInbox || strings.EqualFold(f.Name, "INBOX") {
			sorted = append(sorted, f)
		}
	}
	for _, f := range fs {
		if !(f.Role == account.RoleInbox || strings.EqualFold(f.Name, "INBOX")) {
			sorted = append(sorted, f)
		}
	}
	s.folders[acct] = sorted
	s.rebuild()
	if ok {
		s.selectFolder(cur.acct, cur.name)
	}
}

type folderRef struct {
	acct int
	name string
}

func (s *sidebarModel) rebuild() {
	s.entries = s.entries[:0]
	for a := range s.names {
		s.entries = append(s.entries, sideEntry{acct: a, folder: -1})
		for f := range s.folders[a] {
			s.entries = append(s.entries, sideEntry{acct: a, folder: f})
		}
	}
	s.scroll()
}

// selected is the folder under the cursor.
func (s *sidebarModel) selected() (folderRef, bool) {
	if s.cursor < 0 || s.cursor >= len(s.entries) {
		return folderRef{}, false
	}
	e := s.entries[s.cursor]
	if e.folder < 0 {
		return folderRef{acct: e.acct}, false
	}
	return folderRef{acct: e.acct, name: s.folders[e.acct][e.folder].Name}, true
}

// selectFolder moves the cursor to a folder.
func (s *sidebarModel) selectFolder(acct int, name string) {
	for i, e := range s.entries {
		if e.acct == acct && e.folder >= 0 && s.folders[acct][e.folder].Name == name {
			s.cursor = i
			s.scroll()
			return
		}
	}
}

// folder returns the account's folder by name.
func (s *sidebarModel) folder(acct int, name string) (account.Folder, bool) {
	if acct < 0 || acct >= len(s.folders) {
		return account.Folder{}, false
	}
	for _, f := range s.folders[acct] {
		if f.Name == name {
			return f, true
		}
	}
	return account.Folder{}, false
}

// byRole returns the name of the account's folder with a role, or "".
func (s *sidebarModel) byRole(acct int, role string) string {
	if acct < 0 || acct >= len(s.folders) {
		return ""
	}
	for _, f := range s.folders[acct] {
		if f.Role == role {
			return f.Name
		}
	}
	return ""
}

func (s *sidebarModel) scroll() {
	n := len(s.entries)
	s.cursor = min(max(s.cursor, 0), max(n-1, 0))
	h := max(s.height, 1)
	if s.cursor < s.offset {
		s.offset = s.cursor
	}
	if s.cursor >= s.offset+h {
		s.offset = s.cursor - h + 1
	}
	s.offset = min(max(s.offset, 0), max(n-h, 0))
}

type sidebarAction int

const (
	sidebarNone sidebarAction = iota
	sidebarOpen
	sidebarBack
)

// Update handles a key press.
func (s *sidebarModel) Update(msg tea.KeyMsg) sidebarAction {
	switch {
	case key.Matches(msg, s.keys.Down):
		s.cursor++
	case key.Matches(msg, s.keys.Up):
		s.cursor--
	case key.Matches(msg, s.keys.Top):
		s.cursor = 0
	case key.Matches(msg, s.keys.Bottom):
		s.cursor = len(s.entries) - 1
	case key.Matches(msg, s.keys.Open):
		if _, ok := s.selected(); ok {
			return sidebarOpen
		}
	case key.Matches(msg, s.keys.Back), key.Matches(msg, s.keys.Right):
		return sidebarBack
	}
	s.scroll()
	return sidebarNone
}

// View renders the sidebar; cur is the folder shown in the list.
func (s *sidebarModel) View(cur folderRef, focused bool) string {
	if s.width <= 0 || s.height <= 0 {
		return ""
	}
	w := s.width
	lines := make([]string, 0, s.height)
	end := min(s.offset+s.height, len(s.entries))
	for i := s.offset; i < end; i++ {
		e := s.entries[i]
		var line string
		st := s.st.SidebarFolder
		if e.folder < 0 {
			line = cell(s.names[e.acct], w)
			st = s.st.SidebarAccount
		} else {
			f := s.folders[e.acct][e.folder]
			depth := strings.Count(f.Name, "/")
			name := f.Name
			if j := strings.LastIndexByte(name, '/'); j >= 0 {
				name = name[j+1:]
			}
			indent := min(1+depth, max(w/4, 1))
			count := ""
			if f.Unread > 0 {
				count = strconv.Itoa(f.Unread)
				st = s.st.SidebarUnread
			}
			cw := len(count)
			if cw > 0 {
				cw++
			}
			nameW := w - indent - cw
			if nameW < 3 { // no room for the count
				nameW, count, cw = w-indent, "", 0
			}
			line = strings.Repeat(" ", indent) + cell(name, max(nameW, 0))
			if count != "" {
				line += " " + count
			}
			if e.acct == cur.acct && f.Name == cur.name {
				st = s.st.SidebarCurrent
			}
		}
		if i == s.cursor && focused {
			st = s.st.SidebarSelected
		}
		lines = append(lines, st.Render(line))
	}
	blank := strings.Repeat(" ", w)
	for len(lines) < s.height {
		lines = append(lines, blank)
	}
	return strings.Join(lines, "\n")
}
