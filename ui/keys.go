package ui

import (
	"fmt"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/charmbracelet/bubbles/key"
	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/account"
)

// Action names: the keys of the [keys] config table. One name may appear in
// several panes' key maps ("down" moves in the sidebar, the list and the
// reader); a config entry replaces the default keys of that action in every
// pane.
const (
	actUp           = "up"
	actDown         = "down"
	actTop          = "top"
	actBottom       = "bottom"
	actPageUp       = "page_up"
	actPageDown     = "page_down"
	actHalfUp       = "half_page_up"
	actHalfDown     = "half_page_down"
	actOpen         = "open"
	actBack         = "back"
	actQuit         = "quit"
	actHelp         = "help"
	actSearch       = "search"
	actNextPane     = "next_pane"
	actPrevPane     = "prev_pane"
	actPaneLeft     = "pane_left"
	actPaneRight    = "pane_right"
	actReverse      = "reverse"
	actThreads      = "threads"
	actCollapse     = "collapse"
	actCollapseAll  = "collapse_all"
	actNextMsg      = "next_message"
	actPrevMsg      = "prev_message"
	actToggleUnread = "toggle_unread"
	actToggleFlag   = "toggle_flag"
	actDelete       = "delete"
	actMove         = "move"
	actArchive      = "archive"
	actUndo         = "undo"
	actHeaders      = "headers"
	actSave         = "save_attachment"
	actOpenAtt      = "open_attachment"
	actSync         = "sync"
	actCompose      = "compose"
	actReply        = "reply"
	actReplyAll     = "reply_all"
	actForward      = "forward"
	actForwardAtt   = "forward_attachment"
	actSendNow      = "send_now"
	actEdit         = "edit"
	actSend         = "send"
	actAttach       = "attach"
	actDetach       = "remove_attachment"
	actPostpone     = "postpone"
	actDiscard      = "discard"
)

func bind(keys []string, helpKey, desc string) key.Binding {
	return key.NewBinding(key.WithKeys(keys...), key.WithHelp(helpKey, desc))
}

// globalKeys work in every pane (unless a prompt has the keyboard).
type globalKeys struct {
	Quit     key.Binding
	Help     key.Binding
	NextPane key.Binding
	PrevPane key.Binding
}

func defaultGlobalKeys() globalKeys {
	return globalKeys{
		Quit:     bind([]string{"ctrl+c"}, "ctrl+c", "quit"),
		Help:     bind([]string{"?"}, "?", "help"),
		NextPane: bind([]string{"tab"}, "tab", "next pane"),
		PrevPane: bind([]string{"shift+tab"}, "shift+tab", "previous pane"),
	}
}

func (k *globalKeys) actions() map[string]*key.Binding {
	return map[string]*key.Binding{actQuit: &k.Quit, actHelp: &k.Help, actNextPane: &k.NextPane, actPrevPane: &k.PrevPane}
}

// ShortHelp implements help.KeyMap.
func (k globalKeys) ShortHelp() []key.Binding { return []key.Binding{k.Help, k.Quit} }

// FullHelp implements help.KeyMap.
func (k globalKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Help, k.NextPane, k.PrevPane, k.Quit}}
}

// sidebarKeys is the folder sidebar's key map.
type sidebarKeys struct {
	Up, Down, Top, Bottom key.Binding
	Open, Back, Right     key.Binding
}

func defaultSidebarKeys() sidebarKeys {
	return sidebarKeys{
		Up:     bind([]string{"k", "up"}, "k/↑", "up"),
		Down:   bind([]string{"j", "down"}, "j/↓", "down"),
		Top:    bind([]string{"g", "home"}, "g/home", "first folder"),
		Bottom: bind([]string{"G", "end"}, "G/end", "last folder"),
		Open:   bind([]string{"enter"}, "enter", "open folder"),
		Back:   bind([]string{"q", "esc"}, "q/esc", "back to list"),
		Right:  bind([]string{"l", "right"}, "l/→", "to list"),
	}
}

func (k *sidebarKeys) actions() map[string]*key.Binding {
	return map[string]*key.Binding{
		actUp: &k.Up, actDown: &k.Down, actTop: &k.Top, actBottom: &k.Bottom,
		actOpen: &k.Open, actBack: &k.Back, actPaneRight: &k.Right,
	}
}

