package account

import (
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is a parsed and validated mailbag configuration file
// (DESIGN.md §3). Paths in it are absolute with ~ and $HOME expanded, and
// every default is filled in.
type Config struct {
	Path     string
	UI       UIConfig
	Keys     []KeyBinding    // the [keys] table, in file order
	Accounts []AccountConfig // in file order
}

// UIConfig is the [ui] table.
type UIConfig struct {
	// Editor is the command composing mail as written; "" means $VISUAL,
	// then $EDITOR, then vi (see EditorCommand).
	Editor string
	// OpenCmd opens a saved attachment; default "xdg-open".
	OpenCmd string
}

// EditorCommand resolves the editor: ui.editor, else $VISUAL, else
// $EDITOR, else "vi".
func (u UIConfig) EditorCommand(getenv func(string) string) string {
	for _, e := range []string{u.Editor, getenv("VISUAL"), getenv("EDITOR")} {
		if strings.TrimSpace(e) != "" {
			return e
		}
	}
	return "vi"
}

// KeyBinding is one entry of the [keys] table: action = "x" or ["x", "y"].
// The UI checks the action names.
type KeyBinding struct {
	Action string
	Keys   []string
	Line   int
}

// AccountConfig is one [accounts.NAME] table.
type AccountConfig struct {
	Name    string
	Address string // as written; parses as an RFC 5322 address (or "")
	// Maildir is the absolute root of the account's Maildir++ tree.
	Maildir string
	// POP3 and IMAP are exclusive; with neither the account is local-only.
	POP3, IMAP, SMTP *ServerConfig
	// Folders maps a role (RoleSent, RoleDrafts, RoleTrash, RoleJunk,
	// RoleArchive, RoleOutbox) to the folder name that plays it, from the
	// [accounts.NAME.folders] table; roles not named there are found by
	// folder name.
	Folders map[string]string
	Line    int // line of the account's first key
}

// Local reports whether the account has no POP3 or IMAP server.
func (a *AccountConfig) Local() bool { return a.POP3 == nil && a.IMAP == nil }

// ServerConfig is a [accounts.NAME.pop3], .imap or .smtp table.
type ServerConfig struct {
	Kind     string // "pop3", "imap" or "smtp"
	Host     string
	Port     int
	TLS      string // TLSImplicit, TLSStartTLS or TLSNone
	Username string
	Password string
	// PasswordCmd is run through sh -c; its first output line is the
	// password (see PasswordFor).
	PasswordCmd string
	// CAFile is an absolute path to extra PEM CA certificates to trust.
	CAFile string
	// LeaveOnServer (POP3) keeps downloaded mail on the server.
	LeaveOnServer bool
	// DeleteAfterDays (POP3, with LeaveOnServer) deletes mail from the
	// server this many days after download; 0 never.
	DeleteAfterDays int
	// CheckEvery is the interval between background checks (POP3, IMAP).
	CheckEvery time.Duration
	// FullOffline (IMAP, offline = "full") downloads every body during a
	// sync; by default only envelopes and the bodies opened are cached.
	FullOffline bool
	// SubscribedOnly (IMAP) shows only subscribed folders.
	SubscribedOnly bool
	// DeleteExpunge (IMAP, delete = "expunge") deletes with \Deleted and
	// EXPUNGE instead of moving to Trash.
	DeleteExpunge bool
	// Auth is the SASL mechanism: "" (automatic), AuthPlain, AuthLogin,
	// AuthCRAMMD5, AuthXOAUTH2 or AuthOAuthBearer.
	Auth string
	Line int // line of the table header
}

// Addr is host:port, for dialing and for messages.
func (s *ServerConfig) Addr() string { return net.JoinHostPort(s.Host, fmt.Sprint(s.Port)) }

// TLS modes of a server.
const (
	TLSImplicit = "tls"      // TLS from the first byte (ports 995, 993, 465)
	TLSStartTLS = "starttls" // upgrade with STLS / STARTTLS (RFC 2595, RFC 3207)
	TLSNone     = "none"     // plain text; must be written out
)

// SASL mechanisms accepted in auth.
const (
	AuthPlain       = "plain"       // RFC 4616
	AuthLogin       = "login"       // draft-murchison-sasl-login
	AuthCRAMMD5     = "cram-md5"    // RFC 2195
	AuthXOAUTH2     = "xoauth2"     // Google/Microsoft XOAUTH2
	AuthOAuthBearer = "oauthbearer" // RFC 7628
)

// Defaults.
const (
	DefaultCheckEvery = 5 * time.Minute
	MinCheckEvery     = 30 * time.Second
	DefaultOpenCmd    = "xdg-open"
	maxConfigSize     = 1 << 20
	maxCAFileSize     = 1 << 20
	maxProblems       = 50 // reported at once; the rest are counted
)

// Problem is one thing wrong with a configuration file.
type Problem struct {
	Line int    // 1-based; 0 when no line applies
	Key  string // dotted key path ("accounts.home.pop3.port"); "" for syntax errors
	Msg  string
}

// ConfigError lists every problem found in a configuration file.
type ConfigError struct {
	Path     string
	Problems []Problem
}

// Error lists the problems one per line as "PATH:LINE: KEY: message".
func (e *ConfigError) Error() string {
	lines := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		lines[i] = p.String(e.Path)
	}
	return strings.Join(lines, "\n")
}

