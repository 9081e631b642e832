//go:build !linux

package index

import (
	"errors"
	"os"
	"path/filepath"
)

// fileReader reads one file at a time.
type fileReader struct{ f *os.File }

// folderDirs names the folder whose messages are opened.
type folderDirs struct{ path string }

func openDirs(folder string) *folderDirs { return &folderDirs{path: folder} }

func (d *folderDirs) close() {}

// open opens the message name ("new/KEY", "cur/KEY:2,S") of the folder.
func (r *fileReader) open(d *folderDirs, name string) (int64, error) {
	path := filepath.Join(d.path, name)
	f, err := os.Open(path)
	if err != nil {
		return 0, err
	}
	st, err := f.Stat()
	if err != nil {
		f.Close()
		return 0, err
	}
	if !st.Mode().IsRegular() {
		f.Close()
		return 0, &os.PathError{Op: "open", Path: path, Err: errors.New("not a regular file")}
	}
	r.f = f
	return st.Size(), nil
}

func (r *fileReader) Read(p []byte) (int, error) { return r.f.Read(p) }

func (r *fileReader) close() { r.f.Close() }

// dirStamp returns the modification time (ns) of a directory; the inode
// is not portable and left zero.
func dirStamp(path string) (ino, mtime uint64, err error) {
	st, err := os.Stat(path)
	if err != nil {
		return 0, 0, err
	}
	return 0, uint64(st.ModTime().UnixNano()), nil
}
