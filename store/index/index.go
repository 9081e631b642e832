// Package index keeps a per-folder cache of message envelopes next to a
// maildir, so a folder of 100,000 messages lists in tens of milliseconds.
//
// The maildir is the truth: Load lists the directory, keeps what the index
// knows about files still there (taking flags and the current name from the
// file name, which other programs change at any time), parses only the
// files it has not seen, drops those that vanished, and rewrites the index
// atomically when anything changed. An index that is missing, of another
// version, truncated or corrupt is rebuilt; it is never fatal.
package index

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/message"
)

// Options tunes an Index; nil means defaults.
type Options struct {
	// Workers is how many files are parsed at once when the index
	// lacks them; 0 means twice GOMAXPROCS.
	Workers int
}

// Index is the envelope index of one folder. Load may be called from
// several goroutines; each call reads and writes the file atomically.
type Index struct {
	f       *maildir.Folder
	path    string
	workers int
	// listAlways makes Load list the directory even when its stamp
	// matches (internal tests and benchmarks).
	listAlways bool
}

// Open returns the index of folder f. It does no I/O.
func Open(f *maildir.Folder, opt *Options) *Index {
	w := 0
	if opt != nil {
		w = opt.Workers
	}
	if w <= 0 {
		w = 2 * runtime.GOMAXPROCS(0)
	}
	return &Index{f: f, path: filepath.Join(f.Path(), FileName), workers: w}
}

// Path returns the index file's path.
func (ix *Index) Path() string { return ix.path }

// Load returns the envelopes of every message in the folder, in directory
// listing order. When new/ and cur/ are unchanged since the index was
// written (same inodes and modification times, recorded when they were
// at least racyWindow old, as Dovecot and Git do with their caches), the
// index is returned as it is. Otherwise the directory is listed and
// reconciled with the index: known files keep their envelope (with the
// name and flags of the file), new files are parsed in parallel, vanished
// ones dropped, and the index is rewritten. Messages that vanish while
// being parsed are left out. Only a failure to list the folder is an
// error: the index is a cache, and one that cannot be read or written is
// rebuilt on the next Load.
func (ix *Index) Load() ([]Envelope, error) {
	now := time.Now()
	st, stErr := ix.stamp()
	old, oldStamp, err := readIndex(ix.path)
	if err == nil && stErr == nil && st != (stamp{}) && oldStamp == st && !ix.listAlways {
		return old, nil
	}
	if err != nil {
		old = nil // missing or unusable: rebuild
	}
	trusted := stamp{}
	if stErr == nil && trustworthy(st, now) {
		trusted = st
	}
	listed, listErr := ix.f.List()
	if listErr != nil {
		return nil, fmt.Errorf("index %s: %w", ix.f.Path(), listErr)
	}
	// Unchanged names in the same order.
	if err == nil && len(old) == len(listed) {
		same := true
		for i := range listed {
			if old[i].Name != listed[i].Name {
				same = false
				break
			}
		}
		if same {
			if oldStamp != trusted {
				ix.write(old, trusted)
			}
			return old, nil
		}
	}
	out, toParse := reconcile(old, listed)
	ix.parse(out, toParse)
	// Drop duplicates and what vanished while parsing (empty Names).
	n := 0
	for i := range out {
		if out[i].Name != "" {
			out[n] = out[i]
			n++
		}
	}
	clear(out[n:])
	out = out[:n]
	ix.write(out, trusted) // best effort: the index is only a cache
	return out, nil
}

// racyWindow is how old a directory's modification time must be before
// it is trusted to change with the next change: file systems stamp with a
// coarse clock, so a change within the same tick could go unseen.
const racyWindow = 2 * time.Second

func trustworthy(st stamp, now time.Time) bool {
	limit := uint64(now.Add(-racyWindow).UnixNano())
	return st.newMtime != 0 && st.curMtime != 0 && st.newMtime < limit && st.curMtime < limit
}

// stamp reads the inodes and modification times of new/ and cur/.
func (ix *Index) stamp() (stamp, error) {
	ni, nm, err := dirStamp(filepath.Join(ix.f.Path(), "new"))
	if err != nil {
		return stamp{}, err
	}
	ci, cm, err := dirStamp(filepath.Join(ix.f.Path(), "cur"))
	if err != nil {
		return stamp{}, err
	}
	return stamp{newIno: ni, newMtime: nm, curIno: ci, curMtime: cm}, nil
}

