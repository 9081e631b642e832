package pop3

import (
	"bytes"
	"fmt"
	"io"
	"testing"

	"github.com/mailbag/mailbag/transport/mailtest"
)

// BenchmarkRetrPipelined retrieves 10,000 messages of 15 KB each over
// loopback from the in-process server into io.Discard, pipelined. One
// iteration is a whole session (login, RetrMany of all, QUIT).
//
//	go test -run XXX -bench RetrPipelined -benchtime 3x ./transport/pop3/
func BenchmarkRetrPipelined(b *testing.B) {
	for _, pipelining := range []bool{true, false} {
		b.Run(fmt.Sprintf("pipelining=%v", pipelining), func(b *testing.B) {
			const count, size = 10_000, 15 << 10
			s := newServer(b, mailtest.POP3Options{Pipelining: pipelining})
			var msg bytes.Buffer
			msg.WriteString("From: bench@example.test\nSubject: bench\n\n")
			for i := 0; msg.Len() < size-80; i++ {
				fmt.Fprintf(&msg, "%s line %d of the benchmark message\n", ".."[:i%2], i)
			}
			for i := 0; i < count; i++ {
				s.Deliver("alice", msg.Bytes())
			}
			ids := make([]int, count)
			for i := range ids {
				ids[i] = i + 1
			}
			b.SetBytes(int64(count * msg.Len()))
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				c := login(b, s.Addr, nil)
				got := 0
				err := c.RetrMany(ids, func(n int, r io.Reader) error {
					got++
					_, err := io.Copy(io.Discard, r)
					return err
				})
				if err != nil || got != count {
					b.Fatalf("RetrMany = %d messages, %v", got, err)
				}
				if err := c.Quit(); err != nil {
					b.Fatalf("Quit: %v", err)
				}
			}
			b.ReportMetric(float64(count*b.N)/b.Elapsed().Seconds(), "msgs/s")
		})
	}
}
