package message

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"mime"
	"slices"
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
		keep := h.want == nil || h.want(trimBlanksRight(line[:colon]))
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
		name = trimBlanksRight(h.field[:colon])
		value = trimBlanks(h.field[colon+1:])
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
	b = trimBlanksRight(b)
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

// appendWords appends decodeWords(string(s)) to dst, for s of valid UTF-8.
// It follows mime.WordDecoder.DecodeHeader step by step (RFC 2047 §6.2:
// white space between adjacent encoded words is dropped; a word that does
// not decode is kept as it is) and converts the charsets that the
// decoder handles itself (UTF-8, ISO-8859-1, US-ASCII) without allocating,
// using *tmp as scratch. ok is false, and dst returned unchanged, when a
// word names any other charset: then only decodeWords gives the result.
func appendWords(dst, s []byte, tmp *[]byte) (out []byte, ok bool) {
	i := bytes.Index(s, []byte("=?"))
	if i < 0 {
		return append(dst, s...), true
	}
	mark := len(dst)
	dst = append(dst, s[:i]...)
	h := s[i:]
	betweenWords := false
	for {
		start := bytes.Index(h, []byte("=?"))
		if start < 0 {
			break
		}
		cur := start + 2
		j := bytes.IndexByte(h[cur:], '?')
		if j < 0 {
			break
		}
		cs := h[cur : cur+j]
		cur += j + 1
		if len(h) < cur+len("Q??=") {
			break
		}
		enc := h[cur]
		cur++
		if h[cur] != '?' {
			break
		}
		cur++
		k := bytes.Index(h[cur:], []byte("?="))
		if k < 0 {
			break
		}
		text := h[cur : cur+k]
		end := cur + k + 2
		content, err := decodeWordText(enc, text, tmp)
		if err != nil {
			betweenWords = false
			dst = append(dst, h[:end]...)
			h = h[end:]
			continue
		}
		var conv int
		switch {
		case bytes.EqualFold(cs, []byte("utf-8")):
			conv = 1
		case bytes.EqualFold(cs, []byte("iso-8859-1")):
			conv = 2
		case bytes.EqualFold(cs, []byte("us-ascii")):
			conv = 3
		default:
			return dst[:mark], false
		}
		if start > 0 && (!betweenWords || hasNonWhitespace(h[:start])) {
			dst = append(dst, h[:start]...)
		}
		switch conv {
		case 1:
			dst = append(dst, content...)
		case 2:
			for _, c := range content {
				dst = utf8.AppendRune(dst, rune(c))
			}
		case 3:
			for _, c := range content {
				if c >= utf8.RuneSelf {
					dst = append(dst, "\uFFFD"...)
				} else {
					dst = append(dst, c)
				}
			}
		}
		h = h[end:]
		betweenWords = true
	}
	dst = append(dst, h...)
	if !utf8.Valid(dst[mark:]) {
		dst = append(dst[:mark], bytes.ToValidUTF8(dst[mark:], []byte("\uFFFD"))...)
	}
	return dst, true
}

// errBadWord is any encoded word that does not decode.
var errBadWord = errors.New("message: invalid RFC 2047 encoded word")

// decodeWordText decodes the encoded text of one RFC 2047 §4 word into
// *tmp, as mime's decoder does: strict base64 (B) or Q (§4.2, "_" for
// space, lower-case hex accepted).
func decodeWordText(enc byte, text []byte, tmp *[]byte) ([]byte, error) {
	switch enc {
	case 'B', 'b':
		buf := slices.Grow((*tmp)[:0], base64.StdEncoding.DecodedLen(len(text)))
		*tmp = buf
		n, err := base64.StdEncoding.Decode(buf[:cap(buf)], text)
		if err != nil {
			return nil, err
		}
		return buf[:n], nil
	case 'Q', 'q':
		buf := (*tmp)[:0]
		for i := 0; i < len(text); i++ {
			switch c := text[i]; {
			case c == '_':
				buf = append(buf, ' ')
			case c == '=':
				if i+2 >= len(text) || !isHex(text[i+1]) || !isHex(text[i+2]) {
					return nil, errBadWord
				}
				buf = append(buf, unhex(text[i+1])<<4|unhex(text[i+2]))
				i += 2
			case c >= ' ' && c <= '~' || c == '\n' || c == '\r' || c == '\t':
				buf = append(buf, c)
			default:
				return nil, errBadWord
			}
		}
		*tmp = buf
		return buf, nil
	}
	return nil, errBadWord
}

// hasNonWhitespace reports whether b holds anything but the linear white
// space that may separate encoded words.
func hasNonWhitespace(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\n', '\r':
		default:
			return true
		}
	}
	return false
}