// reconcile lays out one envelope per listed entry, filled from old where
// the key is known (with the listed name and flags), and returns the
// positions still to parse. A key listed twice (a file renamed while the
// directory was read shows up under both names) is kept once; the
// duplicate gets an empty Name.
func reconcile(old []Envelope, listed []maildir.Entry) ([]Envelope, []int) {
	out := make([]Envelope, len(listed))
	var byKey map[string]int32
	used := make([]bool, len(old))
	var toParse []int
	var pending map[string]bool // keys in toParse
	for i, le := range listed {
		j := -1
		if i < len(old) && old[i].Name == le.Name && !used[i] {
			j = i
		} else if len(old) > 0 {
			if byKey == nil {
				byKey = make(map[string]int32, len(old))
				for k := range old {
					byKey[old[k].Key] = int32(k)
				}
			}
			if k, ok := byKey[le.Key]; ok {
				if used[k] {
					continue // listed twice
				}
				j = int(k)
			}
		}
		if j < 0 {
			if pending == nil {
				pending = make(map[string]bool)
			}
			if pending[le.Key] {
				continue // listed twice
			}
			pending[le.Key] = true
			out[i] = Envelope{Key: le.Key, Name: le.Name, Flags: le.Flags}
			toParse = append(toParse, i)
			continue
		}
		used[j] = true
		out[i] = old[j]
		if old[j].Name != le.Name {
			out[i].Key, out[i].Name, out[i].Flags = le.Key, le.Name, le.Flags
		}
	}
	return out, toParse
}

// parse fills out[i] for every i in todo from the message files, in
// parallel; a file that vanished gets an empty Name.
func (ix *Index) parse(out []Envelope, todo []int) {
	if len(todo) == 0 {
		return
	}
	const chunk = 32
	dirs := openDirs(ix.f.Path())
	defer dirs.close()
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(ix.workers, (len(todo)+chunk-1)/chunk) {
		wg.Go(func() {
			p := newParser()
			for {
				start := int(next.Add(chunk)) - chunk
				if start >= len(todo) {
					return
				}
				for _, i := range todo[start:min(start+chunk, len(todo))] {
					e := &out[i]
					if err := p.summarize(dirs, e); errors.Is(err, fs.ErrNotExist) {
						e.Name = ""
					}
				}
			}
		})
	}
	wg.Wait()
}

// Summarize parses one message of f into an Envelope, following the file
// if another program renamed it. A vanished message gives an error
// wrapping maildir.ErrNotFound.
func Summarize(f *maildir.Folder, e maildir.Entry) (Envelope, error) {
	file, cur, err := f.Open(e)
	if err != nil {
		return Envelope{}, err
	}
	defer file.Close()
	env := Envelope{Key: cur.Key, Name: cur.Name, Flags: cur.Flags}
	if st, err := file.Stat(); err == nil {
		env.Size = st.Size()
	}
	s, err := message.ReadSummary(file)
	fill(&env, s)
	if err != nil {
		return env, fmt.Errorf("index: summarize %s: %w", cur.Name, err)
	}
	return env, nil
}

func fill(e *Envelope, s message.Summary) {
	e.Date = s.Date
	e.From, e.To, e.Cc = s.From, s.To, s.Cc
	e.Subject = s.Subject
	e.MessageID, e.InReplyTo, e.References = s.MessageID, s.InReplyTo, s.References
}

// write replaces the index file atomically: a temporary file in the same
// directory, fsynced, renamed over the old one.
func (ix *Index) write(envs []Envelope, st stamp) error {
	hdr, recs, blob, err := encode(envs, st)
	if err != nil {
		return fmt.Errorf("index %s: %w", ix.path, err)
	}
	var rnd [6]byte
	rand.Read(rnd[:])
	tmp := ix.path + ".tmp-" + hex.EncodeToString(rnd[:])
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("index %s: %w", ix.path, err)
	}
	err = f.Chmod(0o600)
	for _, b := range [][]byte{hdr, recs, blob} {
		if err == nil {
			_, err = f.Write(b)
		}
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, ix.path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("index %s: write: %w", ix.path, err)
	}
	return nil
}
