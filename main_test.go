package main

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/ui"
)

// tuiCall records what the UI was started with.
type tuiCall struct {
	called bool
	names  []string
	opts   ui.Options
	inbox  int    // messages in the first account's INBOX
	home   string // $HOME while the UI ran
}

// testCLI runs the command line with a recording UI in place of ui.Run
// (the UI has its own tests; these check what main hands it).
func testCLI(t *testing.T, args []string, stdin string, env map[string]string, tuiErr error) (code int, stdout, stderr string, call *tuiCall) {
	t.Helper()
	var out, errb bytes.Buffer
	call = &tuiCall{}
	c := &cli{
		stdin:  strings.NewReader(stdin),
		stdout: &out,
		stderr: &errb,
		env:    func(k string) string { return env[k] },
		now:    func() time.Time { return time.Date(2025, 11, 27, 12, 0, 0, 0, time.UTC) },
		tui: func(ctx context.Context, accts []account.Account, opts ui.Options) error {
			call.called = true
			call.opts = opts
			call.home = os.Getenv("HOME")
			for _, a := range accts {
				call.names = append(call.names, a.Name())
			}
			if len(accts) > 0 {
				fs, err := accts[0].Folders(ctx)
				if err != nil {
					t.Errorf("Folders: %v", err)
				}
				for _, f := range fs {
					if f.Name == "INBOX" {
						call.inbox = f.Total
					}
				}
			}
			return tuiErr
		},
	}
	code = c.run(context.Background(), args)
	return code, out.String(), errb.String(), call
}

func TestUsageErrors(t *testing.T) {
	tests := []struct {
		args []string
		want string // first line of stderr
	}{
		{[]string{"frobnicate"}, `mailbag: unknown command "frobnicate"`},
		{[]string{"--verbose"}, "mailbag: unknown option --verbose"},
		{[]string{"check", "-x"}, "mailbag: unknown option -x"},
		{[]string{"--config"}, "mailbag: --config needs a file name: --config PATH"},
		{[]string{"check", "--config="}, "mailbag: --config needs a file name: --config PATH"},
		{[]string{"--config", "a", "check", "--config", "b"}, "mailbag: --config given twice"},
		{[]string{"check", "extra"}, `mailbag: mailbag check: unexpected argument "extra"`},
		{[]string{"version", "1"}, `mailbag: mailbag version: unexpected argument "1"`},
		{[]string{"show", "a", "b"}, `mailbag: mailbag show: unexpected argument "b"`},
		{[]string{"demo", "now"}, `mailbag: mailbag demo: unexpected argument "now"`},
		{[]string{"inbox"}, `mailbag: unknown command "inbox"`},
		{[]string{"\x1b[2Jcmd"}, `mailbag: unknown command "␛[2Jcmd"`},
		{[]string{"send", "extra"}, `mailbag: mailbag send: unexpected argument "extra"`},
		{[]string{"send", "--account"}, "mailbag: --account needs an account name: --account NAME"},
		{[]string{"send", "--account=a", "--account", "b"}, "mailbag: --account given twice"},
		{[]string{"check", "--account", "a"}, "mailbag: --account goes with mailbag send only"},
	}
	for _, tt := range tests {
		code, stdout, stderr, call := testCLI(t, tt.args, "", nil, nil)
		lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
		if code != 2 || stdout != "" || call.called || len(lines) != 2 || !strings.HasPrefix(lines[0], tt.want) || lines[1] != "Run mailbag help for usage." {
			t.Errorf("run(%q) = %d, stdout %q, stderr %q; want 2 and %q", tt.args, code, stdout, stderr, tt.want)
		}
	}
}

