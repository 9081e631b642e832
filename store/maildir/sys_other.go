//go:build !linux

package maildir

import (
	"errors"
	"os"
	"syscall"
)

func defaultSyncMode() syncMode { return syncFiles }

var errNoSyncfs = errors.New("syncfs not supported")

func renameNoReplace(oldpath, newpath string) error {
	if _, err := os.Lstat(newpath); err == nil {
		return &os.LinkError{Op: "rename", Old: oldpath, New: newpath, Err: os.ErrExist}
	}
	return os.Rename(oldpath, newpath)
}

func isCrossDevice(err error) bool { return errors.Is(err, syscall.EXDEV) }

func syncFilesystem(string) error { return errNoSyncfs }
