package account

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/message"
	imapt "github.com/mailbag/mailbag/transport/imap"
)

const (
	// firstChunk and maxChunk size the background envelope fetches: small
	// first so the list fills quickly, then larger to save round trips.
	firstChunk = 500
	maxChunk   = 2000
	// saveEvery is how many fetched envelopes may be unsaved during a fill.
	saveEvery = 10000
	// bigGap: more new UIDs than this are fetched like a first sync
	// (newest screenful, then the rest in the background).
	bigGap = 2000
	// bodyChunk is how many bodies one background step downloads.
	bodyChunk = 50
	// maxPresize bounds the cache's map made for a folder's first fill.
	maxPresize = 1 << 17
	// maxRefs bounds the References kept per message.
	maxRefs = 64
	// maxEnvelopeHeader bounds the header block read per message.
	maxEnvelopeHeader = 64 << 10
)

// envelopeItems are what the list needs of a message. The header fields
// of an Envelope are fetched as such (RFC 3501 §6.4.5 BODY.PEEK[HEADER.FIELDS])
// rather than as ENVELOPE: ENVELOPE lacks References, and the fields are
// parsed by the same code as a local message's (message.SummaryReader),
// which allocates a fraction of what go-imap's ENVELOPE parser does (its
// Date parsing alone made a third of the garbage of a first sync).
var envelopeItems = &goimap.FetchOptions{
	UID: true, Flags: true, RFC822Size: true, InternalDate: true,
	BodySection: []*goimap.FetchItemBodySection{{
		Specifier: goimap.PartSpecifierHeader, Peek: true,
		HeaderFields: []string{"Date", "From", "To", "Cc", "Subject", "Message-ID", "In-Reply-To", "References"},
	}},
}

