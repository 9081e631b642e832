package ui

import (
	"bytes"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
)

type filterResult struct {
	q           string
	newestFirst bool
	rows        []row
}

// listModel is the message list pane. It keeps the folder's envelopes and
// their rows in display order (sorted, threaded, filtered); View renders
// only the rows in the window, so a key press costs the same for ten
// messages and for a hundred thousand.
type listModel struct {
	keys          listKeys
	st            *Styles
	width, height int

	acct    int
	folder  string
	role    string // the folder's role: the Sent folder shows recipients
	seq     uint64 // the List request whose reply is awaited
	loading bool
	loaded  bool
	// Reloads coalesce and are spaced (see Model.reloadList): again says
	// the folder changed while a List was in flight or waiting, loadedAt
	// is when the last reply was shown, and waitSeq names the
	// reloadTickMsg a waiting reload is for (0: none waits).
	again    bool
	loadedAt time.Time
	waitSeq  uint64

	envs        account.Envelopes        // nil until the first List reply
	flags       map[string]maildir.Flags // flags changed here since envs was listed, by key
	byDate      []int32                  // envelope indices, oldest first
	th          *threadIndex             // built on first use
	hay         []byte                   // lower-cased search text, built on first use
	hayOff      []int32                  // envelope → start of its record in hay
	filterCache []filterResult           // recent filter results for these envelopes
	rows        []row                    // threaded or filtered rows; nil when flat (see row)
	cursor      int
	offset      int

	threaded    bool
	newestFirst bool
	folded      map[string]bool // folded thread roots, by key
	filter      string          // lower-cased filter; "" shows everything
}

func newList(keys listKeys, st *Styles) listModel {
	return listModel{keys: keys, st: st, newestFirst: true, folded: map[string]bool{}}
}

// SetSize sets the pane's size in cells.
func (l *listModel) SetSize(w, h int) {
	l.width, l.height = max(w, 0), max(h, 0)
	l.scroll()
}

// reset empties the list for another folder.
func (l *listModel) reset(acct int, folder, role string) {
	l.acct, l.folder, l.role = acct, folder, role
	l.envs, l.flags, l.byDate, l.th, l.hay, l.rows, l.filterCache = nil, nil, nil, nil, nil, nil, nil
	l.cursor, l.offset = 0, 0
	l.loading, l.again, l.loadedAt, l.waitSeq = false, false, time.Time{}, 0
	l.folded = map[string]bool{}
	l.filter = ""
	l.loaded = false
}

// setRole sets the folder's role (known once the folders are listed).
func (l *listModel) setRole(role string) {
	if role != l.role {
		l.role = role
		l.hay, l.filterCache = nil, nil // the search text depends on it
	}
}

// setEnvelopes replaces the folder's envelopes, keeping the cursor on the
// same message when it is still there.
func (l *listModel) setEnvelopes(envs account.Envelopes) {
	l.setSorted(envs, nil)
}

// setSorted is setEnvelopes with byDate, sortByDate(envs), given; nil
// sorts here.
func (l *listModel) setSorted(envs account.Envelopes, byDate []int32) {
	if byDate == nil {
		byDate = sortByDate(envs)
	}
	keep := l.currentKey()
	l.envs, l.flags = envs, nil
	l.byDate = byDate
	l.th, l.hay, l.filterCache = nil, nil, nil
	l.loaded = true
	l.rebuild(keep)
}

// rebuild recomputes the rows and puts the cursor on the message keep, or
// where it was.
func (l *listModel) rebuild(keep string) {
	switch {
	case l.filter != "":
		l.rows = l.filterRows(l.filter, nil)
	case l.threaded:
		if l.th == nil {
			l.th = buildThreads(l.envs, l.byDate)
		}
		l.rows = l.th.flatten(l.newestFirst, func(r int32) bool { return len(l.folded) > 0 && l.folded[l.key(r)] })
	default:
		l.rows = nil // see row
	}
	if keep != "" {
		for i := range l.rowCount() {
			if l.key(l.row(i).env) == keep {
				l.cursor = i
				break
			}
		}
	}
	l.scroll()
}

