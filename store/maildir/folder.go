package maildir

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Folder is one maildir (cur, new, tmp) of a Dir.
type Folder struct {
	d    *Dir
	name string
	path string
}

// Entry names one message of a folder.
type Entry struct {
	Key   string // the unique name: the file name before ":2,"
	Name  string // relative to the folder: "new/KEY" or "cur/KEY:2,FS"
	Flags Flags
}

// MaxFindAttempts bounds how often an operation looks a message up again
// when its file keeps being renamed under it.
const maxFindAttempts = 4

// Name returns the folder's name ("INBOX", "Sent", "a/b").
func (f *Folder) Name() string { return f.name }

// Path returns the folder's directory.
func (f *Folder) Path() string { return f.path }

// Dir returns the tree the folder belongs to.
func (f *Folder) Dir() *Dir { return f.d }

// List reads the names in new/ and cur/, without a stat per file. Dot files
// and names without a key are skipped. A message that another program
// renames while List reads can be listed twice, under its old and new
// names; callers that need unique keys drop the repeats.
func (f *Folder) List() ([]Entry, error) {
	var out []Entry
	var err error
	for _, sub := range [...]string{"new", "cur"} {
		if out, err = appendEntries(out, filepath.Join(f.path, sub), sub); err != nil {
			return nil, fmt.Errorf("maildir %s: list: %w", f.path, err)
		}
	}
	return out, nil
}

func growEntries(out []Entry, n int) []Entry {
	if cap(out)-len(out) < n {
		grown := make([]Entry, len(out), len(out)+n+n/8)
		copy(grown, out)
		out = grown
	}
	return out
}

func readNames(dir string) ([]string, error) {
	d, err := os.Open(dir)
	if err != nil {
		return nil, err
	}
	defer d.Close()
	return d.Readdirnames(-1)
}

// ParseName makes the Entry of a name relative to the folder ("new/KEY",
// "cur/KEY:2,FS") without copying it; ok is false for names a maildir
// reader must ignore.
func ParseName(name string) (Entry, bool) {
	if len(name) < 5 || (name[:4] != "new/" && name[:4] != "cur/") || name[4] == '.' ||
		strings.ContainsAny(name[4:], "/\x00") {
		return Entry{}, false
	}
	return entryFromName(name)
}

// parseEntry makes the Entry of file base in sub ("new" or "cur"); ok is
// false for names a maildir reader must ignore.
func parseEntry(sub, base string) (Entry, bool) {
	if base == "" || base[0] == '.' || strings.IndexByte(base, '/') >= 0 || (sub != "new" && sub != "cur") {
		return Entry{}, false
	}
	name := sub + "/" + base
	return entryFromName(name)
}

// entryFromName splits a "sub/base" name that is known to be well formed
// apart from the key.
func entryFromName(name string) (Entry, bool) {
	base := name[4:]
	key, info := base, ""
	if i := strings.IndexByte(base, ':'); i >= 0 {
		key, info = base[:i], base[i+1:]
	}
	if key == "" {
		return Entry{}, false
	}
	e := Entry{Key: name[4 : 4+len(key)], Name: name}
	if strings.HasPrefix(info, "2,") {
		e.Flags = ParseFlags(info[2:])
	}
	return e, true
}

func validKey(key string) bool {
	return key != "" && key[0] != '.' && !strings.ContainsAny(key, "/:\x00")
}

// path returns the absolute path of e, refusing names that are not a
// plain file in new/ or cur/.
func (f *Folder) entryPath(e Entry) (string, error) {
	n := e.Name
	if len(n) < 5 || (n[:4] != "new/" && n[:4] != "cur/") || strings.ContainsAny(n[4:], "/\x00") || n[4] == '.' {
		return "", fmt.Errorf("maildir %s: invalid entry name %q", f.path, n)
	}
	return filepath.Join(f.path, n), nil
}

func (f *Folder) notFound(key string) error {
	return fmt.Errorf("maildir %s: message %s: %w", f.path, key, ErrNotFound)
}

// Find locates the message with the given key in new/ or cur/, whatever
// its flags. A missing message gives an error wrapping ErrNotFound.
func (f *Folder) Find(key string) (Entry, error) {
	if !validKey(key) {
		return Entry{}, fmt.Errorf("maildir %s: invalid key %q", f.path, key)
	}
	for _, sub := range [...]string{"new", "cur"} {
		// The common case, a message still in new/, costs one stat.
		if sub == "new" {
			if _, err := os.Lstat(filepath.Join(f.path, "new", key)); err == nil {
				e, _ := parseEntry("new", key)
				return e, nil
			}
		}
		d, err := os.Open(filepath.Join(f.path, sub))
		if err != nil {
			return Entry{}, fmt.Errorf("maildir %s: find %s: %w", f.path, key, err)
		}
		for {
			names, err := d.Readdirnames(4096)
			for _, n := range names {
				if strings.HasPrefix(n, key) && (len(n) == len(key) || n[len(key)] == ':') {
					if e, ok := parseEntry(sub, n); ok {
						d.Close()
						return e, nil
					}
				}
			}
			if err == io.EOF || len(names) == 0 {
				break
			}
			if err != nil {
				d.Close()
				return Entry{}, fmt.Errorf("maildir %s: find %s: %w", f.path, key, err)
			}
		}
		d.Close()
	}
	return Entry{}, f.notFound(key)
}

