//go:build unix

// Package pop3bench measures a POP3 download of 10,000 messages from the
// real dovecot (`bash .ci/servers start`): a bare client that only
// retrieves every message into memory, against mailbag's full sync that
// stores every message durably in a fresh maildir and deletes it from the
// server. Run it with bench/pop3/run.sh.
package pop3bench

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/mailtest/real"
	"github.com/mailbag/mailbag/transport/pop3"
)

const benchUser = "bench"

// benchCount is the number of messages: 10,000, or $MAILBAG_BENCH_MESSAGES.
func benchCount(b *testing.B) int {
	if s := os.Getenv("MAILBAG_BENCH_MESSAGES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("MAILBAG_BENCH_MESSAGES=%q: want a positive number", s)
		}
		return n
	}
	return 10000
}

// benchMessages makes n messages of 10–20 KB of text.
func benchMessages(n int) [][]byte {
	rng := rand.New(rand.NewPCG(1, 2))
	out := make([][]byte, n)
	for i := range out {
		var m bytes.Buffer
		fmt.Fprintf(&m, "From: Bench <bench@example.test>\nTo: bench@example.test\nSubject: bench message %d\nMessage-ID: <bench%d@example.test>\nDate: Mon, 2 Jan 2006 15:04:05 +0000\n\n", i, i)
		size := 10<<10 + rng.IntN(10<<10)
		for m.Len() < size {
			fmt.Fprintf(&m, "%d: the quick brown fox jumps over the lazy dog %x\n", m.Len(), rng.Uint64())
		}
		out[i] = m.Bytes()
	}
	return out
}

// seed empties the bench user's mailbox and delivers msgs into it.
func seed(b *testing.B, s *real.Servers, msgs [][]byte) {
	b.Helper()
	ctx := context.Background()
	if err := s.Reset(ctx, benchUser); err != nil {
		b.Fatalf("reset %s: %v", benchUser, err)
	}
	start := time.Now()
	if err := s.DeliverMany(ctx, benchUser, msgs); err != nil {
		b.Fatalf("seed: %v", err)
	}
	b.Logf("seeded %d messages in %v", len(msgs), time.Since(start).Round(time.Millisecond))
}

// bare retrieves every message into memory with the pop3 client alone
// (no disk, no DELE) and returns the count and bytes. Pipelined, it sends
// every RETR at once (RFC 2449 §6.6); otherwise it is the plain RFC 1939
// client: one RETR, its whole answer, then the next.
func bare(b *testing.B, s *real.Servers, pipelined bool) (int, int64) {
	b.Helper()
	c, err := pop3.Dial(context.Background(), s.Addr(s.POP3S), &pop3.Options{TLS: pop3.TLSImplicit, TLSConfig: s.ClientTLS()})
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	if err := c.Login(benchUser, s.Users[benchUser]); err != nil {
		b.Fatal(err)
	}
	list, err := c.ListAll()
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	var total int64
	if pipelined {
		ids := make([]int, len(list))
		for i, m := range list {
			ids[i] = m.ID
		}
		err = c.RetrMany(ids, func(n int, r io.Reader) error {
			buf.Reset()
			k, err := buf.ReadFrom(r)
			total += k
			return err
		})
	} else {
		for _, m := range list {
			buf.Reset()
			var k int64
			if k, err = c.Retr(m.ID, &buf); err != nil {
				break
			}
			total += k
		}
	}
	if err != nil {
		b.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		b.Fatal(err)
	}
	return len(list), total
}

// unread puts every message of the bench user in cur/ without \Seen, so
// each client is timed against the same mailbox: dovecot moves a message
// from new/ to cur/ when its flags first change, and sets \Seen at QUIT
// on each message a session retrieved (RFC 1939 leaves that to the
// server), renaming every file of the maildir either way. It is not
// timed.
func unread(b *testing.B, s *real.Servers) {
	b.Helper()
	b.StopTimer()
	defer b.StartTimer()
	for _, op := range []string{"add", "remove"} {
		if _, err := s.RunDoveadm(context.Background(), "flags", op, "-u", benchUser, `\Seen`, "mailbox", "INBOX", "all"); err != nil {
			b.Fatal(err)
		}
	}
}

// full runs mailbag's POP3 sync (download and delete, durable) into a
// fresh maildir and returns the number of messages stored and when QUIT
// was sent (after which the server removes the messages).
func full(b *testing.B, s *real.Servers, dir string) (int, time.Time) {
	b.Helper()
	cfg := account.AccountConfig{
		Name:    "bench",
		Maildir: dir,
		POP3: &account.ServerConfig{Kind: "pop3", Host: s.Host, Port: s.POP3S, TLS: account.TLSImplicit,
			CAFile: s.CAFile, Username: benchUser, Password: s.Users[benchUser]},
	}
	p, err := account.NewPOP3(cfg, nil)
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	var quitAt time.Time
	progress := func(pr account.Progress) {
		if pr.Stage == account.StageDeleting {
			quitAt = time.Now()
		}
	}
	if err := p.Sync(context.Background(), progress); err != nil {
		b.Fatal(err)
	}
	d, err := maildir.Open(dir)
	if err != nil {
		b.Fatal(err)
	}
	inbox, _ := d.Folder(maildir.Inbox)
	ents, err := inbox.List()
	if err != nil {
		b.Fatal(err)
	}
	return len(ents), quitAt
}

