package real

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
)

// TempUserPrefix starts the name of every pool user (tmp-001 …); postfix
// accepts mail for them too.
const TempUserPrefix = "tmp-"

// TempUser claims a user of its own for this test from the pool that
// .ci/servers creates (tmp-001 … tmp-NNN, password "secret-" + name), with an
// empty mailbox, and returns its name and password. At cleanup the mail is
// removed and the user goes back to the pool. Use it whenever a test counts,
// deletes or expects particular mail: the named users are shared with every
// other test package running at the same time.
func (s *Servers) TempUser(t testing.TB) (user, password string) {
	t.Helper()
	user, password, release, err := s.ClaimUser()
	if err != nil {
		t.Fatalf("real servers: %v", err)
	}
	t.Cleanup(func() {
		if err := release(); err != nil {
			t.Errorf("real servers: %v", err)
		}
	})
	return user, password
}

// ClaimUser is TempUser outside tests: release empties the mailbox and
// returns the user to the pool. A claim is the file CLAIMS_DIR/USER holding
// the claimer's pid (created with O_EXCL, so processes never share a user); a
// claim whose process has died is taken over.
func (s *Servers) ClaimUser() (user, password string, release func() error, err error) {
	if s.ClaimsDir == "" || s.TempUsers <= 0 {
		return "", "", nil, errors.New("claim user: env.json has no pool of temporary users (restart .ci/servers)")
	}
	for i := 1; i <= s.TempUsers; i++ {
		user = fmt.Sprintf("%s%03d", TempUserPrefix, i)
		claim := filepath.Join(s.ClaimsDir, user)
		ok, err := tryClaim(claim)
		if err != nil {
			return "", "", nil, fmt.Errorf("claim user %s: %w", user, err)
		}
		if !ok {
			continue
		}
		// A previous owner that died may have left mail behind.
		if err := s.removeMail(user); err != nil {
			os.Remove(claim)
			return "", "", nil, fmt.Errorf("claim user %s: %w", user, err)
		}
		release = func() error {
			err := s.removeMail(user)
			if rmErr := os.Remove(claim); err == nil && rmErr != nil {
				err = rmErr
			}
			if err != nil {
				return fmt.Errorf("release user %s: %w", user, err)
			}
			return nil
		}
		return user, "secret-" + user, release, nil
	}
	return "", "", nil, fmt.Errorf("claim user: all %d temporary users are claimed (%s)", s.TempUsers, s.ClaimsDir)
}

// tryClaim creates path exclusively with our pid; an existing claim of a dead
// process is removed and tried again once.
func tryClaim(path string) (bool, error) {
	for attempt := 0; attempt < 2; attempt++ {
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if err == nil {
			_, werr := f.WriteString(strconv.Itoa(os.Getpid()) + "\n")
			if cerr := f.Close(); werr == nil {
				werr = cerr
			}
			if werr != nil {
				os.Remove(path)
				return false, werr
			}
			return true, nil
		}
		if !errors.Is(err, os.ErrExist) {
			return false, err
		}
		if !claimStale(path) {
			return false, nil
		}
		// Two processes may both find it stale: only one Remove+O_EXCL wins.
		if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
			return false, err
		}
	}
	return false, nil
}

// claimStale reports whether the process named in a claim file is gone.
func claimStale(path string) bool {
	b, err := os.ReadFile(path)
	if err != nil {
		return false // just released, or being written: leave it
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		// Half-written by a live claimer, or garbage: only the latter is
		// stale, and a claim file is written in one go, so wait for a
		// later run to clean it up.
		return false
	}
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

// removeMail deletes the user's mail directory (home and maildir); dovecot
// creates it again on the next delivery or login.
func (s *Servers) removeMail(user string) error {
	if s.MailRoot == "" || strings.ContainsAny(user, "/.") {
		return fmt.Errorf("remove mail of %q: bad mail root or user", user)
	}
	return os.RemoveAll(filepath.Join(s.MailRoot, user))
}
