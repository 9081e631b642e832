package account

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/pop3"
)

// Stages reported through Progress.Stage by POP3.Sync.
const (
	StageConnecting  = "connecting"
	StageListing     = "listing"
	StageDownloading = "downloading"
	StageDeleting    = "deleting"
	StageDone        = "done"
)

// progressEvery bounds how often download progress is reported.
const progressEvery = 100 * time.Millisecond

// pop3Sync is one run of POP3.Sync.
type pop3Sync struct {
	p      *POP3
	ctx    context.Context
	report func(Progress)
	c      *pop3.Client
	st     *pop3State
	inbox  *maildir.Folder

	// reconcile: the state cannot be trusted, so downloaded messages are
	// matched by content against local ones (see POP3).
	reconcile bool
	local     map[[sha256.Size]byte][]string // content hash → keys not yet claimed

	deleted map[string]bool // unique-ids DELEted in this session

	total      int
	totalBytes int64
	done       int
	bytes      int64
	lastReport time.Time
}

// syncGroup is one group commit. Messages up to directMax bytes are
// read into memory and written to tmp/ by writer goroutines, each with
// its own Batch (batches[1:]), so the disk work overlaps the network;
// larger ones, and every message while reconciling, are streamed
// straight to disk through batches[0].
type syncGroup struct {
	batches []*maildir.Batch
	msgs    []pop3.MsgInfo
	pending sync.WaitGroup // messages queued for the writers

	mu    sync.Mutex
	items []syncItem
	err   error // the first write failure
}

func (g *syncGroup) add(it syncItem) {
	g.mu.Lock()
	g.items = append(g.items, it)
	g.mu.Unlock()
}

func (g *syncGroup) fail(err error) {
	g.mu.Lock()
	if g.err == nil {
		g.err = err
	}
	g.mu.Unlock()
}

func (g *syncGroup) failed() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}

func (g *syncGroup) abort() {
	for _, b := range g.batches {
		b.Abort()
	}
}

// Write-behind parameters: how many goroutines create files, the largest
// message held in memory on its way to disk, and how many may wait.
const (
	syncWriters = 2
	directMax   = 256 << 10
	writeQueue  = 256
)

type syncItem struct {
	uid     string
	key     string
	matched bool // already in the maildir (reconcile): nothing to commit
}

func (s *pop3Sync) run() error {
	p := s.p
	root := p.Local.Maildir()
	unlock, err := lockMaildir(root)
	if err != nil {
		return err
	}
	defer unlock()
	if s.inbox, err = p.Local.dir.Folder(maildir.Inbox); err != nil {
		return err
	}

	s.report(Progress{Stage: StageConnecting})
	c, err := p.dial(s.ctx)
	if err != nil {
		return err
	}
	s.c = c
	// Until QUIT, any way out closes the connection: the server then
	// keeps every message (RFC 1939 §6).
	defer c.Close()
	stop := context.AfterFunc(s.ctx, func() { c.Close() })
	defer stop()

	s.report(Progress{Stage: StageListing})
	msgs, err := c.ListAll()
	if err != nil {
		var pe *pop3.Error
		if errors.As(err, &pe) && pe.Cmd == "UIDL" {
			return fmt.Errorf("server does not support UIDL (RFC 1939 §7), which mailbag needs to never download a message twice: %w", err)
		}
		return err
	}
	// The state is read only now, holding both the local lock and the
	// server's maildrop lock.
	if err := s.loadState(root); err != nil {
		return err
	}
	present, inTrash, err := s.localKeys()
	if err != nil {
		return err
	}
	if err := s.resolvePending(present, inTrash); err != nil {
		return err
	}

	// Plan: what to fetch, and which already-downloaded messages to
	// delete from the server now.
	leave := p.srv.LeaveOnServer
	days := p.srv.DeleteAfterDays
	now := p.now()
	var fetch []pop3.MsgInfo
	var dele []pop3.MsgInfo
	for _, m := range msgs {
		e, known := s.st.UIDs[m.UID]
		switch {
		case !known:
			fetch = append(fetch, m)
		case !leave:
			dele = append(dele, m) // downloaded before; QUIT never came
		case !present[e.Key]:
			dele = append(dele, m) // deleted locally (gone, or in Trash)
		case days > 0 && !now.Before(e.Fetched.Add(time.Duration(days)*24*time.Hour)):
			dele = append(dele, m)
		}
	}
	s.deleted = make(map[string]bool)
	if len(dele) > 0 {
		s.report(Progress{Stage: StageDeleting, Total: len(dele)})
		if err := s.dele(dele); err != nil {
			return err
		}
	}
	if len(fetch) > 0 {
		if err := s.download(fetch); err != nil {
			return err
		}
	}
	if n := len(s.deleted); n > 0 {
		// QUIT makes the server remove them (RFC 1939 §6), which can
		// take a while.
		s.report(Progress{Stage: StageDeleting, Done: n, Total: n})
	}
	if err := c.Quit(); err != nil {
		return fmt.Errorf("%w (deletions may not have happened; the next sync checks)", err)
	}
	// The server is in step with the state now: forget ids it no longer
	// holds and those it just removed.
	listed := make(map[string]bool, len(msgs))
	for _, m := range msgs {
		listed[m.UID] = !s.deleted[m.UID]
	}
	for uid := range s.st.UIDs {
		if !listed[uid] {
			delete(s.st.UIDs, uid)
		}
	}
	s.st.Reconcile = false
	if err := s.st.save(); err != nil {
		return err
	}
	s.report(Progress{Stage: StageDone, Done: s.done, Total: s.total, Bytes: s.bytes})
	return nil
}

