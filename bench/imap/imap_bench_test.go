// Package imapbench measures mailbag's IMAP account against the real
// dovecot (`bash .ci/servers start`) with 50,000 messages in the INBOX of
// user carol: the first screen of the list on the very first open (empty
// cache), a later open (cache present, server unchanged: the list, then the
// resync), and the resync after 100 new messages arrive; plus the heap.
// Run it with bench/imap/run.sh.
package imapbench

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/metrics"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailbag/mailbag/account"
	imapt "github.com/mailbag/mailbag/transport/imap"
	"github.com/mailbag/mailbag/transport/mailtest/real"
)

// benchUser is not "bench": the POP3 benchmark empties that one.
const benchUser = "carol"

// screen is the first screenful the UI shows.
const screen = 50

func benchCount(b *testing.B) int {
	if s := os.Getenv("MAILBAG_BENCH_MESSAGES"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 {
			b.Fatalf("MAILBAG_BENCH_MESSAGES=%q: want a positive number", s)
		}
		return n
	}
	return 50000
}

func message(i int, rng *rand.Rand) []byte {
	body := make([]byte, 0, 3000)
	for len(body) < 1000+rng.IntN(3000) {
		body = fmt.Appendf(body, "line %d of message %d: the quick brown fox %x\n", len(body), i, rng.Uint64())
	}
	return fmt.Appendf(nil, "From: Sender %d <sender%d@example.test>\nTo: carol@example.test\n"+
		"Subject: benchmark message %d about topic %d\nMessage-ID: <imapbench%d-%d@example.test>\n"+
		"In-Reply-To: <imapbench%d-0@example.test>\nReferences: <imapbench%d-0@example.test>\n"+
		"Date: Mon, 2 Jan 2006 15:04:05 +0000\n\n%s", i%500, i%500, i, i%997, i, rng.Uint64(), i/10, i/10, body)
}

func dial(b *testing.B, s *real.Servers, port int) *imapt.Client {
	c, err := imapt.Dial(context.Background(), s.Addr(port), &imapt.Options{TLS: imapt.TLSStartTLS,
		TLSConfig: s.ClientTLS(), Username: benchUser, Password: s.Users[benchUser], Timeout: time.Minute})
	if err != nil {
		b.Fatal(err)
	}
	return c
}