func TestHelpAndVersion(t *testing.T) {
	for _, args := range [][]string{{"help"}, {"-h"}, {"--help"}, {"check", "--help"}, {"--config", "x", "-h"}} {
		code, stdout, stderr, _ := testCLI(t, args, "", nil, nil)
		if code != 0 || stderr != "" || !strings.HasPrefix(stdout, "mailbag — a terminal mail client\n") || !strings.Contains(stdout, "mailbag show [FILE|-]") {
			t.Errorf("run(%q) = %d, %q, %q; want the usage on stdout", args, code, stdout, stderr)
		}
	}
	code, stdout, stderr, _ := testCLI(t, []string{"version"}, "", nil, nil)
	if want := "mailbag devel (" + runtime.Version() + ")\n"; code != 0 || stdout != want || stderr != "" {
		t.Errorf("run(version) = %d, %q, %q; want %q", code, stdout, stderr, want)
	}
	// The entry point main calls, with the real UI wired in.
	var out, errb bytes.Buffer
	if code := run([]string{"version"}, strings.NewReader(""), &out, &errb, func(string) string { return "" }); code != 0 || !strings.HasPrefix(out.String(), "mailbag ") || errb.Len() != 0 {
		t.Errorf("run(version) = %d, %q, %q", code, out.String(), errb.String())
	}
	for _, want := range []string{"mailbag send [--account NAME]", "mailbag sync [ACCOUNT…]", "75 queued"} {
		if !strings.Contains(usage, want) {
			t.Errorf("usage lacks %q", want)
		}
	}
}

const hostileMessage = "From: =?utf-8?q?Eve_=1B]0;pwned=07?= <eve@example.test>\r\n" +
	"To: alice@example.test\r\n" +
	"Subject: Hello \x1b[31mred\x1b[0m =?utf-8?b?w6lsw6h2ZQ==?=\r\n" +
	"Date: Thu, 27 Nov 2025 10:00:00 +0000\r\n" +
	"MIME-Version: 1.0\r\n" +
	"Content-Type: text/plain; charset=utf-8\r\n" +
	"\r\n" +
	"Body line with \x1b[2J a clear-screen and a bell \x07.\r\n"

// assertTerminalSafe fails if s holds anything a terminal would
// interpret: C0 controls but LF and TAB, DEL, C1 controls, invalid UTF-8.
func assertTerminalSafe(t *testing.T, what, s string) {
	t.Helper()
	if !utf8.ValidString(s) {
		t.Fatalf("%s: invalid UTF-8: %q", what, s)
	}
	for _, r := range s {
		if (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0) {
			t.Fatalf("%s: control %U in %q", what, r, s)
		}
	}
}

func TestShow(t *testing.T) {
	file := filepath.Join(t.TempDir(), "msg.eml")
	if err := os.WriteFile(file, []byte(hostileMessage), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name  string
		args  []string
		stdin string
	}{
		{"file", []string{"show", file}, ""},
		{"dash", []string{"show", "-"}, hostileMessage},
		{"stdin", []string{"show"}, hostileMessage},
		{"config after", []string{"show", file, "--config", "/nonexistent"}, ""},
	}
	var first string
	for _, tt := range tests {
		code, stdout, stderr, _ := testCLI(t, tt.args, tt.stdin, map[string]string{"COLUMNS": "72"}, nil)
		if code != 0 || stderr != "" {
			t.Fatalf("%s: run(%q) = %d, stderr %q", tt.name, tt.args, code, stderr)
		}
		assertTerminalSafe(t, tt.name, stdout)
		for _, want := range []string{"Hello", "red", "élève", "eve@example.test", "Body line with", "clear-screen"} {
			if !strings.Contains(stdout, want) {
				t.Errorf("%s: output lacks %q:\n%s", tt.name, want, stdout)
			}
		}
		if first == "" {
			first = stdout
		} else if stdout != first {
			t.Errorf("%s: output differs from reading the file:\n%s\nvs\n%s", tt.name, stdout, first)
		}
	}
	code, _, stderr, _ := testCLI(t, []string{"show", filepath.Join(t.TempDir(), "nope")}, "", nil, nil)
	if code != 1 || !strings.HasPrefix(stderr, "mailbag: show: open ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("show of a missing file = %d, %q; want 1 and one line", code, stderr)
	}
}

// checkEnv makes a home with a maildir and returns the environment.
func checkEnv(t *testing.T) (home string, env map[string]string) {
	t.Helper()
	home = t.TempDir()
	if err := os.MkdirAll(filepath.Join(home, "Mail/archive"), 0o700); err != nil {
		t.Fatal(err)
	}
	return home, map[string]string{"HOME": home}
}

const goodConfig = `[accounts.archive]
maildir = "~/Mail/archive"

[accounts.home]
address = "alice@example.test"
[accounts.home.pop3]
host = "pop.example.test"
username = "alice"
password_cmd = "pass show mail"
[accounts.home.smtp]
host = "smtp.example.test"
tls = "starttls"
username = "alice"
password_cmd = "pass show mail"

[accounts.work.imap]
host = "imap.example.test"
tls = "starttls"
port = 1143
username = "alice"
password_cmd = "pass show work"
`