// loadState reads the state file, deciding whether it can be trusted.
func (s *pop3Sync) loadState(root string) error {
	p := s.p
	cleanStateTemps(root)
	st, missing, err := loadPOP3State(root)
	switch {
	case errors.Is(err, errCorruptState):
		// Keep it for a human to look at; reconcile by content.
		corrupt := filepath.Join(root, POP3StateFile+".corrupt")
		if rerr := os.Rename(filepath.Join(root, POP3StateFile), corrupt); rerr != nil {
			return fmt.Errorf("%w; and cannot move it aside: %v", err, rerr)
		}
		st, _, err = loadPOP3State(root)
		if err != nil {
			return err
		}
		s.reconcile = true
	case err != nil:
		return err
	case missing, st.Server != p.srv.Host || st.User != p.srv.Username:
		// No record, or unique-ids of another maildrop, which mean
		// nothing here: reconcile if there is any mail to match.
		st.UIDs = map[string]uidEntry{}
		n, err := s.countLocal()
		if err != nil {
			return err
		}
		s.reconcile = n > 0
	case st.Reconcile:
		s.reconcile = true // an earlier reconciling sync did not finish
	}
	st.Server, st.User = p.srv.Host, p.srv.Username
	// Until a sync completes, every save keeps the reconcile mark, so a
	// sync that fails half-way is continued by content as well.
	st.Reconcile = s.reconcile
	s.st = st
	return nil
}

// folders returns every folder of the maildir and whether it is Trash.
func (s *pop3Sync) folders() ([]*maildir.Folder, []bool, error) {
	l := s.p.Local
	names, err := l.dir.Folders()
	if err != nil {
		return nil, nil, err
	}
	fs := make([]*maildir.Folder, 0, len(names))
	trash := make([]bool, 0, len(names))
	for _, n := range names {
		f, err := l.dir.Folder(n)
		if err != nil {
			return nil, nil, err
		}
		fs = append(fs, f)
		trash = append(trash, l.Role(n) == RoleTrash)
	}
	return fs, trash, nil
}

// localKeys lists every message key of the maildir: present holds those
// in folders other than Trash, inTrash those in Trash.
func (s *pop3Sync) localKeys() (present, inTrash map[string]bool, err error) {
	fs, trash, err := s.folders()
	if err != nil {
		return nil, nil, err
	}
	present, inTrash = map[string]bool{}, map[string]bool{}
	for i, f := range fs {
		ents, err := f.List()
		if err != nil {
			return nil, nil, err
		}
		m := present
		if trash[i] {
			m = inTrash
		}
		for _, e := range ents {
			m[e.Key] = true
		}
	}
	return present, inTrash, nil
}

func (s *pop3Sync) countLocal() (int, error) {
	fs, _, err := s.folders()
	if err != nil {
		return 0, err
	}
	n := 0
	for _, f := range fs {
		ents, err := f.List()
		if err != nil {
			return 0, err
		}
		n += len(ents)
	}
	return n, nil
}

// resolvePending decides the entries a crash left pending: a key present
// in the maildir landed; an absent one did not, and its message (which
// the server still has: nothing pending was ever DELEted) is forgotten so
// it is downloaded again.
func (s *pop3Sync) resolvePending(present, inTrash map[string]bool) error {
	changed := false
	for uid, e := range s.st.UIDs {
		if e.Status != uidPending {
			continue
		}
		if present[e.Key] || inTrash[e.Key] {
			e.Status = uidDone
			s.st.UIDs[uid] = e
		} else {
			delete(s.st.UIDs, uid)
		}
		changed = true
	}
	if changed {
		return s.st.save()
	}
	return nil
}

