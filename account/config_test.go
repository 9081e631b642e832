package account

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// testEnv is a fake environment with HOME (and anything else) set.
func testEnv(vars map[string]string) func(string) string {
	return func(k string) string { return vars[k] }
}

// writeConfig writes body to a fresh config file with the given mode.
func writeConfig(t *testing.T, body string, mode os.FileMode) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.toml")
	if err := os.WriteFile(path, []byte(body), mode); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(path, mode); err != nil { // umask may have cut bits
		t.Fatal(err)
	}
	return path
}

const pop3Account = `[accounts.home]
address = "Alice <alice@example.test>"
[accounts.home.pop3]
host = "pop.example.test"
username = "alice"
password_cmd = "echo secret"
`

func TestLoadErrors(t *testing.T) {
	home := t.TempDir()
	existing := filepath.Join(home, "Mail")
	if err := os.Mkdir(existing, 0o700); err != nil {
		t.Fatal(err)
	}
	aFile := filepath.Join(home, "file")
	if err := os.WriteFile(aFile, []byte("not PEM\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	env := map[string]string{"HOME": home}
	noHome := map[string]string{}

	type want struct {
		line int
		key  string
		msg  string // a substring of the message
	}
	tests := []struct {
		name string
		body string
		mode os.FileMode // 0 means 0600
		env  map[string]string
		want []want
	}{
		{"syntax", "[ui]\neditor = \n", 0, env, []want{{2, "", "TOML syntax"}}},
		{"duplicate key", "[ui]\neditor = \"a\"\neditor = \"b\"\n", 0, env, []want{{3, "", "TOML syntax"}}},
		{"no accounts", "[ui]\neditor = \"vi\"\n", 0, env, []want{{0, "accounts", "no accounts: add an [accounts.NAME] table"}}},
		{"empty accounts", "[accounts]\n", 0, env, []want{{1, "accounts", "no accounts"}}},
		{"accounts not a table", "accounts = 3\n", 0, env, []want{{1, "accounts", "want a table ([accounts]), got an integer"}}},
		{"account not a table", "[accounts]\nhome = \"x\"\n", 0, env, []want{{2, "accounts.home", "want a table ([accounts.home]), got a string"}}},
		{"unknown top key", "colour = \"red\"\n" + pop3Account, 0, env, []want{{1, "colour", "unknown key; known here: ui, keys, accounts"}}},
		{"unknown top table", "[uii]\neditor = \"x\"\n" + pop3Account, 0, env, []want{{1, "uii", `unknown key (did you mean "ui"?)`}}},
		{"ui not a table", "ui = 1\n" + pop3Account, 0, env, []want{{1, "ui", "want a table ([ui]), got an integer"}}},
		{"ui editor type", "[ui]\neditor = 1\n" + pop3Account, 0, env, []want{{2, "ui.editor", "want a string, got an integer"}}},
		{"ui open_cmd empty", "[ui]\nopen_cmd = \" \"\n" + pop3Account, 0, env, []want{{2, "ui.open_cmd", "empty; leave it out"}}},
		{"ui unknown", "[ui]\neditr = \"vi\"\n" + pop3Account, 0, env, []want{{2, "ui.editr", `unknown key (did you mean "editor"?)`}}},
		{"keys int", "[keys]\nquit = 1\n" + pop3Account, 0, env, []want{{2, "keys.quit", `want a key ("q") or a list of keys`}}},
		{"keys empty list", "[keys]\nquit = []\n" + pop3Account, 0, env, []want{{2, "keys.quit", "empty list"}}},
		{"keys mixed list", "[keys]\nquit = [\"q\", 1]\n" + pop3Account, 0, env, []want{{2, "keys.quit", "a list holding an integer"}}},
		{"keys empty name", "[keys]\nquit = \"\"\n" + pop3Account, 0, env, []want{{2, "keys.quit", "empty key name"}}},
		{"keys not a table", "keys = \"q\"\n" + pop3Account, 0, env, []want{{1, "keys", "want a table ([keys])"}}},
		{"bad account name", strings.Replace(pop3Account, "home", `"my home"`, 2), 0, env, []want{{1, `accounts."my home"`, `account name "my home": use only letters, digits`}}},
		{"dot-dot account name", strings.Replace(pop3Account, "home", `".."`, 2), 0, env, []want{{1, `accounts.".."`, `account name ".."`}}},
		{"bad address", strings.Replace(pop3Account, `"Alice <alice@example.test>"`, `"alice at example"`, 1), 0, env, []want{{2, "accounts.home.address", `"alice at example" is not an RFC 5322 address`}}},
		{"address type", strings.Replace(pop3Account, `"Alice <alice@example.test>"`, `["a@b.c"]`, 1), 0, env, []want{{2, "accounts.home.address", "want a string, got an array"}}},
		{"maildir relative", pop3Account + "[accounts.home.x]\n", 0, env, []want{{7, "accounts.home.x", "unknown key; known here: address, maildir, pop3, imap, smtp, folders"}}},
		{"maildir relative path", strings.Replace(pop3Account, "[accounts.home.pop3]", "maildir = \"Mail/home\"\n[accounts.home.pop3]", 1), 0, env, []want{{3, "accounts.home.maildir", `"Mail/home" is relative; write an absolute path or start it with ~/`}}},
		{"maildir ~user", strings.Replace(pop3Account, "[accounts.home.pop3]", "maildir = \"~bob/Mail\"\n[accounts.home.pop3]", 1), 0, env, []want{{3, "accounts.home.maildir", `"~bob/Mail": only ~ and ~/ are expanded, not ~user`}}},
		{"maildir ~ without HOME", strings.Replace(pop3Account, "[accounts.home.pop3]", "maildir = \"~/Mail\"\n[accounts.home.pop3]", 1), 0, noHome, []want{{3, "accounts.home.maildir", `cannot expand "~/Mail": $HOME is not set`}}},
		{"default maildir without HOME", pop3Account, 0, noHome, []want{{1, "accounts.home", "cannot choose a default maildir: $HOME is not set; set maildir"}}},
		{"smtp without address", "[accounts.home]\nmaildir = \"~/Mail\"\n[accounts.home.smtp]\nhost = \"smtp.example.test\"\n", 0, env, []want{{1, "accounts.home", "address is required to send mail with smtp"}}},
		{"pop3 and imap", pop3Account + "[accounts.home.imap]\nhost = \"imap.example.test\"\nusername = \"a\"\npassword_cmd = \"x\"\n", 0, env, []want{{1, "accounts.home", "has both pop3 and imap; an account has one of them (make two accounts)"}}},
		{"local without maildir", "[accounts.arch]\naddress = \"a@example.test\"\n", 0, env, []want{{1, "accounts.arch", "no pop3 or imap table, so this is a local account and needs maildir"}}},
		{"local maildir missing", "[accounts.arch]\nmaildir = \"~/nope\"\n", 0, env, []want{{2, "accounts.arch.maildir", "local account's maildir " + filepath.Join(home, "nope") + " does not exist"}}},
		{"local maildir is a file", "[accounts.arch]\nmaildir = \"~/file\"\n", 0, env, []want{{2, "accounts.arch.maildir", aFile + " is not a directory"}}},
		{"folders unknown role", "[accounts.arch]\nmaildir = \"~/Mail\"\n[accounts.arch.folders]\nsend = \"Sent\"\n", 0, env, []want{{4, "accounts.arch.folders.send", `unknown key (did you mean "sent"?)`}}},
		{"folders empty", "[accounts.arch]\nmaildir = \"~/Mail\"\n[accounts.arch.folders]\nsent = \"\"\n", 0, env, []want{{4, "accounts.arch.folders.sent", "empty folder name"}}},
		{"folders inbox", "[accounts.arch]\nmaildir = \"~/Mail\"\n[accounts.arch.folders]\ntrash = \"inbox\"\n", 0, env, []want{{4, "accounts.arch.folders.trash", "INBOX cannot play another role"}}},
		{"folders control", "[accounts.arch]\nmaildir = \"~/Mail\"\n[accounts.arch.folders]\ntrash = \"a\\u001bb\"\n", 0, env, []want{{4, "accounts.arch.folders.trash", "holds a control character"}}},
		{"folders empty level", "[accounts.arch]\nmaildir = \"~/Mail\"\n[accounts.arch.folders]\ntrash = \"a//b\"\n", 0, env, []want{{4, "accounts.arch.folders.trash", `folder name "a//b": write it as names separated by '/'`}}},
		{"folders dot", "[accounts.arch]\nmaildir = \"~/Mail\"\n[accounts.arch.folders]\ntrash = \"../x\"\n", 0, env, []want{{4, "accounts.arch.folders.trash", `folder name "../x"`}}},
		{"folders same twice", "[accounts.arch]\nmaildir = \"~/Mail\"\n[accounts.arch.folders]\nsent = \"Old\"\ntrash = \"old\"\n", 0, env, []want{{5, "accounts.arch.folders.trash", `folder "old" already plays the sent role`}}},
		{"host missing", "[accounts.a.pop3]\nusername = \"a\"\npassword_cmd = \"x\"\n", 0, env, []want{{1, "accounts.a.pop3", "host is required"}}},
		{"host empty", strings.Replace(pop3Account, `"pop.example.test"`, `""`, 1), 0, env, []want{{4, "accounts.home.pop3.host", "empty; name the pop3 server"}}},
		{"host url", strings.Replace(pop3Account, `"pop.example.test"`, `"pop3s://pop.example.test"`, 1), 0, env, []want{{4, "accounts.home.pop3.host", `"pop3s://pop.example.test" is not a host name`}}},
		{"host with port", strings.Replace(pop3Account, `"pop.example.test"`, `"pop.example.test:995"`, 1), 0, env, []want{{4, "accounts.home.pop3.host", `"pop.example.test:995" looks like host:port; put the port in port = N`}}},
		{"tls bad", pop3Account + "tls = \"ssl\"\n", 0, env, []want{{7, "accounts.home.pop3.tls", `want "tls", "starttls" or "none", got "ssl"`}}},
		{"port zero", pop3Account + "port = 0\n", 0, env, []want{{7, "accounts.home.pop3.port", "0 is out of range 1-65535"}}},
		{"port big", pop3Account + "port = 70000\n", 0, env, []want{{7, "accounts.home.pop3.port", "70000 is out of range 1-65535"}}},
		{"port string", pop3Account + "port = \"995\"\n", 0, env, []want{{7, "accounts.home.pop3.port", "want an integer, got a string"}}},
		{"username missing", "[accounts.a.imap]\nhost = \"imap.example.test\"\n", 0, env, []want{{1, "accounts.a.imap", "username is required (the login name on the imap server)"}}},
		{"username without password", "[accounts.a.imap]\nhost = \"imap.example.test\"\nusername = \"a\"\n", 0, env, []want{{1, "accounts.a.imap", "username without password_cmd (or password)"}}},
		{"password without username", "[accounts.a]\naddress = \"a@example.test\"\nmaildir = \"~/Mail\"\n[accounts.a.smtp]\nhost = \"smtp.example.test\"\npassword_cmd = \"x\"\n", 0, env, []want{{4, "accounts.a.smtp", "password given but no username"}}},
		{"password and cmd", pop3Account + "password = \"hunter2\"\n", 0, env, []want{{6, "accounts.home.pop3.password_cmd", "both password and password_cmd are set; keep one"}}},
		{"password world readable", strings.Replace(pop3Account, `password_cmd = "echo secret"`, `password = "hunter2"`, 1), 0o644, env, []want{{6, "accounts.home.pop3.password", "refused: %PATH% can be read by others (mode 0644); run `chmod 600 %PATH%`, or use password_cmd"}}},
		{"password group readable", strings.Replace(pop3Account, `password_cmd = "echo secret"`, `password = "hunter2"`, 1), 0o640, env, []want{{6, "accounts.home.pop3.password", "(mode 0640)"}}},
		{"password_cmd empty", strings.Replace(pop3Account, `"echo secret"`, `"  "`, 1), 0, env, []want{{6, "accounts.home.pop3.password_cmd", "empty command"}}},
		{"ca_file missing", pop3Account + "ca_file = \"~/ca.pem\"\n", 0, env, []want{{7, "accounts.home.pop3.ca_file", "cannot read it: open " + filepath.Join(home, "ca.pem") + ": no such file or directory"}}},
		{"ca_file not PEM", pop3Account + "ca_file = \"$HOME/file\"\n", 0, env, []want{{7, "accounts.home.pop3.ca_file", aFile + " holds no PEM certificate"}}},
		{"ca_file relative", pop3Account + "ca_file = \"ca.pem\"\n", 0, env, []want{{7, "accounts.home.pop3.ca_file", `"ca.pem" is relative`}}},
		{"offline on pop3", "[accounts.a.pop3]\nhost = \"h\"\nusername = \"a\"\npassword_cmd = \"x\"\noffline = \"full\"\n", 0, env, []want{{5, "accounts.a.pop3.offline", "only for imap"}}},
		{"bad offline", "[accounts.a.imap]\nhost = \"h\"\nusername = \"a\"\npassword_cmd = \"x\"\noffline = \"all\"\n", 0, env, []want{{5, "accounts.a.imap.offline", `want "headers" (bodies cached when opened) or "full" (all bodies downloaded), got "all"`}}},
		{"bad delete", "[accounts.a.imap]\nhost = \"h\"\nusername = \"a\"\npassword_cmd = \"x\"\ndelete = \"purge\"\n", 0, env, []want{{5, "accounts.a.imap.delete", `want "trash" (move to Trash) or "expunge" (mark \Deleted and expunge), got "purge"`}}},
		{"leave_on_server on imap", "[accounts.a.imap]\nhost = \"h\"\nusername = \"a\"\npassword_cmd = \"x\"\nleave_on_server = true\n", 0, env, []want{{5, "accounts.a.imap.leave_on_server", "only for pop3"}}},
		{"delete_after_days on smtp", "[accounts.a]\naddress = \"a@example.test\"\n[accounts.a.imap]\nhost = \"h\"\nusername = \"a\"\npassword_cmd = \"x\"\n[accounts.a.smtp]\nhost = \"h\"\ndelete_after_days = 3\n", 0, env, []want{{9, "accounts.a.smtp.delete_after_days", "only for pop3"}}},
		{"leave_on_server type", pop3Account + "leave_on_server = \"yes\"\n", 0, env, []want{{7, "accounts.home.pop3.leave_on_server", "want true or false, got a string"}}},
		{"delete_after_days negative", pop3Account + "leave_on_server = true\ndelete_after_days = -1\n", 0, env, []want{{8, "accounts.home.pop3.delete_after_days", "-1 is negative; write 0 to never delete"}}},
		{"delete_after_days without leave", pop3Account + "delete_after_days = 7\n", 0, env, []want{{7, "accounts.home.pop3.delete_after_days", "only with leave_on_server = true"}}},
		{"delete_after_days huge", pop3Account + "leave_on_server = true\ndelete_after_days = 99999\n", 0, env, []want{{8, "accounts.home.pop3.delete_after_days", "more than a century"}}},
		{"check_every smtp", "[accounts.a]\naddress = \"a@example.test\"\nmaildir = \"~/Mail\"\n[accounts.a.smtp]\nhost = \"h\"\ncheck_every = \"5m\"\n", 0, env, []want{{6, "accounts.a.smtp.check_every", "not for smtp"}}},
		{"check_every bad", pop3Account + "check_every = \"5 minutes\"\n", 0, env, []want{{7, "accounts.home.pop3.check_every", `"5 minutes" is not a duration; write it like "5m" or "90s"`}}},
		{"check_every int", pop3Account + "check_every = 300\n", 0, env, []want{{7, "accounts.home.pop3.check_every", "want a string, got an integer"}}},
		{"check_every short", pop3Account + "check_every = \"10s\"\n", 0, env, []want{{7, "accounts.home.pop3.check_every", "10s is too often; the least is 30s"}}},
		{"auth bad", pop3Account + "auth = \"digest-md5\"\n", 0, env, []want{{7, "accounts.home.pop3.auth", `want "plain", "login", "cram-md5", "xoauth2" or "oauthbearer"`}}},
		{"server typo", pop3Account + "pasword_cmd = \"x\"\n", 0, env, []want{{7, "accounts.home.pop3.pasword_cmd", `unknown key (did you mean "password_cmd"?)`}}},
		{"server unknown", pop3Account + "colour = 1\n", 0, env, []want{{7, "accounts.home.pop3.colour", "unknown key; known here: host, tls, port, username, password, password_cmd, ca_file, leave_on_server, delete_after_days, offline, subscribed_only, delete, check_every, auth"}}},
		{"server not a table", "[accounts.a]\npop3 = \"pop.example.test\"\n", 0, env, []want{{2, "accounts.a.pop3", "want a table ([accounts.a.pop3]), got a string"}}},
		{"duplicate maildir", pop3Account + "[accounts.b]\nmaildir = \"~/.local/share/mailbag/home\"\n[accounts.b.imap]\nhost = \"h\"\nusername = \"u\"\npassword_cmd = \"x\"\n", 0, env, []want{{8, "accounts.b.maildir", `same maildir as account "home" (` + filepath.Join(home, ".local/share/mailbag/home") + "); give each account its own"}}},
		{"duplicate default maildir", pop3Account + "[accounts.b]\nmaildir = \"~/.local/share/mailbag/home/\"\n[accounts.b.imap]\nhost = \"h\"\nusername = \"u\"\npassword_cmd = \"x\"\n", 0, env, []want{{8, "accounts.b.maildir", `same maildir as account "home"`}}},
		{"dotted keys", "accounts.a.imap.host = \"h\"\naccounts.a.imap.username = \"u\"\naccounts.a.imap.password_cmd = \"x\"\naccounts.a.imap.port = 0\n", 0, env, []want{{4, "accounts.a.imap.port", "0 is out of range"}}},
		{"inline table", "[accounts.a]\nimap = { host = \"h\", username = \"u\",\n  password_cmd = \"x\", tls = \"nope\" }\n", 0, env, []want{{3, "accounts.a.imap.tls", `got "nope"`}}},
		{"deep key", "a.b.c.d.e.f.g.h.i = 1\n", 0, env, []want{{1, "", "a key 9 levels deep; mailbag's keys have at most 8"}}},
		{"many problems in line order", "[ui]\nbogus = 1\n" + pop3Account + "port = 0\ntls = \"x\"\n", 0, env, []want{
			{2, "ui.bogus", "unknown key"}, {9, "accounts.home.pop3.port", "out of range"}, {10, "accounts.home.pop3.tls", "want"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			mode := tt.mode
			if mode == 0 {
				mode = 0o600
			}
			path := writeConfig(t, tt.body, mode)
			cfg, err := LoadEnv(path, testEnv(tt.env))
			var ce *ConfigError
			if !errors.As(err, &ce) {
				t.Fatalf("LoadEnv(%q) = %+v, %v; want a *ConfigError", tt.body, cfg, err)
			}
			if ce.Path != path {
				t.Errorf("ConfigError.Path = %q, want %q", ce.Path, path)
			}
			if len(ce.Problems) != len(tt.want) {
				t.Fatalf("LoadEnv(%q) problems:\n%v\nwant %d problems", tt.body, err, len(tt.want))
			}
			for i, w := range tt.want {
				p := ce.Problems[i]
				msg := strings.ReplaceAll(w.msg, "%PATH%", path)
				if p.Line != w.line || p.Key != w.key || !strings.Contains(p.Msg, msg) {
					t.Errorf("problem %d = %+v, want line %d key %q message containing %q", i, p, w.line, w.key, msg)
				}
			}
			lines := strings.Split(err.Error(), "\n")
			if len(lines) != len(tt.want) {
				t.Fatalf("Error() = %q, want %d lines", err.Error(), len(tt.want))
			}
			for i, l := range lines {
				p := ce.Problems[i]
				want := path + ": "
				if p.Line > 0 {
					want = path + ":" + strconv.Itoa(p.Line) + ": "
				}
				if p.Key != "" {
					want += p.Key + ": "
				}
				if l != want+p.Msg {
					t.Errorf("Error() line %d = %q, want %q", i, l, want+p.Msg)
				}
			}
		})
	}
}

func TestLoadManyProblems(t *testing.T) {
	var b strings.Builder
	for i := range 60 {
		fmt.Fprintf(&b, "k%d = 1\n", i)
	}
	_, err := LoadEnv(writeConfig(t, b.String(), 0o600), testEnv(nil))
	var ce *ConfigError
	if !errors.As(err, &ce) || len(ce.Problems) != 51 || ce.Problems[50].Msg != "and 11 more problems" || ce.Problems[49].Key != "k49" {
		t.Fatalf("LoadEnv(60 unknown keys) = %v, want 50 problems and a count", err)
	}
}

func TestProblemString(t *testing.T) {
	tests := []struct {
		p    Problem
		want string
	}{
		{Problem{Line: 3, Key: "accounts.a.pop3.port", Msg: "bad"}, "/c.toml:3: accounts.a.pop3.port: bad"},
		{Problem{Line: 3, Msg: "TOML syntax: x"}, "/c.toml:3: TOML syntax: x"},
		{Problem{Key: "accounts", Msg: "no accounts"}, "/c.toml: accounts: no accounts"},
	}
	for _, tt := range tests {
		if got := tt.p.String("/c.toml"); got != tt.want {
			t.Errorf("%+v.String() = %q, want %q", tt.p, got, tt.want)
		}
	}
}

func TestLoadMissingFile(t *testing.T) {
	_, err := LoadEnv(filepath.Join(t.TempDir(), "nope.toml"), testEnv(nil))
	if !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("LoadEnv(missing) = %v, want fs.ErrNotExist", err)
	}
	var ce *ConfigError
	if _, err := LoadEnv(t.TempDir(), testEnv(nil)); !errors.As(err, &ce) {
		t.Fatalf("LoadEnv(dir) = %v, want a *ConfigError", err)
	}
}

func TestLoadDefaults(t *testing.T) {
	home := t.TempDir()
	body := `[accounts.p]
[accounts.p.pop3]
host = "pop.example.test"
username = "u"
password_cmd = "x"
[accounts.ps]
[accounts.ps.pop3]
host = "pop.example.test"
tls = "starttls"
username = "u"
password_cmd = "x"
[accounts.pn.pop3]
host = "pop.example.test"
tls = "none"
username = "u"
password_cmd = "x"
[accounts.i]
address = "i@example.test"
[accounts.i.imap]
host = "imap.example.test"
username = "u"
password_cmd = "x"
[accounts.i.smtp]
host = "smtp.example.test"
[accounts.is]
address = "i@example.test"
[accounts.is.imap]
host = "imap.example.test"
tls = "starttls"
username = "u"
password_cmd = "x"
[accounts.is.smtp]
host = "smtp.example.test"
tls = "starttls"
[accounts.in]
address = "i@example.test"
[accounts.in.imap]
host = "127.0.0.1"
tls = "none"
username = "u"
password_cmd = "x"
port = 1143
[accounts.in.smtp]
host = "::1"
tls = "none"
`
	path := writeConfig(t, body, 0o644)
	cfg, err := LoadEnv(path, testEnv(map[string]string{"HOME": home}))
	if err != nil {
		t.Fatalf("LoadEnv: %v", err)
	}
	if cfg.Path != path || cfg.UI.OpenCmd != "xdg-open" || cfg.UI.Editor != "" || cfg.Keys != nil {
		t.Errorf("cfg = %+v, want defaults", cfg)
	}
	type port struct {
		name, kind string
		port       int
		tls        string
	}
	ports := []port{
		{"p", "pop3", 995, "tls"}, {"ps", "pop3", 110, "starttls"}, {"pn", "pop3", 110, "none"},
		{"i", "imap", 993, "tls"}, {"i", "smtp", 465, "tls"},
		{"is", "imap", 143, "starttls"}, {"is", "smtp", 587, "starttls"},
		{"in", "imap", 1143, "none"}, {"in", "smtp", 25, "none"},
	}
	byName := map[string]AccountConfig{}
	var names []string
	for _, a := range cfg.Accounts {
		byName[a.Name] = a
		names = append(names, a.Name)
	}
	if want := []string{"p", "ps", "pn", "i", "is", "in"}; !reflect.DeepEqual(names, want) {
		t.Fatalf("accounts = %v, want %v", names, want)
	}
	for _, p := range ports {
		a := byName[p.name]
		s := map[string]*ServerConfig{"pop3": a.POP3, "imap": a.IMAP, "smtp": a.SMTP}[p.kind]
		if s == nil {
			t.Fatalf("%s: no %s", p.name, p.kind)
		}
		if s.Port != p.port || s.TLS != p.tls || s.Kind != p.kind {
			t.Errorf("%s.%s = port %d tls %q kind %q, want %d %q %q", p.name, p.kind, s.Port, s.TLS, s.Kind, p.port, p.tls, p.kind)
		}
		wantEvery := DefaultCheckEvery
		if p.kind == "smtp" {
			wantEvery = 0
		}
		if s.CheckEvery != wantEvery || s.LeaveOnServer || s.DeleteAfterDays != 0 || s.Auth != "" {
			t.Errorf("%s.%s = %+v, want default check_every %v, no leave_on_server", p.name, p.kind, s, wantEvery)
		}
	}
	if got, want := byName["p"].Maildir, filepath.Join(home, ".local/share/mailbag/p"); got != want {
		t.Errorf("default maildir = %q, want %q", got, want)
	}
	if got := byName["in"].SMTP.Addr(); got != "[::1]:25" {
		t.Errorf("Addr() = %q, want [::1]:25", got)
	}
	if a := byName["p"]; a.Line != 1 || a.POP3.Line != 2 || a.Local() {
		t.Errorf("account p: Line %d, POP3.Line %d, Local %v; want 1, 2, false", a.Line, a.POP3.Line, a.Local())
	}
	if a := byName["pn"]; a.Line != 12 {
		t.Errorf("account pn (only a pop3 table) Line = %d, want 12", a.Line)
	}

	// $XDG_DATA_HOME moves the default maildir; a relative one is ignored.
	xdg := t.TempDir()
	cfg, err = LoadEnv(path, testEnv(map[string]string{"HOME": home, "XDG_DATA_HOME": xdg}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Accounts[0].Maildir, filepath.Join(xdg, "mailbag/p"); got != want {
		t.Errorf("maildir with XDG_DATA_HOME = %q, want %q", got, want)
	}
	cfg, err = LoadEnv(path, testEnv(map[string]string{"HOME": home, "XDG_DATA_HOME": "rel"}))
	if err != nil {
		t.Fatal(err)
	}
	if got, want := cfg.Accounts[0].Maildir, filepath.Join(home, ".local/share/mailbag/p"); got != want {
		t.Errorf("maildir with relative XDG_DATA_HOME = %q, want %q", got, want)
	}
}

func TestLoadValues(t *testing.T) {
	home := t.TempDir()
	for _, d := range []string{"Mail/a", "Mail/b", "Mail/c"} {
		if err := os.MkdirAll(filepath.Join(home, d), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	ca := writeCA(t, home)
	body := `# comment
[ui]
editor = "nvim -c 'set tw=72'"
open_cmd = "open"

[keys]
quit = "x"
down = ["j", "ctrl+n"]
"page down" = [' ']

[accounts.zeta]
maildir = "~/Mail/a"
[accounts.zeta.folders]
sent = "Sent Items"
trash = "Deleted/Items"

[accounts.alpha]
maildir = "$HOME/Mail/b/"
address = "alpha@example.test"
[accounts.alpha.pop3]
host = "pop.example.test"
port = 1995
username = "alpha"
password = "hunter2"
ca_file = "~/ca.pem"
leave_on_server = true
delete_after_days = 14
check_every = "90s"
auth = "cram-md5"

[accounts.mid]
maildir = "${HOME}/Mail/c"
`
	path := writeConfig(t, body, 0o400)
	cfg, err := LoadEnv(path, testEnv(map[string]string{"HOME": home}))
	if err != nil {
		t.Fatalf("LoadEnv: %v", err)
	}
	if cfg.UI != (UIConfig{Editor: "nvim -c 'set tw=72'", OpenCmd: "open"}) {
		t.Errorf("UI = %+v", cfg.UI)
	}
	wantKeys := []KeyBinding{
		{Action: "quit", Keys: []string{"x"}, Line: 7},
		{Action: "down", Keys: []string{"j", "ctrl+n"}, Line: 8},
		{Action: "page down", Keys: []string{" "}, Line: 9},
	}
	if !reflect.DeepEqual(cfg.Keys, wantKeys) {
		t.Errorf("Keys = %+v, want %+v", cfg.Keys, wantKeys)
	}
	want := []AccountConfig{
		{Name: "zeta", Maildir: filepath.Join(home, "Mail/a"), Line: 11,
			Folders: map[string]string{RoleSent: "Sent Items", RoleTrash: "Deleted/Items"}},
		{Name: "alpha", Maildir: filepath.Join(home, "Mail/b"), Address: "alpha@example.test", Line: 17,
			POP3: &ServerConfig{Kind: "pop3", Host: "pop.example.test", Port: 1995, TLS: "tls", Username: "alpha",
				Password: "hunter2", CAFile: ca, LeaveOnServer: true, DeleteAfterDays: 14,
				CheckEvery: 90 * time.Second, Auth: "cram-md5", Line: 20}},
		{Name: "mid", Maildir: filepath.Join(home, "Mail/c"), Line: 31},
	}
	if !reflect.DeepEqual(cfg.Accounts, want) {
		t.Errorf("Accounts =\n%+v\nwant\n%+v", cfg.Accounts, want)
		for i := range min(len(want), len(cfg.Accounts)) {
			if cfg.Accounts[i].POP3 != nil {
				t.Errorf("got POP3 %+v", *cfg.Accounts[i].POP3)
			}
		}
	}
	for _, a := range cfg.Accounts {
		if !a.Local() != (a.Name == "alpha") {
			t.Errorf("%s.Local() = %v", a.Name, a.Local())
		}
	}
}

// writeCA writes a self-signed certificate to DIR/ca.pem and returns its path.
func writeCA(t *testing.T, dir string) string {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "mailbag test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "ca.pem")
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestLoadPasswordPermissions(t *testing.T) {
	body := strings.Replace(pop3Account, `password_cmd = "echo secret"`, `password = "hunter2"`, 1)
	tests := []struct {
		mode os.FileMode
		ok   bool
	}{
		{0o600, true}, {0o400, true}, {0o700, true},
		{0o640, false}, {0o604, false}, {0o644, false}, {0o666, false},
	}
	for _, tt := range tests {
		path := writeConfig(t, body, tt.mode)
		cfg, err := LoadEnv(path, testEnv(map[string]string{"HOME": t.TempDir()}))
		if tt.ok {
			if err != nil || cfg.Accounts[0].POP3.Password != "hunter2" {
				t.Errorf("mode %04o: LoadEnv = %v, want the password accepted", tt.mode, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), "chmod 600 "+path) || !strings.Contains(err.Error(), "password_cmd") {
			t.Errorf("mode %04o: LoadEnv error = %v, want a refusal saying chmod 600 or password_cmd", tt.mode, err)
		}
	}
	// password_cmd needs no particular mode.
	path := writeConfig(t, pop3Account, 0o644)
	if _, err := LoadEnv(path, testEnv(map[string]string{"HOME": t.TempDir()})); err != nil {
		t.Errorf("password_cmd in a 0644 file: %v", err)
	}
}

func TestDefaultPathEnv(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want string
	}{
		{map[string]string{"MAILBAG_CONFIG": "/x/c.toml", "XDG_CONFIG_HOME": "/xdg", "HOME": "/h"}, "/x/c.toml"},
		{map[string]string{"XDG_CONFIG_HOME": "/xdg", "HOME": "/h"}, "/xdg/mailbag/config.toml"},
		{map[string]string{"XDG_CONFIG_HOME": "relative", "HOME": "/h"}, "/h/.config/mailbag/config.toml"},
		{map[string]string{"HOME": "/h"}, "/h/.config/mailbag/config.toml"},
		{map[string]string{}, ""},
	}
	for _, tt := range tests {
		if got := DefaultPathEnv(testEnv(tt.env)); got != tt.want {
			t.Errorf("DefaultPathEnv(%v) = %q, want %q", tt.env, got, tt.want)
		}
	}
}

func TestEditorCommand(t *testing.T) {
	tests := []struct {
		ui   UIConfig
		env  map[string]string
		want string
	}{
		{UIConfig{Editor: "nano"}, map[string]string{"VISUAL": "emacs", "EDITOR": "ed"}, "nano"},
		{UIConfig{}, map[string]string{"VISUAL": "emacs", "EDITOR": "ed"}, "emacs"},
		{UIConfig{}, map[string]string{"EDITOR": "ed"}, "ed"},
		{UIConfig{Editor: " "}, map[string]string{}, "vi"},
	}
	for _, tt := range tests {
		if got := tt.ui.EditorCommand(testEnv(tt.env)); got != tt.want {
			t.Errorf("%+v.EditorCommand(%v) = %q, want %q", tt.ui, tt.env, got, tt.want)
		}
	}
}

func TestKeyLines(t *testing.T) {
	src := `# top
title = """
[fake.table]
not = "a key"
"""
lit = '''
x = 1'''
arr = [
  1, # comment with = sign
  "two",
  { inner = 1 },
]
[ a . "b.c" . 'd' ]
e = { f = 1, g = { h = "}" } }
"quoted \"k\"" = 2
[[list]]
item = 1
dotted . key = 3
`
	got := keyLines([]byte(src))
	want := map[string]int{
		"title": 2, "lit": 6, "arr": 8,
		"a": 13, `a."b.c"`: 13, `a."b.c".d`: 13,
		`a."b.c".d.e`: 14, `a."b.c".d.e.f`: 14, `a."b.c".d.e.g`: 14, `a."b.c".d.e.g.h`: 14,
		`a."b.c".d."quoted \"k\""`: 15,
		"list":                     16, "list.item": 17, "list.dotted": 18, "list.dotted.key": 18,
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("keyLines =\n%v\nwant\n%v", got, want)
	}
}

func FuzzKeyLines(f *testing.F) {
	f.Add([]byte("[a]\nb = \"\"\"\nc = 1\n\"\"\"\n"))
	f.Add([]byte("x = [ { y = 1 }, '''z''' ]\n[[t]]\n"))
	f.Add([]byte("\"a\\\"\" = { b = [1,\n2] }\n"))
	f.Fuzz(func(t *testing.T, src []byte) {
		for k, l := range keyLines(src) { // must terminate, never panic
			if l < 1 || l > strings.Count(string(src), "\n")+1 {
				t.Fatalf("keyLines(%q)[%q] = %d, outside the document", src, k, l)
			}
		}
	})
}

func FuzzParse(f *testing.F) {
	f.Add([]byte(pop3Account))
	f.Add([]byte("[keys]\nquit = [\"q\"]\n[accounts.a]\nmaildir = \"/tmp\"\n"))
	f.Add([]byte("accounts.a.imap = { host = \"h\", port = 0 }\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		env := testEnv(map[string]string{"HOME": "/nonexistent-home"})
		cfg, err := parse("/c.toml", data, 0o600, env)
		if err != nil {
			var ce *ConfigError
			if !errors.As(err, &ce) || len(ce.Problems) == 0 {
				t.Fatalf("parse(%q) = %v, want a *ConfigError with problems", data, err)
			}
			return
		}
		if len(cfg.Accounts) == 0 {
			t.Fatalf("parse(%q) accepted a config without accounts", data)
		}
	})
}
