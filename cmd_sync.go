package main

import (
	"context"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/termsafe"
)

// runSyncCommand is `mailbag sync [ACCOUNT…]`: it loads the config,
// builds the accounts and syncs them headless (DESIGN.md §2).
func (c *cli) runSyncCommand(ctx context.Context, inv invocation) int {
	ctx, stop := interruptible(ctx)
	defer stop()
	cfg, path, _, err := c.loadConfig(inv)
	if err != nil {
		return c.configErr(path, err)
	}
	accts, err := account.Open(cfg)
	if err != nil {
		return c.fail("%s", termsafe.Line(err.Error()))
	}
	defer closeAll(accts)
	return runSync(ctx, accts, inv.args, c.stderr)
}

// runSync syncs the named accounts (every account when names is empty)
// one after the other, reporting progress on stderr: a line per stage
// and per tenth of a download, never a flood. An unknown name is a usage
// error (exit 2) and nothing is synced; otherwise the exit status is 0
// when every named account synced and 1 when any failed (the others are
// still synced).
func runSync(ctx context.Context, accts []account.Account, names []string, stderr io.Writer) int {
	byName := make(map[string]account.Account, len(accts))
	var all []string
	for _, a := range accts {
		byName[a.Name()] = a
		all = append(all, a.Name())
	}
	selected := accts
	if len(names) > 0 {
		selected = nil
		seen := map[string]bool{}
		for _, n := range names {
			a, ok := byName[n]
			if !ok {
				sorted := append([]string(nil), all...)
				sort.Strings(sorted)
				fmt.Fprintf(stderr, "mailbag: sync: no account %q (accounts: %s)\n",
					termsafe.Line(n), strings.Join(sorted, ", "))
				return exitUsage
			}
			if !seen[n] {
				seen[n] = true
				selected = append(selected, a)
			}
		}
	}
	if len(selected) == 0 {
		fmt.Fprintln(stderr, "mailbag: sync: no accounts")
		return exitFail
	}
	status := exitOK
	for _, a := range selected {
		if !a.Caps().Sync {
			fmt.Fprintf(stderr, "%s: local account, nothing to sync\n", a.Name())
			continue
		}
		pp := &progressPrinter{w: stderr, name: a.Name()}
		if err := a.Sync(ctx, pp.report); err != nil {
			fmt.Fprintln(stderr, termsafe.Line(err.Error()))
			status = exitFail
			continue
		}
		pp.finish()
	}
	return status
}

// progressPrinter turns Progress reports into a few lines: one per stage,
// and during a download one per 10 %.
type progressPrinter struct {
	w       io.Writer
	name    string
	stage   string
	tenth   int
	total   int
	done    int
	bytes   int64
	printed bool
}

func (p *progressPrinter) report(pr account.Progress) {
	switch pr.Stage {
	case account.StageDownloading:
		p.total, p.done, p.bytes = pr.Total, pr.Done, pr.Bytes
		if p.stage != pr.Stage {
			p.stage, p.tenth = pr.Stage, 0
			fmt.Fprintf(p.w, "%s: downloading %s\n", p.name, newMessages(pr.Total))
		}
		if pr.Total > 0 {
			if tenth := pr.Done * 10 / pr.Total; tenth > p.tenth {
				p.tenth = tenth
				fmt.Fprintf(p.w, "%s: %3d%% (%d of %d, %s)\n", p.name, tenth*10, pr.Done, pr.Total, humanBytes(pr.Bytes))
			}
		}
	case account.StageDone:
		p.total, p.done, p.bytes = pr.Total, pr.Done, pr.Bytes
		p.stage = pr.Stage
	default:
		if p.stage != pr.Stage {
			p.stage = pr.Stage
			if pr.Total > 0 {
				fmt.Fprintf(p.w, "%s: %s %d\n", p.name, pr.Stage, pr.Total)
			} else {
				fmt.Fprintf(p.w, "%s: %s\n", p.name, pr.Stage)
			}
		}
	}
}

func (p *progressPrinter) finish() {
	if p.done == 0 {
		fmt.Fprintf(p.w, "%s: done, no new mail\n", p.name)
		return
	}
	fmt.Fprintf(p.w, "%s: done, %s (%s)\n", p.name, newMessages(p.done), humanBytes(p.bytes))
}

// humanBytes writes n as B, KB, MB or GB (powers of 1024, one decimal).
func humanBytes(n int64) string {
	switch {
	case n < 1024:
		return fmt.Sprintf("%d B", n)
	case n < 1<<20:
		return fmt.Sprintf("%.1f KB", float64(n)/(1<<10))
	case n < 1<<30:
		return fmt.Sprintf("%.1f MB", float64(n)/(1<<20))
	}
	return fmt.Sprintf("%.1f GB", float64(n)/(1<<30))
}

// newMessages says "1 new message" or "N new messages".
func newMessages(n int) string {
	if n == 1 {
		return "1 new message"
	}
	return fmt.Sprintf("%d new messages", n)
}
