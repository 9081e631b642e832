package ui

import (
	"cmp"
	"slices"
	"strings"
	"time"

	"github.com/mailbag/mailbag/account"
)

// row is one line of the message list, in display order.
type row struct {
	env    int32 // index into the envelopes
	parent int32 // row of the parent message; -1 for thread roots and flat rows
	depth  int32 // thread depth; 0 for roots and flat rows
	hidden int32 // messages folded under this row
	last   bool  // last reply of its parent
}

// sortByDate returns envelope indices ordered by date, oldest first; ties
// by key, so the order is stable across reloads. It reads dates and keys
// through account.SortKeys when envs has them: building 100,000 whole
// envelopes costs more than sorting them.
func sortByDate(envs account.Envelopes) []int32 {
	date := func(i int) time.Time { return envs.At(i).Date }
	key := func(i int) string { return envs.At(i).Key }
	if k, ok := envs.(account.SortKeys); ok {
		date, key = k.DateAt, k.KeyAt
	}
	// Sort compact (time, index) pairs: comparing through the envelopes
	// themselves is several times slower on 100,000 messages. Keys are
	// only looked at for the runs of equal times.
	type item struct {
		ns  int64
		idx int32
	}
	items := make([]item, envs.Len())
	for i := range items {
		items[i] = item{ns: date(i).UnixNano(), idx: int32(i)}
	}
	slices.SortFunc(items, func(a, b item) int {
		if c := cmp.Compare(a.ns, b.ns); c != 0 {
			return c
		}
		return cmp.Compare(a.idx, b.idx)
	})
	idx := make([]int32, len(items))
	var keys []string
	for i := 0; i < len(items); {
		j := i + 1
		for j < len(items) && items[j].ns == items[i].ns {
			j++
		}
		if j-i > 1 {
			keys = slices.Grow(keys[:0], j-i)
			for _, it := range items[i:j] {
				keys = append(keys, key(int(it.idx)))
			}
			run := idx[i:j]
			for k := range run {
				run[k] = int32(k)
			}
			slices.SortFunc(run, func(a, b int32) int { return strings.Compare(keys[a], keys[b]) })
			for k, r := range run {
				run[k] = items[i+int(r)].idx
			}
		} else {
			idx[i] = items[i].idx
		}
		i = j
	}
	return idx
}

// threadIndex is the reply tree of a folder, built from Message-ID,
// In-Reply-To and References (RFC 5322 §3.6.4). A message whose parent is
// not in the folder starts its own thread.
type threadIndex struct {
	parent     []int32 // envelope → parent envelope, -1 for roots
	firstChild []int32
	nextSib    []int32 // siblings in date order
	roots      []int32 // ordered by the date of the newest message in the thread, oldest first
	size       []int32 // root → number of replies under it
}

func buildThreads(envs account.Envelopes, byDate []int32) *threadIndex {
	n := envs.Len()
	th := &threadIndex{
		parent:     make([]int32, n),
		firstChild: make([]int32, n),
		nextSib:    make([]int32, n),
		size:       make([]int32, n),
	}
	// ids maps a Message-ID to its oldest message, origin a base subject
	// to its oldest message that is not a reply: a reply whose references
	// lead nowhere (mail clients that drop them) joins the thread started
	// by a message with the same base subject (RFC 5256 §2.1), if that
	// message is older.
	ids := make(map[string]int32, n)
	origin := make(map[string]int32)
	for _, e := range byDate {
		env := envs.At(int(e))
		if id := env.MessageID; id != "" {
			if _, dup := ids[id]; !dup {
				ids[id] = e
			}
		}
		if base, re := baseSubject(env.Subject); !re && base != "" {
			if _, dup := origin[base]; !dup {
				origin[base] = e
			}
		}
	}
	for i := range n {
		th.parent[i] = -1
		th.firstChild[i] = -1
		th.nextSib[i] = -1
		env := envs.At(i)
		if p, ok := ids[strings.TrimSpace(env.InReplyTo)]; ok && p != int32(i) {
			th.parent[i] = p
			continue
		}
		refs := env.References
		for refs != "" {
			j := strings.LastIndexAny(refs, " \t")
			ref := refs[j+1:]
			refs = strings.TrimRight(refs[:max(j, 0)], " \t")
			if p, ok := ids[ref]; ok && p != int32(i) {
				th.parent[i] = p
				break
			}
		}
	}
	for i := range n {
		if th.parent[i] >= 0 {
			continue
		}
		env := envs.At(i)
		if base, re := baseSubject(env.Subject); re {
			if p, ok := origin[base]; ok && p != int32(i) && !envs.At(int(p)).Date.After(env.Date) {
				th.parent[i] = p
			}
		}
	}
	// Break cycles (hostile or broken references): walk each chain once.
	state := make([]uint8, n) // 0 new, 1 on the current path, 2 done
	var path []int32
	for i := range n {
		path = path[:0]
		j := int32(i)
		for j >= 0 && state[j] == 0 {
			state[j] = 1
			path = append(path, j)
			j = th.parent[j]
		}
		if j >= 0 && state[j] == 1 {
			th.parent[j] = -1
		}
		for _, p := range path {
			state[p] = 2
		}
	}
	// Children in date order.
	lastChild := make([]int32, n)
	for i := range lastChild {
		lastChild[i] = -1
	}
	for _, e := range byDate {
		p := th.parent[e]
		if p < 0 {
			continue
		}
		if lastChild[p] < 0 {
			th.firstChild[p] = e
		} else {
			th.nextSib[lastChild[p]] = e
		}
		lastChild[p] = e
	}
	// Root of every message (memoised), thread sizes and newest message.
	root := make([]int32, n)
	for i := range root {
		root[i] = -1
	}
	for i := range n {
		path = path[:0]
		j := int32(i)
		for root[j] < 0 && th.parent[j] >= 0 {
			path = append(path, j)
			j = th.parent[j]
		}
		r := root[j]
		if r < 0 {
			r = j
			root[j] = j
		}
		for _, p := range path {
			root[p] = r
		}
	}
	newest := make([]int32, n) // root → position in byDate of its newest message
	for pos, e := range byDate {
		r := root[e]
		newest[r] = int32(pos)
		if r != e {
			th.size[r]++
		}
	}
	for _, e := range byDate {
		if th.parent[e] < 0 {
			th.roots = append(th.roots, e)
		}
	}
	slices.SortStableFunc(th.roots, func(a, b int32) int { return int(newest[a] - newest[b]) })
	return th
}

