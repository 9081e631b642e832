package pop3

import (
	"bytes"
	"crypto/sha256"
	"fmt"
	"io"
	"runtime"
	"testing"

	"github.com/mailbag/mailbag/transport/mailtest"
)

// hashWriter counts and hashes what it is given.
type hashWriter struct {
	h interface {
		io.Writer
		Sum([]byte) []byte
	}
	n int64
}

func (w *hashWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return w.h.Write(p)
}

// TestRetrLargeBoundedMemory retrieves a 50 MB message and checks that it is
// streamed: the bytes allocated during Retr (client and in-process server
// together) stay far below the message size.
func TestRetrLargeBoundedMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("50 MB transfer")
	}
	const size = 50 << 20
	// Lines of varying length, some starting with a dot, one of 1 MB.
	var unit bytes.Buffer
	for i := 0; unit.Len() < 1<<20; i++ {
		fmt.Fprintf(&unit, ".line %d %s\n", i, bytes.Repeat([]byte{'x'}, i%300))
	}
	unit.Write(bytes.Repeat([]byte{'y'}, 1<<20))
	unit.WriteByte('\n')
	msg := make([]byte, 0, size+unit.Len())
	msg = append(msg, "Subject: big\n\n"...)
	for len(msg) < size {
		msg = append(msg, unit.Bytes()...)
	}
	want := sha256.Sum256(msg)
	wantLen := int64(len(msg))

	s := newServer(t, mailtest.POP3Options{})
	s.Deliver("alice", msg)
	msg = nil
	c := login(t, s.Addr, nil)

	w := &hashWriter{h: sha256.New()}
	runtime.GC()
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	n, err := c.Retr(1, w)
	runtime.ReadMemStats(&after)
	if err != nil {
		t.Fatalf("Retr: %v", err)
	}
	if n != wantLen || w.n != wantLen || !bytes.Equal(w.h.Sum(nil), want[:]) {
		t.Fatalf("Retr of a %d-byte message = %d bytes (wrote %d), hash equal %v", wantLen, n, w.n, bytes.Equal(w.h.Sum(nil), want[:]))
	}
	allocated := after.TotalAlloc - before.TotalAlloc
	t.Logf("Retr of %d bytes allocated %d bytes, %d objects", wantLen, allocated, after.Mallocs-before.Mallocs)
	if allocated > 2<<20 {
		t.Fatalf("Retr of a %d-byte message allocated %d bytes; it is not streamed", wantLen, allocated)
	}
}
