package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"time"
)

// OutboxStateFile is the name of the retry state kept inside the Outbox
// maildir folder's directory (maildir readers ignore files there that are
// not cur, new or tmp, as they ignore Dovecot's dovecot-uidlist).
const OutboxStateFile = "mailbag-outbox.json"

// outboxLockFile is flock(2)ed while a process sends from the Outbox.
const outboxLockFile = "mailbag-outbox.lock"

// Retry backoff of a queued message: MinRetry after the first failure,
// doubling with every further one, never more than MaxRetry.
const (
	MinRetry = time.Minute
	MaxRetry = 6 * time.Hour
)

const maxOutboxState = 4 << 20 // bytes; a larger state file is corrupt

// Backoff is the wait before the next attempt after the n-th failed one
// (n ≥ 1): 1m, 2m, 4m … capped at 6h.
func Backoff(n int) time.Duration {
	if n < 1 {
		return 0
	}
	d := MinRetry
	for i := 1; i < n; i++ {
		d *= 2
		if d >= MaxRetry {
			return MaxRetry
		}
	}
	return d
}

// QueuedMessage describes one message waiting in the Outbox.
type QueuedMessage struct {
	ID        MsgID
	Attempts  int       // failed attempts so far
	Next      time.Time // when Flush tries it again; zero: at the next Flush
	LastError string    // the last failure, as the server or the network said
}

// outboxEntry is the retry state of one Outbox message, by maildir key.
type outboxEntry struct {
	Attempts  int       `json:"attempts,omitempty"`
	Next      time.Time `json:"next,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// Accepted is set once the server answered 250 to the final dot but
	// before the copy for Sent (without Bcc) is stored: a restart then
	// files the message in Sent and never transmits it again.
	Accepted   bool      `json:"accepted,omitempty"`
	AcceptedAt time.Time `json:"accepted_at,omitzero"`
	MessageID  string    `json:"message_id,omitempty"`
}

// outboxState is the whole state file: a version and the entries.
type outboxState struct {
	path    string
	Version int                     `json:"version"`
	Entries map[string]*outboxEntry `json:"entries"`
}

// loadOutboxState reads the state file; a missing file is an empty state.
// A corrupt one is set aside (".corrupt") and replaced by an empty state:
// losing retry counts only means messages are tried again sooner, and
// losing an Accepted mark costs at worst one duplicate delivery.
func loadOutboxState(dir string) (*outboxState, error) {
	st := &outboxState{path: filepath.Join(dir, OutboxStateFile), Version: 1, Entries: map[string]*outboxEntry{}}
	f, err := os.Open(st.path)
	if errors.Is(err, os.ErrNotExist) {
		return st, nil
	}
	if err != nil {
		return nil, fmt.Errorf("outbox state: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxOutboxState+1))
	if err != nil {
		return nil, fmt.Errorf("outbox state %s: %w", st.path, err)
	}
	var v outboxState
	if len(data) > maxOutboxState || json.Unmarshal(data, &v) != nil || v.Version != 1 {
		os.Rename(st.path, st.path+".corrupt")
		return st, nil
	}
	for k, e := range v.Entries {
		if e != nil && validOutboxKey(k) {
			st.Entries[k] = e
		}
	}
	return st, nil
}

func validOutboxKey(k string) bool {
	if k == "" || len(k) > 255 || k[0] == '.' {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c == '/' || c == ':' || c < 0x20 || c == 0x7f {
			return false
		}
	}
	return true
}

// save replaces the state file atomically and durably (temporary file,
// fsync, rename, directory fsync): a crash leaves the old or the new file.
func (st *outboxState) save() error {
	data, err := json.MarshalIndent(st, "", "\t")
	if err != nil {
		return fmt.Errorf("outbox state: %w", err)
	}
	return writeStateFile(st.path, data)
}

// prune drops entries for keys no longer in the Outbox.
func (st *outboxState) prune(present map[string]bool) bool {
	changed := false
	for k := range st.Entries {
		if !present[k] {
			delete(st.Entries, k)
			changed = true
		}
	}
	return changed
}

// queued lists the entries for the given keys, oldest key first.
func (st *outboxState) queued(keys []string) []QueuedMessage {
	sort.Strings(keys)
	out := make([]QueuedMessage, 0, len(keys))
	for _, k := range keys {
		q := QueuedMessage{ID: MsgID(k)}
		if e := st.Entries[k]; e != nil {
			q.Attempts, q.Next, q.LastError = e.Attempts, e.Next, e.LastError
		}
		out = append(out, q)
	}
	return out
}

// lockOutbox takes the Outbox lock, waiting (polling every lockPoll)
// until ctx ends. Two processes (the TUI and `mailbag send` or a cron
// `mailbag sync`) never send from the same Outbox at once, so no message
// is transmitted by both. The kernel drops the lock of a killed process.
func lockOutbox(ctx context.Context, dir string) (unlock func(), err error) {
	path := filepath.Join(dir, outboxLockFile)
	t := time.NewTicker(lockPoll)
	defer t.Stop()
	for {
		unlock, busy, err := tryLockFile(path)
		if err != nil {
			return nil, fmt.Errorf("outbox lock %s: %w", path, err)
		}
		if !busy {
			return unlock, nil
		}
		select {
		case <-ctx.Done():
			return nil, fmt.Errorf("outbox lock %s: another mailbag is sending (%w)", path, ctx.Err())
		case <-t.C:
		}
	}
}

const lockPoll = 50 * time.Millisecond
