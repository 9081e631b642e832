// Package maildir is a durable Maildir++ store.
//
// It implements the maildir format of https://cr.yp.to/proto/maildir.html
// (unique names, tmp → new/cur delivery, the ":2," info of flags) and the
// Maildir++ folder layout (INBOX is the root, a folder "a/b" lives in the
// directory ".a.b" with an empty "maildirfolder" file). Unlike most maildir
// libraries it is durable: a message is fsynced before it becomes visible,
// and the directory that names it is fsynced before a call returns, so a
// power cut after a successful Deliver, Batch.Commit, SetFlags or Move
// loses nothing. Files are created 0600 and directories 0700 whatever the
// umask.
//
// Other programs (mutt, mbsync, Dovecot) rename and delete files at any
// time; every operation that takes an Entry tolerates its file having been
// renamed (it looks the key up again) and reports a vanished message with
// an error wrapping ErrNotFound.
package maildir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"unicode/utf8"
)

// ErrNotFound is wrapped by errors reporting a message that is no longer in
// its folder.
var ErrNotFound = errors.New("message not found")

// Inbox is the name of the root folder.
const Inbox = "INBOX"

const (
	dirMode  = 0o700
	fileMode = 0o600
	// maxFolderName bounds one on-disk folder directory name (most file
	// systems allow 255 bytes).
	maxFolderName = 255
)

// Dir is a Maildir++ tree. Its methods are safe for concurrent use.
type Dir struct {
	root    string
	host    string // hostname encoded for unique names
	pid     int
	counter atomic.Uint64
	sync    syncMode
	// observe, when set by internal tests, is told about every durable
	// step (after it succeeded) so tests can check their order.
	observe func(op, path string)
}

// Open opens the Maildir++ tree at root, creating root and its cur, new
// and tmp directories (0700) when missing.
func Open(root string) (*Dir, error) {
	if root == "" {
		return nil, errors.New("maildir: empty root path")
	}
	root = filepath.Clean(root)
	d := &Dir{root: root, host: encodeHost(hostname()), pid: os.Getpid(), sync: defaultSyncMode()}
	created, err := mkdirAll(root)
	if err != nil {
		return nil, fmt.Errorf("maildir %s: %w", root, err)
	}
	made, err := d.makeSubdirs(root)
	if err != nil {
		return nil, fmt.Errorf("maildir %s: %w", root, err)
	}
	if created || made {
		if err := d.syncDir(root); err != nil {
			return nil, fmt.Errorf("maildir %s: %w", root, err)
		}
		if created {
			if err := d.syncDir(filepath.Dir(root)); err != nil {
				return nil, fmt.Errorf("maildir %s: %w", root, err)
			}
		}
	}
	return d, nil
}

// Root returns the directory of the tree (the INBOX).
func (d *Dir) Root() string { return d.root }