// flat says the list shows every message in date order: no filter, no
// threads. Its rows are then not stored but read from byDate, which saves
// 20 bytes a message and a copy on every reload.
func (l *listModel) flat() bool { return l.filter == "" && !l.threaded }

// rowCount is the number of rows.
func (l *listModel) rowCount() int {
	if l.flat() {
		return len(l.byDate)
	}
	return len(l.rows)
}

// row is row i of the list.
func (l *listModel) row(i int) row {
	if !l.flat() {
		return l.rows[i]
	}
	if l.newestFirst {
		i = len(l.byDate) - 1 - i
	}
	return row{env: l.byDate[i], parent: -1}
}

// buildHay builds the lower-cased search text of every envelope: sender
// and subject (and recipients in Sent, Drafts and Outbox), one record per
// envelope in one buffer, so that a search is a single fast scan.
func (l *listModel) buildHay() {
	if l.hay != nil {
		return
	}
	sent := l.role == account.RoleSent || l.role == account.RoleDrafts || l.role == account.RoleOutbox
	var b strings.Builder
	n := l.len()
	l.hayOff = make([]int32, n+1)
	for i := range n {
		e := l.env(int32(i))
		l.hayOff[i] = int32(b.Len())
		b.WriteString(strings.ToLower(e.From))
		b.WriteByte(0)
		b.WriteString(strings.ToLower(e.Subject))
		if sent {
			b.WriteByte(0)
			b.WriteString(strings.ToLower(e.To))
		}
		b.WriteByte('\n')
	}
	l.hayOff[n] = int32(b.Len())
	l.hay = []byte(b.String())
}

// filterRows returns the flat rows whose search text contains q, in list
// order. With from non-nil it keeps only rows of from (q extends the
// previous filter).
func (l *listModel) filterRows(q string, from []row) []row {
	for _, c := range l.filterCache {
		if c.q == q && c.newestFirst == l.newestFirst {
			return slices.Clone(c.rows)
		}
	}
	l.buildHay()
	qb := []byte(q)
	match := make([]bool, l.len())
	for pos := 0; pos < len(l.hay); {
		i := bytes.Index(l.hay[pos:], qb)
		if i < 0 {
			break
		}
		at := int32(pos + i)
		// the record holding the match: the last offset <= at
		e, _ := slices.BinarySearch(l.hayOff, at+1)
		e--
		if at+int32(len(qb)) < l.hayOff[e+1] { // not across records
			match[e] = true
		}
		pos = int(l.hayOff[e+1])
	}
	var out []row
	if from != nil {
		out = make([]row, 0, len(from))
		for _, r := range from {
			if match[r.env] {
				out = append(out, row{env: r.env, parent: -1})
			}
		}
	} else {
		n := len(l.byDate)
		for i := range n {
			j := i
			if l.newestFirst {
				j = n - 1 - i
			}
			if e := l.byDate[j]; match[e] {
				out = append(out, row{env: e, parent: -1})
			}
		}
	}
	// Remember a few results: backspace while typing comes back to them.
	if len(l.filterCache) >= 8 {
		l.filterCache = l.filterCache[1:]
	}
	l.filterCache = append(l.filterCache, filterResult{q: q, newestFirst: l.newestFirst, rows: slices.Clone(out)})
	return out
}

// setFilter filters by sender and subject, case-insensitively.
func (l *listModel) setFilter(q string) {
	q = strings.ToLower(q)
	if q == l.filter {
		return
	}
	keep := l.currentKey()
	old := l.filter
	l.filter = q
	if q != "" && old != "" && strings.Contains(q, old) {
		l.rows = l.filterRows(q, l.rows)
		l.cursor = 0
		for i := range l.rows {
			if l.key(l.rows[i].env) == keep {
				l.cursor = i
				break
			}
		}
		l.scroll()
		return
	}
	l.rebuild(keep)
}

func (l *listModel) currentKey() string {
	if e := l.current(); e != nil {
		return e.Key
	}
	return ""
}

// len is the number of envelopes.
func (l *listModel) len() int {
	if l.envs == nil {
		return 0
	}
	return l.envs.Len()
}

