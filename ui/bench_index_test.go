package ui

import (
	"context"
	"testing"
	"time"

	tea "github.com/charmbracelet/bubbletea"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/sample"
)

func benchIndexFirstScreen(b *testing.B, n int) {
	root := b.TempDir()
	d, err := maildir.Open(root)
	if err != nil {
		b.Fatal(err)
	}
	f, err := d.Folder("INBOX")
	if err != nil {
		b.Fatal(err)
	}
	if err := sample.Bulk(f, n, 1, time.Now()); err != nil {
		b.Fatal(err)
	}
	cfg := account.AccountConfig{Name: "bench", Maildir: root}
	firstScreen := func() {
		// A new account each time: the index comes from disk, not memory.
		a, err := account.NewLocal(cfg)
		if err != nil {
			b.Fatal(err)
		}
		defer a.Close()
		tm, err := New([]account.Account{a}, Options{})
		if err != nil {
			b.Fatal(err)
		}
		m := tm.(*Model)
		m.Init()
		m.Update(tea.WindowSizeMsg{Width: 120, Height: 40})
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		envs, err := a.List(ctx, "INBOX")
		if err != nil {
			b.Fatal(err)
		}
		if len(envs) != n {
			b.Fatalf("List = %d envelopes, want %d", len(envs), n)
		}
		m.Update(listMsg{acct: 0, folder: "INBOX", seq: m.list.seq, envs: account.EnvelopeSlice(envs)})
		_ = m.View()
	}
	firstScreen() // builds and saves the index
	b.ResetTimer()
	for b.Loop() {
		firstScreen()
	}
}