// settle keeps two costs of sharing one disk with the server out of the
// measured runs; a client of a remote server pays neither:
//   - dovecot here delivers without fsync (mail_fsync = never), and
//     mailbag's syncfs(2) would flush the seeded mail too, so it is
//     flushed now;
//   - on ext4 without a journal the inode allocator skips, one buffer
//     lookup each, every inode freed in the last 60 s, or 360 s while
//     its inode table block is dirty (recently_deleted() in
//     fs/ext4/ialloc.c), and the allocations of the run itself dirty
//     those blocks again. After the server removed 10,000 messages, or
//     the benchmark removed a maildir, creating 10,000 files costs
//     seconds of system time. So the benchmark removes nothing of its
//     own until the process ends, and when the server's mail shares the
//     client's file system it waits until the server's last removals
//     are 365 s old. run.sh puts the server's mail on a file system of
//     its own (MAILBAG_BENCH_SERVER_DISK=own), which needs no wait.
func settle(b *testing.B, lastDelete time.Time) {
	b.Helper()
	syscall.Sync()
	if os.Getenv("MAILBAG_BENCH_SERVER_DISK") == "own" {
		return
	}
	if wait := time.Until(lastDelete.Add(365 * time.Second)); wait > 0 {
		b.Logf("waiting %v for the server's removals to age (see settle)", wait.Round(time.Second))
		time.Sleep(wait)
	}
}

// BenchmarkPOP3Download seeds the bench user and times, on the same
// mailbox, the plain bare client (one RETR per round trip), the pipelined
// bare client and mailbag's sync, b.N times (reseeding before each
// triple). It reports messages per second for each and the time ratios
// mailbag / plain bare (the target is ≤ 1.0) and mailbag / pipelined
// bare.
func BenchmarkPOP3Download(b *testing.B) {
	s := real.Need(b)
	n := benchCount(b)
	msgs := benchMessages(n)
	var plainTime, pipeTime, fullTime time.Duration
	var bareBytes int64
	// The maildirs go to a new directory in $MAILBAG_BENCH_DIR when set
	// (run.sh sets it, and removes it after the test process ends; see
	// settle), else to a temporary directory.
	work := b.TempDir()
	if d := os.Getenv("MAILBAG_BENCH_DIR"); d != "" {
		var err error
		if work, err = os.MkdirTemp(d, "pop3bench-"); err != nil {
			b.Fatal(err)
		}
	}
	lastDelete := time.Now() // seed's Reset may have removed messages
	b.ResetTimer()
	for i := range b.N {
		b.StopTimer()
		seed(b, s, msgs)
		settle(b, lastDelete)
		b.StartTimer()

		timeBare := func(pipelined bool) time.Duration {
			unread(b, s)
			start := time.Now()
			got, bytes := bare(b, s, pipelined)
			t := time.Since(start)
			if got != n {
				b.Fatalf("bare client retrieved %d messages, want %d", got, n)
			}
			bareBytes = bytes
			return t
		}
		plain := timeBare(false)
		pipe := timeBare(true)

		unread(b, s)
		dir := filepath.Join(work, fmt.Sprintf("run%d", i), "Mail")
		start := time.Now()
		stored, quitAt := full(b, s, dir)
		ft := time.Since(start)
		qt := time.Since(quitAt)
		lastDelete = time.Now()
		if stored != n {
			b.Fatalf("mailbag stored %d messages, want %d", stored, n)
		}
		plainTime += plain
		pipeTime += pipe
		fullTime += ft
		rate := func(d time.Duration) string {
			return fmt.Sprintf("%v (%.0f msg/s)", d.Round(time.Millisecond), float64(n)/d.Seconds())
		}
		b.Logf("run %d: bare %s, pipelined bare %s, mailbag %s; ratio %.2f, to pipelined %.2f; of which QUIT (server removing %d messages) %v",
			i, rate(plain), rate(pipe), rate(ft), ft.Seconds()/plain.Seconds(), ft.Seconds()/pipe.Seconds(),
			n, qt.Round(time.Millisecond))
		// The maildir is kept: removing it here would slow the next
		// run's file creation (see settle).
	}
	runs := float64(b.N)
	b.ReportMetric(float64(n)*runs/plainTime.Seconds(), "bare-msg/s")
	b.ReportMetric(float64(n)*runs/pipeTime.Seconds(), "pipelined-bare-msg/s")
	b.ReportMetric(float64(n)*runs/fullTime.Seconds(), "mailbag-msg/s")
	b.ReportMetric(fullTime.Seconds()/plainTime.Seconds(), "ratio")
	b.ReportMetric(fullTime.Seconds()/pipeTime.Seconds(), "ratio-to-pipelined")
	b.ReportMetric(float64(bareBytes)/float64(n), "bytes/msg")
}
