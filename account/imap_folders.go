package account

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailbag/mailbag/store/maildir"
	imapt "github.com/mailbag/mailbag/transport/imap"
)

// imapFoldersFile, at the maildir root, remembers the server's folders
// (name, role, counts) so Folders answers offline.
const imapFoldersFile = "mailbag-imap-folders.json"

// maxFolders bounds a hostile LIST answer.
const maxFolders = 10000

func loadFolderList(root string) []imapFolder {
	data, err := os.ReadFile(filepath.Join(root, imapFoldersFile))
	if err != nil {
		return nil
	}
	var out []imapFolder
	if json.Unmarshal(data, &out) != nil {
		return nil
	}
	return out
}

func (a *IMAP) saveFolderListLocked() error {
	data, err := json.Marshal(a.folders)
	if err != nil {
		return err
	}
	return writeStateFile(filepath.Join(a.dir.Root(), imapFoldersFile), data)
}

// displayName maps a server mailbox name to a maildir folder name:
// hierarchy levels become '/', and the characters the maildir cannot hold
// in a level ('.', '/', controls) are replaced by look-alikes.
func displayName(mailbox string, delim rune) string {
	if strings.EqualFold(mailbox, "INBOX") {
		return maildir.Inbox
	}
	var parts []string
	if delim != 0 {
		parts = strings.Split(mailbox, string(delim))
	} else {
		parts = []string{mailbox}
	}
	for i, p := range parts {
		p = strings.Map(func(r rune) rune {
			switch {
			case r == '.':
				return '\u2024' // ONE DOT LEADER
			case r == '/':
				return '\u2215' // DIVISION SLASH
			case r == '\\':
				return '\u29f5' // REVERSE SOLIDUS OPERATOR
			case r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0):
				return '?'
			}
			return r
		}, p)
		if p == "" {
			p = "_"
		}
		parts[i] = p
	}
	name := strings.Join(parts, "/")
	if strings.EqualFold(name, maildir.Inbox) {
		name = "INBOX_"
	}
	if len(name) > 200 {
		name = name[:200]
	}
	return name
}

// specialUseRole maps an RFC 6154 attribute to a role.
func specialUseRole(attrs []goimap.MailboxAttr) string {
	for _, at := range attrs {
		switch strings.ToLower(string(at)) {
		case `\sent`:
			return RoleSent
		case `\drafts`:
			return RoleDrafts
		case `\trash`:
			return RoleTrash
		case `\junk`:
			return RoleJunk
		case `\archive`:
			return RoleArchive
		}
	}
	return ""
}

// assignRoles gives each folder its role: the config's [folders] table
// first (by display or server name), then special-use attributes, then
// the usual names.
func (a *IMAP) assignRoles(fs []imapFolder, attrs map[string][]goimap.MailboxAttr) {
	taken := map[string]bool{}
	for i := range fs {
		fs[i].Role = ""
		if fs[i].Name == maildir.Inbox {
			fs[i].Role = RoleInbox
			taken[RoleInbox] = true
		}
	}
	for role, name := range a.cfg.Folders {
		for i := range fs {
			if fs[i].Role == "" && (strings.EqualFold(fs[i].Name, name) || fs[i].Mailbox == name) {
				fs[i].Role = role
				taken[role] = true
				break
			}
		}
	}
	for i := range fs {
		if fs[i].Role != "" {
			continue
		}
		if r := specialUseRole(attrs[fs[i].Mailbox]); r != "" && !taken[r] {
			fs[i].Role = r
			taken[r] = true
		}
	}
	for _, rn := range roleNames {
		if taken[rn.role] {
			continue
		}
		for _, n := range rn.names {
			for i := range fs {
				if fs[i].Role == "" && strings.EqualFold(fs[i].Name, n) && !taken[rn.role] {
					fs[i].Role = rn.role
					taken[rn.role] = true
				}
			}
		}
	}
}