// env is envelope i, with the flags changed here since it was listed.
func (l *listModel) env(i int32) account.Envelope {
	e := l.envs.At(int(i))
	if f, ok := l.flags[e.Key]; ok {
		e.Flags = f
	}
	return e
}

// key is env(i).Key, without building the envelope when the list's
// envelopes give keys (account.SortKeys).
func (l *listModel) key(i int32) string {
	if k, ok := l.envs.(account.SortKeys); ok {
		return k.KeyAt(int(i))
	}
	return l.envs.At(int(i)).Key
}

// current is (a copy of) the envelope under the cursor, or nil.
func (l *listModel) current() *account.Envelope {
	if l.cursor < 0 || l.cursor >= l.rowCount() {
		return nil
	}
	e := l.env(l.row(l.cursor).env)
	return &e
}

// find returns (a copy of) the envelope with key k, or nil.
func (l *listModel) find(k string) *account.Envelope {
	if e := l.current(); e != nil && e.Key == k {
		return e
	}
	for i := range l.len() {
		if e := l.env(int32(i)); e.Key == k {
			return &e
		}
	}
	return nil
}

// setFlags changes a message's flags in the list (after a SetFlags),
// until the next List reply.
func (l *listModel) setFlags(k string, f maildir.Flags) {
	if l.find(k) == nil {
		return
	}
	if l.flags == nil {
		l.flags = map[string]maildir.Flags{}
	}
	l.flags[k] = f
}

// remove drops messages from the list (after a move or delete); the
// cursor stays at the same position, on the message after.
func (l *listModel) remove(keys []string) {
	if len(keys) == 0 || l.len() == 0 {
		return
	}
	drop := make(map[string]bool, len(keys))
	for _, k := range keys {
		drop[k] = true
	}
	n := l.len()
	remap := make([]int32, n)
	keep := make([]int32, 0, n)
	for i := range n {
		if drop[l.key(int32(i))] {
			remap[i] = -1
			continue
		}
		remap[i] = int32(len(keep))
		keep = append(keep, int32(i))
	}
	if len(keep) == n {
		return
	}
	byDate := make([]int32, 0, len(keep))
	for _, e := range l.byDate {
		if remap[e] >= 0 {
			byDate = append(byDate, remap[e])
		}
	}
	l.envs, l.byDate, l.th, l.hay, l.filterCache = pick(l.envs, keep), byDate, nil, nil, nil
	l.rebuild("")
}

// picked is the envelopes of base at the indices idx.
type picked struct {
	base account.Envelopes
	idx  []int32
}

func (p picked) Len() int                  { return len(p.idx) }
func (p picked) At(i int) account.Envelope { return p.base.At(int(p.idx[i])) }

// pick returns the envelopes of envs at the indices idx, without a copy
// of them (nor a chain of views after many removals).
func pick(envs account.Envelopes, idx []int32) account.Envelopes {
	if p, ok := envs.(picked); ok {
		for i, j := range idx {
			idx[i] = p.idx[j]
		}
		return picked{base: p.base, idx: idx}
	}
	return picked{base: envs, idx: idx}
}

// scroll clamps the cursor and moves the window so the cursor is in it.
func (l *listModel) scroll() {
	n := l.rowCount()
	l.cursor = min(max(l.cursor, 0), max(n-1, 0))
	h := max(l.height, 1)
	if l.cursor < l.offset {
		l.offset = l.cursor
	}
	if l.cursor >= l.offset+h {
		l.offset = l.cursor - h + 1
	}
	l.offset = min(max(l.offset, 0), max(n-h, 0))
}

func (l *listModel) moveBy(d int) {
	l.cursor += d
	l.scroll()
}

// toggleThreads switches between threads and a flat list.
func (l *listModel) toggleThreads() {
	keep := l.currentKey()
	l.threaded = !l.threaded
	l.rebuild(keep)
}

// toggleReverse flips newest-first and oldest-first.
func (l *listModel) toggleReverse() {
	keep := l.currentKey()
	l.newestFirst = !l.newestFirst
	l.rebuild(keep)
}