// ShortHelp implements help.KeyMap.
func (k sidebarKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.Down, k.Up, k.Open, k.Back}
}

// FullHelp implements help.KeyMap.
func (k sidebarKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Up, k.Down, k.Top, k.Bottom}, {k.Open, k.Right, k.Back}}
}

// listKeys is the message list's key map.
type listKeys struct {
	Up, Down, Top, Bottom    key.Binding
	PageUp, PageDown         key.Binding
	HalfUp, HalfDown         key.Binding
	Open, Back, Left, Right  key.Binding
	Search, Reverse, Threads key.Binding
	Collapse, CollapseAll    key.Binding
	Sync                     key.Binding
	Edit, SendNow            key.Binding
	mailKeys
}

func defaultListKeys() listKeys {
	return listKeys{
		Up:          bind([]string{"k", "up"}, "k/↑", "up"),
		Down:        bind([]string{"j", "down"}, "j/↓", "down"),
		Top:         bind([]string{"g", "home"}, "g/home", "first"),
		Bottom:      bind([]string{"G", "end"}, "G/end", "last"),
		PageUp:      bind([]string{"pgup", "ctrl+b"}, "pgup", "page up"),
		PageDown:    bind([]string{"pgdown", "ctrl+f"}, "pgdn", "page down"),
		HalfUp:      bind([]string{"ctrl+u"}, "ctrl+u", "half page up"),
		HalfDown:    bind([]string{"ctrl+d"}, "ctrl+d", "half page down"),
		Open:        bind([]string{"enter"}, "enter", "open"),
		Back:        bind([]string{"q"}, "q", "quit"),
		Left:        bind([]string{"h", "left"}, "h/←", "folders"),
		Right:       bind([]string{"l", "right"}, "l/→", "open"),
		Search:      bind([]string{"/"}, "/", "filter"),
		Reverse:     bind([]string{"O"}, "O", "reverse order"),
		Threads:     bind([]string{"T"}, "T", "threads on/off"),
		Collapse:    bind([]string{"z"}, "z", "fold thread"),
		CollapseAll: bind([]string{"Z"}, "Z", "fold all threads"),
		Sync:        bind([]string{"ctrl+r"}, "ctrl+r", "sync/reload"),
		Edit:        bind([]string{"e"}, "e", "edit draft/queued"),
		SendNow:     bind([]string{"S"}, "S", "send queued now"),
		mailKeys:    defaultMailKeys(),
	}
}

func (k *listKeys) actions() map[string]*key.Binding {
	m := map[string]*key.Binding{
		actUp: &k.Up, actDown: &k.Down, actTop: &k.Top, actBottom: &k.Bottom,
		actPageUp: &k.PageUp, actPageDown: &k.PageDown, actHalfUp: &k.HalfUp, actHalfDown: &k.HalfDown,
		actOpen: &k.Open, actBack: &k.Back, actPaneLeft: &k.Left, actPaneRight: &k.Right,
		actSearch: &k.Search, actReverse: &k.Reverse, actThreads: &k.Threads,
		actCollapse: &k.Collapse, actCollapseAll: &k.CollapseAll,
		actSync: &k.Sync, actEdit: &k.Edit, actSendNow: &k.SendNow,
	}
	k.mailKeys.addActions(m)
	return m
}

// ShortHelp implements help.KeyMap.
func (k listKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.Open, k.Compose, k.Reply, k.Search, k.Delete, k.Back}
}

// FullHelp implements help.KeyMap.
func (k listKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Top, k.Bottom, k.PageUp, k.PageDown, k.HalfUp, k.HalfDown},
		{k.Open, k.Search, k.Reverse, k.Threads, k.Collapse, k.CollapseAll, k.Left, k.Right},
		{k.ToggleUnread, k.ToggleFlag, k.Delete, k.Move, k.Archive, k.Undo, k.Sync, k.Back},
		{k.Compose, k.Reply, k.ReplyAll, k.Forward, k.ForwardAtt, k.Edit, k.SendNow},
	}
}

// mailKeys are the keys that act on the current message, the same in the
// list and in the reader (each pane has its own copy, so [keys] rebinds
// them in both).
type mailKeys struct {
	ToggleUnread, ToggleFlag    key.Binding
	Delete, Move, Archive, Undo key.Binding
	Compose, Reply, ReplyAll    key.Binding
	Forward, ForwardAtt         key.Binding
}