// String renders the problem as "PATH:LINE: KEY: message", leaving out
// the line and the key when they are not known.
func (p Problem) String(path string) string {
	var b strings.Builder
	b.WriteString(path)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d", p.Line)
	}
	b.WriteString(": ")
	if p.Key != "" {
		b.WriteString(p.Key)
		b.WriteString(": ")
	}
	b.WriteString(p.Msg)
	return b.String()
}

// DefaultPath is where the configuration is read from: $MAILBAG_CONFIG,
// else $XDG_CONFIG_HOME/mailbag/config.toml, else
// ~/.config/mailbag/config.toml.
func DefaultPath() string { return DefaultPathEnv(os.Getenv) }

// DefaultPathEnv is DefaultPath with the environment given as a function.
// It returns "" when neither the variables nor $HOME are set.
func DefaultPathEnv(getenv func(string) string) string {
	if p := getenv("MAILBAG_CONFIG"); p != "" {
		return p
	}
	if x := getenv("XDG_CONFIG_HOME"); filepath.IsAbs(x) {
		return filepath.Join(x, "mailbag", "config.toml")
	}
	if h := getenv("HOME"); h != "" {
		return filepath.Join(h, ".config", "mailbag", "config.toml")
	}
	return ""
}

// Load reads and validates the configuration file at path, with the
// process environment for ~, $HOME and $XDG_DATA_HOME. A missing file
// gives an error satisfying errors.Is(err, fs.ErrNotExist); a file with
// problems gives a *ConfigError listing all of them.
func Load(path string) (*Config, error) { return LoadEnv(path, os.Getenv) }

// LoadEnv is Load with the environment given as a function.
func LoadEnv(path string, getenv func(string) string) (*Config, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil {
		return nil, err
	}
	if st.IsDir() {
		return nil, &ConfigError{Path: path, Problems: []Problem{{Msg: "is a directory, not a config file"}}}
	}
	data, err := io.ReadAll(io.LimitReader(f, maxConfigSize+1))
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxConfigSize {
		return nil, &ConfigError{Path: path, Problems: []Problem{{Msg: fmt.Sprintf("larger than %d bytes", maxConfigSize)}}}
	}
	return parse(path, data, st.Mode().Perm(), getenv)
}

// parse validates data read from path, whose permission bits are perm.
func parse(path string, data []byte, perm os.FileMode, getenv func(string) string) (*Config, error) {
	lines, depth, depthLine := scanKeys(data)
	if depth > maxKeyDepth {
		return nil, &ConfigError{Path: path, Problems: []Problem{{Line: depthLine,
			Msg: fmt.Sprintf("a key %d levels deep; mailbag's keys have at most %d", depth, maxKeyDepth)}}}
	}
	var raw map[string]any
	md, err := toml.Decode(string(data), &raw)
	if err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &ConfigError{Path: path, Problems: []Problem{{Line: pe.Position.Line, Msg: "TOML syntax: " + pe.Message}}}
		}
		return nil, &ConfigError{Path: path, Problems: []Problem{{Msg: err.Error()}}}
	}
	v := &validator{
		path:   path,
		perm:   perm,
		getenv: getenv,
		lines:  lines,
		keys:   md.Keys(),
	}
	cfg := v.config(raw)
	if len(v.probs) > 0 {
		sort.SliceStable(v.probs, func(i, j int) bool {
			li, lj := v.probs[i].Line, v.probs[j].Line
			if li == 0 || lj == 0 {
				return li != 0 && lj == 0 // known lines first
			}
			return li < lj
		})
		if len(v.probs) > maxProblems {
			more := len(v.probs) - maxProblems
			v.probs = append(v.probs[:maxProblems], Problem{Msg: fmt.Sprintf("and %d more problems", more)})
		}
		return nil, &ConfigError{Path: path, Problems: v.probs}
	}
	return cfg, nil
}
