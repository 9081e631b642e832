//go:build !unix

package account

import "os"

// tryLockFile without flock(2): the lock file is created and nothing is
// locked; as for POP3 sync, only Unix keeps two processes apart.
func tryLockFile(path string) (unlock func(), busy bool, err error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, false, err
	}
	return func() { f.Close() }, false, nil
}