func TestCheckDescribesAccounts(t *testing.T) {
	home, env := checkEnv(t)
	path := filepath.Join(home, "config.toml")
	local := "[accounts.archive]\nmaildir = \"~/Mail/archive\"\n\n[accounts.second]\nmaildir = \"~/Mail/second\"\n"
	if err := os.MkdirAll(filepath.Join(home, "Mail/second"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(local), 0o600); err != nil {
		t.Fatal(err)
	}
	want := "archive: ok (local maildir ~/Mail/archive)\nsecond: ok (local maildir ~/Mail/second)\n"
	xdg := filepath.Join(home, "xdg")
	if err := os.MkdirAll(filepath.Join(xdg, "mailbag"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(xdg, "mailbag/config.toml"), []byte(local), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"config before", []string{"--config", path, "check"}, env},
		{"config after", []string{"check", "--config=" + path}, env},
		{"MAILBAG_CONFIG", []string{"check"}, map[string]string{"HOME": home, "MAILBAG_CONFIG": path}},
		{"XDG_CONFIG_HOME", []string{"check"}, map[string]string{"HOME": home, "XDG_CONFIG_HOME": xdg}},
	}
	for _, tt := range tests {
		code, stdout, stderr, _ := testCLI(t, tt.args, "", tt.env, nil)
		if code != 0 || stdout != want || stderr != "" {
			t.Errorf("%s: run(%q) = %d\nstdout %q\nstderr %q\nwant\n%q", tt.name, tt.args, code, stdout, stderr, want)
		}
	}
	a := account.AccountConfig{Name: "home", Maildir: filepath.Join(home, ".local/share/mailbag/home"),
		POP3: &account.ServerConfig{Kind: "pop3", Host: "pop.example.test", Port: 995, TLS: "tls"},
		SMTP: &account.ServerConfig{Kind: "smtp", Host: "smtp.example.test", Port: 587, TLS: "starttls"}}
	if got, want := describeAccount(a, home), "home: ok (pop3 pop.example.test:995 tls; maildir ~/.local/share/mailbag/home; sends by smtp smtp.example.test:587 starttls)"; got != want {
		t.Errorf("describeAccount = %q, want %q", got, want)
	}
}

func TestCheckBad(t *testing.T) {
	home, env := checkEnv(t)
	path := filepath.Join(home, "config.toml")
	bad := strings.Replace(goodConfig, `port = 1143`, "port = 0\nfoo = 1", 1)
	bad = strings.Replace(bad, `password_cmd = "pass show mail"`, `password = "x"`, 1)
	if err := os.WriteFile(path, []byte(bad), 0o644); err != nil {
		t.Fatal(err)
	}
	code, stdout, stderr, _ := testCLI(t, []string{"check", "--config", path}, "", env, nil)
	want := path + ":9: accounts.home.pop3.password: refused: " + path + " can be read by others (mode 0644); run `chmod 600 " + path + "`, or use password_cmd\n" +
		path + ":19: accounts.work.imap.port: 0 is out of range 1-65535\n" +
		path + `:20: accounts.work.imap.foo: unknown key; known here: host, tls, port, username, password, password_cmd, ca_file, leave_on_server, delete_after_days, offline, subscribed_only, delete, check_every, auth` + "\n"
	if code != 2 || stdout != "" || stderr != want {
		t.Errorf("check of a bad config = %d, stdout %q\nstderr\n%s\nwant\n%s", code, stdout, stderr, want)
	}

	// A syntax error, and a missing file.
	if err := os.WriteFile(path, []byte("[accounts.x\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr, _ = testCLI(t, []string{"check", "--config", path}, "", env, nil)
	if code != 2 || !strings.HasPrefix(stderr, path+":2: TOML syntax: ") || strings.Count(stderr, "\n") != 1 {
		t.Errorf("check of a syntax error = %d, %q", code, stderr)
	}
	missing := filepath.Join(home, "none.toml")
	code, _, stderr, _ = testCLI(t, []string{"check", "--config", missing}, "", env, nil)
	if want := "mailbag: no config file at " + missing + "; copy config.example.toml there, or try mailbag demo\n"; code != 2 || stderr != want {
		t.Errorf("check of a missing file = %d, %q; want 2, %q", code, stderr, want)
	}
	code, _, stderr, _ = testCLI(t, []string{"check"}, "", map[string]string{}, nil)
	if code != 2 || !strings.Contains(stderr, "$HOME is not set") {
		t.Errorf("check without HOME = %d, %q", code, stderr)
	}
}

func TestTUIWiring(t *testing.T) {
	home, env := checkEnv(t)
	path := filepath.Join(home, "config.toml")
	if err := os.WriteFile(path, []byte(goodConfig), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr, call := testCLI(t, []string{"--config", path}, "", env, nil)
	if code != 0 || stderr != "" || !reflect.DeepEqual(call.names, []string{"archive", "home", "work"}) ||
		call.opts.Config == nil || call.opts.Config.Path != path || call.opts.Demo || call.opts.NoConfigPath != "" {
		t.Errorf("mailbag --config: %d, %q, UI got %+v", code, stderr, call)
	}

	// No config in the default place: the UI explains where it goes.
	code, _, stderr, call = testCLI(t, nil, "", env, nil)
	if want := filepath.Join(home, ".config/mailbag/config.toml"); code != 0 || stderr != "" || !call.called || call.names != nil || call.opts.NoConfigPath != want || call.opts.Config != nil {
		t.Errorf("mailbag without a config: %d, %q, UI got %+v; want NoConfigPath %q", code, stderr, call, want)
	}

	// A config named explicitly must exist; a bad one never starts the UI.
	for _, args := range [][]string{{"--config", filepath.Join(home, "nope.toml")}} {
		code, _, stderr, call = testCLI(t, args, "", env, nil)
		if code != 2 || call.called || !strings.Contains(stderr, "no config file at") {
			t.Errorf("run(%q) = %d, %q, UI called %v", args, code, stderr, call.called)
		}
	}
	code, _, _, call = testCLI(t, nil, "", map[string]string{"HOME": home, "MAILBAG_CONFIG": filepath.Join(home, "nope.toml")}, nil)
	if code != 2 || call.called {
		t.Errorf("missing $MAILBAG_CONFIG: %d, UI called %v", code, call.called)
	}
	bad := filepath.Join(home, "bad.toml")
	if err := os.WriteFile(bad, []byte("[accounts.a]\nbogus = 1\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	code, _, stderr, call = testCLI(t, []string{"--config", bad}, "", env, nil)
	if code != 2 || call.called || strings.Count(stderr, "\n") != 2 {
		t.Errorf("bad config: %d, %q, UI called %v", code, stderr, call.called)
	}

	// The UI failing is exit 1 with its error.
	code, _, stderr, _ = testCLI(t, []string{"--config", path}, "", env, errors.New("no terminal"))
	if code != 1 || stderr != "mailbag: no terminal\n" {
		t.Errorf("UI error: %d, %q", code, stderr)
	}
}

func TestDemo(t *testing.T) {
	outside := t.TempDir()
	t.Setenv("HOME", outside)
	t.Setenv("XDG_DATA_HOME", "")
	t.Setenv("XDG_CACHE_HOME", "")
	t.Setenv("TMPDIR", t.TempDir())
	code, _, stderr, call := testCLI(t, []string{"demo"}, "", nil, nil)
	if code != 0 || stderr != "" || !reflect.DeepEqual(call.names, []string{"demo", "home", "work"}) || !call.opts.Demo || call.inbox == 0 {
		t.Fatalf("demo = %d, %q, UI got %+v; want the demo, home (POP3) and work (IMAP) accounts with mail", code, stderr, call)
	}
	tmp := os.Getenv("TMPDIR")
	if !strings.HasPrefix(call.home, tmp+string(filepath.Separator)) {
		t.Errorf("HOME during the demo = %q, want inside %q", call.home, tmp)
	}
	if got := os.Getenv("HOME"); got != outside {
		t.Errorf("HOME after the demo = %q, want %q back", got, outside)
	}
	if os.Getenv("XDG_CACHE_HOME") != "" {
		t.Errorf("XDG_CACHE_HOME left set: %q", os.Getenv("XDG_CACHE_HOME"))
	}
	for _, dir := range []string{tmp, outside} {
		ents, err := os.ReadDir(dir)
		if err != nil || len(ents) != 0 {
			t.Errorf("%s after the demo: %v, %v; want it empty", dir, ents, err)
		}
	}
}
