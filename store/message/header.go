package message

import (
	"bufio"
	"bytes"
	"io"
	"mime"
	"strings"
	"unicode/utf8"

	"github.com/emersion/go-message/charset"
	"golang.org/x/text/encoding/charmap"
)

// Default bounds for a header block (RFC 5322 §2.1.1 bounds lines, not
// headers; these protect us from hostile input).
const (
	defaultMaxHeaderBytes  = 256 << 10
	defaultMaxHeaderFields = 1000
)

// headerReader reads the fields of one RFC 5322 §2.2 header block from a
// bufio.Reader, unfolding continuation lines (§2.2.3). It is lenient: lines
// without a colon are skipped, an mbox "From " line at the start is skipped,
// and bare LF line endings are accepted. It is bounded: after maxBytes bytes
// or maxFields fields it stops keeping fields.
type headerReader struct {
	br        *bufio.Reader
	maxBytes  int
	maxFields int
	// want reports whether the field named name should be kept; nil keeps all.
	want func(name []byte) bool

	n       int    // bytes consumed so far
	fields  int    // fields seen so far
	field   []byte // the current field, unfolded: "name:value"
	scratch []byte // line assembly for lines longer than br's buffer
}

// next returns the next kept field's name and unfolded, trimmed value. The
// slices are valid until the following call. ok is false at the end of the
// header (blank line, EOF, error, or a bound reached; truncated says which).
func (h *headerReader) next() (name, value []byte, ok, truncated bool, err error) {
	for {
		if h.n >= h.maxBytes || h.fields >= h.maxFields {
			return nil, nil, false, true, nil
		}
		line, n, err := h.readLine()
		h.n += n
		if n == 0 && err != nil {
			if err == io.EOF {
				err = nil
			}
			return nil, nil, false, false, err
		}
		if len(line) == 0 { // blank line: end of header (§2.1)
			return nil, nil, false, false, nil
		}
		if line[0] == ' ' || line[0] == '\t' {
			// Continuation with no field to continue: skip.
			if err != nil {
				return nil, nil, false, false, eofNil(err)
			}
			continue
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 || !validName(line[:colon]) {
			// Not a field ("From " mbox separator, garbage): skip.
			if err != nil {
				return nil, nil, false, false, eofNil(err)
			}
			continue
		}
		h.fields++
		keep := h.want == nil || h.want(bytes.TrimRight(line[:colon], " \t"))
		if keep {
			h.field = append(h.field[:0], line...)
		}
		// Continuation lines (§2.2.3: unfolding removes the CRLF only).
		for err == nil && h.n < h.maxBytes {
			b, perr := h.br.Peek(1)
			if perr != nil || (b[0] != ' ' && b[0] != '\t') {
				break
			}
			var cont []byte
			cont, n, err = h.readLine()
			h.n += n
			if keep {
				room := h.maxBytes - len(h.field)
				if room > len(cont) {
					room = len(cont)
				}
				if room > 0 {
					h.field = append(h.field, cont[:room]...)
				}
			}
		}
		if !keep {
			if err != nil {
				return nil, nil, false, false, eofNil(err)
			}
			continue
		}
		name = bytes.TrimRight(h.field[:colon], " \t")
		value = bytes.Trim(h.field[colon+1:], " \t")
		return name, value, true, false, eofNil(err)
	}
}

func eofNil(err error) error {
	if err == io.EOF {
		return nil
	}
	return err
}

// readLine reads one line through '\n' (or to EOF) and returns it without
// its line ending. At most maxBytes bytes of the line are kept; the rest is
// consumed and dropped. n counts all bytes consumed.
func (h *headerReader) readLine() (line []byte, n int, err error) {
	h.scratch = h.scratch[:0]
	for {
		frag, err := h.br.ReadSlice('\n')
		n += len(frag)
		if err != bufio.ErrBufferFull && len(h.scratch) == 0 {
			return trimEOL(frag), n, err
		}
		if room := h.maxBytes - len(h.scratch); room > 0 {
			if room > len(frag) {
				room = len(frag)
			}
			h.scratch = append(h.scratch, frag[:room]...)
		}
		if err != bufio.ErrBufferFull {
			return trimEOL(h.scratch), n, err
		}
	}
}

func trimEOL(b []byte) []byte {
	if len(b) > 0 && b[len(b)-1] == '\n' {
		b = b[:len(b)-1]
	}
	if len(b) > 0 && b[len(b)-1] == '\r' {
		b = b[:len(b)-1]
	}
	return b
}

// validName reports whether b is an RFC 5322 §2.2 field name (printable
// US-ASCII except colon), allowing trailing white space seen in the wild.
func validName(b []byte) bool {
	b = bytes.TrimRight(b, " \t")
	if len(b) == 0 {
		return false
	}
	for _, c := range b {
		if c < 33 || c > 126 {
			return false
		}
	}
	return true
}

// toUTF8 returns b as a string of valid UTF-8. Raw 8-bit bytes that are not
// UTF-8 (RFC 6532 allows UTF-8 only) are taken as windows-1252, a superset
// of the printable ISO-8859-1 range that old mailers send unlabelled.
func toUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out, err := charmap.Windows1252.NewDecoder().Bytes(b)
	if err != nil {
		return strings.ToValidUTF8(string(b), "\uFFFD")
	}
	return string(out)
}

// charsetReader converts from a MIME charset label to UTF-8 using
// go-message/charset (RFC 2046 §4.1.2 labels, IANA and WHATWG aliases).
func charsetReader(label string, r io.Reader) (io.Reader, error) {
	return charset.Reader(strings.ToLower(strings.TrimSpace(label)), r)
}

// decodeWords decodes RFC 2047 encoded words in an unstructured header
// value. Words it cannot decode (unknown charset, bad encoding) are left as
// they were. The result is valid UTF-8.
func decodeWords(s string) string {
	if strings.Contains(s, "=?") {
		dec := mime.WordDecoder{CharsetReader: charsetReader}
		if d, err := dec.DecodeHeader(s); err == nil {
			s = d
		}
	}
	if !utf8.ValidString(s) {
		s = strings.ToValidUTF8(s, "\uFFFD")
	}
	return s
}
