// Command mailbag is a terminal mail client. This file is wiring only:
// it parses the command line (DESIGN.md §2) and hands over to the
// account, store and ui packages.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/message"
	"github.com/mailbag/mailbag/store/termsafe"
	"github.com/mailbag/mailbag/ui"
)

// version is set at link time: -ldflags "-X main.version=v1.2.3".
var version = ""

// Exit statuses.
const (
	exitOK    = 0
	exitFail  = 1 // the command ran and failed
	exitUsage = 2 // usage or config errors
)

const usage = `mailbag — a terminal mail client

Usage:
  mailbag [--config PATH]            open the mail reader
  mailbag demo                       try it on sample mail (nothing is written outside a temp dir)
  mailbag sync [ACCOUNT…]            download new mail and send what waits in the outbox
  mailbag send [--account NAME]      send the message on stdin (sendmail-style: recipients
                                     from To, Cc and Bcc; Bcc is never transmitted)
  mailbag show [FILE|-]              print a message (from FILE or stdin) as the reader shows it
  mailbag check [--config PATH]      check the config file and log in to every server
  mailbag version                    print the version
  mailbag help                       print this help

Options (before or after the command):
  --config PATH   the config file; default $MAILBAG_CONFIG, else
                  $XDG_CONFIG_HOME/mailbag/config.toml (~/.config/mailbag/config.toml)
  -h, --help      print this help

Exit status: 0 done, 1 failed, 2 usage or config error; mailbag send: 0 sent,
75 queued in the outbox (temporary failure, retried by mailbag sync), 1 refused.
`

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr, os.Getenv))
}

// tuiFunc starts the terminal UI; ui.Run outside tests.
type tuiFunc func(ctx context.Context, accts []account.Account, opts ui.Options) error

// run is the whole program but for the process: it returns the exit status.
func run(args []string, stdin io.Reader, stdout, stderr io.Writer, env func(string) string) int {
	c := &cli{stdin: stdin, stdout: stdout, stderr: stderr, env: env, tui: runTUI, now: time.Now}
	return c.run(context.Background(), args)
}

// tuiGCPercent is the garbage collector's target for the terminal UI (Go's
// default is 100). The open folder's envelopes are most of the UI's heap
// and live as long as the folder is shown, so the default lets the process
// grow to about twice them between collections. With 50,000 IMAP
// messages, 25 keeps the peak RSS at 37-39 MB on a first open and 35-37 MB
// from the cache (41-55 MB with 100), for about 10% more CPU time while
// the envelopes arrive and no measurable cost to the first screen.
const tuiGCPercent = 25

// runTUI is ui.Run with the collector set to tuiGCPercent, unless the
// GOGC environment variable sets it.
func runTUI(ctx context.Context, accts []account.Account, opts ui.Options) error {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(tuiGCPercent)
	}
	return ui.Run(ctx, accts, opts)
}

// interruptible returns ctx cancelled by SIGINT or SIGTERM, for the
// commands that clean up on their way out (the TUI, the demo's temp dir).
// Other commands keep the default: a signal ends the process.
func interruptible(ctx context.Context) (context.Context, context.CancelFunc) {
	return signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
}

// cli holds what a command needs from its surroundings.
type cli struct {
	stdin          io.Reader
	stdout, stderr io.Writer
	env            func(string) string
	tui            tuiFunc
	now            func() time.Time
}

// invocation is a parsed command line.
type invocation struct {
	cmd        string   // "" for the TUI
	args       []string // the command's operands
	configPath string   // --config, or ""
	account    string   // --account (mailbag send), or ""
	help       bool
}

// usageError is a command-line mistake: exit status 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