// SyncFolder brings the cache of folder up to date with the server and
// makes it the folder IDLE watches. On an empty cache it returns once the
// newest screenful of envelopes is listable; the rest is fetched in the
// background, with EventFolderChanged as it arrives.
func (a *IMAP) SyncFolder(ctx context.Context, folder string) error {
	if err := a.checkOpen(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	if a.isLocalOnlyLocked(folder) {
		a.mu.Unlock()
		return nil // nothing of it is on the server
	}
	// INBOX is known before the folders were ever listed (RFC 3501
	// §5.1): its first sync does not wait for a LIST, whose counts cost
	// the server a pass over every folder; the account's Sync lists them.
	_, known := a.mailboxLocked(folder)
	if known {
		a.open = folder
	}
	a.mu.Unlock()
	fn := func(ctx context.Context, c *imapt.Client) error {
		if !known {
			if err := a.syncFolders(ctx, c); err != nil {
				return err
			}
			a.mu.Lock()
			_, known = a.mailboxLocked(folder)
			if known {
				a.open = folder
			}
			a.mu.Unlock()
			if !known {
				return fmt.Errorf("%s: no folder %q on the server", a.cfg.Name, folder)
			}
		}
		return a.syncFolder(ctx, c, folder, false)
	}
	return a.doJob(ctx, &imapJob{ctx: ctx, what: "sync " + folder, fn: fn, done: make(chan error, 1), resyncs: folder})
}

// Sync refreshes the folder list and fully resyncs every folder (bodies
// too with FullOffline), replaying queued actions first. For `mailbag sync`.
func (a *IMAP) Sync(ctx context.Context, progress func(Progress)) error {
	if progress == nil {
		progress = func(Progress) {}
	}
	progress(Progress{Account: a.cfg.Name, Stage: "connecting"})
	err := a.do(ctx, "sync", func(ctx context.Context, c *imapt.Client) error {
		progress(Progress{Account: a.cfg.Name, Stage: "listing"})
		if err := a.syncFolders(ctx, c); err != nil {
			return err
		}
		if err := a.appendAll(ctx, c); err != nil {
			return err
		}
		a.mu.Lock()
		names := make([]string, len(a.folders))
		for i, f := range a.folders {
			names[i] = f.Name
		}
		a.mu.Unlock()
		for i, name := range names {
			progress(Progress{Account: a.cfg.Name, Stage: "downloading", Done: i, Total: len(names)})
			if err := a.syncFolder(ctx, c, name, true); err != nil {
				return err
			}
			if a.opt.FullOffline {
				for {
					more, err := a.fetchSomeBodies(ctx, c, name)
					if err != nil {
						return err
					}
					if !more {
						break
					}
				}
			}
		}
		return nil
	})
	if err != nil {
		return err
	}
	progress(Progress{Account: a.cfg.Name, Stage: "done"})
	return nil
}

// selectMailbox SELECTs (RFC 3501 §6.3.1), with CONDSTORE (RFC 7162 §3.1.8)
// when the server has it.
func selectMailbox(ctx context.Context, c *imapt.Client, mbox string) (*goimap.SelectData, error) {
	var sel *goimap.SelectData
	opt := &goimap.SelectOptions{CondStore: c.Caps().Has(goimap.CapCondStore)}
	err := c.Do(ctx, "select "+mbox, func() error {
		var err error
		sel, err = c.Select(mbox, opt).Wait()
		return err
	})
	return sel, err
}

// selectWatch SELECTs the folder of fc for work other than a resync.
// The SELECT answer absorbs what the server would have announced to IDLE,
// so when it shows news for the open folder a resync is requested.
func (a *IMAP) selectWatch(ctx context.Context, c *imapt.Client, folder, mbox string) (*goimap.SelectData, error) {
	sel, err := selectMailbox(ctx, c, mbox)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	if fc, ok := a.caches[folder]; ok && folder == a.open && fc.st.Complete &&
		(uint32(sel.UIDNext) > fc.st.UIDNext || sel.HighestModSeq > fc.st.HighestModSeq) {
		a.poke()
	}
	a.mu.Unlock()
	return sel, nil
}

// syncFolder resyncs one folder (RFC 4549 §4.3): UIDVALIDITY checked (the
// cache is dropped when it changed), new messages fetched, flag changes
// and expunged messages applied. With CONDSTORE an unchanged folder costs
// the SELECT alone, and changes cost FETCH … (CHANGEDSINCE) (RFC 7162
// §3.1.4); without it, all flags are fetched by UID range. A folder that
// is still selected is resynced without a SELECT (see stillSelected). A
// cache that is not complete is filled: the newest screenful first, then
// the rest in chunks, in the background unless wait is set.
func (a *IMAP) syncFolder(ctx context.Context, c *imapt.Client, name string, wait bool) error {
	a.mu.Lock()
	fc, err := a.cacheLocked(name)
	if err != nil {
		a.mu.Unlock()
		return err
	}
	mbox := fc.mailbox
	a.mu.Unlock()
	select {
	case <-a.notify: // what it announced is what this sync fetches
	default:
	}
	sel, kept, err := a.stillSelected(ctx, c, fc, mbox)
	if err != nil {
		return fmt.Errorf("%s: %w", a.cfg.Name, err)
	}
	if !kept {
		if sel, err = selectMailbox(ctx, c, mbox); err != nil {
			return fmt.Errorf("%s: %w", a.cfg.Name, err)
		}
	}
	condstore := c.Caps().Has(goimap.CapCondStore) && (kept || sel.HighestModSeq != 0)
	a.mu.Lock()
	if err := a.checkValidityLocked(fc, sel.UIDValidity); err != nil {
		a.mu.Unlock()
		return err
	}
	st := fc.st
	complete, oldNext, oldHMS, count := st.Complete, st.UIDNext, st.HighestModSeq, len(st.Msgs)
	a.mu.Unlock()
	if !complete {
		return a.fullSync(ctx, c, fc, sel, wait)
	}
	if !kept && condstore && uint32(sel.UIDNext) == oldNext && sel.HighestModSeq == oldHMS && int(sel.NumMessages) == count {
		return nil // unchanged: one round trip
	}
	if uint32(sel.UIDNext) > oldNext+bigGap {
		a.mu.Lock()
		fc.st.Complete = false
		a.mu.Unlock()
		return a.fullSync(ctx, c, fc, sel, wait)
	}
	changed := false
	if kept || uint32(sel.UIDNext) > oldNext { // kept: UIDNEXT unknown
		var set goimap.UIDSet
		set.AddRange(goimap.UID(oldNext), 0) // oldNext:*
		got, err := fetchEnvelopes(ctx, c, set, 0)
		if err != nil {
			return fmt.Errorf("%s: %w", a.cfg.Name, err)
		}
		got = slices.DeleteFunc(got, func(m fetched) bool { return m.uid < oldNext })
		a.mu.Lock()
		a.addMsgsLocked(fc, got)
		a.mu.Unlock()
		changed = changed || len(got) > 0
	}
	var seen map[uint32]bool
	highest := sel.HighestModSeq // kept: the highest MODSEQ fetched
	if oldNext > 1 && (!condstore || kept || sel.HighestModSeq != oldHMS) {
		var set goimap.UIDSet
		set.AddRange(1, goimap.UID(oldNext-1))
		opt := &goimap.FetchOptions{UID: true, Flags: true, ModSeq: kept}
		if condstore {
			opt.ChangedSince = oldHMS
		} else {
			seen = make(map[uint32]bool, count)
		}
		err := c.Do(ctx, "fetch flags", func() error {
			cmd := c.Fetch(set, opt)
			for {
				msg := cmd.Next()
				if msg == nil {
					break
				}
				b, err := msg.Collect()
				if err != nil || b.UID == 0 {
					continue
				}
				uid := uint32(b.UID)
				if seen != nil {
					seen[uid] = true
				}
				highest = max(highest, b.ModSeq)
				flags := imapFlagsToMaildir(b.Flags)
				a.mu.Lock()
				if m, ok := fc.st.Msgs[uid]; ok && fc.st.flags(m) != flags {
					fc.st.setFlags(m, flags)
					changed = true
				}
				a.mu.Unlock()
			}
			return cmd.Close()
		})
		if err != nil {
			return fmt.Errorf("%s: %w", a.cfg.Name, err)
		}
	}
	if seen != nil {
		// Without CONDSTORE the flag listing is also the list of UIDs.
		var missing []uint32
		a.mu.Lock()
		for uid := range fc.st.Msgs {
			if uid < oldNext && !seen[uid] {
				a.removeMsgLocked(fc, uid)
				changed = true
			}
		}
		for uid := range seen {
			if _, ok := fc.st.Msgs[uid]; !ok {
				missing = append(missing, uid)
			}
		}
		a.mu.Unlock()
		if err := a.fetchMissing(ctx, c, fc, missing); err != nil {
			return err
		}
		changed = changed || len(missing) > 0
	} else if mb := c.Mailbox(); mb != nil {
		a.mu.Lock()
		n := len(fc.st.Msgs)
		a.mu.Unlock()
		// More messages than cached while mail was announced after the
		// fetches: the resync that announcement asks for compares the
		// UIDs once the burst is over, not every resync during it.
		later := kept && int(mb.NumMessages) > n && len(a.notify) > 0
		if int(mb.NumMessages) != n && !later {
			ch, err := a.reconcileUIDs(ctx, c, fc)
			if err != nil {
				return err
			}
			changed = changed || ch
		}
	}
	a.mu.Lock()
	fc.st.UIDNext = max(fc.st.UIDNext, uint32(sel.UIDNext))
	for uid := range fc.st.Msgs {
		fc.st.UIDNext = max(fc.st.UIDNext, uid+1)
	}
	if kept {
		// Every change up to the highest MODSEQ fetched is applied; later
		// ones will have higher MODSEQs (RFC 7162 §3.1.4).
		fc.st.HighestModSeq = max(fc.st.HighestModSeq, highest)
	} else if condstore {
		fc.st.HighestModSeq = sel.HighestModSeq
	}
	a.queue.overlayLocked(fc)
	// A resync without SELECT often finds nothing (IDLE announced our
	// own change): the state file, megabytes for a large folder, is
	// then left as it is.
	var serr error
	if !kept || changed || fc.st.UIDNext != oldNext || fc.st.HighestModSeq != oldHMS || a.queue.len() > 0 {
		serr = saveState(fc.f.Path(), fc.st)
	}
	a.updateCountsLocked(fc)
	a.mu.Unlock()
	if serr != nil {
		return fmt.Errorf("%s: %s: %w", a.cfg.Name, name, serr)
	}
	if changed {
		a.emit(EventFolderChanged, name, nil)
	}
	if a.opt.FullOffline && !wait {
		a.scheduleBodies(name)
	}
	return nil
}

// stillSelected resyncs with a NOOP instead of a SELECT when mbox is the
// mailbox selected on c and its cache is complete with a HIGHESTMODSEQ
// (CONDSTORE): the NOOP collects what the server has to announce (RFC
// 3501 §6.1.2), new messages are fetched by UID from the cache's UIDNEXT
// on, changed flags with CHANGEDSINCE, and expunges show in the message
// count. A server re-opening a large mailbox for a SELECT costs far more
// (dovecot: about 150 ms for 50,000 messages that changed). It returns
// the mailbox as the NOOP left it (no UIDNEXT or HIGHESTMODSEQ) and true,
// or false when a SELECT is needed: another mailbox selected, no
// CONDSTORE, an incomplete cache, an empty mailbox, or more than bigGap
// new messages.
// UIDVALIDITY does not change while a mailbox is selected (RFC 3501
// §2.3.1.1).
func (a *IMAP) stillSelected(ctx context.Context, c *imapt.Client, fc *folderCache, mbox string) (*goimap.SelectData, bool, error) {
	mb := c.Mailbox()
	if mb == nil || mb.Name != mbox || !c.Caps().Has(goimap.CapCondStore) {
		return nil, false, nil
	}
	a.mu.Lock()
	ok, count, validity := fc.st.Complete && fc.st.HighestModSeq != 0, len(fc.st.Msgs), fc.st.UIDValidity
	a.mu.Unlock()
	if !ok {
		return nil, false, nil
	}
	if err := c.Do(ctx, "noop", func() error { return c.Noop().Wait() }); err != nil {
		return nil, false, err
	}
	select {
	case <-a.notify: // what the NOOP announced is what this sync fetches
	default:
	}
	if mb = c.Mailbox(); mb == nil || mb.Name != mbox || mb.NumMessages == 0 || int(mb.NumMessages) > count+bigGap {
		return nil, false, nil
	}
	return &goimap.SelectData{UIDValidity: validity, NumMessages: mb.NumMessages}, true, nil
}

// reconcileUIDs compares the cached UIDs with UID SEARCH ALL (ESEARCH,
// RFC 4731, when offered, so the answer is a compact range list) and
// removes what vanished and fetches what is missing.
func (a *IMAP) reconcileUIDs(ctx context.Context, c *imapt.Client, fc *folderCache) (bool, error) {
	var data *goimap.SearchData
	var sopt *goimap.SearchOptions
	if c.Caps().Has(goimap.CapESearch) {
		sopt = &goimap.SearchOptions{ReturnAll: true}
	}
	err := c.Do(ctx, "uid search all", func() error {
		var err error
		data, err = c.UIDSearch(&goimap.SearchCriteria{}, sopt).Wait()
		return err
	})
	if err != nil {
		return false, fmt.Errorf("%s: %w", a.cfg.Name, err)
	}
	on := map[uint32]bool{}
	for _, u := range data.AllUIDs() {
		on[uint32(u)] = true
	}
	changed := false
	var missing []uint32
	a.mu.Lock()
	for uid := range fc.st.Msgs {
		if !on[uid] {
			a.removeMsgLocked(fc, uid)
			changed = true
		}
	}
	for uid := range on {
		if _, ok := fc.st.Msgs[uid]; !ok {
			missing = append(missing, uid)
		}
	}
	a.mu.Unlock()
	if err := a.fetchMissing(ctx, c, fc, missing); err != nil {
		return false, err
	}
	return changed || len(missing) > 0, nil
}

// fetchMissing fetches envelopes of the given UIDs, newest first.
func (a *IMAP) fetchMissing(ctx context.Context, c *imapt.Client, fc *folderCache, uids []uint32) error {
	slices.Sort(uids)
	slices.Reverse(uids)
	for len(uids) > 0 {
		n := min(len(uids), maxChunk)
		var set goimap.UIDSet
		for _, u := range uids[:n] {
			set.AddNum(goimap.UID(u))
		}
		got, err := fetchEnvelopes(ctx, c, set, n)
		if err != nil {
			return fmt.Errorf("%s: %w", a.cfg.Name, err)
		}
		a.mu.Lock()
		a.addMsgsLocked(fc, got)
		a.mu.Unlock()
		uids = uids[n:]
	}
	return nil
}

// checkValidityLocked drops the cache when UIDVALIDITY changed (RFC 3501
// §2.3.1.1: every UID known is meaningless then).
func (a *IMAP) checkValidityLocked(fc *folderCache, v uint32) error {
	if fc.st.UIDValidity == v {
		return nil
	}
	had := fc.st.UIDValidity != 0 || len(fc.st.Msgs) > 0
	for uid := range fc.st.Msgs {
		a.removeMsgLocked(fc, uid)
	}
	fc.st = newFolderState()
	fc.st.UIDValidity = v
	fc.fill = nil
	if err := saveState(fc.f.Path(), fc.st); err != nil {
		return fmt.Errorf("%s: %s: %w", a.cfg.Name, fc.name, err)
	}
	if had {
		a.emitLocked(EventFolderChanged, fc.name, nil)
	}
	return nil
}

// emitLocked is emit for callers holding a.mu.
func (a *IMAP) emitLocked(kind EventKind, folder string, err error) {
	if a.closed {
		return
	}
	select {
	case a.events <- Event{Account: a.cfg.Name, Folder: folder, Kind: kind, Err: err, Time: time.Now()}:
	default:
	}
}

// fullSync fills a cache that is not complete: the newest screenful by
// sequence number, then the UID list with flags (FETCH 1:* (UID FLAGS)),
// then the missing envelopes newest first.
func (a *IMAP) fullSync(ctx context.Context, c *imapt.Client, fc *folderCache, sel *goimap.SelectData, wait bool) error {
	name := fc.name
	n := sel.NumMessages
	if n == 0 {
		a.mu.Lock()
		changed := len(fc.st.Msgs) > 0
		for uid := range fc.st.Msgs {
			a.removeMsgLocked(fc, uid)
		}
		fc.fill = nil
		fc.st.Complete = true
		fc.st.UIDNext = uint32(sel.UIDNext)
		fc.st.HighestModSeq = sel.HighestModSeq
		err := saveState(fc.f.Path(), fc.st)
		a.updateCountsLocked(fc)
		a.mu.Unlock()
		if changed {
			a.emit(EventFolderChanged, name, nil)
		}
		return err
	}
	a.mu.Lock()
	have := len(fc.st.Msgs)
	if have == 0 {
		// Sized once for what the server announced (bounded: EXISTS is
		// the server's word) rather than regrown, old and new table
		// side by side, as the fill adds 100,000 messages.
		fc.st.Msgs = make(map[uint32]*imapMsg, min(n, maxPresize))
	}
	a.mu.Unlock()
	if have < a.opt.Screen {
		var set goimap.SeqSet
		set.AddRange(uint32(max(1, int(n)-a.opt.Screen+1)), n)
		got, err := fetchEnvelopes(ctx, c, set, a.opt.Screen)
		if err != nil {
			return fmt.Errorf("%s: %w", a.cfg.Name, err)
		}
		a.mu.Lock()
		a.addMsgsLocked(fc, got)
		err = saveState(fc.f.Path(), fc.st)
		a.mu.Unlock()
		if err != nil {
			return fmt.Errorf("%s: %s: %w", a.cfg.Name, name, err)
		}
		a.emit(EventFolderChanged, name, nil)
		if !wait {
			// The first screen is listable: list the rest in the background.
			a.addBG(bgTask{key: "list:" + name, fn: func(ctx context.Context, c *imapt.Client) error {
				a.mu.Lock()
				mbox := fc.mailbox
				a.mu.Unlock()
				sel, err := selectMailbox(ctx, c, mbox)
				if err != nil {
					return fmt.Errorf("%s: %w", a.cfg.Name, err)
				}
				a.mu.Lock()
				err = a.checkValidityLocked(fc, sel.UIDValidity)
				a.mu.Unlock()
				if err != nil {
					return err
				}
				return a.listAndFill(ctx, c, fc, sel, false)
			}})
			return nil
		}
	}
	return a.listAndFill(ctx, c, fc, sel, wait)
}

// listAndFill fetches the UID list with flags, drops what vanished and
// fetches the missing envelopes newest first, in the background unless
// wait is set.
func (a *IMAP) listAndFill(ctx context.Context, c *imapt.Client, fc *folderCache, sel *goimap.SelectData, wait bool) error {
	name := fc.name
	n := sel.NumMessages
	// The UID list with flags, streamed.
	flags := make(map[uint32]maildir.Flags, n)
	err := c.Do(ctx, "fetch uids", func() error {
		var all goimap.SeqSet
		all.AddRange(1, 0)
		cmd := c.Fetch(all, &goimap.FetchOptions{UID: true, Flags: true})
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			b, err := msg.Collect()
			if err == nil && b.UID != 0 {
				flags[uint32(b.UID)] = imapFlagsToMaildir(b.Flags)
			}
		}
		return cmd.Close()
	})
	if err != nil {
		return fmt.Errorf("%s: %w", a.cfg.Name, err)
	}
	var missing []uint32
	a.mu.Lock()
	for uid, m := range fc.st.Msgs {
		f, ok := flags[uid]
		if !ok {
			a.removeMsgLocked(fc, uid)
			continue
		}
		fc.st.setFlags(m, f)
	}
	for uid := range flags {
		if _, ok := fc.st.Msgs[uid]; !ok {
			missing = append(missing, uid)
		}
	}
	slices.Sort(missing)
	slices.Reverse(missing)
	fc.fill = missing
	fc.fillUIDNext = uint32(sel.UIDNext)
	fc.fillModSeq = sel.HighestModSeq
	a.queue.overlayLocked(fc)
	err = saveState(fc.f.Path(), fc.st)
	a.mu.Unlock()
	if err != nil {
		return fmt.Errorf("%s: %s: %w", a.cfg.Name, name, err)
	}
	if !wait {
		a.scheduleFill(name)
		return nil
	}
	for {
		more, err := a.fillStep(ctx, c, name)
		if err != nil || !more {
			return err
		}
	}
}