// syncFolders lists the server's folders (RFC 3501 LIST, with RFC 5819
// LIST-STATUS counts and RFC 6154 special-use roles when offered) and
// creates a maildir folder for each.
func (a *IMAP) syncFolders(ctx context.Context, c *imapt.Client) error {
	caps := c.Caps()
	extended := caps.Has(goimap.CapListExtended) || caps.Has(goimap.CapIMAP4rev2)
	lopt := &goimap.ListOptions{}
	if a.opt.SubscribedOnly && !extended {
		a.mu.Lock()
		warn := !a.warnedSubscribed
		a.warnedSubscribed = true
		a.mu.Unlock()
		if warn {
			a.emit(EventError, "", fmt.Errorf("%s: subscribed_only: the server lacks LIST-EXTENDED (RFC 5258), so every folder is shown", a.cfg.Name))
		}
	}
	if extended {
		// Without LIST-EXTENDED (RFC 5258) there is no subscribed-only
		// LIST in the client library (no LSUB): all folders are listed.
		lopt.SelectSubscribed = a.opt.SubscribedOnly
		if caps.Has(goimap.CapSpecialUse) || caps.Has(goimap.CapIMAP4rev2) {
			lopt.ReturnSpecialUse = true
		}
		if caps.Has(goimap.CapListStatus) || caps.Has(goimap.CapIMAP4rev2) {
			lopt.ReturnStatus = &goimap.StatusOptions{NumMessages: true, NumUnseen: true}
		}
	}
	var list []*goimap.ListData
	err := c.Do(ctx, "list", func() error {
		var err error
		list, err = c.List("", "*", lopt).Collect()
		return err
	})
	if err != nil {
		return fmt.Errorf("%s: %w", a.cfg.Name, err)
	}
	if len(list) > maxFolders {
		list = list[:maxFolders]
	}
	var fs []imapFolder
	attrs := map[string][]goimap.MailboxAttr{}
	used := map[string]bool{}
	hasInbox := false
	for _, l := range list {
		noselect := false
		for _, at := range l.Attrs {
			if at == goimap.MailboxAttrNoSelect || at == goimap.MailboxAttrNonExistent {
				noselect = true
			}
		}
		if noselect {
			continue
		}
		name := displayName(l.Mailbox, l.Delim)
		if strings.EqualFold(name, a.outboxName()) {
			name += "_" // the local Outbox (imap_local.go)
		}
		for base, i := name, 2; used[strings.ToLower(name)]; i++ {
			name = fmt.Sprintf("%s (%d)", base, i)
		}
		used[strings.ToLower(name)] = true
		if name == maildir.Inbox {
			hasInbox = true
		}
		f := imapFolder{Name: name, Mailbox: l.Mailbox}
		if l.Status != nil {
			if l.Status.NumMessages != nil {
				f.Total = int(*l.Status.NumMessages)
			}
			if l.Status.NumUnseen != nil {
				f.Unread = int(*l.Status.NumUnseen)
			}
		} else if err := c.Do(ctx, "status "+l.Mailbox, func() error {
			st, err := c.Status(l.Mailbox, &goimap.StatusOptions{NumMessages: true, NumUnseen: true}).Wait()
			if err == nil && st.NumMessages != nil && st.NumUnseen != nil {
				f.Total, f.Unread = int(*st.NumMessages), int(*st.NumUnseen)
			}
			return err
		}); err != nil && !imapt.IsRefusal(err) {
			return fmt.Errorf("%s: %w", a.cfg.Name, err)
		}
		attrs[l.Mailbox] = l.Attrs
		fs = append(fs, f)
	}
	if !hasInbox {
		fs = append([]imapFolder{{Name: maildir.Inbox, Mailbox: "INBOX"}}, fs...)
	}
	a.assignRoles(fs, attrs)
	for _, f := range fs {
		if _, err := a.dir.Folder(f.Name); err != nil {
			return fmt.Errorf("%s: %w", a.cfg.Name, err)
		}
	}
	a.mu.Lock()
	changed := !sameFolders(a.folders, fs)
	a.folders = fs
	for name, fc := range a.caches {
		if m, ok := a.mailboxLocked(name); ok {
			fc.mailbox = m
		}
	}
	err = a.saveFolderListLocked()
	a.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %w", a.cfg.Name, err)
	}
	if changed {
		a.emit(EventFolderChanged, "", nil)
	}
	return nil
}

func sameFolders(x, y []imapFolder) bool {
	if len(x) != len(y) {
		return false
	}
	for i := range x {
		if x[i] != y[i] {
			return false
		}
	}
	return true
}

// mailboxLocked returns the server name of a display name.
func (a *IMAP) mailboxLocked(name string) (string, bool) {
	for _, f := range a.folders {
		if f.Name == name {
			return f.Mailbox, true
		}
	}
	if strings.EqualFold(name, maildir.Inbox) {
		return "INBOX", true
	}
	return "", false
}

// roleFolderLocked returns the display name of the folder playing role,
// or "".
func (a *IMAP) roleFolderLocked(role string) string {
	for _, f := range a.folders {
		if f.Role == role {
			return f.Name
		}
	}
	return ""
}