// retry runs op on the path of e; when the file is gone it looks the key
// up again and retries with the new entry.
func (f *Folder) retry(e Entry, op func(path string, e Entry) error) (Entry, error) {
	for attempt := 0; ; attempt++ {
		p, err := f.entryPath(e)
		if err != nil {
			return e, err
		}
		err = op(p, e)
		if err == nil || !errors.Is(err, fs.ErrNotExist) {
			return e, err
		}
		if attempt+1 >= maxFindAttempts {
			return e, f.notFound(e.Key)
		}
		ne, ferr := f.Find(e.Key)
		if ferr != nil {
			return e, ferr
		}
		e = ne
	}
}

// Open opens the message file of e for reading. When the file was renamed
// (flags changed by another program) it is found by its key; the returned
// Entry is the current one. A message that is gone gives an error wrapping
// ErrNotFound.
func (f *Folder) Open(e Entry) (*os.File, Entry, error) {
	var file *os.File
	e, err := f.retry(e, func(p string, _ Entry) error {
		var err error
		file, err = os.Open(p)
		return err
	})
	if err != nil {
		return nil, e, err
	}
	return file, e, nil
}

// SetFlags renames the message into cur/ with exactly the given flags and
// makes the rename durable. It tolerates the file having been renamed by
// another program.
func (f *Folder) SetFlags(e Entry, flags Flags) (Entry, error) {
	flags = ParseFlags(string(flags))
	var out Entry
	_, err := f.retry(e, func(p string, cur Entry) error {
		name := "cur/" + cur.Key + ":2," + string(flags)
		out = Entry{Key: name[4 : 4+len(cur.Key)], Name: name, Flags: flags}
		if cur.Name == name {
			return nil
		}
		if err := os.Rename(p, filepath.Join(f.path, name)); err != nil {
			return err
		}
		f.d.note("rename", filepath.Join(f.path, name))
		if err := f.d.syncDir(filepath.Join(f.path, "cur")); err != nil {
			return err
		}
		if cur.Name[:3] == "new" {
			return f.d.syncDir(filepath.Join(f.path, "new"))
		}
		return nil
	})
	if err != nil {
		return e, fmt.Errorf("maildir %s: set flags of %s: %w", f.path, e.Key, err)
	}
	return out, nil
}

// Move moves the message into folder to, keeping its key, directory and
// flags. The target directory is fsynced before the source one, so a power
// cut can leave the message in both folders but never in neither.
func (f *Folder) Move(e Entry, to *Folder) (Entry, error) {
	if to.path == f.path {
		return f.Find(e.Key)
	}
	var out Entry
	_, err := f.retry(e, func(p string, cur Entry) error {
		out = cur
		dst := filepath.Join(to.path, cur.Name)
		err := renameNoReplace(p, dst)
		if isCrossDevice(err) {
			return f.copyMove(p, cur, to)
		}
		if err != nil {
			return err
		}
		f.d.note("rename", dst)
		if err := f.d.syncDir(filepath.Dir(dst)); err != nil {
			return err
		}
		return f.d.syncDir(filepath.Dir(p))
	})
	if err != nil {
		return e, fmt.Errorf("maildir %s: move %s to %s: %w", f.path, e.Key, to.name, err)
	}
	return out, nil
}

// copyMove moves across file systems: a durable copy with the same name
// into the target, then removal of the source.
func (f *Folder) copyMove(src string, e Entry, to *Folder) error {
	in, err := os.Open(src)
	if err != nil {
		return err
	}
	defer in.Close()
	tmp := filepath.Join(to.path, "tmp", e.Key)
	if err := to.writeTmp(tmp, in, nil); err != nil {
		return err
	}
	if err := to.d.fsyncPath(tmp); err != nil {
		os.Remove(tmp)
		return err
	}
	dst := filepath.Join(to.path, e.Name)
	if err := renameNoReplace(tmp, dst); err != nil {
		os.Remove(tmp)
		return err
	}
	to.d.note("rename", dst)
	if err := to.d.syncDir(filepath.Dir(dst)); err != nil {
		return err
	}
	if err := os.Remove(src); err != nil {
		return err
	}
	return f.d.syncDir(filepath.Dir(src))
}

// Remove deletes the message for good and makes the deletion durable.
func (f *Folder) Remove(e Entry) error {
	_, err := f.retry(e, func(p string, _ Entry) error {
		if err := os.Remove(p); err != nil {
			return err
		}
		return f.d.syncDir(filepath.Dir(p))
	})
	if err != nil {
		return fmt.Errorf("maildir %s: remove %s: %w", f.path, e.Key, err)
	}
	return nil
}

// Clean removes files in tmp/ last modified more than olderThan ago; the
// maildir specification suggests 36 hours.
func (f *Folder) Clean(olderThan time.Duration) error {
	dir := filepath.Join(f.path, "tmp")
	names, err := readNames(dir)
	if err != nil {
		return fmt.Errorf("maildir %s: clean: %w", f.path, err)
	}
	cutoff := time.Now().Add(-olderThan)
	var first error
	for _, n := range names {
		p := filepath.Join(dir, n)
		st, err := os.Lstat(p)
		if err != nil || !st.Mode().IsRegular() || !st.ModTime().Before(cutoff) {
			continue
		}
		if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) && first == nil {
			first = fmt.Errorf("maildir %s: clean: %w", f.path, err)
		}
	}
	return first
}