// toggleFold folds or unfolds the thread under the cursor.
func (l *listModel) toggleFold() {
	if !l.threaded || l.filter != "" || len(l.rows) == 0 {
		return
	}
	r := rootRow(l.rows, l.cursor)
	k := l.key(l.rows[r].env)
	if l.folded[k] {
		delete(l.folded, k)
	} else {
		l.folded[k] = true
	}
	l.rebuild(k)
}

// toggleFoldAll folds every thread, or unfolds all when some are folded.
func (l *listModel) toggleFoldAll() {
	if !l.threaded || l.filter != "" || len(l.rows) == 0 {
		return
	}
	r := rootRow(l.rows, l.cursor)
	k := l.key(l.rows[r].env)
	if len(l.folded) > 0 {
		l.folded = map[string]bool{}
	} else {
		for _, root := range l.th.roots {
			if l.th.firstChild[root] >= 0 {
				l.folded[l.key(root)] = true
			}
		}
	}
	l.rebuild(k)
}

// listAction is what a key press in the list asks the root model to do.
type listAction int

const (
	listNone listAction = iota
	listOpen
	listQuit
	listFocusLeft
	listSearch
	listMail // a message key: the mailAction says which
	listSync
	listEdit
	listSendNow
)

// Update handles a key press. Movement and view changes happen here;
// anything needing I/O is returned as an action for the root model.
func (l *listModel) Update(msg tea.KeyMsg) (listAction, mailAction) {
	a := l.update(msg)
	if a != listNone {
		return a, mailNone
	}
	if ma := l.keys.match(msg); ma != mailNone {
		return listMail, ma
	}
	return l.updateLate(msg), mailNone
}

func (l *listModel) update(msg tea.KeyMsg) listAction {
	k := l.keys
	page := max(l.height, 1)
	switch {
	case key.Matches(msg, k.Down):
		l.moveBy(1)
	case key.Matches(msg, k.Up):
		l.moveBy(-1)
	case key.Matches(msg, k.Top):
		l.cursor = 0
		l.scroll()
	case key.Matches(msg, k.Bottom):
		l.cursor = l.rowCount() - 1
		l.scroll()
	case key.Matches(msg, k.PageDown):
		l.offset += page
		l.moveBy(page)
	case key.Matches(msg, k.PageUp):
		l.offset -= page
		l.moveBy(-page)
	case key.Matches(msg, k.HalfDown):
		l.offset += page / 2
		l.moveBy(max(page/2, 1))
	case key.Matches(msg, k.HalfUp):
		l.offset -= page / 2
		l.moveBy(-max(page/2, 1))
	case key.Matches(msg, k.Reverse):
		l.toggleReverse()
	case key.Matches(msg, k.Threads):
		l.toggleThreads()
	case key.Matches(msg, k.Collapse):
		l.toggleFold()
	case key.Matches(msg, k.CollapseAll):
		l.toggleFoldAll()
	case key.Matches(msg, k.Open), key.Matches(msg, k.Right):
		return listOpen
	case key.Matches(msg, k.Back):
		return listQuit
	case key.Matches(msg, k.Left):
		return listFocusLeft
	case key.Matches(msg, k.Search):
		return listSearch
	}
	return listNone
}

// updateLate handles the keys checked after the message keys.
func (l *listModel) updateLate(msg tea.KeyMsg) listAction {
	k := l.keys
	switch {
	case key.Matches(msg, k.Sync):
		return listSync
	case key.Matches(msg, k.Edit):
		return listEdit
	case key.Matches(msg, k.SendNow):
		return listSendNow
	}
	return listNone
}

// columns is the list's layout for a width.
type columns struct {
	date, from, size, subject int
}

func (l *listModel) columns(now time.Time) columns {
	w := l.width
	// "2006-01-02" only when some message is from another year; else
	// "Jan 02" and "15:04" fit in 6.
	c := columns{date: 6}
	for _, e := range [2]int{0, len(l.byDate) - 1} {
		if e >= 0 && e < len(l.byDate) {
			if d := l.env(l.byDate[e]).Date; !d.IsZero() && d.In(now.Location()).Year() != now.Year() {
				c.date = 10
			}
		}
	}
	c.from = min(max(w/4, 8), 24)
	if w >= 70 {
		c.size = 5
	}
	// gutter(1) flags(3) sp date sp from sp subject [sp size]
	used := 1 + 3 + 1 + c.date + 1 + c.from + 1
	if c.size > 0 {
		used += 1 + c.size
	}
	c.subject = w - used
	if c.subject < 4 { // very narrow: give up the date
		c.subject += c.date + 1
		c.date = 0
	}
	c.subject = max(c.subject, 0)
	return c
}