func (a *IMAP) scheduleFill(name string) { a.scheduleSteps("fill:"+name, name, a.fillStep) }

func (a *IMAP) scheduleBodies(name string) { a.scheduleSteps("bodies:"+name, name, a.fetchSomeBodies) }

// scheduleSteps queues one step of background work on folder name and,
// while the step says more remains, queues the next after it, so other
// requests get the connection between steps.
func (a *IMAP) scheduleSteps(key, name string, step func(context.Context, *imapt.Client, string) (bool, error)) {
	a.addBG(bgTask{key: key, fn: func(ctx context.Context, c *imapt.Client) error {
		more, err := step(ctx, c, name)
		if err == nil && more {
			a.scheduleSteps(key, name, step)
		}
		return err
	}})
}

// fillStep fetches envelopes for the next chunk of fc.fill; when none are
// left the cache becomes complete. more says whether work remains.
func (a *IMAP) fillStep(ctx context.Context, c *imapt.Client, name string) (more bool, err error) {
	a.mu.Lock()
	fc, err := a.cacheLocked(name)
	if err != nil {
		a.mu.Unlock()
		return false, err
	}
	mbox := fc.mailbox
	a.mu.Unlock()
	sel, err := a.selectWatch(ctx, c, name, mbox)
	if err != nil {
		return false, fmt.Errorf("%s: %w", a.cfg.Name, err)
	}
	a.mu.Lock()
	if fc.st.UIDValidity != sel.UIDValidity {
		a.mu.Unlock()
		return false, a.syncFolder(ctx, c, name, false) // starts over
	}
	if fc.st.Complete && len(fc.fill) == 0 {
		a.mu.Unlock()
		return false, nil
	}
	total := len(fc.st.Msgs)
	a.mu.Unlock()
	unsaved := 0
	for {
		a.mu.Lock()
		size := min(len(fc.fill), max(firstChunk, min(maxChunk, total/4)))
		chunk := slices.Clone(fc.fill[:size])
		a.mu.Unlock()
		if len(chunk) > 0 {
			var set goimap.UIDSet
			for _, u := range chunk {
				set.AddNum(goimap.UID(u))
			}
			got, err := fetchEnvelopes(ctx, c, set, len(chunk))
			if err != nil {
				return true, fmt.Errorf("%s: %w", a.cfg.Name, err)
			}
			a.mu.Lock()
			a.addMsgsLocked(fc, got)
			a.queue.overlayLocked(fc)
			fc.fill = fc.fill[min(len(fc.fill), size):]
			total = len(fc.st.Msgs)
			a.mu.Unlock()
			unsaved += len(got)
			a.emit(EventFolderChanged, name, nil)
		}
		a.mu.Lock()
		done := len(fc.fill) == 0
		if done {
			fc.fill = nil
			fc.st.Complete = true
			fc.st.UIDNext = max(fc.st.UIDNext, fc.fillUIDNext)
			fc.st.HighestModSeq = fc.fillModSeq
		}
		var err error
		if done || unsaved >= saveEvery {
			err = saveState(fc.f.Path(), fc.st)
			unsaved = 0
		}
		a.updateCountsLocked(fc)
		a.mu.Unlock()
		if err != nil {
			return false, fmt.Errorf("%s: %s: %w", a.cfg.Name, name, err)
		}
		if done {
			if a.opt.FullOffline {
				a.scheduleBodies(name)
			}
			// What arrived during the fill was absorbed by its SELECTs.
			return false, a.syncFolder(ctx, c, name, false)
		}
		// Yield to requests and queued actions between chunks.
		if len(a.reqs) > 0 || a.queue.len() > 0 || ctx.Err() != nil {
			if unsaved > 0 {
				a.mu.Lock()
				err = saveState(fc.f.Path(), fc.st)
				a.mu.Unlock()
			}
			return true, err
		}
		select {
		case <-a.quit:
			a.mu.Lock()
			err = saveState(fc.f.Path(), fc.st)
			a.mu.Unlock()
			return true, err
		default:
		}
	}
}

