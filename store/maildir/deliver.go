package maildir

import (
	"crypto/rand"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"time"
)

// syncMode chooses how a Batch makes its files durable.
type syncMode int

const (
	// syncFiles fsyncs every file, from a few goroutines at once.
	syncFiles syncMode = iota
	// syncFS flushes the whole file system once with syncfs(2) when a
	// batch has at least syncFSMin files, and fsyncs smaller ones.
	syncFS
	// syncNone skips fsync: for generated data (tests, benchmarks).
	syncNone
)

// syncWorkers is how many files a Batch fsyncs at once.
const syncWorkers = 8

// syncFSMin is the smallest batch flushed with syncfs(2): below it, the
// cost of flushing other programs' dirty data on the same file system may
// outweigh a few fsyncs.
const syncFSMin = 16

// newKey returns a unique name as the maildir specification describes:
// seconds, then M microseconds, P process id, Q a per-Dir counter and
// R crypto random, then the encoded host name.
func (d *Dir) newKey() string {
	now := time.Now()
	var rnd [8]byte
	rand.Read(rnd[:])
	b := make([]byte, 0, 64+len(d.host))
	b = strconv.AppendInt(b, now.Unix(), 10)
	b = append(b, ".M"...)
	b = strconv.AppendInt(b, int64(now.Nanosecond()/1000), 10)
	b = append(b, 'P')
	b = strconv.AppendInt(b, int64(d.pid), 10)
	b = append(b, 'Q')
	b = strconv.AppendUint(b, d.counter.Add(1), 10)
	b = append(b, 'R')
	b = strconv.AppendUint(b, binary.LittleEndian.Uint64(rnd[:]), 36)
	b = append(b, '.')
	b = append(b, d.host...)
	return string(b)
}

func (d *Dir) note(op, path string) {
	if d.observe != nil {
		d.observe(op, path)
	}
}

// syncDir fsyncs a directory, making the names in it durable.
func (d *Dir) syncDir(path string) error {
	if err := fsyncPath(path); err != nil {
		return err
	}
	d.note("syncdir", path)
	return nil
}

// fsyncPath fsyncs the file at path.
func (d *Dir) fsyncPath(path string) error {
	if err := fsyncPath(path); err != nil {
		return err
	}
	d.note("fsync", path)
	return nil
}

func fsyncPath(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	err = f.Sync()
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync %s: %w", path, err)
	}
	return nil
}

// writeTmp creates path (which must not exist) 0600 and copies r into it;
// buf, when not nil, is the copy buffer. It does not fsync. On error the
// file is removed.
func (f *Folder) writeTmp(path string, r io.Reader, buf []byte) error {
	file, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, fileMode)
	if err != nil {
		return err
	}
	// The umask may have cleared bits of fileMode; a wider umask-free
	// mode is never created, so only this narrowing needs fixing.
	err = file.Chmod(fileMode)
	if err == nil {
		if buf == nil {
			buf = make([]byte, 32*1024)
		}
		_, err = io.CopyBuffer(onlyWriter{file}, r, buf)
	}
	if cerr := file.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
		return err
	}
	f.d.note("write", path)
	return nil
}

// onlyWriter hides os.File's ReadFrom so io.CopyBuffer uses our buffer
// rather than allocating (or splicing from a source that is not a file).
type onlyWriter struct{ w io.Writer }

func (o onlyWriter) Write(p []byte) (int, error) { return o.w.Write(p) }

// finalName is where a delivered message with these flags lands: new/KEY
// without flags, cur/KEY:2,FLAGS with them.
func finalName(key string, flags Flags) Entry {
	if flags == "" {
		name := "new/" + key
		return Entry{Key: name[4:], Name: name}
	}
	name := "cur/" + key + ":2," + string(flags)
	return Entry{Key: name[4 : 4+len(key)], Name: name, Flags: flags}
}

// Deliver stores one message durably: it is written to tmp/ (0600),
// fsynced, renamed into new/ (no flags) or cur/KEY:2,FLAGS, and the
// directory is fsynced before Deliver returns. For many messages a Batch
// is much faster.
func (f *Folder) Deliver(r io.Reader, flags Flags) (Entry, error) {
	flags = ParseFlags(string(flags))
	key := f.d.newKey()
	tmp := filepath.Join(f.path, "tmp", key)
	if err := f.writeTmp(tmp, r, nil); err != nil {
		return Entry{}, fmt.Errorf("maildir %s: deliver: %w", f.path, err)
	}
	e := finalName(key, flags)
	if err := f.commitOne(tmp, e); err != nil {
		os.Remove(tmp)
		return Entry{}, fmt.Errorf("maildir %s: deliver: %w", f.path, err)
	}
	return e, nil
}