func flagCells(f maildir.Flags) string {
	b := []byte("   ")
	switch {
	case f.Has(maildir.FlagDraft):
		b[0] = 'D'
	case !f.Has(maildir.FlagSeen):
		b[0] = 'N'
	}
	if f.Has(maildir.FlagFlagged) {
		b[1] = 'F'
	}
	switch {
	case f.Has(maildir.FlagReplied):
		b[2] = 'R'
	case f.Has(maildir.FlagPassed):
		b[2] = 'P'
	}
	return string(b)
}

// renderRow renders row i in exactly l.width cells.
func (l *listModel) renderRow(i int, c columns, now time.Time, focused bool) string {
	r := l.row(i)
	e := l.env(r.env)
	var b strings.Builder
	b.Grow(l.width + 16)
	if i == l.cursor {
		b.WriteByte('>')
	} else {
		b.WriteByte(' ')
	}
	b.WriteString(flagCells(e.Flags))
	b.WriteByte(' ')
	if c.date > 0 {
		b.WriteString(cell(fmtDate(e.Date, now), c.date))
		b.WriteByte(' ')
	}
	who := displayName(e.From)
	if l.role == account.RoleSent || l.role == account.RoleDrafts || l.role == account.RoleOutbox {
		who = "To " + displayName(e.To)
	}
	b.WriteString(cell(who, c.from))
	b.WriteByte(' ')
	subj := e.Subject
	if r.hidden > 0 {
		subj = "(+" + strconv.Itoa(int(r.hidden)) + ") " + subj
	}
	if l.threaded && l.filter == "" {
		prefix := treePrefix(l.rows, i)
		// the prefix never takes more than half the subject column
		if pw := len([]rune(prefix)); pw > c.subject/2 {
			rs := []rune(prefix)
			prefix = "…" + string(rs[len(rs)-max(c.subject/2-1, 0):])
		}
		subj = prefix + subj
	}
	b.WriteString(cell(subj, c.subject))
	if c.size > 0 {
		b.WriteByte(' ')
		b.WriteString(cellRight(fmtSize(e.Size), c.size))
	}
	line := b.String()
	st := l.st.Row
	switch {
	case i == l.cursor && focused:
		st = l.st.RowCursor
	case i == l.cursor:
		st = l.st.RowCursorBg
	case !e.Flags.Has(maildir.FlagSeen):
		st = l.st.RowUnread
	case e.Flags.Has(maildir.FlagFlagged):
		st = l.st.RowFlagged
	}
	if i != l.cursor && e.Flags.Has(maildir.FlagFlagged) && !e.Flags.Has(maildir.FlagSeen) {
		st = l.st.RowFlagged.Bold(true)
	}
	return st.Render(line)
}

// View renders the visible window of rows, l.height lines of l.width cells.
func (l *listModel) View(now time.Time, focused bool) string {
	if l.width <= 0 || l.height <= 0 {
		return ""
	}
	lines := make([]string, 0, l.height)
	switch {
	case l.rowCount() == 0:
		msg := "No messages"
		switch {
		case !l.loaded:
			msg = "Loading…"
		case l.filter != "":
			msg = "No message matches the filter"
		}
		lines = append(lines, l.st.Empty.Render(cell(msg, l.width)))
	default:
		c := l.columns(now)
		end := min(l.offset+l.height, l.rowCount())
		for i := l.offset; i < end; i++ {
			lines = append(lines, l.renderRow(i, c, now, focused))
		}
	}
	blank := strings.Repeat(" ", l.width)
	for len(lines) < l.height {
		lines = append(lines, blank)
	}
	return strings.Join(lines, "\n")
}