// addMsgsLocked stores fetched messages, keeping the cached body of a
// message already known.
func (a *IMAP) addMsgsLocked(fc *folderCache, msgs []fetched) {
	for i := range msgs {
		m := &msgs[i]
		body := ""
		if old, ok := fc.st.Msgs[m.uid]; ok {
			body = fc.st.bodyKey(old)
		}
		fc.st.put(m.uid, body, &m.env)
	}
}

// removeMsgLocked forgets a message and removes its cached body.
func (a *IMAP) removeMsgLocked(fc *folderCache, uid uint32) {
	m, ok := fc.st.Msgs[uid]
	if !ok {
		return
	}
	fc.st.remove(uid)
	if key := fc.st.bodyKey(m); key != "" {
		if e, err := fc.f.Find(key); err == nil {
			fc.f.Remove(e)
		}
	}
}

func (a *IMAP) updateCountsLocked(fc *folderCache) {
	if !fc.st.Complete {
		return
	}
	t, u := fc.counts()
	for i := range a.folders {
		if a.folders[i].Name == fc.name {
			a.folders[i].Total, a.folders[i].Unread = t, u
		}
	}
}

// fetched is a message as FETCH gave it, on its way into the cache.
type fetched struct {
	uid uint32
	env Envelope
}

// fetchEnvelopes runs FETCH (or UID FETCH for a UIDSet) for the list items
// and converts the answers as they arrive. n is how many are expected, if
// known: the answers are collected without regrowing.
func fetchEnvelopes(ctx context.Context, c *imapt.Client, set goimap.NumSet, n int) ([]fetched, error) {
	out := make([]fetched, 0, min(n, maxChunk))
	var sr message.SummaryReader
	err := c.DoTimeout(ctx, 4*c.Timeout(), "fetch envelopes", func() error {
		cmd := c.Fetch(set, envelopeItems)
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			var m fetched
			var internal time.Time
			for {
				item := msg.Next()
				if item == nil {
					break
				}
				switch it := item.(type) {
				case imapclient.FetchItemDataUID:
					m.uid = uint32(it.UID)
				case imapclient.FetchItemDataFlags:
					m.env.Flags = imapFlagsToMaildir(it.Flags)
				case imapclient.FetchItemDataRFC822Size:
					m.env.Size = it.Size
				case imapclient.FetchItemDataInternalDate:
					internal = it.Time
				case imapclient.FetchItemDataBodySection:
					if it.Literal == nil {
						continue
					}
					// Bounded: a hostile server cannot make a header grow
					// without limit.
					sum, err := sr.ReadSummary(io.LimitReader(it.Literal, maxEnvelopeHeader))
					if err == nil {
						_, err = io.Copy(io.Discard, it.Literal)
					}
					if err != nil {
						// go-imap beta.8 reads the connection again when a
						// failed literal is discarded (by Next or Close),
						// racing its reader: the connection is dead, so
						// drop it as is.
						c.Close()
						return err
					}
					e := &m.env
					e.Date = sum.Date
					e.From, e.To, e.Cc, e.Subject = sum.From, sum.To, sum.Cc, sum.Subject
					e.MessageID, e.InReplyTo = sum.MessageID, sum.InReplyTo
					e.References = lastIDs(sum.References, maxRefs)
				}
			}
			if m.uid != 0 {
				if m.env.Date.IsZero() {
					m.env.Date = internal
				}
				out = append(out, m)
			}
		}
		return cmd.Close()
	})
	return out, err
}