func (f *Folder) commitOne(tmp string, e Entry) error {
	if err := f.d.fsyncPath(tmp); err != nil {
		return err
	}
	dst := filepath.Join(f.path, e.Name)
	if err := renameNoReplace(tmp, dst); err != nil {
		return err
	}
	f.d.note("rename", dst)
	return f.d.syncDir(filepath.Dir(dst))
}

// Batch groups many deliveries into one commit, the way a POP3 download
// of thousands of messages wants it: Add streams each message to tmp/,
// Commit makes all of them durable and visible at once. A Batch is not
// safe for concurrent use; it can be reused after Commit.
type Batch struct {
	f     *Folder
	mode  syncMode
	items []batchItem
	buf   []byte
}

type batchItem struct {
	tmp string
	e   Entry
}

// NewBatch starts a group of deliveries into f.
func (f *Folder) NewBatch() *Batch {
	return &Batch{f: f, mode: f.d.sync}
}

// NoSync makes Commit skip every fsync. Only for data that can be made
// again (generated test and benchmark mail): after a power cut such
// messages may be lost or empty.
func (b *Batch) NoSync() *Batch {
	b.mode = syncNone
	return b
}

// Len reports how many messages were added since the last Commit.
func (b *Batch) Len() int { return len(b.items) }

// Add streams one message into tmp/ and returns the Entry it will have
// once committed. The message is neither visible nor durable before
// Commit returns nil.
func (b *Batch) Add(r io.Reader, flags Flags) (Entry, error) {
	flags = ParseFlags(string(flags))
	key := b.f.d.newKey()
	tmp := filepath.Join(b.f.path, "tmp", key)
	if b.buf == nil {
		b.buf = make([]byte, 32*1024)
	}
	if err := b.f.writeTmp(tmp, r, b.buf); err != nil {
		return Entry{}, fmt.Errorf("maildir %s: deliver: %w", b.f.path, err)
	}
	e := finalName(key, flags)
	b.items = append(b.items, batchItem{tmp: tmp, e: e})
	return e, nil
}

// Commit makes every added message durable and visible: the files are
// flushed, renamed into new/ or cur/, and those directories fsynced once.
// Only when Commit returns nil are the messages durable. On error, the
// messages not yet renamed stay in tmp/ until Abort or Clean; those
// already renamed are visible (and remain listed by the Batch no more).
func (b *Batch) Commit() error {
	if len(b.items) == 0 {
		return nil
	}
	f := b.f
	if err := b.syncFiles(); err != nil {
		return fmt.Errorf("maildir %s: commit: %w", f.path, err)
	}
	var newUsed, curUsed bool
	for i, it := range b.items {
		dst := filepath.Join(f.path, it.e.Name)
		if err := renameNoReplace(it.tmp, dst); err != nil {
			b.items = b.items[i:]
			return fmt.Errorf("maildir %s: commit: %w", f.path, err)
		}
		f.d.note("rename", dst)
		if it.e.Name[0] == 'n' {
			newUsed = true
		} else {
			curUsed = true
		}
	}
	b.items = b.items[:0]
	if b.mode == syncNone {
		return nil
	}
	for _, sub := range [...]struct {
		used bool
		name string
	}{{newUsed, "new"}, {curUsed, "cur"}} {
		if sub.used {
			if err := f.d.syncDir(filepath.Join(f.path, sub.name)); err != nil {
				return fmt.Errorf("maildir %s: commit: %w", f.path, err)
			}
		}
	}
	return nil
}

// syncFiles makes the data of every added file durable.
func (b *Batch) syncFiles() error {
	switch b.mode {
	case syncNone:
		return nil
	case syncFS:
		if len(b.items) < syncFSMin {
			break
		}
		tmpDir := filepath.Join(b.f.path, "tmp")
		if err := syncFilesystem(tmpDir); err == nil {
			b.f.d.note("syncfs", tmpDir)
			return nil
		} else if !errors.Is(err, errNoSyncfs) {
			return err
		}
	}
	if len(b.items) == 1 {
		return b.f.d.fsyncPath(b.items[0].tmp)
	}
	var (
		wg    sync.WaitGroup
		next  = make(chan string)
		errMu sync.Mutex
		first error
	)
	for range min(syncWorkers, len(b.items)) {
		wg.Go(func() {
			for p := range next {
				if err := b.f.d.fsyncPath(p); err != nil {
					errMu.Lock()
					if first == nil {
						first = err
					}
					errMu.Unlock()
				}
			}
		})
	}
	for _, it := range b.items {
		next <- it.tmp
	}
	close(next)
	wg.Wait()
	return first
}

// Abort removes the files added since the last Commit.
func (b *Batch) Abort() error {
	var first error
	for _, it := range b.items {
		if err := os.Remove(it.tmp); err != nil && !errors.Is(err, os.ErrNotExist) && first == nil {
			first = fmt.Errorf("maildir %s: abort: %w", b.f.path, err)
		}
	}
	b.items = b.items[:0]
	return first
}
