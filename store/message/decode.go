package message

import (
	"bufio"
	"io"
	"strings"
)

// transferDecoder returns a reader that undoes the Content-Transfer-Encoding
// (RFC 2045 §6) of a body read from br. Unknown encodings pass the bytes
// through unchanged and known is false.
func transferDecoder(cte string, br *bufio.Reader) (r io.Reader, dec interface{ invalid() int }, known bool) {
	switch strings.ToLower(strings.TrimSpace(cte)) {
	case "quoted-printable":
		q := &qpReader{br: br}
		return q, q, true
	case "base64":
		b := &base64Reader{br: br}
		return b, b, true
	case "", "7bit", "8bit", "binary":
		return br, nil, true
	}
	return br, nil, false
}

// qpReader decodes quoted-printable (RFC 2045 §6.7) tolerantly and without a
// line length limit (mime/quotedprintable fails on lines over 4 KiB): soft
// line breaks with trailing white space are accepted, lower-case hex is
// accepted, and a "=" that starts no valid escape is kept as it is.
type qpReader struct {
	br  *bufio.Reader
	bad int
}

func (q *qpReader) invalid() int { return q.bad }

func (q *qpReader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		c, err := q.br.ReadByte()
		if err != nil {
			return n, err
		}
		if c != '=' {
			p[n] = c
			n++
			continue
		}
		b, _ := q.br.Peek(2)
		switch {
		case len(b) == 2 && isHex(b[0]) && isHex(b[1]):
			p[n] = unhex(b[0])<<4 | unhex(b[1])
			n++
			q.br.Discard(2)
			continue
		case len(b) == 0: // "=" at the end: soft break
			continue
		case b[0] == '\n':
			q.br.Discard(1)
			continue
		case len(b) == 2 && b[0] == '\r' && b[1] == '\n':
			q.br.Discard(2)
			continue
		case b[0] == ' ' || b[0] == '\t' || b[0] == '\r':
			// "=  \r\n": a soft break followed by padding (§6.7 rule 3).
			ws, _ := q.br.Peek(min(q.br.Buffered(), 128))
			i := 0
			for i < len(ws) && (ws[i] == ' ' || ws[i] == '\t' || ws[i] == '\r') {
				i++
			}
			if i < len(ws) && ws[i] == '\n' {
				q.br.Discard(i + 1)
				continue
			}
			if i == len(ws) && len(ws) < 128 {
				if _, err := q.br.Peek(len(ws) + 1); err == io.EOF {
					q.br.Discard(i) // "=  " at the end of input
					continue
				}
			}
		}
		q.bad++
		p[n] = '='
		n++
	}
	return n, nil
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'A' && c <= 'F' || c >= 'a' && c <= 'f'
}

func unhex(c byte) byte {
	switch {
	case c >= '0' && c <= '9':
		return c - '0'
	case c >= 'a' && c <= 'f':
		return c - 'a' + 10
	}
	return c - 'A' + 10
}

// base64Reader decodes base64 (RFC 2045 §6.8) tolerantly: characters
// outside the alphabet are skipped (and counted when not white space),
// padding may appear in the middle of concatenated encodings, and a final
// partial quantum is decoded as far as it goes.
type base64Reader struct {
	br   *bufio.Reader
	quad [4]byte
	nq   int
	out  [3]byte
	no   int // bytes of out not yet returned, from the end of out[:3]
	ol   int // length of out
	bad  int
	err  error
}

func (b *base64Reader) invalid() int { return b.bad }

func (b *base64Reader) Read(p []byte) (int, error) {
	n := 0
	for n < len(p) {
		if b.no > 0 {
			p[n] = b.out[b.ol-b.no]
			b.no--
			n++
			continue
		}
		if b.err != nil {
			return n, b.err
		}
		c, err := b.br.ReadByte()
		if err != nil {
			b.flush()
			b.err = err
			continue
		}
		v := b64val(c)
		switch {
		case v >= 0:
			b.quad[b.nq] = byte(v)
			b.nq++
			if b.nq == 4 {
				b.flush()
			}
		case c == '=':
			b.flush()
		case c == ' ' || c == '\t' || c == '\r' || c == '\n':
		default:
			b.bad++
		}
	}
	return n, nil
}

// flush turns the collected sextets into bytes.
func (b *base64Reader) flush() {
	q := b.quad
	switch b.nq {
	case 4:
		b.out = [3]byte{q[0]<<2 | q[1]>>4, q[1]<<4 | q[2]>>2, q[2]<<6 | q[3]}
		b.ol = 3
	case 3:
		b.out = [3]byte{q[0]<<2 | q[1]>>4, q[1]<<4 | q[2]>>2}
		b.ol = 2
	case 2:
		b.out = [3]byte{q[0]<<2 | q[1]>>4}
		b.ol = 1
	case 1:
		b.bad++
		b.ol = 0
	default:
		b.ol = 0
	}
	b.no = b.ol
	b.nq = 0
}

func b64val(c byte) int {
	switch {
	case c >= 'A' && c <= 'Z':
		return int(c - 'A')
	case c >= 'a' && c <= 'z':
		return int(c-'a') + 26
	case c >= '0' && c <= '9':
		return int(c-'0') + 52
	case c == '+':
		return 62
	case c == '/':
		return 63
	}
	return -1
}