// lastIDs keeps the last n of the space-separated ids in s.
func lastIDs(s string, n int) string {
	for i, k := len(s)-1, 0; i >= 0; i-- {
		if s[i] == ' ' {
			if k++; k == n {
				return s[i+1:]
			}
		}
	}
	return s
}

// IMAP system flags and maildir letters (RFC 3501 §2.3.2; $Forwarded is
// RFC 5550 §2.8).
var flagLetters = [...]struct {
	flag   goimap.Flag
	letter byte
}{
	{goimap.FlagDraft, maildir.FlagDraft},
	{goimap.FlagFlagged, maildir.FlagFlagged},
	{goimap.FlagForwarded, maildir.FlagPassed},
	{goimap.FlagAnswered, maildir.FlagReplied},
	{goimap.FlagSeen, maildir.FlagSeen},
	{goimap.FlagDeleted, maildir.FlagTrashed},
}

func imapFlagsToMaildir(flags []goimap.Flag) maildir.Flags {
	var b []byte
	for _, f := range flags {
		for _, fl := range flagLetters {
			if strings.EqualFold(string(f), string(fl.flag)) {
				b = append(b, fl.letter)
			}
		}
	}
	return maildir.ParseFlags(string(b))
}

func maildirToIMAPFlags(f maildir.Flags) []goimap.Flag {
	var out []goimap.Flag
	for _, fl := range flagLetters {
		if f.Has(fl.letter) {
			out = append(out, fl.flag)
		}
	}
	return out
}

