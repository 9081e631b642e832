package ui

import (
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/account"
)

// synthEnvelopes makes n envelopes: a quarter of them replies, dates over
// two years, varied senders and subjects.
func synthEnvelopes(n int, seed int64) []account.Envelope {
	rng := rand.New(rand.NewSource(seed))
	envs := make([]account.Envelope, n)
	names := []string{"Alice Example", "Bob Builder", "Chloé Dupont", "李小龙", "Dmitri Ivanov", "Eve O'Neil"}
	words := []string{"meeting", "invoice", "release", "lunch", "report", "question", "patch", "review", "trip", "budget"}
	for i := range envs {
		name := names[rng.Intn(len(names))]
		e := account.Envelope{
			Key:       fmt.Sprintf("%d.M%dP1.bench", 1700000000+i, i),
			Size:      int64(500 + rng.Intn(200000)),
			Date:      testBase.Add(-time.Duration(rng.Intn(2*365*24*60)) * time.Minute),
			From:      fmt.Sprintf("%s <user%d@example.test>", name, rng.Intn(1000)),
			To:        "me@example.test",
			Subject:   words[rng.Intn(len(words))] + " " + words[rng.Intn(len(words))] + " #" + strconv.Itoa(i),
			MessageID: fmt.Sprintf("m%d@example.test", i),
		}
		if rng.Intn(3) > 0 {
			e.Flags = "S"
		}
		if i > 0 && rng.Intn(4) == 0 {
			p := envs[rng.Intn(i)]
			e.InReplyTo = p.MessageID
			e.References = p.References + " " + p.MessageID
			if len(e.References) > 400 {
				e.References = e.References[len(e.References)-400:]
			}
			e.Subject = "Re: " + p.Subject
		}
		e.Name = "cur/" + e.Key + ":2," + string(e.Flags)
		envs[i] = e
	}
	return envs
}

// benchModel is a UI on a real (empty) local account whose INBOX list
// reply carries envs.
func benchModel(b *testing.B, envs []account.Envelope) *Model {
	b.Helper()
	a, err := account.NewLocal(account.AccountConfig{Name: "bench", Maildir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { a.Close() })
	tm, err := New([]account.Account{a}, Options{})
	if err != nil {
		b.Fatal(err)
	}
	m := tm.(*Model)
	m.Init()
	m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
	return m
}

// BenchmarkListKeyPress is one key press in a 100,000-message list and the
// View that follows: the budget is 5 ms.
func BenchmarkListKeyPress(b *testing.B) {
	envs := synthEnvelopes(100_000, 1)
	for _, threaded := range []bool{false, true} {
		b.Run(fmt.Sprintf("threads=%v", threaded), func(b *testing.B) {
			m := benchModel(b, envs)
			m.Update(listMsg{acct: 0, folder: "INBOX", seq: m.list.seq, envs: account.EnvelopeSlice(envs)})
			if threaded {
				m.Update(keyMsg("T"))
			}
			m.View()
			keys := []tea.KeyMsg{keyMsg("j"), keyMsg("j"), keyMsg("k"), keyMsg("pgdown"), keyMsg("j")}
			b.ResetTimer()
			for i := 0; b.Loop(); i++ {
				m.Update(keys[i%len(keys)])
				_ = m.View()
			}
		})
	}
}

// BenchmarkFirstScreen goes from the envelopes of a 100,000-message folder
// to the first View: sorting and the first window.
func BenchmarkFirstScreen(b *testing.B) {
	envs := synthEnvelopes(100_000, 1)
	m := benchModel(b, envs)
	for b.Loop() {
		m.list.loaded = false
		m.Update(listMsg{acct: 0, folder: "INBOX", seq: m.list.seq, envs: account.EnvelopeSlice(envs)})
		_ = m.View()
	}
}

// BenchmarkFilterKeyPress is one key press while typing a filter over
// 100,000 messages, alternately narrowing ("v" after "re") and widening
// (backspace), each followed by View.
func BenchmarkFilterKeyPress(b *testing.B) {
	envs := synthEnvelopes(100_000, 1)
	m := benchModel(b, envs)
	m.Update(listMsg{acct: 0, folder: "INBOX", seq: m.list.seq, envs: account.EnvelopeSlice(envs)})
	m.Update(keyMsg("/"))
	m.Update(keyMsg("r"))
	m.Update(keyMsg("e"))
	keys := []tea.KeyMsg{keyMsg("v"), keyMsg("backspace")}
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		m.Update(keys[i%2])
		_ = m.View()
	}
}

// BenchmarkIndexFirstScreen fills a maildir with MAILBAG_BENCH_N messages
// (sample.Bulk; default 100,000) and measures List through the local
// account's index plus the first View. Opt-in: it needs
// MAILBAG_BENCH_N set, as writing the maildir takes a while.
func BenchmarkIndexFirstScreen(b *testing.B) {
	nStr := os.Getenv("MAILBAG_BENCH_N")
	if nStr == "" {
		b.Skip("set MAILBAG_BENCH_N=100000 to run")
	}
	n, err := strconv.Atoi(nStr)
	if err != nil || n <= 0 {
		b.Fatalf("MAILBAG_BENCH_N=%q: want a positive number", nStr)
	}
	benchIndexFirstScreen(b, n)
}

// BenchmarkThreadToggle builds the reply tree of 100,000 messages and lays
// it out (the T key, the first time in a folder).
func BenchmarkThreadToggle(b *testing.B) {
	envs := synthEnvelopes(100_000, 1)
	byDate := sortByDate(account.EnvelopeSlice(envs))
	for b.Loop() {
		th := buildThreads(account.EnvelopeSlice(envs), byDate)
		_ = th.flatten(true, nil)
	}
}
