package account

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sync"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailbag/mailbag/store/maildir"
	imapt "github.com/mailbag/mailbag/transport/imap"
)

// imapQueueFile, at the maildir root, holds the actions applied to the
// cache but not yet to the server, in order (RFC 4549 §4.1: the client
// replays its local changes when it reconnects).
const imapQueueFile = "mailbag-imap-queue.json"

// Kinds of queued operation.
const (
	opFlags   = "flags"
	opMove    = "move"
	opExpunge = "expunge"
)

// queuedOp is one action waiting for the server.
type queuedOp struct {
	ID          uint64   `json:"id"`
	Kind        string   `json:"kind"`
	Folder      string   `json:"folder"`
	Mailbox     string   `json:"mailbox"`
	UIDValidity uint32   `json:"uidvalidity"`
	UIDs        []uint32 `json:"uids"`
	Add         string   `json:"add,omitempty"`
	Remove      string   `json:"remove,omitempty"`
	To          string   `json:"to,omitempty"`
	ToMailbox   string   `json:"to_mailbox,omitempty"`
	// Old flags (flags) and the messages removed (move, expunge), to undo
	// the local change when the server refuses.
	Old  map[uint32]string `json:"old,omitempty"`
	Msgs []queuedMsg       `json:"msgs,omitempty"`
}

type queuedMsg struct {
	UID     uint32   `json:"uid"`
	BodyKey string   `json:"body,omitempty"`
	Env     Envelope `json:"env"`
}

// imapQueue is the durable queue. Lock order: IMAP.mu before q.mu.
type imapQueue struct {
	path string
	mu   sync.Mutex
	ops  []queuedOp
	next uint64
}

func loadQueue(root string) (*imapQueue, error) {
	q := &imapQueue{path: filepath.Join(root, imapQueueFile), next: 1}
	data, err := os.ReadFile(q.path)
	if errors.Is(err, os.ErrNotExist) {
		return q, nil
	}
	if err != nil {
		return nil, fmt.Errorf("imap queue: %w", err)
	}
	if err := json.Unmarshal(data, &q.ops); err != nil {
		// A queue that cannot be read is kept aside, not silently lost.
		os.Rename(q.path, q.path+".corrupt")
		q.ops = nil
		return q, nil
	}
	for _, op := range q.ops {
		q.next = max(q.next, op.ID+1)
	}
	return q, nil
}

func (q *imapQueue) len() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return len(q.ops)
}

func (q *imapQueue) saveLocked() error {
	data, err := json.Marshal(q.ops)
	if err != nil {
		return err
	}
	return writeStateFile(q.path, data)
}

// add appends op durably.
func (q *imapQueue) add(op queuedOp) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	op.ID = q.next
	q.next++
	q.ops = append(q.ops, op)
	if err := q.saveLocked(); err != nil {
		q.ops = q.ops[:len(q.ops)-1]
		return fmt.Errorf("imap queue: %w", err)
	}
	return nil
}

func (q *imapQueue) head() (queuedOp, bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if len(q.ops) == 0 {
		return queuedOp{}, false
	}
	return q.ops[0], true
}

func (q *imapQueue) remove(id uint64) error {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.ops = slices.DeleteFunc(q.ops, func(op queuedOp) bool { return op.ID == id })
	return q.saveLocked()
}

// overlayLocked re-applies the queued actions of fc's folder on a state
// just read from the server, so a sync racing with them does not show
// what they undid. The caller holds IMAP.mu.
func (q *imapQueue) overlayLocked(fc *folderCache) {
	q.mu.Lock()
	defer q.mu.Unlock()
	for _, op := range q.ops {
		if op.Mailbox != fc.mailbox || op.UIDValidity != fc.st.UIDValidity {
			continue
		}
		for _, uid := range op.UIDs {
			m, ok := fc.st.Msgs[uid]
			if !ok {
				continue
			}
			switch op.Kind {
			case opFlags:
				fc.st.setFlags(m, fc.st.flags(m).With(maildir.Flags(op.Add)).Without(maildir.Flags(op.Remove)))
			case opMove, opExpunge:
				fc.st.remove(uid) // the body file is handled by the op
			}
		}
	}
}