// fetchSomeBodies downloads up to bodyChunk bodies not cached yet, newest
// first; more says whether others remain.
func (a *IMAP) fetchSomeBodies(ctx context.Context, c *imapt.Client, name string) (more bool, err error) {
	a.mu.Lock()
	fc, err := a.cacheLocked(name)
	if err != nil {
		a.mu.Unlock()
		return false, err
	}
	var todo []uint32
	for uid, m := range fc.st.Msgs {
		if m.body == 0 {
			todo = append(todo, uid)
		}
	}
	mbox := fc.mailbox
	a.mu.Unlock()
	if len(todo) == 0 {
		return false, nil
	}
	slices.Sort(todo)
	slices.Reverse(todo)
	n := min(len(todo), bodyChunk)
	sel, err := a.selectWatch(ctx, c, name, mbox)
	if err != nil {
		return false, fmt.Errorf("%s: %w", a.cfg.Name, err)
	}
	if sel.UIDValidity != fc.st.UIDValidity {
		return false, a.syncFolder(ctx, c, name, false)
	}
	if err := a.fetchBodies(ctx, c, fc, todo[:n]); err != nil {
		return true, err
	}
	return len(todo) > n, nil
}

// fetchBodies downloads whole messages (BODY.PEEK[], RFC 3501 §6.4.5, so
// \Seen is not set) straight into the maildir, durably, and records them.
// The folder must be selected.
func (a *IMAP) fetchBodies(ctx context.Context, c *imapt.Client, fc *folderCache, uids []uint32) error {
	var set goimap.UIDSet
	for _, u := range uids {
		set.AddNum(goimap.UID(u))
	}
	var stored []uint32
	err := c.DoTimeout(ctx, 10*c.Timeout(), "fetch body", func() error {
		cmd := c.Fetch(set, &goimap.FetchOptions{UID: true, BodySection: []*goimap.FetchItemBodySection{{Peek: true}}})
		for {
			msg := cmd.Next()
			if msg == nil {
				break
			}
			var uid uint32
			for {
				item := msg.Next()
				if item == nil {
					break
				}
				switch it := item.(type) {
				case imapclient.FetchItemDataUID:
					uid = uint32(it.UID)
				case imapclient.FetchItemDataBodySection:
					if it.Literal == nil {
						continue
					}
					a.mu.Lock()
					m := fc.st.Msgs[uid]
					var flags maildir.Flags
					if m != nil {
						flags = fc.st.flags(m)
					}
					a.mu.Unlock()
					if m == nil {
						if _, err := io.Copy(io.Discard, it.Literal); err != nil {
							c.Close()
							return err
						}
						continue
					}
					e, err := fc.f.Deliver(it.Literal, flags)
					if err != nil {
						c.Close() // see fetchEnvelopes
						return err
					}
					a.mu.Lock()
					if m := fc.st.Msgs[uid]; m != nil && m.body == 0 {
						fc.st.setBodyKey(m, e.Key)
						stored = append(stored, uid)
					} else {
						fc.f.Remove(e)
					}
					a.mu.Unlock()
				}
			}
		}
		return cmd.Close()
	})
	if len(stored) > 0 {
		a.mu.Lock()
		serr := saveState(fc.f.Path(), fc.st)
		a.mu.Unlock()
		if err == nil && serr != nil {
			err = serr
		}
	}
	return err
}