// dele marks messages deleted (pipelined); they go at QUIT.
func (s *pop3Sync) dele(msgs []pop3.MsgInfo) error {
	if len(msgs) == 0 {
		return nil
	}
	ids := make([]int, len(msgs))
	for i, m := range msgs {
		ids[i] = m.ID
	}
	if err := s.c.DeleMany(ids); err != nil {
		return err
	}
	for _, m := range msgs {
		s.deleted[m.UID] = true
	}
	return nil
}

// download retrieves msgs in groups. The network never waits for the
// disk more than it must: messages up to directMax bytes are read into
// memory and handed to writer goroutines that create their files in
// tmp/ (bounded by writeQueue messages in flight), and while group k+1
// streams in, group k is committed in another goroutine. Group k is
// DELEted (in delete mode) only after its files were written, its
// commit and its state save succeeded.
func (s *pop3Sync) download(msgs []pop3.MsgInfo) error {
	s.total = len(msgs)
	for _, m := range msgs {
		s.totalBytes += m.Size
	}
	s.progress(true)

	w := &writerPool{
		jobs: make(chan writeJob, writeQueue),
		free: make(chan *bytes.Buffer, writeQueue+syncWriters+1),
	}
	for i := range syncWriters {
		w.wg.Go(func() { w.run(1 + i) })
	}
	defer w.stop()

	var (
		inflight chan error
		prev     *syncGroup
	)
	// finish waits for the commit in flight and, with dele, deletes its
	// group.
	finish := func(dele bool) error {
		if inflight == nil {
			return nil
		}
		err := <-inflight
		inflight = nil
		if err != nil {
			return err
		}
		if dele && !s.p.srv.LeaveOnServer {
			return s.dele(prev.msgs)
		}
		return nil
	}
	for _, group := range s.groups(msgs) {
		g := &syncGroup{msgs: group}
		for range 1 + syncWriters {
			g.batches = append(g.batches, s.inbox.NewBatch())
		}
		if err := s.fill(g, w); err != nil {
			g.pending.Wait()
			g.abort()
			if ferr := finish(false); ferr != nil && !errors.Is(err, ferr) {
				err = fmt.Errorf("%w (and: %v)", err, ferr)
			}
			return err
		}
		if err := finish(true); err != nil {
			g.pending.Wait()
			g.abort()
			return err
		}
		inflight = make(chan error, 1)
		prev = g
		go func(g *syncGroup, done chan<- error) {
			g.pending.Wait() // its files are written (or failed)
			if err := g.failed(); err != nil {
				g.abort()
				done <- err
				return
			}
			done <- s.commit(g)
		}(g, inflight)
	}
	return finish(true)
}

// writerPool creates message files for every group of a download.
type writerPool struct {
	jobs chan writeJob
	free chan *bytes.Buffer // recycled buffers
	wg   sync.WaitGroup
}

type writeJob struct {
	g   *syncGroup
	uid string
	buf *bytes.Buffer
}

// run is writer i: it adds to batch i of each job's group.
func (w *writerPool) run(i int) {
	for j := range w.jobs {
		if j.g.failed() == nil {
			e, err := j.g.batches[i].Add(bytes.NewReader(j.buf.Bytes()), "")
			if err != nil {
				j.g.fail(err)
			} else {
				j.g.add(syncItem{uid: j.uid, key: e.Key})
			}
		}
		select {
		case w.free <- j.buf:
		default:
		}
		j.g.pending.Done()
	}
}

func (w *writerPool) stop() {
	close(w.jobs)
	w.wg.Wait()
}

func (w *writerPool) buffer(size int64) *bytes.Buffer {
	select {
	case b := <-w.free:
		b.Reset()
		return b
	default:
		return bytes.NewBuffer(make([]byte, 0, max(size, 4<<10)))
	}
}

// groups splits msgs into group commits by count and LIST size.
func (s *pop3Sync) groups(msgs []pop3.MsgInfo) [][]pop3.MsgInfo {
	var out [][]pop3.MsgInfo
	start, size := 0, int64(0)
	for i, m := range msgs {
		size += m.Size
		if i+1-start >= s.p.opt.BatchMessages || size >= s.p.opt.BatchBytes {
			out = append(out, msgs[start:i+1])
			start, size = i+1, 0
		}
	}
	if start < len(msgs) {
		out = append(out, msgs[start:])
	}
	return out
}