// flush replays the queue in order on the connection. A network failure
// leaves the rest queued; a refusal drops the action, undoes it locally
// and reports it as an EventError.
func (o *owner) flush() {
	a := o.a
	for o.c != nil {
		op, ok := a.queue.head()
		if !ok {
			return
		}
		ctx, cancel := context.WithTimeout(context.Background(), 4*o.timeout())
		err := a.replay(ctx, o.c, op)
		cancel()
		if o.isNetErr(err) {
			o.drop(err)
			return
		}
		if rerr := a.queue.remove(op.ID); rerr != nil {
			a.emit(EventError, op.Folder, rerr)
		}
		if err != nil {
			a.undo(op)
			a.emit(EventError, op.Folder, fmt.Errorf("%s: %s refused, undone: %w", a.cfg.Name, op.describe(), err))
			a.emit(EventFolderChanged, op.Folder, nil)
		}
	}
}

func (op *queuedOp) describe() string {
	switch op.Kind {
	case opFlags:
		return fmt.Sprintf("flags +%s -%s on %d message(s) in %s", op.Add, op.Remove, len(op.UIDs), op.Folder)
	case opMove:
		return fmt.Sprintf("moving %d message(s) from %s to %s", len(op.UIDs), op.Folder, op.To)
	default:
		return fmt.Sprintf("deleting %d message(s) from %s", len(op.UIDs), op.Folder)
	}
}

// errValidity is returned for an action whose folder was recreated on the
// server: its UIDs name other messages now.
var errValidity = errors.New("the folder changed on the server (UIDVALIDITY); action dropped")

// replay runs one queued action on the server.
func (a *IMAP) replay(ctx context.Context, c *imapt.Client, op queuedOp) error {
	sel, err := a.selectWatch(ctx, c, op.Folder, op.Mailbox)
	if err != nil {
		return err
	}
	if sel.UIDValidity != op.UIDValidity {
		return errValidity
	}
	var set goimap.UIDSet
	for _, u := range op.UIDs {
		set.AddNum(goimap.UID(u))
	}
	store := func(what string, sf *goimap.StoreFlags) error {
		if len(sf.Flags) == 0 {
			return nil
		}
		return c.Do(ctx, what, func() error { return c.Store(set, sf, nil).Close() })
	}
	switch op.Kind {
	case opFlags:
		if err := store("store +flags", &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true,
			Flags: maildirToIMAPFlags(maildir.Flags(op.Add))}); err != nil {
			return err
		}
		return store("store -flags", &goimap.StoreFlags{Op: goimap.StoreFlagsDel, Silent: true,
			Flags: maildirToIMAPFlags(maildir.Flags(op.Remove))})
	case opExpunge:
		if err := store("store \\Deleted", &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true,
			Flags: []goimap.Flag{goimap.FlagDeleted}}); err != nil {
			return err
		}
		err := c.Do(ctx, "expunge", func() error {
			if c.Caps().Has(goimap.CapUIDPlus) {
				return c.UIDExpunge(set).Close() // RFC 4315 §2.1: only these
			}
			return c.Expunge().Close()
		})
		if err != nil {
			return err
		}
		a.dropBodies(op)
		return nil
	case opMove:
		var data *struct {
			uv       uint32
			src, dst []goimap.UID
		}
		move := func() error {
			return c.Do(ctx, "move to "+op.ToMailbox, func() error {
				md, err := c.Move(set, op.ToMailbox).Wait()
				if err != nil {
					return err
				}
				if md != nil && md.UIDValidity != 0 {
					s, _ := md.SourceUIDs.(goimap.UIDSet)
					d, _ := md.DestUIDs.(goimap.UIDSet)
					sn, ok1 := s.Nums()
					dn, ok2 := d.Nums()
					if ok1 && ok2 && len(sn) == len(dn) {
						data = &struct {
							uv       uint32
							src, dst []goimap.UID
						}{md.UIDValidity, sn, dn}
					}
				}
				return nil
			})
		}
		if err := withTryCreate(ctx, c, op.ToMailbox, move); err != nil {
			return err
		}
		if data != nil {
			a.placeMoved(op, data.uv, data.src, data.dst)
		} else {
			a.dropBodies(op)
		}
		return nil
	}
	return fmt.Errorf("unknown queued action %q", op.Kind)
}

// withTryCreate runs fn, which puts messages into mbox; when the server
// answers [TRYCREATE] (RFC 3501 §7.1), it creates mbox and runs fn once
// more. A failed CREATE leaves fn's first error.
func withTryCreate(ctx context.Context, c *imapt.Client, mbox string, fn func() error) error {
	err := fn()
	var ie *goimap.Error
	if err != nil && errors.As(err, &ie) && ie.Code == goimap.ResponseCodeTryCreate {
		if cerr := c.Do(ctx, "create "+mbox, func() error { return c.Create(mbox, nil).Wait() }); cerr == nil {
			err = fn()
		}
	}
	return err
}