// Open returns the raw message: the cached body, else BODY.PEEK[] from the
// server, stored durably in the maildir and served from there from then
// on (also offline).
func (a *IMAP) Open(ctx context.Context, folder string, id MsgID) (io.ReadCloser, error) {
	if err := a.checkOpen(ctx); err != nil {
		return nil, err
	}
	if isLocalID(id) {
		return a.local.Open(ctx, folder, id)
	}
	uv, uid, ok := parseMsgID(id)
	if !ok {
		return nil, fmt.Errorf("%s: %s: invalid message id %q", a.cfg.Name, folder, id)
	}
	for attempt := 0; ; attempt++ {
		a.mu.Lock()
		fc, err := a.cacheLocked(folder)
		if err != nil {
			a.mu.Unlock()
			return nil, err
		}
		m := fc.st.Msgs[uid]
		if m == nil || fc.st.UIDValidity != uv {
			a.mu.Unlock()
			return nil, fmt.Errorf("%s: %s: open %s: %w", a.cfg.Name, folder, id, maildir.ErrNotFound)
		}
		key, mbox := fc.st.bodyKey(m), fc.mailbox
		a.mu.Unlock()
		if key != "" {
			if e, err := fc.f.Find(key); err == nil {
				if file, _, err := fc.f.Open(e); err == nil {
					return file, nil
				}
			}
			a.mu.Lock()
			if m := fc.st.Msgs[uid]; m != nil && fc.st.bodyKey(m) == key {
				fc.st.setBodyKey(m, "")
			}
			a.mu.Unlock()
		}
		if attempt > 0 {
			return nil, fmt.Errorf("%s: %s: open %s: the server sent no body", a.cfg.Name, folder, id)
		}
		err = a.do(ctx, "open", func(ctx context.Context, c *imapt.Client) error {
			sel, err := a.selectWatch(ctx, c, folder, mbox)
			if err != nil {
				return fmt.Errorf("%s: %w", a.cfg.Name, err)
			}
			if sel.UIDValidity != uv {
				return fmt.Errorf("%s: %s: open %s: folder changed on the server (UIDVALIDITY): %w", a.cfg.Name, folder, id, maildir.ErrNotFound)
			}
			return a.fetchBodies(ctx, c, fc, []uint32{uid})
		})
		if err != nil {
			return nil, err
		}
	}
}