// Folders lists the folders of the tree: "INBOX" first, then the others
// sorted, nested Maildir++ folders ".a.b" as "a/b". Directories whose names
// are not valid folder names, or that lack a cur directory, are skipped.
func (d *Dir) Folders() ([]string, error) {
	ents, err := os.ReadDir(d.root)
	if err != nil {
		return nil, fmt.Errorf("maildir %s: list folders: %w", d.root, err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if len(n) < 2 || n[0] != '.' || n == ".." {
			continue
		}
		if !e.IsDir() && e.Type()&fs.ModeSymlink == 0 {
			continue
		}
		name := strings.ReplaceAll(n[1:], ".", "/")
		if _, err := dirName(name); err != nil || strings.EqualFold(name, Inbox) {
			continue
		}
		if st, err := os.Stat(filepath.Join(d.root, n, "cur")); err != nil || !st.IsDir() {
			continue
		}
		names = append(names, name)
	}
	sort.Strings(names)
	return append([]string{Inbox}, names...), nil
}

// HasFolder reports whether the folder exists.
func (d *Dir) HasFolder(name string) bool {
	dn, err := dirName(name)
	if err != nil {
		return false
	}
	st, err := os.Stat(filepath.Join(d.root, dn, "cur"))
	return err == nil && st.IsDir()
}

// Folder opens the named folder ("INBOX", "Sent", "lists/go"), creating it
// (directories 0700 and the Maildir++ "maildirfolder" file) when missing.
// Names are '/'-separated UTF-8; a component may not be empty, contain '.'
// (the Maildir++ separator), NUL, control characters or invalid UTF-8.
func (d *Dir) Folder(name string) (*Folder, error) {
	dn, err := dirName(name)
	if err != nil {
		return nil, err
	}
	if dn == "" {
		return &Folder{d: d, name: Inbox, path: d.root}, nil
	}
	f := &Folder{d: d, name: name, path: filepath.Join(d.root, dn)}
	if st, err := os.Stat(filepath.Join(f.path, "cur")); err == nil && st.IsDir() {
		return f, nil
	}
	if err := d.createFolder(f.path); err != nil {
		return nil, fmt.Errorf("maildir %s: create folder %q: %w", d.root, name, err)
	}
	return f, nil
}

func (d *Dir) createFolder(path string) error {
	if err := os.Mkdir(path, dirMode); err == nil {
		if err := os.Chmod(path, dirMode); err != nil {
			return err
		}
	} else if !errors.Is(err, fs.ErrExist) {
		return err
	}
	if _, err := d.makeSubdirs(path); err != nil {
		return err
	}
	mf, err := os.OpenFile(filepath.Join(path, "maildirfolder"), os.O_WRONLY|os.O_CREATE, fileMode)
	if err != nil {
		return err
	}
	err = mf.Chmod(fileMode)
	if cerr := mf.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	if err := d.syncDir(path); err != nil {
		return err
	}
	return d.syncDir(d.root)
}

// makeSubdirs creates tmp, new and cur under path; made reports whether
// any was created. cur comes last: a folder counts as existing once cur
// does (Folder, HasFolder), so another process that sees cur finds tmp
// and new already there.
func (d *Dir) makeSubdirs(path string) (made bool, err error) {
	for _, sub := range [...]string{"tmp", "new", "cur"} {
		p := filepath.Join(path, sub)
		if err := os.Mkdir(p, dirMode); err != nil {
			if errors.Is(err, fs.ErrExist) {
				continue
			}
			return made, err
		}
		made = true
		if err := os.Chmod(p, dirMode); err != nil {
			return made, err
		}
	}
	return made, nil
}

// mkdirAll creates path and missing parents 0700.
func mkdirAll(path string) (created bool, err error) {
	if st, err := os.Stat(path); err == nil {
		if !st.IsDir() {
			return false, fmt.Errorf("%s is not a directory", path)
		}
		return false, nil
	}
	if err := os.MkdirAll(filepath.Dir(path), dirMode); err != nil {
		return false, err
	}
	if err := os.Mkdir(path, dirMode); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return false, nil
		}
		return false, err
	}
	return true, os.Chmod(path, dirMode)
}

// dirName maps a folder name to its Maildir++ directory name: "" for the
// INBOX, ".a.b" for "a/b".
func dirName(name string) (string, error) {
	if strings.EqualFold(name, Inbox) {
		return "", nil
	}
	bad := func(why string) (string, error) {
		return "", fmt.Errorf("maildir: invalid folder name %q: %s", name, why)
	}
	if name == "" {
		return bad("empty")
	}
	if !utf8.ValidString(name) {
		return bad("invalid UTF-8")
	}
	if len(name)+1 > maxFolderName {
		return bad("too long")
	}
	for _, comp := range strings.Split(name, "/") {
		switch {
		case comp == "":
			return bad("empty component")
		case comp == "." || comp == "..":
			return bad("relative component")
		case strings.ContainsRune(comp, '.'):
			return bad("'.' is the Maildir++ separator")
		}
		for _, r := range comp {
			if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) || r == '\\' {
				return bad("control character or backslash")
			}
		}
	}
	return "." + strings.ReplaceAll(name, "/", "."), nil
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil || h == "" {
		return "localhost"
	}
	return h
}

// encodeHost replaces '/' by `\057` and ':' by `\072`, as the maildir
// specification asks, so the host part can never split a unique name.
func encodeHost(h string) string {
	var b strings.Builder
	for i := 0; i < len(h); i++ {
		switch c := h[i]; c {
		case '/':
			b.WriteString(`\057`)
		case ':':
			b.WriteString(`\072`)
		default:
			if c < 0x20 || c == 0x7f {
				fmt.Fprintf(&b, `\%03o`, c)
			} else {
				b.WriteByte(c)
			}
		}
	}
	return b.String()
}
