package index

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/sample"
)

// The benchmark maildir is generated once per test binary run (it takes a
// while: about 1 GB for 100,000 messages) and removed by TestMain. Its size
// is MAILBAG_BENCH_N messages, 100000 by default. With MAILBAG_BENCH_DIR
// set, that directory is used and kept, and only generated when it holds
// no maildir yet (for repeated runs).
var bench struct {
	once sync.Once
	dir  string
	f    *maildir.Folder
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if bench.dir != "" && os.Getenv("MAILBAG_BENCH_DIR") == "" {
		os.RemoveAll(bench.dir)
	}
	os.Exit(code)
}

func benchFolder(b *testing.B) *maildir.Folder {
	b.Helper()
	bench.once.Do(func() {
		n := 100000
		if s := os.Getenv("MAILBAG_BENCH_N"); s != "" {
			if n, bench.err = strconv.Atoi(s); bench.err != nil {
				return
			}
		}
		bench.dir = os.Getenv("MAILBAG_BENCH_DIR")
		if bench.dir == "" {
			if bench.dir, bench.err = os.MkdirTemp("", "mailbag-bench-"); bench.err != nil {
				return
			}
		}
		root := filepath.Join(bench.dir, "Mail")
		_, statErr := os.Stat(root)
		d, err := maildir.Open(root)
		if err != nil {
			bench.err = err
			return
		}
		if bench.f, bench.err = d.Folder(maildir.Inbox); bench.err != nil {
			return
		}
		if statErr == nil {
			return // kept from an earlier run
		}
		bench.err = sample.Bulk(bench.f, n, 1, time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC))
	})
	if bench.err != nil {
		b.Fatal(bench.err)
	}
	return bench.f
}

// cpuTime returns the user and system CPU time of the process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// reportCPU adds cpu-ms/op: on a machine shared with other work, CPU time
// varies less than wall time.
func reportCPU(b *testing.B, start time.Duration) {
	b.ReportMetric(float64(cpuTime()-start)/float64(time.Millisecond)/float64(b.N), "cpu-ms/op")
}

// readFirst4K reads the first 4 KB of every listed file with the given
// number of goroutines: the baseline a from-scratch Load is compared to.
func readFirst4K(b *testing.B, f *maildir.Folder, workers int) {
	list, err := f.List()
	if err != nil {
		b.Fatal(err)
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			buf := make([]byte, 4096)
			for {
				i := int(next.Add(1)) - 1
				if i >= len(list) {
					return
				}
				file, err := os.Open(filepath.Join(f.Path(), list[i].Name))
				if err != nil {
					continue
				}
				io.ReadFull(file, buf)
				file.Close()
			}
		})
	}
	wg.Wait()
}

// BenchmarkReadFirst4K is the baseline: list the folder and read the
// first 4 KB of every message, sequentially and with the index's default
// worker count.
func BenchmarkReadFirst4K(b *testing.B) {
	f := benchFolder(b)
	for _, w := range []struct {
		name string
		n    int
	}{{"seq", 1}, {"par", Open(f, nil).workers}} {
		b.Run(w.name, func(b *testing.B) {
			start := cpuTime()
			for b.Loop() {
				readFirst4K(b, f, w.n)
			}
			reportCPU(b, start)
		})
	}
}

// BenchmarkLoadNoIndex measures Load with no index file: list, parse every
// message, write the index.
func BenchmarkLoadNoIndex(b *testing.B) {
	f := benchFolder(b)
	ix := Open(f, nil)
	start := cpuTime()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		os.Remove(ix.Path())
		b.StartTimer()
		envs, err := ix.Load()
		if err != nil {
			b.Fatal(err)
		}
		if i == 0 {
			b.ReportMetric(float64(len(envs)), "msgs")
		}
	}
	reportCPU(b, start)
}

// BenchmarkLoadIndexed measures Load with an up-to-date index, and the
// heap that the envelopes of the folder hold (heap-MB: HeapInuse growth
// after a GC, with the envelopes alive). "stamp": new/ and cur/ unchanged,
// so the directory is not listed; "list": listed and matched anyway (as
// after any change in the folder, or within racyWindow of one).
func BenchmarkLoadIndexed(b *testing.B) {
	f := benchFolder(b)
	for _, listAlways := range []bool{false, true} {
		name := "stamp"
		if listAlways {
			name = "list"
		}
		b.Run(name, func(b *testing.B) {
			ix := Open(f, nil)
			ix.listAlways = listAlways
			if _, err := ix.Load(); err != nil {
				b.Fatal(err)
			}
			start := cpuTime()
			for b.Loop() {
				if _, err := ix.Load(); err != nil {
					b.Fatal(err)
				}
			}
			reportCPU(b, start)
			var before, after runtime.MemStats
			runtime.GC()
			runtime.ReadMemStats(&before)
			envs, err := ix.Load()
			if err != nil {
				b.Fatal(err)
			}
			runtime.GC()
			runtime.ReadMemStats(&after)
			b.ReportMetric(float64(after.HeapInuse-before.HeapInuse)/1e6, "heap-MB")
			b.ReportMetric(float64(len(envs)), "msgs")
			if st, err := os.Stat(ix.Path()); err == nil {
				b.ReportMetric(float64(st.Size())/1e6, "index-MB")
			}
			runtime.KeepAlive(envs)
		})
	}
}

// BenchmarkSummarizeMem measures the header parsing of a Load alone, on
// the headers of the first 5,000 messages of the benchmark folder held in
// memory: no system calls, so the CPU cost per message (ns/msg) shows.
// It reads them as one of Load's workers does, reusing its buffers.
func BenchmarkSummarizeMem(b *testing.B) {
	f := benchFolder(b)
	list, err := f.List()
	if err != nil {
		b.Fatal(err)
	}
	var heads [][]byte
	for _, e := range list[:min(len(list), 5000)] {
		buf := make([]byte, 4096)
		file, err := os.Open(filepath.Join(f.Path(), e.Name))
		if err != nil {
			b.Fatal(err)
		}
		n, _ := io.ReadFull(file, buf)
		file.Close()
		// Keep the header and a line of body: the copy of the rest is
		// the read's cost, measured by ReadFirst4K, not the parser's.
		if i := bytes.Index(buf[:n], []byte("\n\n")); i >= 0 {
			n = min(n, i+80)
		}
		heads = append(heads, bytes.Clone(buf[:n]))
	}
	var r bytes.Reader
	p := newParser()
	start := cpuTime()
	for b.Loop() {
		for _, h := range heads {
			r.Reset(h)
			p.read(&r)
		}
	}
	reportCPU(b, start)
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(heads)), "ns/msg")
}