// Role returns the role folder name plays, or "".
func (a *IMAP) Role(name string) string {
	a.mu.Lock()
	defer a.mu.Unlock()
	for _, f := range a.folders {
		if f.Name == name {
			return f.Role
		}
	}
	if strings.EqualFold(name, maildir.Inbox) {
		return RoleInbox
	}
	if a.isLocalOnlyLocked(name) {
		return a.local.Role(name)
	}
	return ""
}

// cacheLocked returns the loaded cache of a folder, reading its state file
// on first use. It fails for a folder the server has not listed.
func (a *IMAP) cacheLocked(name string) (*folderCache, error) {
	if a.closed {
		return nil, fmt.Errorf("%s: %w", a.cfg.Name, ErrClosed)
	}
	if strings.EqualFold(name, maildir.Inbox) {
		name = maildir.Inbox
	}
	if fc, ok := a.caches[name]; ok {
		return fc, nil
	}
	mbox, ok := a.mailboxLocked(name)
	if !ok {
		return nil, fmt.Errorf("%s: no folder %q", a.cfg.Name, name)
	}
	f, err := a.dir.Folder(name)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", a.cfg.Name, err)
	}
	fc := &folderCache{name: name, mailbox: mbox, f: f, st: loadState(f.Path())}
	a.caches[name] = fc
	return fc, nil
}

// Folders lists the server's folders as last seen, INBOX first, with
// counts from the cache when it is loaded and from STATUS otherwise. It
// never touches the network.
func (a *IMAP) Folders(ctx context.Context) ([]Folder, error) {
	if err := a.checkOpen(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fs := a.folders
	if len(fs) == 0 {
		fs = []imapFolder{{Name: maildir.Inbox, Mailbox: "INBOX", Role: RoleInbox}}
	}
	out := make([]Folder, 0, len(fs))
	for _, f := range fs {
		fo := Folder{Name: f.Name, Role: f.Role, Total: f.Total, Unread: f.Unread}
		if fc, ok := a.caches[f.Name]; ok && fc.st.Complete {
			fo.Total, fo.Unread = fc.counts()
		}
		out = append(out, fo)
	}
	for _, name := range a.localOnlyLocked() {
		fo, _ := a.local.folderInfo(name) // unreadable: listed without counts
		out = append(out, fo)
	}
	// INBOX first, then by name.
	for i := range out {
		if out[i].Name == maildir.Inbox && i > 0 {
			in := out[i]
			copy(out[1:i+1], out[:i])
			out[0] = in
			break
		}
	}
	return out, nil
}

func (fc *folderCache) counts() (total, unread int) {
	return len(fc.st.Msgs), fc.st.unread
}

// List returns the cached envelopes of a folder at once, without touching
// the network; SyncFolder brings them up to date. Envelope.Key is the
// message's MsgID ("UIDVALIDITY.UID") and Envelope.Name is empty. Local
// messages (imap_local.go) are listed with their maildir key and name.
func (a *IMAP) List(ctx context.Context, folder string) ([]Envelope, error) {
	v, err := a.View(ctx, folder)
	if err != nil {
		return nil, err
	}
	out := make([]Envelope, v.Len())
	for i := range out {
		out[i] = v.At(i)
	}
	return out, nil
}

// View returns what List does, as a view of the cache: the list of a
// 50,000-message folder costs 16 bytes a message rather than a copy of
// every envelope. Later changes to the cache do not show in it.
func (a *IMAP) View(ctx context.Context, folder string) (Envelopes, error) {
	if err := a.checkOpen(ctx); err != nil {
		return nil, err
	}
	a.mu.Lock()
	if a.isLocalOnlyLocked(folder) {
		a.mu.Unlock()
		envs, err := a.local.List(ctx, folder)
		return EnvelopeSlice(envs), err
	}
	if _, err := a.cacheLocked(folder); err != nil {
		a.mu.Unlock()
		return nil, err
	}
	withLocal := a.hasLocalLocked(folder)
	a.mu.Unlock()
	// The files of the folder are listed first; the cache is read after,
	// in one piece with the bodies it knows, so that a message the server
	// has just taken over (its file became a cached body) is listed once.
	var files []Envelope
	if withLocal {
		var err error
		if files, err = a.local.List(ctx, folder); err != nil {
			return nil, err
		}
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fc, err := a.cacheLocked(folder)
	if err != nil {
		return nil, err
	}
	v := fc.st.view()
	if len(files) > 0 {
		v.files = uncachedLocked(fc, files)
	}
	return v, nil
}