// dropBodies removes the cached bodies of messages that left the server
// folder.
func (a *IMAP) dropBodies(op queuedOp) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fc, err := a.cacheLocked(op.Folder)
	if err != nil {
		return
	}
	for _, m := range op.Msgs {
		if m.BodyKey != "" {
			if e, err := fc.f.Find(m.BodyKey); err == nil {
				fc.f.Remove(e)
			}
		}
	}
}

// placeMoved puts moved messages into the destination's cache under their
// new UIDs (COPYUID, RFC 4315 §3), bodies included, so the destination
// shows them without fetching again.
func (a *IMAP) placeMoved(op queuedOp, uv uint32, src, dst []goimap.UID) {
	a.mu.Lock()
	defer a.mu.Unlock()
	from, err1 := a.cacheLocked(op.Folder)
	to, err2 := a.cacheLocked(op.To)
	if err1 != nil || err2 != nil {
		return
	}
	byUID := map[uint32]queuedMsg{}
	for _, m := range op.Msgs {
		byUID[m.UID] = m
	}
	same := to.st.UIDValidity == uv
	changed := false
	for i, s := range src {
		m, ok := byUID[uint32(s)]
		if !ok {
			continue
		}
		key := ""
		if m.BodyKey != "" {
			if e, err := from.f.Find(m.BodyKey); err == nil {
				if !same {
					from.f.Remove(e)
				} else if ne, err := from.f.Move(e, to.f); err == nil {
					key = ne.Key
				}
			}
		}
		if !same {
			continue
		}
		if old, ok := to.st.Msgs[uint32(dst[i])]; ok && key == "" {
			key = to.st.bodyKey(old)
		}
		to.st.put(uint32(dst[i]), key, &m.Env)
		changed = true
	}
	if changed {
		saveState(to.f.Path(), to.st)
		a.updateCountsLocked(to)
		a.emitLocked(EventFolderChanged, op.To, nil)
	}
}

// undo reverts the local change of a refused action.
func (a *IMAP) undo(op queuedOp) {
	a.mu.Lock()
	defer a.mu.Unlock()
	fc, err := a.cacheLocked(op.Folder)
	if err != nil || fc.st.UIDValidity != op.UIDValidity {
		return
	}
	switch op.Kind {
	case opFlags:
		for uid, old := range op.Old {
			if m, ok := fc.st.Msgs[uid]; ok {
				fc.st.setFlags(m, maildir.Flags(old))
			}
		}
	case opMove, opExpunge:
		for _, qm := range op.Msgs {
			if _, ok := fc.st.Msgs[qm.UID]; !ok {
				fc.st.put(qm.UID, qm.BodyKey, &qm.Env)
			}
		}
	}
	saveState(fc.f.Path(), fc.st)
	a.updateCountsLocked(fc)
}

// resolveLocked maps ids of folder to UIDs, checking they belong to the
// folder's current UIDVALIDITY.
func (a *IMAP) resolveLocked(fc *folderCache, ids []MsgID) ([]uint32, error) {
	uids := make([]uint32, 0, len(ids))
	for _, id := range ids {
		uv, uid, ok := parseMsgID(id)
		if !ok || uv != fc.st.UIDValidity {
			return nil, fmt.Errorf("%s: %s: message %s: %w", a.cfg.Name, fc.name, id, maildir.ErrNotFound)
		}
		if _, ok := fc.st.Msgs[uid]; !ok {
			return nil, fmt.Errorf("%s: %s: message %s: %w", a.cfg.Name, fc.name, id, maildir.ErrNotFound)
		}
		uids = append(uids, uid)
	}
	return uids, nil
}

// SetFlags changes flags in the cache at once and queues STORE (RFC 3501
// §6.4.6) for the server.
func (a *IMAP) SetFlags(ctx context.Context, folder string, ids []MsgID, add, remove maildir.Flags) error {
	if err := a.checkOpen(ctx); err != nil {
		return err
	}
	ids, local := splitIDs(ids)
	if len(local) > 0 {
		if err := a.local.SetFlags(ctx, folder, local, add, remove); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return nil
	}
	a.mu.Lock()
	fc, err := a.cacheLocked(folder)
	if err != nil {
		a.mu.Unlock()
		return err
	}
	uids, err := a.resolveLocked(fc, ids)
	if err != nil {
		a.mu.Unlock()
		return err
	}
	op := queuedOp{Kind: opFlags, Folder: fc.name, Mailbox: fc.mailbox, UIDValidity: fc.st.UIDValidity,
		UIDs: uids, Add: string(add), Remove: string(remove), Old: map[uint32]string{}}
	for _, uid := range uids {
		m := fc.st.Msgs[uid]
		f := fc.st.flags(m)
		op.Old[uid] = string(f)
		fc.st.setFlags(m, f.With(add).Without(remove))
	}
	err = a.queue.add(op)
	if err == nil {
		err = saveState(fc.f.Path(), fc.st)
	} else {
		for uid, old := range op.Old {
			fc.st.setFlags(fc.st.Msgs[uid], maildir.Flags(old))
		}
	}
	a.updateCountsLocked(fc)
	a.mu.Unlock()
	a.wake()
	if err != nil {
		return fmt.Errorf("%s: %w", a.cfg.Name, err)
	}
	return nil
}

