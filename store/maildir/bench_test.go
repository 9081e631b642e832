package maildir

import (
	"bytes"
	"fmt"
	"testing"
)

// BenchmarkBatchCommit compares the ways a Batch can make its files
// durable: per-file fsync from several goroutines, one syncfs(2), and a
// Deliver (fsync file + rename + fsync dir) per message. One op is one
// message.
func BenchmarkBatchCommit(b *testing.B) {
	msg := bytes.Repeat([]byte("Subject: x\r\n\r\nbody line of text here\r\n"), 150) // ~5 KB
	for _, size := range []int{100, 1000} {
		for _, mode := range []struct {
			name string
			mode syncMode
		}{{"fsync", syncFiles}, {"syncfs", syncFS}, {"nosync", syncNone}} {
			b.Run(fmt.Sprintf("%s/batch%d", mode.name, size), func(b *testing.B) {
				d, err := Open(b.TempDir())
				if err != nil {
					b.Fatal(err)
				}
				f, _ := d.Folder(Inbox)
				b.ResetTimer()
				for i := 0; i < b.N; {
					batch := f.NewBatch()
					batch.mode = mode.mode
					for j := 0; j < size && i < b.N; j++ {
						if _, err := batch.Add(bytes.NewReader(msg), ""); err != nil {
							b.Fatal(err)
						}
						i++
					}
					if err := batch.Commit(); err != nil {
						b.Fatal(err)
					}
				}
			})
		}
	}
	b.Run("deliver", func(b *testing.B) {
		d, err := Open(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		f, _ := d.Folder(Inbox)
		b.ResetTimer()
		for range b.N {
			if _, err := f.Deliver(bytes.NewReader(msg), ""); err != nil {
				b.Fatal(err)
			}
		}
	})
}