// flatten lays the threads out as rows: threads newest first (or oldest
// first), replies in date order under their parent. Threads whose root is
// folded show only the root, with the number of hidden replies.
func (th *threadIndex) flatten(newestFirst bool, folded func(root int32) bool) []row {
	rows := make([]row, 0, len(th.parent))
	type frame struct {
		child int32
		row   int32
		depth int32
	}
	var stack []frame
	emit := func(r int32) {
		rootRow := int32(len(rows))
		rows = append(rows, row{env: r, parent: -1, last: true})
		if th.firstChild[r] < 0 {
			return
		}
		if folded != nil && folded(r) {
			rows[rootRow].hidden = th.size[r]
			return
		}
		stack = append(stack[:0], frame{child: th.firstChild[r], row: rootRow, depth: 1})
		for len(stack) > 0 {
			top := len(stack) - 1
			c := stack[top].child
			if c < 0 {
				stack = stack[:top]
				continue
			}
			f := stack[top]
			stack[top].child = th.nextSib[c]
			rows = append(rows, row{env: c, parent: f.row, depth: f.depth, last: th.nextSib[c] < 0})
			if th.firstChild[c] >= 0 {
				stack = append(stack, frame{child: th.firstChild[c], row: int32(len(rows) - 1), depth: f.depth + 1})
			}
		}
	}
	if newestFirst {
		for i := len(th.roots) - 1; i >= 0; i-- {
			emit(th.roots[i])
		}
	} else {
		for _, r := range th.roots {
			emit(r)
		}
	}
	return rows
}

// rootRow returns the row of the thread root above row i.
func rootRow(rows []row, i int) int {
	for i >= 0 && rows[i].parent >= 0 {
		i = int(rows[i].parent)
	}
	return i
}

// maxIndent bounds the tree drawn before a subject, in levels.
const maxIndent = 8

// treePrefix draws the thread glyphs of row i: "│ ├─", "  └─".
func treePrefix(rows []row, i int) string {
	r := rows[i]
	if r.depth == 0 {
		return ""
	}
	segs := make([]string, 0, min(int(r.depth), maxIndent)+1)
	if r.last {
		segs = append(segs, "└─")
	} else {
		segs = append(segs, "├─")
	}
	a := r.parent
	for a >= 0 && rows[a].depth > 0 && len(segs) < maxIndent {
		if rows[a].last {
			segs = append(segs, "  ")
		} else {
			segs = append(segs, "│ ")
		}
		a = rows[a].parent
	}
	if a >= 0 && rows[a].depth > 0 {
		segs = append(segs, "…")
	}
	slices.Reverse(segs)
	return strings.Join(segs, "")
}

// baseSubject strips reply prefixes ("Re:", "RE: Re:", "Aw:", "Re[2]:")
// and folds case and blanks (after RFC 5256 §2.1); re reports whether
// there was a prefix.
func baseSubject(subj string) (base string, re bool) {
	s := strings.TrimSpace(subj)
	for {
		i := strings.IndexByte(s, ':')
		if i < 2 || i > 8 {
			break
		}
		p := strings.ToLower(strings.TrimSpace(s[:i]))
		if j := strings.IndexByte(p, '['); j > 0 && strings.HasSuffix(p, "]") {
			p = p[:j]
		}
		if p != "re" && p != "aw" && p != "sv" && p != "antw" {
			break
		}
		s = strings.TrimSpace(s[i+1:])
		re = true
	}
	return strings.ToLower(strings.Join(strings.Fields(s), " ")), re
}
