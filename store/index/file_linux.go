package index

import (
	"errors"
	"io"
	"os"
	"path/filepath"

	"golang.org/x/sys/unix"
)

// fileReader reads a file with plain system calls: for the tens of
// thousands of small reads of a rebuild, os.File's poller registration and
// finalizer cost as much as the reads.
type fileReader struct{ fd int }

// folderDirs holds the folder's new/ and cur/ open, so each message is
// opened relative to its directory (one path component to resolve, not
// the whole path).
type folderDirs struct {
	path string
	fds  [2]int // new, cur; -1 when not open
}

func openDirs(folder string) *folderDirs {
	d := &folderDirs{path: folder, fds: [2]int{-1, -1}}
	for i, sub := range [...]string{"new", "cur"} {
		if fd, err := unix.Open(filepath.Join(folder, sub), unix.O_RDONLY|unix.O_DIRECTORY|unix.O_CLOEXEC, 0); err == nil {
			d.fds[i] = fd
		}
	}
	return d
}

func (d *folderDirs) close() {
	for _, fd := range d.fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// open opens the message name ("new/KEY", "cur/KEY:2,S") of the folder.
func (r *fileReader) open(d *folderDirs, name string) (size int64, err error) {
	i := 1
	if name[0] == 'n' {
		i = 0
	}
	dirfd, rel := d.fds[i], name[4:]
	if dirfd < 0 {
		dirfd, rel = unix.AT_FDCWD, filepath.Join(d.path, name)
	}
	path := name // for errors
	var fd int
	for {
		fd, err = unix.Openat(dirfd, rel, unix.O_RDONLY|unix.O_CLOEXEC|unix.O_NONBLOCK, 0)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		return 0, &os.PathError{Op: "open", Path: path, Err: err}
	}
	var st unix.Stat_t
	if err := unix.Fstat(fd, &st); err != nil {
		unix.Close(fd)
		return 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	if st.Mode&unix.S_IFMT != unix.S_IFREG {
		// A FIFO or device planted in the maildir must not hang or feed us.
		unix.Close(fd)
		return 0, &os.PathError{Op: "open", Path: path, Err: errors.New("not a regular file")}
	}
	r.fd = fd
	return st.Size, nil
}

func (r *fileReader) Read(p []byte) (int, error) {
	for {
		n, err := unix.Read(r.fd, p)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return 0, err
		}
		if n == 0 && len(p) > 0 {
			return 0, io.EOF
		}
		return n, nil
	}
}

func (r *fileReader) close() { unix.Close(r.fd) }

// dirStamp returns the inode and modification time (ns) of a directory.
func dirStamp(path string) (ino, mtime uint64, err error) {
	var st unix.Stat_t
	if err := unix.Stat(path, &st); err != nil {
		return 0, 0, &os.PathError{Op: "stat", Path: path, Err: err}
	}
	return st.Ino, uint64(st.Mtim.Nano()), nil
}
