package account

import (
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/mail"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// validator walks the decoded TOML by hand (no struct tags, no
// reflection), so that every problem is collected with its key and line.
type validator struct {
	path   string
	perm   os.FileMode
	getenv func(string) string
	lines  map[string]int
	keys   []toml.Key
	probs  []Problem
}

// line is the line where path (or its nearest defined parent) is written.
func (v *validator) line(path []string) int {
	for n := len(path); n > 0; n-- {
		if l, ok := v.lines[keyString(path[:n])]; ok {
			return l
		}
	}
	return 0
}

func (v *validator) problem(path []string, format string, args ...any) {
	v.probs = append(v.probs, Problem{Line: v.line(path), Key: keyString(path), Msg: fmt.Sprintf(format, args...)})
}

// table is one TOML table being checked; it remembers which keys were
// asked for, so the rest can be reported as unknown.
type table struct {
	v     *validator
	path  []string
	m     map[string]any
	known []string
}

func (v *validator) table(path []string, m map[string]any) *table {
	return &table{v: v, path: path, m: m}
}

func (t *table) key(name string) []string {
	return append(append([]string(nil), t.path...), name)
}

func (t *table) get(name string) (any, bool) {
	t.known = append(t.known, name)
	x, ok := t.m[name]
	return x, ok
}

func (t *table) str(name string) (string, bool) {
	x, ok := t.get(name)
	if !ok {
		return "", false
	}
	s, ok := x.(string)
	if !ok {
		t.v.problem(t.key(name), "want a string, got %s", typeName(x))
		return "", false
	}
	return s, true
}

func (t *table) int(name string) (int64, bool) {
	x, ok := t.get(name)
	if !ok {
		return 0, false
	}
	n, ok := x.(int64)
	if !ok {
		t.v.problem(t.key(name), "want an integer, got %s", typeName(x))
		return 0, false
	}
	return n, true
}

func (t *table) bool(name string) (bool, bool) {
	x, ok := t.get(name)
	if !ok {
		return false, false
	}
	b, ok := x.(bool)
	if !ok {
		t.v.problem(t.key(name), "want true or false, got %s", typeName(x))
		return false, false
	}
	return b, true
}

func (t *table) sub(name string) (*table, bool) {
	x, ok := t.get(name)
	if !ok {
		return nil, false
	}
	m, ok := x.(map[string]any)
	if !ok {
		t.v.problem(t.key(name), "want a table ([%s]), got %s", keyString(t.key(name)), typeName(x))
		return nil, false
	}
	return t.v.table(t.key(name), m), true
}

// finish reports the keys nobody asked for.
func (t *table) finish() {
	var unknown []string
	for k := range t.m {
		if !contains(t.known, k) {
			unknown = append(unknown, k)
		}
	}
	sort.Slice(unknown, func(i, j int) bool {
		li, lj := t.v.line(t.key(unknown[i])), t.v.line(t.key(unknown[j]))
		if li != lj {
			return li < lj
		}
		return unknown[i] < unknown[j]
	})
	for _, k := range unknown {
		if near := nearest(k, t.known); near != "" {
			t.v.problem(t.key(k), "unknown key (did you mean %q?)", near)
		} else {
			t.v.problem(t.key(k), "unknown key; known here: %s", strings.Join(t.known, ", "))
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// nearest returns the known key within edit distance 2 of k, if any.
func nearest(k string, known []string) string {
	best, bestD := "", 3
	for _, c := range known {
		if d := editDistance(strings.ToLower(k), c); d < bestD {
			best, bestD = c, d
		}
	}
	return best
}

func editDistance(a, b string) int {
	if len(a) > 64 || len(b) > 64 {
		return 99
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

func typeName(x any) string {
	switch x.(type) {
	case string:
		return "a string"
	case int64:
		return "an integer"
	case float64:
		return "a float"
	case bool:
		return "a boolean"
	case []any, []map[string]any:
		return "an array"
	case map[string]any:
		return "a table"
	default:
		return "a date-time"
	}
}

// config checks the whole document.
func (v *validator) config(raw map[string]any) *Config {
	cfg := &Config{Path: v.path, UI: UIConfig{OpenCmd: DefaultOpenCmd}}
	top := v.table(nil, raw)
	if ui, ok := top.sub("ui"); ok {
		if s, ok := ui.str("editor"); ok {
			cfg.UI.Editor = s
		}
		if s, ok := ui.str("open_cmd"); ok {
			if strings.TrimSpace(s) == "" {
				v.problem(ui.key("open_cmd"), `empty; leave it out for the default "xdg-open"`)
			} else {
				cfg.UI.OpenCmd = s
			}
		}
		ui.finish()
	}
	if keys, ok := top.sub("keys"); ok {
		cfg.Keys = v.keyBindings(keys)
		keys.finish()
	}
	accts, ok := top.sub("accounts")
	if !ok {
		if _, present := raw["accounts"]; !present {
			v.problem([]string{"accounts"}, "no accounts: add an [accounts.NAME] table (see config.example.toml)")
		}
	} else {
		for _, name := range v.childrenInOrder("accounts") {
			x, _ := accts.get(name)
			m, ok := x.(map[string]any)
			if !ok {
				v.problem(accts.key(name), "want a table ([accounts.%s]), got %s", name, typeName(x))
				continue
			}
			if a, ok := v.account(name, v.table(accts.key(name), m)); ok {
				cfg.Accounts = append(cfg.Accounts, a)
			}
		}
		if len(accts.m) == 0 {
			v.problem(accts.path, "no accounts: add an [accounts.NAME] table (see config.example.toml)")
		}
		accts.finish()
		v.duplicateMaildirs(cfg.Accounts)
	}
	top.finish()
	return cfg
}

// childrenInOrder names the direct children of the top-level table in
// the order they first appear in the file.
func (v *validator) childrenInOrder(parent string) []string {
	var names []string
	for _, k := range v.keys {
		if len(k) >= 2 && k[0] == parent && !contains(names, k[1]) {
			names = append(names, k[1])
		}
	}
	return names
}

func (v *validator) keyBindings(t *table) []KeyBinding {
	var out []KeyBinding
	for _, action := range v.childrenInOrder("keys") {
		x, _ := t.get(action)
		path := t.key(action)
		kb := KeyBinding{Action: action, Line: v.line(path)}
		switch x := x.(type) {
		case string:
			kb.Keys = []string{x}
		case []any:
			for _, e := range x {
				s, ok := e.(string)
				if !ok {
					v.problem(path, "want a key or a list of keys, got a list holding %s", typeName(e))
					kb.Keys = nil
					break
				}
				kb.Keys = append(kb.Keys, s)
			}
			if len(x) == 0 {
				v.problem(path, `empty list; give at least one key, like ["q"]`)
				continue
			}
		default:
			v.problem(path, `want a key ("q") or a list of keys (["q", "ctrl+c"]), got %s`, typeName(x))
			continue
		}
		if kb.Keys == nil {
			continue
		}
		bad := false
		for _, k := range kb.Keys {
			if k == "" {
				v.problem(path, "empty key name")
				bad = true
				break
			}
		}
		if !bad {
			out = append(out, kb)
		}
	}
	return out
}

// Folder roles that [accounts.NAME.folders] may name.
var folderRoles = [...]string{RoleSent, RoleDrafts, RoleTrash, RoleJunk, RoleArchive, RoleOutbox}

func validAccountName(name string) bool {
	if name == "" || name == "." || name == ".." {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(isBare(c) || c == '.') {
			return false
		}
	}
	return true
}

func (v *validator) account(name string, t *table) (AccountConfig, bool) {
	nprobs := len(v.probs)
	a := AccountConfig{Name: name, Line: v.line(t.path)}
	if !validAccountName(name) {
		v.problem(t.path, "account name %q: use only letters, digits, '.', '_' and '-'", name)
	}
	if s, ok := t.str("address"); ok {
		if _, err := mail.ParseAddress(s); err != nil {
			v.problem(t.key("address"), "%q is not an RFC 5322 address (%v); write \"Name <user@example.org>\" or \"user@example.org\"", s, err)
		} else {
			a.Address = s
		}
	}
	maildirSet := false
	if s, ok := t.str("maildir"); ok {
		p, err := v.expand(s)
		switch {
		case err != nil:
			v.problem(t.key("maildir"), "%v", err)
		case !filepath.IsAbs(p):
			v.problem(t.key("maildir"), "%q is relative; write an absolute path or start it with ~/", s)
		default:
			a.Maildir = filepath.Clean(p)
			maildirSet = true
		}
	}
	if s, ok := t.sub("pop3"); ok {
		a.POP3 = v.server("pop3", s)
	}
	if s, ok := t.sub("imap"); ok {
		a.IMAP = v.server("imap", s)
	}
	if s, ok := t.sub("smtp"); ok {
		a.SMTP = v.server("smtp", s)
		if _, ok := t.m["address"]; !ok {
			v.problem(t.path, "address is required to send mail with smtp")
		}
	}
	if f, ok := t.sub("folders"); ok {
		a.Folders = v.folders(f)
	}
	t.finish()

	_, hasPOP3 := t.m["pop3"]
	_, hasIMAP := t.m["imap"]
	switch {
	case hasPOP3 && hasIMAP:
		v.problem(t.path, "has both pop3 and imap; an account has one of them (make two accounts)")
	case !hasPOP3 && !hasIMAP:
		if _, ok := t.m["maildir"]; !ok {
			v.problem(t.path, "no pop3 or imap table, so this is a local account and needs maildir = \"PATH\" (an existing maildir)")
		} else if maildirSet {
			if st, err := os.Stat(a.Maildir); err != nil {
				v.problem(t.key("maildir"), "local account's maildir %s does not exist", a.Maildir)
			} else if !st.IsDir() {
				v.problem(t.key("maildir"), "%s is not a directory", a.Maildir)
			}
		}
	default:
		if _, ok := t.m["maildir"]; !ok {
			dir, err := v.dataHome()
			if err != nil {
				v.problem(t.path, "cannot choose a default maildir: %v; set maildir", err)
			} else {
				a.Maildir = filepath.Join(dir, "mailbag", name)
			}
		}
	}
	return a, len(v.probs) == nprobs
}

func (v *validator) folders(t *table) map[string]string {
	out := make(map[string]string)
	for _, role := range folderRoles {
		s, ok := t.str(role)
		if !ok {
			continue
		}
		if msg := badFolderName(s); msg != "" {
			v.problem(t.key(role), "%s", msg)
			continue
		}
		for r, other := range out {
			if strings.EqualFold(other, s) {
				v.problem(t.key(role), "folder %q already plays the %s role", s, r)
			}
		}
		out[role] = s
	}
	t.finish()
	return out
}

// badFolderName says what is wrong with a folder display path, or "".
func badFolderName(s string) string {
	if s == "" {
		return "empty folder name"
	}
	if strings.EqualFold(s, "INBOX") {
		return "INBOX cannot play another role"
	}
	for _, r := range s {
		if r < 0x20 || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			return fmt.Sprintf("folder name %q holds a control character", s)
		}
	}
	for _, part := range strings.Split(s, "/") {
		if part == "" || strings.ContainsAny(part, ".\\") {
			return fmt.Sprintf("folder name %q: write it as names separated by '/', none empty or holding '.' or '\\'", s)
		}
	}
	return ""
}

func (v *validator) server(kind string, t *table) *ServerConfig {
	s := &ServerConfig{Kind: kind, TLS: TLSImplicit, Line: v.line(t.path)}
	if h, ok := t.str("host"); ok {
		switch {
		case h == "":
			v.problem(t.key("host"), "empty; name the %s server", kind)
		case strings.Contains(h, "://") || strings.ContainsAny(h, "/ \t@"):
			v.problem(t.key("host"), "%q is not a host name; write only the name, like \"%s.example.org\"", h, kind)
		case strings.Contains(h, ":") && net.ParseIP(h) == nil:
			v.problem(t.key("host"), "%q looks like host:port; put the port in port = N", h)
		default:
			s.Host = h
		}
	} else if _, present := t.m["host"]; !present {
		v.problem(t.path, "host is required")
	}
	if m, ok := t.str("tls"); ok {
		switch m {
		case TLSImplicit, TLSStartTLS, TLSNone:
			s.TLS = m
		default:
			v.problem(t.key("tls"), `want "tls", "starttls" or "none", got %q`, m)
		}
	}
	s.Port = defaultPort(kind, s.TLS)
	if n, ok := t.int("port"); ok {
		if n < 1 || n > 65535 {
			v.problem(t.key("port"), "%d is out of range 1-65535", n)
		} else {
			s.Port = int(n)
		}
	}
	if u, ok := t.str("username"); ok {
		s.Username = u
	}
	pw, hasPW := t.str("password")
	cmd, hasCmd := t.str("password_cmd")
	switch {
	case hasPW && hasCmd:
		v.problem(t.key("password_cmd"), "both password and password_cmd are set; keep one")
	case hasPW:
		if v.perm&0o077 != 0 {
			v.problem(t.key("password"), "refused: %s can be read by others (mode %04o); run `chmod 600 %s`, or use password_cmd", v.path, v.perm, v.path)
		} else {
			s.Password = pw
		}
	case hasCmd:
		if strings.TrimSpace(cmd) == "" {
			v.problem(t.key("password_cmd"), "empty command")
		} else {
			s.PasswordCmd = cmd
		}
	}
	_, pwKey := t.m["password"]
	_, cmdKey := t.m["password_cmd"]
	_, userKey := t.m["username"]
	switch {
	case kind != "smtp" && !userKey:
		v.problem(t.path, "username is required (the login name on the %s server)", kind)
	case userKey && !pwKey && !cmdKey:
		v.problem(t.path, "username without password_cmd (or password): say how to get the password")
	case !userKey && (pwKey || cmdKey):
		v.problem(t.path, "password given but no username")
	}
	if c, ok := t.str("ca_file"); ok && c != "" {
		if p, msg := v.caFile(c); msg != "" {
			v.problem(t.key("ca_file"), "%s", msg)
		} else {
			s.CAFile = p
		}
	}
	leave, hasLeave := t.bool("leave_on_server")
	days, hasDays := t.int("delete_after_days")
	if kind != "pop3" {
		if hasLeave {
			v.problem(t.key("leave_on_server"), "only for pop3")
		}
		if hasDays {
			v.problem(t.key("delete_after_days"), "only for pop3")
		}
	} else {
		s.LeaveOnServer = leave
		switch {
		case days < 0:
			v.problem(t.key("delete_after_days"), "%d is negative; write 0 to never delete", days)
		case days > 0 && !leave:
			v.problem(t.key("delete_after_days"), "only with leave_on_server = true (without it mail is deleted at once)")
		case days > 36500:
			v.problem(t.key("delete_after_days"), "%d days is more than a century; write 0 to never delete", days)
		default:
			s.DeleteAfterDays = int(days)
		}
	}
	v.imapOptions(kind, t, s)
	if kind != "smtp" {
		s.CheckEvery = DefaultCheckEvery
	}
	if d, ok := t.str("check_every"); ok {
		dur, err := time.ParseDuration(d)
		switch {
		case kind == "smtp":
			v.problem(t.key("check_every"), "not for smtp (mail is sent when you send it)")
		case err != nil:
			v.problem(t.key("check_every"), "%q is not a duration; write it like \"5m\" or \"90s\"", d)
		case dur < MinCheckEvery:
			v.problem(t.key("check_every"), "%s is too often; the least is %s", dur, MinCheckEvery)
		default:
			s.CheckEvery = dur
		}
	}
	if m, ok := t.str("auth"); ok {
		switch m {
		case "", AuthPlain, AuthLogin, AuthCRAMMD5, AuthXOAUTH2, AuthOAuthBearer:
			s.Auth = m
		default:
			v.problem(t.key("auth"), `want "plain", "login", "cram-md5", "xoauth2" or "oauthbearer" (or leave it out to choose automatically), got %q`, m)
		}
	}
	t.finish()
	return s
}

// imapOptions reads the keys only an [imap] table has: offline ("" or
// "headers", "full"), subscribed_only and delete ("trash", "expunge").
func (v *validator) imapOptions(kind string, t *table, s *ServerConfig) {
	offline, hasOffline := t.str("offline")
	sub, hasSub := t.bool("subscribed_only")
	del, hasDel := t.str("delete")
	if kind != "imap" {
		for key, present := range map[string]bool{"offline": hasOffline, "subscribed_only": hasSub, "delete": hasDel} {
			if present {
				v.problem(t.key(key), "only for imap")
			}
		}
		return
	}
	switch offline {
	case "", "headers":
	case "full":
		s.FullOffline = true
	default:
		v.problem(t.key("offline"), `want "headers" (bodies cached when opened) or "full" (all bodies downloaded), got %q`, offline)
	}
	s.SubscribedOnly = sub
	switch del {
	case "", "trash":
	case "expunge":
		s.DeleteExpunge = true
	default:
		v.problem(t.key("delete"), `want "trash" (move to Trash) or "expunge" (mark \Deleted and expunge), got %q`, del)
	}
}

// defaultPort is the IANA port for the protocol and TLS mode: POP3 995
// (RFC 8314) / 110 (RFC 1939), IMAP 993 / 143 (RFC 9051), submission
// 465 (RFC 8314) / 587 (RFC 6409), and SMTP relay 25 without TLS.
func defaultPort(kind, tls string) int {
	switch kind {
	case "pop3":
		if tls == TLSImplicit {
			return 995
		}
		return 110
	case "imap":
		if tls == TLSImplicit {
			return 993
		}
		return 143
	default:
		switch tls {
		case TLSImplicit:
			return 465
		case TLSStartTLS:
			return 587
		}
		return 25
	}
}

// caFile checks that path names readable PEM certificates.
func (v *validator) caFile(s string) (string, string) {
	p, err := v.expand(s)
	if err != nil {
		return "", err.Error()
	}
	if !filepath.IsAbs(p) {
		return "", fmt.Sprintf("%q is relative; write an absolute path or start it with ~/", s)
	}
	f, err := os.Open(p)
	if err != nil {
		return "", fmt.Sprintf("cannot read it: %v", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxCAFileSize+1))
	if err != nil {
		return "", fmt.Sprintf("cannot read it: %v", err)
	}
	if len(data) > maxCAFileSize {
		return "", fmt.Sprintf("%s is larger than %d bytes", p, maxCAFileSize)
	}
	if !x509.NewCertPool().AppendCertsFromPEM(data) {
		return "", fmt.Sprintf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", p)
	}
	return filepath.Clean(p), ""
}

func (v *validator) duplicateMaildirs(accts []AccountConfig) {
	seen := make(map[string]string)
	for _, a := range accts {
		if a.Maildir == "" {
			continue
		}
		if other, ok := seen[a.Maildir]; ok {
			path := []string{"accounts", a.Name, "maildir"}
			if _, ok := v.lines[keyString(path)]; !ok {
				path = path[:2]
			}
			v.problem(path, "same maildir as account %q (%s); give each account its own", other, a.Maildir)
			continue
		}
		seen[a.Maildir] = a.Name
	}
}

func (v *validator) home() (string, error) {
	h := v.getenv("HOME")
	if h == "" {
		return "", fmt.Errorf("$HOME is not set")
	}
	return h, nil
}

// dataHome is $XDG_DATA_HOME when absolute, else ~/.local/share.
func (v *validator) dataHome() (string, error) {
	if x := v.getenv("XDG_DATA_HOME"); filepath.IsAbs(x) {
		return x, nil
	}
	h, err := v.home()
	if err != nil {
		return "", err
	}
	return filepath.Join(h, ".local", "share"), nil
}

// expand replaces a leading ~, $HOME or ${HOME} by the home directory.
func (v *validator) expand(s string) (string, error) {
	var rest string
	switch {
	case s == "~" || strings.HasPrefix(s, "~/"):
		rest = s[1:]
	case s == "$HOME" || strings.HasPrefix(s, "$HOME/"):
		rest = s[len("$HOME"):]
	case s == "${HOME}" || strings.HasPrefix(s, "${HOME}/"):
		rest = s[len("${HOME}"):]
	case strings.HasPrefix(s, "~"):
		return "", fmt.Errorf("%q: only ~ and ~/ are expanded, not ~user", s)
	default:
		return s, nil
	}
	h, err := v.home()
	if err != nil {
		return "", fmt.Errorf("cannot expand %q: %v", s, err)
	}
	return h + rest, nil
}