// parseArgs reads the global options wherever they are and splits off
// the command and its operands. "--" ends the options.
func parseArgs(args []string) (invocation, error) {
	var inv invocation
	var rest []string
	seenConfig := false
	for i := 0; i < len(args); i++ {
		a := args[i]
		switch {
		case a == "--":
			rest = append(rest, args[i+1:]...)
			i = len(args)
		case a == "-h" || a == "--help" || a == "-help":
			inv.help = true
		case a == "--config" || a == "-config":
			if i+1 >= len(args) || args[i+1] == "" {
				return inv, &usageError{"--config needs a file name: --config PATH"}
			}
			if seenConfig {
				return inv, &usageError{"--config given twice"}
			}
			seenConfig = true
			inv.configPath = args[i+1]
			i++
		case strings.HasPrefix(a, "--config=") || strings.HasPrefix(a, "-config="):
			v := a[strings.IndexByte(a, '=')+1:]
			if v == "" {
				return inv, &usageError{"--config needs a file name: --config PATH"}
			}
			if seenConfig {
				return inv, &usageError{"--config given twice"}
			}
			seenConfig = true
			inv.configPath = v
		case a == "--account" || a == "-account":
			if i+1 >= len(args) || args[i+1] == "" {
				return inv, &usageError{"--account needs an account name: --account NAME"}
			}
			if inv.account != "" {
				return inv, &usageError{"--account given twice"}
			}
			inv.account = args[i+1]
			i++
		case strings.HasPrefix(a, "--account=") || strings.HasPrefix(a, "-account="):
			v := a[strings.IndexByte(a, '=')+1:]
			if v == "" {
				return inv, &usageError{"--account needs an account name: --account NAME"}
			}
			if inv.account != "" {
				return inv, &usageError{"--account given twice"}
			}
			inv.account = v
		case len(a) > 1 && a[0] == '-':
			return inv, &usageError{fmt.Sprintf("unknown option %s", a)}
		default:
			rest = append(rest, a)
		}
	}
	if len(rest) > 0 {
		inv.cmd, inv.args = rest[0], rest[1:]
	}
	if inv.account != "" && inv.cmd != "send" {
		return inv, &usageError{"--account goes with mailbag send only"}
	}
	return inv, nil
}

func (c *cli) run(ctx context.Context, args []string) int {
	inv, err := parseArgs(args)
	if err != nil {
		return c.usageErr(err.Error())
	}
	if inv.help || inv.cmd == "help" {
		fmt.Fprint(c.stdout, usage)
		return exitOK
	}
	maxArgs := map[string]int{"": 0, "demo": 0, "show": 1, "check": 0, "version": 0, "send": 0}
	n, known := maxArgs[inv.cmd]
	switch {
	case inv.cmd == "sync":
		return c.runSyncAndFlush(ctx, inv)
	case !known:
		return c.usageErr(fmt.Sprintf("unknown command %q", termsafe.Line(inv.cmd)))
	case len(inv.args) > n:
		return c.usageErr(fmt.Sprintf("%s: unexpected argument %q", commandName(inv.cmd), termsafe.Line(inv.args[n])))
	}
	switch inv.cmd {
	case "":
		return c.runTUI(ctx, inv)
	case "demo":
		return c.runDemo(ctx)
	case "show":
		return c.runShow(inv.args)
	case "check":
		return c.runCheck(ctx, inv)
	case "send":
		return c.runSend(ctx, inv)
	case "version":
		fmt.Fprintf(c.stdout, "mailbag %s (%s)\n", versionString(), runtime.Version())
		return exitOK
	}
	return exitOK
}

// runSyncAndFlush is `mailbag sync [ACCOUNT…]` (DESIGN.md §2): the outbox
// of every named account with [smtp] first, so that the IMAP resync that
// follows also puts the copies just sent in the server's Sent; then the
// download and resync half (cmd_sync.go). Exit 0 when both went well, 1
// otherwise, 2 for usage and config errors.
func (c *cli) runSyncAndFlush(ctx context.Context, inv invocation) int {
	cfg, path, _, err := c.loadConfig(inv)
	if err != nil {
		return c.configErr(path, err)
	}
	fctx, stop := interruptible(ctx)
	flush := flushOutboxes(fctx, cfg, inv.args, nil, c.stderr)
	stop()
	status := c.runSyncCommand(ctx, inv)
	if status == exitUsage {
		return status
	}
	if flush != exitOK {
		status = flush
	}
	return status
}

