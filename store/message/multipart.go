package message

import (
	"bufio"
	"bytes"
	"io"
)

// multipartReader splits a multipart body (RFC 2046 §5.1.1) into parts.
// It reads line by line with a bounded buffer: lines longer than the
// buffer pass through in pieces, and only a piece that starts a line can
// be a boundary. It is lenient: bare LF line endings, white space after a
// boundary, and a missing close delimiter (the body is then truncated,
// which truncated reports).
type multipartReader struct {
	br       *bufio.Reader
	dash     []byte // "--" + boundary
	started  bool
	closed   bool // saw the close delimiter
	eof      bool // reached the end of input
	cur      *partBody
	preamble []byte // kept while looking for the first boundary, up to maxPre
	maxPre   int
}

func newMultipartReader(r io.Reader, boundary string, maxPreamble int) *multipartReader {
	return &multipartReader{
		br:     bufio.NewReaderSize(r, 4096),
		dash:   []byte("--" + boundary),
		maxPre: maxPreamble,
	}
}

// boundary classifies a line: 0 not a boundary, 1 a delimiter, 2 the close
// delimiter ("--boundary--").
func (m *multipartReader) boundary(line []byte) int {
	if !bytes.HasPrefix(line, m.dash) {
		return 0
	}
	rest := line[len(m.dash):]
	kind := 1
	if bytes.HasPrefix(rest, []byte("--")) {
		kind, rest = 2, rest[2:]
	}
	for _, c := range rest {
		if c != ' ' && c != '\t' && c != '\r' && c != '\n' {
			return 0
		}
	}
	return kind
}

// next returns the body reader of the next part; io.EOF after the last.
// The previous part's body is drained first.
func (m *multipartReader) next() (*partBody, error) {
	if m.cur != nil {
		if _, err := io.Copy(io.Discard, m.cur); err != nil && err != io.ErrUnexpectedEOF {
			return nil, err
		}
		m.cur = nil
	}
	if m.closed || m.eof {
		return nil, io.EOF
	}
	if !m.started {
		lineStart := true
		for {
			line, err := m.br.ReadSlice('\n')
			if lineStart && len(line) > 0 {
				if k := m.boundary(line); k != 0 {
					if k == 2 {
						m.closed = true
						return nil, io.EOF
					}
					break
				}
			}
			if room := m.maxPre - len(m.preamble); room > 0 {
				m.preamble = append(m.preamble, line[:min(room, len(line))]...)
			}
			lineStart = err == nil
			if err == io.EOF {
				m.eof = true
				return nil, io.EOF
			}
			if err != nil && err != bufio.ErrBufferFull {
				return nil, err
			}
		}
		m.started = true
	}
	m.cur = &partBody{m: m, atLineStart: true, crlf: [2]byte{'\r', '\n'}}
	return m.cur, nil
}

// sawBoundary reports whether any boundary line was found.
func (m *multipartReader) sawBoundary() bool { return m.started || m.closed }

// truncated reports whether the input ended before the close delimiter.
func (m *multipartReader) truncated() bool { return m.eof && !m.closed }

// partBody reads one part (header and body) up to the next boundary. The
// line break before a boundary belongs to the boundary (RFC 2046 §5.1.1).
type partBody struct {
	m           *multipartReader
	pending     []byte // bytes ready to return
	next        []byte // bytes to return after pending
	held        int    // line-break bytes held back (1 LF, 2 CRLF)
	crlf        [2]byte
	atLineStart bool
	done        bool
	err         error
}

func (b *partBody) Read(p []byte) (int, error) {
	for len(b.pending) == 0 {
		if b.next != nil {
			b.pending, b.next = b.next, nil
			continue
		}
		if b.done {
			return 0, b.err
		}
		line, err := b.m.br.ReadSlice('\n')
		if b.atLineStart && len(line) > 0 {
			if k := b.m.boundary(line); k != 0 {
				b.done, b.err = true, io.EOF
				b.m.closed = k == 2
				continue
			}
		}
		body, held := line, 0
		if n := len(body); n > 0 && body[n-1] == '\n' {
			held, body = 1, body[:n-1]
			if n > 1 && body[n-2] == '\r' {
				held, body = 2, body[:n-2]
			}
		}
		if b.held > 0 {
			b.pending, b.next = b.crlf[2-b.held:], body
		} else {
			b.pending = body
		}
		b.held = held
		b.atLineStart = held > 0
		switch {
		case err == nil || err == bufio.ErrBufferFull:
		case err == io.EOF:
			// Input ended inside the part (the last line break, if any,
			// was returned above): report truncation.
			b.done, b.err = true, io.ErrUnexpectedEOF
			b.m.eof = true
		default:
			b.done, b.err = true, err
		}
	}
	n := copy(p, b.pending)
	b.pending = b.pending[n:]
	return n, nil
}
