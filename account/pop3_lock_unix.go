//go:build unix

package account

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// errSyncRunning is wrapped when another process syncs the same maildir.
var errSyncRunning = errors.New("another mailbag is syncing this account (its lock is held)")

// lockMaildir takes an exclusive flock(2) on ROOT/.mailbag-pop3.lock, so
// two processes (the TUI and a cron `mailbag sync`) never download into
// the same maildir at once and never overwrite each other's state. The
// kernel drops the lock when the process dies, so a killed sync never
// leaves a stale lock.
func lockMaildir(root string) (unlock func(), err error) {
	path := filepath.Join(root, ".mailbag-pop3.lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("lock %s: %w", path, errSyncRunning)
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	return func() { f.Close() }, nil
}