// takeLocked removes messages from the cache for a move or expunge and
// returns them for the queue.
func (a *IMAP) takeLocked(fc *folderCache, uids []uint32) []queuedMsg {
	out := make([]queuedMsg, 0, len(uids))
	for _, uid := range uids {
		m := fc.st.Msgs[uid]
		out = append(out, queuedMsg{UID: uid, BodyKey: fc.st.bodyKey(m), Env: fc.st.env(m)})
		fc.st.remove(uid)
	}
	return out
}

func (a *IMAP) queueRemoval(ctx context.Context, folder string, ids []MsgID, kind, to string) error {
	if err := a.checkOpen(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	fc, err := a.cacheLocked(folder)
	if err != nil {
		a.mu.Unlock()
		return err
	}
	op := queuedOp{Kind: kind, Folder: fc.name, Mailbox: fc.mailbox, UIDValidity: fc.st.UIDValidity}
	if kind == opMove {
		mb, ok := a.mailboxLocked(to)
		if !ok {
			a.mu.Unlock()
			return fmt.Errorf("%s: no folder %q", a.cfg.Name, to)
		}
		if mb == fc.mailbox {
			a.mu.Unlock()
			return nil
		}
		op.To, op.ToMailbox = to, mb
	}
	if op.UIDs, err = a.resolveLocked(fc, ids); err != nil {
		a.mu.Unlock()
		return err
	}
	op.Msgs = a.takeLocked(fc, op.UIDs)
	err = a.queue.add(op)
	if err != nil {
		for _, qm := range op.Msgs {
			fc.st.put(qm.UID, qm.BodyKey, &qm.Env)
		}
	} else {
		err = saveState(fc.f.Path(), fc.st)
	}
	a.updateCountsLocked(fc)
	a.mu.Unlock()
	a.wake()
	if err != nil {
		return fmt.Errorf("%s: %w", a.cfg.Name, err)
	}
	return nil
}

// Move moves messages to another folder: at once in the cache, then MOVE
// (RFC 6851), or COPY + STORE \Deleted + EXPUNGE where MOVE is missing.
func (a *IMAP) Move(ctx context.Context, from string, ids []MsgID, to string) error {
	ids, local := splitIDs(ids)
	if len(local) > 0 {
		if err := a.moveLocal(ctx, from, local, to); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return nil
	}
	return a.queueRemoval(ctx, from, ids, opMove, to)
}

// Delete moves messages to Trash; in Trash, or with DeleteExpunge, or
// when there is no Trash, it marks them \Deleted and expunges them.
func (a *IMAP) Delete(ctx context.Context, folder string, ids []MsgID) error {
	ids, local := splitIDs(ids)
	if len(local) > 0 {
		if err := a.removeLocal(ctx, folder, local); err != nil {
			return err
		}
	}
	if len(ids) == 0 {
		return nil
	}
	a.mu.Lock()
	trash := a.roleFolderLocked(RoleTrash)
	a.mu.Unlock()
	if a.opt.DeleteExpunge || trash == "" || trash == folder {
		return a.queueRemoval(ctx, folder, ids, opExpunge, "")
	}
	return a.queueRemoval(ctx, folder, ids, opMove, trash)
}

// Archive moves messages to the folder with the archive role.
func (a *IMAP) Archive(ctx context.Context, folder string, ids []MsgID) error {
	a.mu.Lock()
	arch := a.roleFolderLocked(RoleArchive)
	a.mu.Unlock()
	if arch == "" {
		return fmt.Errorf("%s: no archive folder (name one in [accounts.%s.folders])", a.cfg.Name, a.cfg.Name)
	}
	return a.Move(ctx, folder, ids, arch)
}

var _ Account = (*IMAP)(nil)