func defaultMailKeys() mailKeys {
	return mailKeys{
		ToggleUnread: bind([]string{"N"}, "N", "read/unread"),
		ToggleFlag:   bind([]string{"*"}, "*", "flag"),
		Delete:       bind([]string{"d", "delete"}, "d", "delete"),
		Move:         bind([]string{"m"}, "m", "move"),
		Archive:      bind([]string{"a"}, "a", "archive"),
		Undo:         bind([]string{"u"}, "u", "undo delete"),
		Compose:      bind([]string{"c"}, "c", "compose"),
		Reply:        bind([]string{"r"}, "r", "reply"),
		ReplyAll:     bind([]string{"R"}, "R", "reply all"),
		Forward:      bind([]string{"f"}, "f", "forward"),
		ForwardAtt:   bind([]string{"F"}, "F", "forward as attachment"),
	}
}

func (k *mailKeys) addActions(m map[string]*key.Binding) {
	m[actToggleUnread], m[actToggleFlag] = &k.ToggleUnread, &k.ToggleFlag
	m[actDelete], m[actMove], m[actArchive], m[actUndo] = &k.Delete, &k.Move, &k.Archive, &k.Undo
	m[actCompose], m[actReply], m[actReplyAll] = &k.Compose, &k.Reply, &k.ReplyAll
	m[actForward], m[actForwardAtt] = &k.Forward, &k.ForwardAtt
}

// mailAction is what a message key asks the root model to do.
type mailAction int

const (
	mailNone mailAction = iota
	mailToggleUnread
	mailToggleFlag
	mailDelete
	mailMove
	mailArchive
	mailUndo
	mailCompose
	mailReply
	mailReplyAll
	mailForward
	mailForwardAtt
)

// match returns the action of a message key, or mailNone.
func (k *mailKeys) match(msg tea.KeyMsg) mailAction {
	for _, b := range [...]struct {
		b *key.Binding
		a mailAction
	}{
		{&k.ToggleUnread, mailToggleUnread}, {&k.ToggleFlag, mailToggleFlag},
		{&k.Delete, mailDelete}, {&k.Move, mailMove}, {&k.Archive, mailArchive}, {&k.Undo, mailUndo},
		{&k.Compose, mailCompose}, {&k.Reply, mailReply}, {&k.ReplyAll, mailReplyAll},
		{&k.Forward, mailForward}, {&k.ForwardAtt, mailForwardAtt},
	} {
		if key.Matches(msg, *b.b) {
			return b.a
		}
	}
	return mailNone
}

// readerKeys is the message reader's key map.
type readerKeys struct {
	Up, Down, Top, Bottom key.Binding
	PageUp, PageDown      key.Binding
	HalfUp, HalfDown      key.Binding
	Back, Left            key.Binding
	NextMsg, PrevMsg      key.Binding
	Headers               key.Binding
	Save, OpenAtt         key.Binding
	mailKeys
}

func defaultReaderKeys() readerKeys {
	return readerKeys{
		Up:       bind([]string{"k", "up"}, "k/↑", "scroll up"),
		Down:     bind([]string{"j", "down"}, "j/↓", "scroll down"),
		Top:      bind([]string{"g", "home"}, "g/home", "top"),
		Bottom:   bind([]string{"G", "end"}, "G/end", "bottom"),
		PageUp:   bind([]string{"pgup", "ctrl+b", "b"}, "pgup/b", "page up"),
		PageDown: bind([]string{"pgdown", "ctrl+f", " "}, "pgdn/space", "page down"),
		HalfUp:   bind([]string{"ctrl+u"}, "ctrl+u", "half page up"),
		HalfDown: bind([]string{"ctrl+d"}, "ctrl+d", "half page down"),
		Back:     bind([]string{"q", "esc"}, "q/esc", "back to list"),
		Left:     bind([]string{"h", "left"}, "h/←", "to list"),
		NextMsg:  bind([]string{"J", "n"}, "J/n", "next message"),
		PrevMsg:  bind([]string{"K", "p"}, "K/p", "previous message"),
		Headers:  bind([]string{"H"}, "H", "all headers"),
		Save:     bind([]string{"s"}, "s", "save attachment"),
		OpenAtt:  bind([]string{"o"}, "o", "open attachment"),
		mailKeys: defaultMailKeys(),
	}
}

