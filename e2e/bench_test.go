package e2e

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/sample"
)

// BenchmarkProcessFirstScreen is the whole-process benchmark of the
// reader: the built binary, started in a 120×40 pseudo-terminal on a
// maildir of MAILBAG_BENCH_N messages (default 100,000; generated once
// into MAILBAG_BENCH_DIR when set, else a temporary directory), measured
// from exec to the newest subject on screen, then quit with q. The first
// iteration builds the index; the others open with it. It reports the
// time to the first screen, and the process's peak resident memory.
//
//	go test -run '^$' -bench ProcessFirstScreen -benchtime 5x ./e2e/
func BenchmarkProcessFirstScreen(b *testing.B) {
	n := 100000
	if s := os.Getenv("MAILBAG_BENCH_N"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v <= 0 {
			b.Fatalf("MAILBAG_BENCH_N=%q", s)
		}
		n = v
	}
	tmp := b.TempDir()
	root := os.Getenv("MAILBAG_BENCH_DIR")
	if root == "" {
		root = filepath.Join(tmp, "bench")
	}
	mail := filepath.Join(root, fmt.Sprintf("process-%d", n))
	if _, err := os.Stat(filepath.Join(mail, "cur")); err != nil {
		d, err := maildir.Open(mail)
		if err != nil {
			b.Fatal(err)
		}
		f, err := d.Folder(maildir.Inbox)
		if err != nil {
			b.Fatal(err)
		}
		if err := sample.Bulk(f, n, 1, time.Now()); err != nil {
			b.Fatal(err)
		}
	}
	subject, _ := newest(b, mail)
	os.Remove(filepath.Join(mail, "mailbag-index")) // the first run builds it

	bin := buildMailbag(b)
	cfg := filepath.Join(tmp, "config.toml")
	if err := os.WriteFile(cfg, []byte(fmt.Sprintf("[accounts.bench]\nmaildir = %q\n", mail)), 0o600); err != nil {
		b.Fatal(err)
	}

	var first, total time.Duration
	var rss int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		cmd := exec.CommandContext(ctx, bin, "--config", cfg)
		cmd.Env = append(os.Environ(), "TERM=xterm-256color", "HOME="+tmp)
		start := time.Now()
		f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 40, Cols: 120})
		if err != nil {
			b.Fatal(err)
		}
		scr := readScreen(f)
		scr.waitFor(b, 0, truncate(subject, 25), time.Minute)
		took := time.Since(start)
		if i == 0 {
			first = took
		} else {
			total += took
		}
		f.Write([]byte("q"))
		if err := cmd.Wait(); err != nil {
			b.Fatalf("mailbag exited with %v", err)
		}
		if ru, ok := cmd.ProcessState.SysUsage().(*syscall.Rusage); ok {
			rss = max(rss, ru.Maxrss)
		}
		f.Close()
		cancel()
	}
	b.StopTimer()
	b.ReportMetric(float64(first.Milliseconds()), "ms-no-index")
	if b.N > 1 {
		b.ReportMetric(float64(total.Milliseconds())/float64(b.N-1), "ms-indexed")
	}
	b.ReportMetric(float64(rss)/1024, "peak-RSS-MB")
}