// seed makes the INBOX hold exactly n messages: it delivers what is
// missing (four LMTP sessions at once) and expunges the newest extra ones.
func seed(b *testing.B, s *real.Servers, n int) {
	c := dial(b, s, s.IMAP)
	defer c.Close()
	ctx := context.Background()
	var have uint32
	if err := c.Do(ctx, "select", func() error {
		d, err := c.Select("INBOX", nil).Wait()
		if d != nil {
			have = d.NumMessages
		}
		return err
	}); err != nil {
		b.Fatal(err)
	}
	if int(have) > n {
		var set goimap.SeqSet
		set.AddRange(uint32(n+1), have)
		if err := c.Do(ctx, "expunge extra", func() error {
			if err := c.Store(set, &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err != nil {
				return err
			}
			return c.Expunge().Close()
		}); err != nil {
			b.Fatal(err)
		}
		return
	}
	missing := n - int(have)
	if missing == 0 {
		return
	}
	start := time.Now()
	const workers = 4
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := range workers {
		wg.Go(func() {
			rng := rand.New(rand.NewPCG(uint64(w), 7))
			for from := int(have) + w*1000; from < n; from += workers * 1000 {
				to := min(from+1000, n)
				msgs := make([][]byte, 0, to-from)
				for i := from; i < to; i++ {
					msgs = append(msgs, message(i, rng))
				}
				if err := s.DeliverMany(ctx, benchUser, msgs); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.Logf("seeded %d messages in %v", missing, time.Since(start).Round(time.Millisecond))
}

// heapSampler records the largest live heap seen.
type heapSampler struct {
	peak atomic.Uint64
	stop chan struct{}
	done chan struct{}
}

func sampleHeap() *heapSampler {
	h := &heapSampler{stop: make(chan struct{}), done: make(chan struct{})}
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	go func() {
		defer close(h.done)
		t := time.NewTicker(5 * time.Millisecond)
		defer t.Stop()
		for {
			metrics.Read(s)
			if v := s[0].Value.Uint64(); v > h.peak.Load() {
				h.peak.Store(v)
			}
			select {
			case <-h.stop:
				return
			case <-t.C:
			}
		}
	}()
	return h
}

func (h *heapSampler) Stop() uint64 { close(h.stop); <-h.done; return h.peak.Load() }

func liveHeap() uint64 {
	runtime.GC()
	var m runtime.MemStats
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

func config(s *real.Servers, port int, dir string) account.AccountConfig {
	return account.AccountConfig{Name: "bench", Maildir: dir, IMAP: &account.ServerConfig{Kind: "imap",
		Host: s.Host, Port: port, TLS: account.TLSStartTLS, Username: benchUser,
		Password: s.Users[benchUser], CAFile: s.CAFile}}
}

// mustList lists INBOX as the message list does (account.ListView).
func mustList(b *testing.B, a *account.IMAP, atLeast int) account.Envelopes {
	envs, err := account.ListView(context.Background(), a, "INBOX")
	if err != nil || envs.Len() < atLeast {
		b.Fatalf("ListView = %v; want at least %d envelopes", err, atLeast)
	}
	return envs
}

// BenchmarkIMAPOpen runs, per iteration, the three scenarios on the
// CONDSTORE port and the later open on the port without CONDSTORE.
func BenchmarkIMAPOpen(b *testing.B) {
	s := real.Need(b)
	n := benchCount(b)
	seed(b, s, n)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Minute)
	defer cancel()
	for i := 0; b.Loop(); i++ {
		dir := b.TempDir()
		base := liveHeap()

		// 1. Very first open: empty cache.
		hs := sampleHeap()
		t0 := time.Now()
		a, err := account.NewIMAP(config(s, s.IMAP, dir), &account.IMAPOptions{Screen: 100, Timeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		if err := a.SyncFolder(ctx, "INBOX"); err != nil {
			b.Fatal(err)
		}
		mustList(b, a, screen)
		first := time.Since(t0)
		if err := a.Sync(ctx, nil); err != nil { // the rest, as the background fill would
			b.Fatal(err)
		}
		full := time.Since(t0)
		got := mustList(b, a, n).Len()
		a.Close()
		peakFirst := hs.Stop()

		// 2. Later open: cache present, server unchanged.
		runtime.GC()
		hs = sampleHeap()
		t0 = time.Now()
		a, err = account.NewIMAP(config(s, s.IMAP, dir), &account.IMAPOptions{Timeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		shown := mustList(b, a, n) // held, as the list holds it
		fromCache := time.Since(t0)
		if err := a.SyncFolder(ctx, "INBOX"); err != nil {
			b.Fatal(err)
		}
		reopen := time.Since(t0)
		heldHeap := liveHeap()
		runtime.KeepAlive(shown)

		// 3. Resync after 100 new messages.
		rng := rand.New(rand.NewPCG(uint64(i), 9))
		news := make([][]byte, 100)
		for j := range news {
			news[j] = message(n+j, rng)
		}
		if err := s.DeliverMany(ctx, benchUser, news); err != nil {
			b.Fatal(err)
		}
		t0 = time.Now()
		if err := a.SyncFolder(ctx, "INBOX"); err != nil {
			b.Fatal(err)
		}
		resync100 := time.Since(t0)
		mustList(b, a, n+100)
		a.Close()
		peakReopen := hs.Stop()
		seed(b, s, n) // expunge the 100 again

		// 4. Later open without CONDSTORE (UID/FLAGS fallback).
		dirNo := dir
		t0 = time.Now()
		a, err = account.NewIMAP(config(s, s.IMAPNoQresync, dirNo), &account.IMAPOptions{Timeout: time.Minute})
		if err != nil {
			b.Fatal(err)
		}
		mustList(b, a, 1)
		if err := a.SyncFolder(ctx, "INBOX"); err != nil {
			b.Fatal(err)
		}
		reopenPlain := time.Since(t0)
		a.Close()

		b.Logf("run %d: %d messages: first screen %v (all envelopes %v); later open: list from cache %v, list+resync %v (without CONDSTORE %v); resync of 100 new %v; heap: peak first open %.1f MB, peak later open %.1f MB, held with the cache and a list view %.1f MB",
			i+1, got, first.Round(time.Millisecond), full.Round(time.Millisecond), fromCache.Round(time.Millisecond),
			reopen.Round(time.Millisecond), reopenPlain.Round(time.Millisecond), resync100.Round(time.Millisecond),
			mb(peakFirst, base), mb(peakReopen, base), mb(heldHeap, base))
		b.ReportMetric(float64(first.Milliseconds()), "first-screen-ms")
		b.ReportMetric(float64(fromCache.Milliseconds()), "cache-list-ms")
		b.ReportMetric(float64(reopen.Milliseconds()), "reopen-ms")
		b.ReportMetric(float64(resync100.Milliseconds()), "resync100-ms")
		b.ReportMetric(mb(peakReopen, base), "peak-heap-MB")
	}
}

func mb(v, base uint64) float64 { return float64(int64(v)-int64(base)) / 1e6 }