func commandName(cmd string) string {
	if cmd == "" {
		return "mailbag"
	}
	return "mailbag " + cmd
}

func (c *cli) usageErr(msg string) int {
	fmt.Fprintf(c.stderr, "mailbag: %s\nRun mailbag help for usage.\n", msg)
	return exitUsage
}

func (c *cli) fail(format string, args ...any) int {
	fmt.Fprintf(c.stderr, "mailbag: "+format+"\n", args...)
	return exitFail
}

func versionString() string {
	if version != "" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return "devel"
}

// loadConfig reads the config named on the command line or by the
// environment. explicit is false when the default place was used, so a
// missing file there is not an error for the TUI.
func (c *cli) loadConfig(inv invocation) (cfg *account.Config, path string, explicit bool, err error) {
	path, explicit = inv.configPath, inv.configPath != ""
	if !explicit {
		if p := c.env("MAILBAG_CONFIG"); p != "" {
			path, explicit = p, true
		} else {
			path = account.DefaultPathEnv(c.env)
		}
	}
	if path == "" {
		return nil, "", false, errors.New("no config path: $HOME is not set; give --config PATH")
	}
	cfg, err = account.LoadEnv(path, c.env)
	return cfg, path, explicit, err
}

// configErr prints a config problem, one line per problem, and returns
// exit status 2.
func (c *cli) configErr(path string, err error) int {
	var ce *account.ConfigError
	switch {
	case errors.As(err, &ce):
		for _, p := range ce.Problems {
			fmt.Fprintln(c.stderr, termsafe.Line(p.String(ce.Path)))
		}
	case errors.Is(err, fs.ErrNotExist):
		fmt.Fprintf(c.stderr, "mailbag: no config file at %s; copy config.example.toml there, or try mailbag demo\n", path)
	default:
		fmt.Fprintf(c.stderr, "mailbag: %s\n", termsafe.Line(err.Error()))
	}
	return exitUsage
}

func (c *cli) runTUI(ctx context.Context, inv invocation) int {
	ctx, stop := interruptible(ctx)
	defer stop()
	cfg, path, explicit, err := c.loadConfig(inv)
	if errors.Is(err, fs.ErrNotExist) && !explicit {
		if err := c.tui(ctx, nil, ui.Options{NoConfigPath: path}); err != nil {
			return c.fail("%v", err)
		}
		return exitOK
	}
	if err != nil {
		return c.configErr(path, err)
	}
	accts, err := account.Open(cfg)
	if err != nil {
		return c.fail("%v", err)
	}
	defer closeAll(accts)
	if err := c.tui(ctx, accts, ui.Options{Config: cfg}); err != nil {
		return c.fail("%v", err)
	}
	return exitOK
}

func closeAll(accts []account.Account) {
	for _, a := range accts {
		a.Close()
	}
}

// runDemo runs the TUI on sample mail in a temporary directory, which is
// removed afterwards. HOME and the XDG directories point into it while
// the demo runs, so an editor or a saved attachment writes nothing
// outside it.
func (c *cli) runDemo(ctx context.Context) int {
	ctx, stop := interruptible(ctx)
	defer stop()
	dir, err := os.MkdirTemp("", "mailbag-demo-")
	if err != nil {
		return c.fail("demo: %v", err)
	}
	defer os.RemoveAll(dir)
	restore, err := redirectHome(dir)
	if err != nil {
		return c.fail("demo: %v", err)
	}
	defer restore()
	srv, err := startDemoServers()
	if err != nil {
		return c.fail("demo: %v", err)
	}
	defer srv.Close()
	acct, err := demoAccount(filepath.Join(dir, "Mail"), c.now(), srv)
	if err != nil {
		return c.fail("demo: %v", err)
	}
	defer acct.Close()
	remote, err := srv.serverAccounts(filepath.Join(dir, "servers"), c.now())
	if err != nil {
		return c.fail("demo: %v", err)
	}
	defer closeAll(remote)
	if err := c.tui(ctx, append([]account.Account{acct}, remote...), ui.Options{Demo: true}); err != nil {
		return c.fail("%v", err)
	}
	return exitOK
}

