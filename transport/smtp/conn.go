package smtp

import (
	"net"
	"time"
)

// boundedConn caps every deadline go-smtp sets at limit from now, and
// turns its "no deadline" between commands into one too: go-smtp's own
// defaults (5 and 12 minutes) apply before its timeout fields can be set,
// in NewClientStartTLS. raw is the TCP connection, closed to abort.
type boundedConn struct {
	net.Conn
	raw   net.Conn
	limit time.Duration
}

func (b *boundedConn) SetDeadline(t time.Time) error {
	if max := time.Now().Add(b.limit); t.IsZero() || t.After(max) {
		t = max
	}
	return b.Conn.SetDeadline(t)
}

// progressWriter gives each write of the message body its own deadline
// (RFC 5321 §4.5.3.2.5 bounds each data block, not the whole transfer).
type progressWriter struct {
	b     *boundedConn
	w     interface{ Write([]byte) (int, error) }
	limit time.Duration
}

// maxChunk keeps each timed write small enough for a slow link.
const maxChunk = 32 << 10

func (p *progressWriter) Write(buf []byte) (int, error) {
	n := 0
	for len(buf) > 0 {
		chunk := buf
		if len(chunk) > maxChunk {
			chunk = chunk[:maxChunk]
		}
		if err := p.b.Conn.SetDeadline(time.Now().Add(p.limit)); err != nil {
			return n, err
		}
		m, err := p.w.Write(chunk)
		n += m
		if err != nil {
			return n, err
		}
		buf = buf[m:]
	}
	return n, nil
}