func (k *readerKeys) actions() map[string]*key.Binding {
	m := map[string]*key.Binding{
		actUp: &k.Up, actDown: &k.Down, actTop: &k.Top, actBottom: &k.Bottom,
		actPageUp: &k.PageUp, actPageDown: &k.PageDown, actHalfUp: &k.HalfUp, actHalfDown: &k.HalfDown,
		actBack: &k.Back, actPaneLeft: &k.Left, actNextMsg: &k.NextMsg, actPrevMsg: &k.PrevMsg,
		actHeaders: &k.Headers, actSave: &k.Save, actOpenAtt: &k.OpenAtt,
	}
	k.mailKeys.addActions(m)
	return m
}

// ShortHelp implements help.KeyMap.
func (k readerKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.NextMsg, k.PrevMsg, k.Reply, k.Forward, k.Delete, k.Save, k.Back}
}

// FullHelp implements help.KeyMap.
func (k readerKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{
		{k.Up, k.Down, k.Top, k.Bottom, k.PageUp, k.PageDown, k.HalfUp, k.HalfDown},
		{k.NextMsg, k.PrevMsg, k.Headers, k.Save, k.OpenAtt, k.Left, k.Back},
		{k.ToggleUnread, k.ToggleFlag, k.Delete, k.Move, k.Archive, k.Undo},
		{k.Compose, k.Reply, k.ReplyAll, k.Forward, k.ForwardAtt},
	}
}

// reviewKeys is the key map of the review screen shown after the editor.
type reviewKeys struct {
	Send, Edit, Attach, Detach key.Binding
	Postpone, Discard          key.Binding
	Down, Up                   key.Binding
}

func defaultReviewKeys() reviewKeys {
	return reviewKeys{
		Send:     bind([]string{"y", "s"}, "y/s", "send"),
		Edit:     bind([]string{"e"}, "e", "edit again"),
		Attach:   bind([]string{"a"}, "a", "attach a file"),
		Detach:   bind([]string{"D"}, "D", "remove an attachment"),
		Postpone: bind([]string{"p"}, "p", "postpone to Drafts"),
		Discard:  bind([]string{"x", "q"}, "x/q", "discard"),
		Down:     bind([]string{"j", "down"}, "j/↓", "scroll down"),
		Up:       bind([]string{"k", "up"}, "k/↑", "scroll up"),
	}
}

func (k *reviewKeys) actions() map[string]*key.Binding {
	return map[string]*key.Binding{
		actSend: &k.Send, actEdit: &k.Edit, actAttach: &k.Attach, actDetach: &k.Detach,
		actPostpone: &k.Postpone, actDiscard: &k.Discard, actDown: &k.Down, actUp: &k.Up,
	}
}

// ShortHelp implements help.KeyMap.
func (k reviewKeys) ShortHelp() []key.Binding {
	return []key.Binding{k.Send, k.Edit, k.Attach, k.Detach, k.Postpone, k.Discard}
}

// FullHelp implements help.KeyMap.
func (k reviewKeys) FullHelp() [][]key.Binding {
	return [][]key.Binding{{k.Send, k.Edit, k.Attach, k.Detach, k.Postpone, k.Discard}, {k.Down, k.Up}}
}

// keyMaps holds every pane's key map.
type keyMaps struct {
	Global  globalKeys
	Sidebar sidebarKeys
	List    listKeys
	Reader  readerKeys
	Review  reviewKeys
}

func defaultKeyMaps() keyMaps {
	return keyMaps{
		Global:  defaultGlobalKeys(),
		Sidebar: defaultSidebarKeys(),
		List:    defaultListKeys(),
		Reader:  defaultReaderKeys(),
		Review:  defaultReviewKeys(),
	}
}

// KeyError is a bad entry of the [keys] config table.
type KeyError struct {
	Line   int
	Action string
	Key    string // "" when the action itself is unknown
	Msg    string
}

func (e *KeyError) Error() string {
	where := "keys"
	if e.Line > 0 {
		where = fmt.Sprintf("line %d: keys", e.Line)
	}
	if e.Key != "" {
		return fmt.Sprintf("%s.%s: key %q: %s", where, e.Action, e.Key, e.Msg)
	}
	return fmt.Sprintf("%s.%s: %s", where, e.Action, e.Msg)
}