// redirectHome points HOME and the XDG base directories at dir and
// returns a function that puts them back.
func redirectHome(dir string) (func(), error) {
	vars := []struct{ name, sub string }{
		{"HOME", "home"},
		{"XDG_CONFIG_HOME", "home/.config"},
		{"XDG_DATA_HOME", "home/.local/share"},
		{"XDG_STATE_HOME", "home/.local/state"},
		{"XDG_CACHE_HOME", "home/.cache"},
	}
	type saved struct {
		name, value string
		was         bool
	}
	var old []saved
	restore := func() {
		for _, s := range old {
			if s.was {
				os.Setenv(s.name, s.value)
			} else {
				os.Unsetenv(s.name)
			}
		}
	}
	for _, v := range vars {
		p := filepath.Join(dir, v.sub)
		if err := os.MkdirAll(p, 0o700); err != nil {
			restore()
			return nil, err
		}
		value, was := os.LookupEnv(v.name)
		old = append(old, saved{v.name, value, was})
		if err := os.Setenv(v.name, p); err != nil {
			restore()
			return nil, err
		}
	}
	return restore, nil
}

// runShow prints one message as the reader shows it.
func (c *cli) runShow(args []string) int {
	in, name := c.stdin, "stdin"
	if len(args) == 1 && args[0] != "-" {
		f, err := os.Open(args[0])
		if err != nil {
			return c.fail("show: %s", termsafe.Line(err.Error()))
		}
		defer f.Close()
		in, name = f, args[0]
	}
	m, err := message.Parse(in, nil)
	if err != nil {
		return c.fail("show: %s: %s", termsafe.Line(name), termsafe.Line(err.Error()))
	}
	out := termsafe.String(message.Render(m, c.width()))
	if !strings.HasSuffix(out, "\n") {
		out += "\n"
	}
	if _, err := io.WriteString(c.stdout, out); err != nil {
		return c.fail("show: %v", err)
	}
	return exitOK
}

// width is $COLUMNS when it is a sensible number, else 80.
func (c *cli) width() int {
	if n, err := strconv.Atoi(c.env("COLUMNS")); err == nil && n >= 20 && n <= 1000 {
		return n
	}
	return 80
}

// describeAccount is the line `mailbag check` prints for a valid account.
func describeAccount(a account.AccountConfig, home string) string {
	md := tildePath(a.Maildir, home)
	var parts []string
	switch {
	case a.POP3 != nil:
		parts = append(parts, describeServer(a.POP3), "maildir "+md)
	case a.IMAP != nil:
		parts = append(parts, describeServer(a.IMAP), "cache "+md)
	default:
		parts = append(parts, "local maildir "+md)
	}
	if a.SMTP != nil {
		parts = append(parts, "sends by "+describeServer(a.SMTP))
	}
	return fmt.Sprintf("%s: ok (%s)", a.Name, strings.Join(parts, "; "))
}

func describeServer(s *account.ServerConfig) string {
	return fmt.Sprintf("%s %s %s", s.Kind, s.Addr(), s.TLS)
}

// tildePath writes p with a leading $HOME as ~.
func tildePath(p, home string) string {
	if home != "" && home != "/" {
		if p == home {
			return "~"
		}
		if rel, ok := strings.CutPrefix(p, strings.TrimSuffix(home, "/")+"/"); ok {
			return "~/" + rel
		}
	}
	return p
}