// fill retrieves a group (pipelined when the server allows) into the
// group's batches in tmp/; see download.
func (s *pop3Sync) fill(g *syncGroup, w *writerPool) error {
	byID := make(map[int]pop3.MsgInfo, len(g.msgs))
	ids := make([]int, len(g.msgs))
	for i, m := range g.msgs {
		byID[m.ID] = m
		ids[i] = m.ID
	}
	return s.c.RetrMany(ids, func(n int, r io.Reader) error {
		if err := g.failed(); err != nil {
			return err
		}
		m := byID[n]
		cr := &countingReader{r: r}
		var body io.Reader = cr
		if s.p.opt.wrapBody != nil {
			body = s.p.opt.wrapBody(body)
		}
		switch {
		case s.reconcile:
			if err := s.reconcileOne(g, m, body); err != nil {
				return err
			}
		case m.Size > directMax:
			e, err := g.batches[0].Add(body, "")
			if err != nil {
				return err
			}
			g.add(syncItem{uid: m.UID, key: e.Key})
		default:
			buf := w.buffer(m.Size)
			if _, err := buf.ReadFrom(body); err != nil {
				return err
			}
			g.pending.Add(1)
			w.jobs <- writeJob{g: g, uid: m.UID, buf: buf}
		}
		s.done++
		s.bytes += cr.n
		s.progress(false)
		return nil
	})
}

// commit makes a group durable: pending save, Batch commit, done save.
func (s *pop3Sync) commit(g *syncGroup) error {
	now := s.p.now()
	added := 0
	for _, it := range g.items {
		st := uidPending
		if it.matched {
			st = uidDone
		} else {
			added++
		}
		s.st.UIDs[it.uid] = uidEntry{Status: st, Fetched: now, Key: it.key}
	}
	if err := s.st.save(); err != nil {
		return err
	}
	for _, b := range g.batches {
		if err := b.Commit(); err != nil {
			g.abort()
			return err
		}
	}
	for _, it := range g.items {
		e := s.st.UIDs[it.uid]
		e.Status = uidDone
		s.st.UIDs[it.uid] = e
	}
	if err := s.st.save(); err != nil {
		return err
	}
	if added > 0 {
		s.p.emit(Event{Folder: maildir.Inbox, Kind: EventFolderChanged})
	}
	return nil
}

// reconcileOne stores a message unless a local message has the same
// content, in which case its unique-id is recorded against that message.
func (s *pop3Sync) reconcileOne(g *syncGroup, m pop3.MsgInfo, r io.Reader) error {
	if s.local == nil {
		if err := s.hashLocal(); err != nil {
			return err
		}
	}
	tmp, err := os.CreateTemp(filepath.Join(s.inbox.Path(), "tmp"), ".reconcile-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(tmp, h), r); err != nil {
		return err
	}
	var sum [sha256.Size]byte
	h.Sum(sum[:0])
	if keys := s.local[sum]; len(keys) > 0 {
		s.local[sum] = keys[1:]
		g.add(syncItem{uid: m.UID, key: keys[0], matched: true})
		return nil
	}
	if _, err := tmp.Seek(0, io.SeekStart); err != nil {
		return err
	}
	e, err := g.batches[0].Add(tmp, "")
	if err != nil {
		return err
	}
	g.add(syncItem{uid: m.UID, key: e.Key})
	return nil
}

// hashLocal hashes every message of the maildir, Trash included (a
// message the user deleted was downloaded all the same).
func (s *pop3Sync) hashLocal() error {
	s.local = map[[sha256.Size]byte][]string{}
	fs, _, err := s.folders()
	if err != nil {
		return err
	}
	claimed := make(map[string]bool, len(s.st.UIDs))
	for _, e := range s.st.UIDs {
		claimed[e.Key] = true
	}
	buf := make([]byte, 64<<10)
	for _, f := range fs {
		ents, err := f.List()
		if err != nil {
			return err
		}
		for _, e := range ents {
			if claimed[e.Key] {
				continue // already matched to a unique-id
			}
			file, _, err := f.Open(e)
			if errors.Is(err, maildir.ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			h := sha256.New()
			_, err = io.CopyBuffer(h, file, buf)
			file.Close()
			if err != nil {
				return err
			}
			var sum [sha256.Size]byte
			h.Sum(sum[:0])
			s.local[sum] = append(s.local[sum], e.Key)
		}
	}
	return nil
}

// progress reports download progress, at most every progressEvery
// (always the first and the last).
func (s *pop3Sync) progress(force bool) {
	now := time.Now()
	if !force && s.done < s.total && now.Sub(s.lastReport) < progressEvery {
		return
	}
	s.lastReport = now
	s.report(Progress{Stage: StageDownloading, Done: s.done, Total: s.total, Bytes: s.bytes})
}

type countingReader struct {
	r io.Reader
	n int64
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
