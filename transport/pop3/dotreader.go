package pop3

import (
	"bufio"
	"bytes"
	"io"
)

// dotReader decodes a multi-line answer, RFC 1939 §3: it removes the leading
// dot of byte-stuffed lines, turns CRLF into LF and ends (io.EOF) at the
// ".CRLF" line, leaving the reader just after it. It behaves exactly like
// net/textproto's DotReader (FuzzDotReader compares them) but copies the
// middle of each line in bulk instead of a byte at a time.
type dotReader struct {
	br    *bufio.Reader
	state int
}

const (
	dotBeginLine = iota // beginning of line; initial state
	dotDot              // read "." at beginning of line
	dotDotCR            // read ".\r" at beginning of line
	dotCR               // read "\r" (possibly at end of line)
	dotData             // in the middle of a line
	dotEOF              // read the ".\r\n" end line
)

func (d *dotReader) Read(b []byte) (n int, err error) {
	br := d.br
	for n < len(b) && d.state != dotEOF {
		if d.state == dotData && br.Buffered() > 0 {
			// Fast path: copy up to the next CR or LF in one go.
			buf, _ := br.Peek(br.Buffered())
			if room := len(b) - n; len(buf) > room {
				buf = buf[:room]
			}
			if i := bytes.IndexByte(buf, '\n'); i >= 0 {
				buf = buf[:i]
			}
			if i := bytes.IndexByte(buf, '\r'); i >= 0 {
				buf = buf[:i]
			}
			if len(buf) > 0 {
				n += copy(b[n:], buf)
				br.Discard(len(buf))
				continue
			}
		}
		var c byte
		c, err = br.ReadByte()
		if err != nil {
			if err == io.EOF {
				err = io.ErrUnexpectedEOF
			}
			break
		}
		switch d.state {
		case dotBeginLine:
			if c == '.' {
				d.state = dotDot
				continue
			}
			if c == '\r' {
				d.state = dotCR
				continue
			}
			d.state = dotData
		case dotDot:
			if c == '\r' {
				d.state = dotDotCR
				continue
			}
			if c == '\n' {
				d.state = dotEOF
				continue
			}
			d.state = dotData
		case dotDotCR:
			if c == '\n' {
				d.state = dotEOF
				continue
			}
			// Not ".\r\n": drop the dot, emit the saved CR.
			br.UnreadByte()
			c = '\r'
			d.state = dotData
		case dotCR:
			if c == '\n' {
				d.state = dotBeginLine
				break
			}
			// A CR not followed by LF is data.
			br.UnreadByte()
			c = '\r'
			d.state = dotData
		case dotData:
			if c == '\r' {
				d.state = dotCR
				continue
			}
			if c == '\n' {
				d.state = dotBeginLine
			}
		}
		b[n] = c
		n++
	}
	if err == nil && d.state == dotEOF {
		err = io.EOF
	}
	return n, err
}