// apply replaces the default keys of each configured action. An empty key
// list disables the action.
func (km *keyMaps) apply(binds []account.KeyBinding) error {
	all := []map[string]*key.Binding{
		km.Global.actions(), km.Sidebar.actions(), km.List.actions(), km.Reader.actions(), km.Review.actions(),
	}
	for _, b := range binds {
		var targets []*key.Binding
		for _, m := range all {
			if t, ok := m[b.Action]; ok {
				targets = append(targets, t)
			}
		}
		if len(targets) == 0 {
			return &KeyError{Line: b.Line, Action: b.Action, Msg: "unknown action (known: " + strings.Join(knownActions(), ", ") + ")"}
		}
		keys := make([]string, 0, len(b.Keys))
		for _, k := range b.Keys {
			norm, ok := normaliseKey(k)
			if !ok {
				return &KeyError{Line: b.Line, Action: b.Action, Key: k, Msg: "unknown key name"}
			}
			keys = append(keys, norm)
		}
		for _, t := range targets {
			desc := t.Help().Desc
			if len(keys) == 0 {
				t.SetEnabled(false)
				continue
			}
			t.SetKeys(keys...)
			t.SetHelp(strings.Join(displayKeys(keys), "/"), desc)
			t.SetEnabled(true)
		}
	}
	return nil
}

func knownActions() []string {
	km := defaultKeyMaps()
	seen := map[string]bool{}
	var out []string
	for _, m := range []map[string]*key.Binding{km.Global.actions(), km.Sidebar.actions(), km.List.actions(), km.Reader.actions(), km.Review.actions()} {
		for a := range m {
			if !seen[a] {
				seen[a] = true
				out = append(out, a)
			}
		}
	}
	slices.Sort(out)
	return out
}

// namedKeys are the key names Bubble Tea reports (tea.KeyMsg.String).
var namedKeys = map[string]bool{
	"enter": true, "tab": true, "shift+tab": true, "esc": true, "backspace": true,
	"delete": true, "insert": true, "up": true, "down": true, "left": true, "right": true,
	"home": true, "end": true, "pgup": true, "pgdown": true,
	"ctrl+home": true, "ctrl+end": true, "shift+home": true, "shift+end": true,
	"ctrl+pgup": true, "ctrl+pgdown": true, "ctrl+up": true, "ctrl+down": true,
	"ctrl+left": true, "ctrl+right": true, "shift+up": true, "shift+down": true,
	"shift+left": true, "shift+right": true, "ctrl+@": true, "ctrl+\\": true,
	"ctrl+]": true, "ctrl+^": true, "ctrl+_": true,
}

// normaliseKey maps a config key name to the string Bubble Tea reports for
// it: "space" → " ", "ctrl+x", "alt+x", "f5", single characters.
func normaliseKey(k string) (string, bool) {
	s := strings.TrimSpace(k)
	if s == "" {
		if k == " " {
			return " ", true
		}
		return "", false
	}
	lower := strings.ToLower(s)
	switch lower {
	case "space":
		return " ", true
	case "return":
		return "enter", true
	case "escape":
		return "esc", true
	case "pagedown", "pgdn", "page_down":
		return "pgdown", true
	case "pageup", "page_up":
		return "pgup", true
	}
	if after, ok := strings.CutPrefix(lower, "alt+"); ok {
		rest := s[len("alt+"):]
		if utf8.RuneCountInString(rest) == 1 {
			return "alt+" + rest, true
		}
		n, ok := normaliseKey(after)
		return "alt+" + n, ok
	}
	if utf8.RuneCountInString(s) == 1 {
		return s, true
	}
	if namedKeys[lower] {
		return lower, true
	}
	if c, ok := strings.CutPrefix(lower, "ctrl+"); ok && len(c) == 1 && c[0] >= 'a' && c[0] <= 'z' {
		return lower, true
	}
	if f, ok := strings.CutPrefix(lower, "f"); ok {
		var n int
		if _, err := fmt.Sscanf(f, "%d", &n); err == nil && fmt.Sprint(n) == f && n >= 1 && n <= 20 {
			return lower, true
		}
	}
	return "", false
}

func displayKeys(keys []string) []string {
	out := make([]string, len(keys))
	for i, k := range keys {
		if k == " " {
			k = "space"
		}
		out[i] = k
	}
	return out
}
