package account

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"golang.org/x/net/idna"
)

// draftBadRune reports characters that may not appear in a header value:
// C0 controls other than tab (CR and LF above all), DEL and C1 controls.
func draftBadRune(r rune) bool {
	return (r < 0x20 && r != '\t') || r == 0x7f || (r >= 0x80 && r < 0xa0)
}

// draftCheckValue rejects a header value that could break out of its field.
func draftCheckValue(field, v string) error {
	if i := strings.IndexFunc(v, draftBadRune); i >= 0 {
		return fmt.Errorf("%s: control character %U not allowed", field, []rune(v[i:])[0])
	}
	if !utf8.ValidString(v) {
		return fmt.Errorf("%s: not valid UTF-8", field)
	}
	return nil
}

// draftOneLine folds a value from elsewhere (a replied-to message) into
// one clean line: every control character and run of white space becomes
// one space.
func draftOneLine(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	s = strings.Map(func(r rune) rune {
		if draftBadRune(r) || r == '\t' {
			return ' '
		}
		return r
	}, s)
	return strings.Join(strings.Fields(s), " ")
}

func draftClip(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 80 {
		s = strings.ToValidUTF8(s[:80], "") + "…"
	}
	return s
}

// draftParseList parses an RFC 5322 §3.4 address list, decoding RFC 2047
// display names; UTF-8 display names are accepted as typed.
func draftParseList(s string) ([]*mail.Address, error) {
	p := mail.AddressParser{WordDecoder: &mime.WordDecoder{}}
	list, err := p.ParseList(s)
	if err != nil {
		return nil, fmt.Errorf("address list %q: %v", draftClip(s), err)
	}
	return list, nil
}

// draftAddrs parses the elements of an address field, each one address
// or a list of them, and checks every address.
func draftAddrs(field string, elems []string) ([]*mail.Address, error) {
	var out []*mail.Address
	for _, e := range elems {
		if err := draftCheckValue(field, e); err != nil {
			return nil, err
		}
		if strings.TrimSpace(e) == "" {
			continue
		}
		list, err := draftParseList(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", field, err)
		}
		for _, a := range list {
			if err := draftCheckValue(field, a.Name); err != nil {
				return nil, err
			}
			if strings.ContainsAny(a.Address, " \t<>") || !strings.Contains(a.Address, "@") {
				return nil, fmt.Errorf("%s: invalid address %q", field, a.Address)
			}
			out = append(out, a)
		}
	}
	return out, nil
}

// draftEditAddr formats an address for the editor: the display name as
// typed (UTF-8, quoted only when RFC 5322 specials make it necessary).
func draftEditAddr(a *mail.Address) string {
	name := draftOneLine(a.Name)
	if name == "" || name == a.Address {
		return a.Address
	}
	if strings.ContainsAny(name, `()<>[]:;@\,."`) {
		name = `"` + strings.ReplaceAll(strings.ReplaceAll(name, `\`, `\\`), `"`, `\"`) + `"`
	}
	return name + " <" + a.Address + ">"
}

// draftEditList joins an address field for the editor. Elements that do
// not parse are shown cleaned, so the user sees and fixes them.
func draftEditList(elems []string) string {
	var parts []string
	for _, e := range elems {
		if list, err := draftParseList(e); err == nil {
			for _, a := range list {
				parts = append(parts, draftEditAddr(a))
			}
		} else if s := draftOneLine(e); s != "" {
			parts = append(parts, s)
		}
	}
	return strings.Join(parts, ", ")
}

func draftExpandHome(p string) string {
	if p == "~" || strings.HasPrefix(p, "~/") {
		if home, err := os.UserHomeDir(); err == nil {
			return filepath.Join(home, p[1:])
		}
	}
	return p
}

// draftValidMsgID checks a message id (without brackets) as RFC 5322
// §3.6.4 id-left "@" id-right, leniently: printable ASCII without white
// space, brackets or quotes, one "@".
func draftValidMsgID(id string) bool {
	if id == "" || len(id) > 998 || strings.Count(id, "@") != 1 {
		return false
	}
	for i := 0; i < len(id); i++ {
		c := id[i]
		if c <= ' ' || c >= 0x7f || c == '<' || c == '>' || c == '"' || c == '\\' {
			return false
		}
	}
	return true
}

// draftMessageID makes a random Message-ID (RFC 5322 §3.6.4) on domain,
// or on the domain of from: time in base 36, 128 random bits.
func draftMessageID(now time.Time, domain, from string) string {
	if domain == "" {
		if i := strings.LastIndexByte(from, '@'); i >= 0 {
			domain = from[i+1:]
		}
	}
	domain = strings.ToLower(strings.Trim(domain, "[]. "))
	if a, err := idna.Lookup.ToASCII(domain); err == nil {
		domain = a
	}
	ok := domain != ""
	for i := 0; i < len(domain); i++ {
		c := domain[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '.' || c == '-') {
			ok = false
		}
	}
	if !ok {
		domain = "mailbag.invalid"
	}
	var r [16]byte
	rand.Read(r[:])
	return strconv.FormatInt(now.UnixNano(), 36) + "." + hex.EncodeToString(r[:]) + "@" + domain
}

// draftTextEncoding picks the Content-Transfer-Encoding of the text part
// (RFC 2045 §6, RFC 6152): 7bit or 8bit only when every line fits in 998
// bytes and there are no controls other than tab.
func draftTextEncoding(body string, eightBit bool) string {
	ascii, plain := true, true
	line := 0
	for i := 0; i < len(body); i++ {
		c := body[i]
		switch {
		case c == '\n':
			line = 0
			continue
		case c >= 0x80:
			ascii = false
		case (c < 0x20 && c != '\t') || c == 0x7f:
			plain = false
		}
		line++
		if line > draftMaxLine {
			plain = false
		}
	}
	switch {
	case plain && ascii:
		return "7bit"
	case plain && eightBit:
		return "8bit"
	}
	return "quoted-printable"
}

// draftWriteText writes the LF-separated body; 7bit and 8bit get CRLF
// here, the quoted-printable encoder makes its own.
func draftWriteText(w io.Writer, body, enc string) error {
	if enc == "quoted-printable" {
		_, err := io.WriteString(w, body)
		return err
	}
	_, err := io.WriteString(w, strings.ReplaceAll(body, "\n", "\r\n"))
	return err
}

// draftAttachment is an attachment opened for writing.
type draftAttachment struct {
	name, mediaType string
	head            []byte // first bytes, read for detection
	r               io.Reader
	f               *os.File
	data            []byte // whole content when small or in memory (message/rfc822)
}

func (a *draftAttachment) close() {
	if a.f != nil {
		a.f.Close()
	}
}

// encoding is base64, except for a message/rfc822 that can travel as it
// is (RFC 2046 §5.2.1 forbids encoding it, RFC 6532 §3.5 relaxes that).
func (a *draftAttachment) encoding(eightBit bool) string {
	if a.mediaType == "message/rfc822" && a.data != nil {
		switch draftTextEncoding(strings.ReplaceAll(string(a.data), "\r\n", "\n"), eightBit) {
		case "7bit":
			return "7bit"
		case "8bit":
			return "8bit"
		}
	}
	return "base64"
}

func (a *draftAttachment) write(w io.Writer) error {
	if a.mediaType == "message/rfc822" && a.data != nil {
		// 7bit/8bit need CRLF; base64 carries the bytes unchanged.
		data := a.data
		if !bytes.Contains(data, []byte("\r\n")) {
			data = bytes.ReplaceAll(data, []byte("\n"), []byte("\r\n"))
		}
		_, err := w.Write(data)
		return err
	}
	if a.data != nil {
		_, err := w.Write(a.data)
		return err
	}
	if _, err := w.Write(a.head); err != nil {
		return err
	}
	_, err := io.Copy(w, a.r)
	return err
}

// draftOpenAttachments opens every attachment and detects its type, so
// a missing file is found before anything is written.
func draftOpenAttachments(list []DraftAttachment) (out []*draftAttachment, err error) {
	defer func() {
		if err != nil {
			for _, a := range out {
				a.close()
			}
			out = nil
		}
	}()
	var total int64
	for _, da := range list {
		a := &draftAttachment{name: da.Name}
		if a.name == "" {
			a.name = filepath.Base(da.Path)
		}
		a.name = draftFileName(a.name)
		if err := draftCheckValue("attachment name", a.name); err != nil {
			return out, err
		}
		if da.Path == "" {
			a.data = da.Data
			if a.data == nil {
				a.data = []byte{}
			}
			a.head = a.data[:min(512, len(a.data))]
			total += int64(len(a.data))
		} else {
			f, err := os.Open(da.Path)
			if err != nil {
				return out, fmt.Errorf("attachment: %w", err)
			}
			a.f = f
			out = append(out, a)
			st, err := f.Stat()
			if err != nil {
				return out, fmt.Errorf("attachment: %w", err)
			}
			if !st.Mode().IsRegular() {
				return out, fmt.Errorf("attachment %s: not a regular file", da.Path)
			}
			total += st.Size()
			buf := make([]byte, 512)
			n, err := io.ReadFull(f, buf)
			if err != nil && err != io.EOF && !errors.Is(err, io.ErrUnexpectedEOF) {
				return out, fmt.Errorf("attachment %s: %w", da.Path, err)
			}
			a.head = buf[:n]
			a.r = io.LimitReader(f, draftMaxAttachments)
		}
		if total > draftMaxAttachments {
			return out, fmt.Errorf("attachments are larger than %d MiB together", draftMaxAttachments>>20)
		}
		a.mediaType = draftMediaType(da.ContentType, a.name, a.head)
		if da.Path == "" {
			out = append(out, a)
		}
	}
	return out, nil
}

// draftMediaType is the attachment's type without parameters: the one
// given, else by extension (mime.TypeByExtension), else by content
// (http.DetectContentType, the WHATWG sniffing rules).
func draftMediaType(given, name string, head []byte) string {
	for _, t := range []string{given, mime.TypeByExtension(strings.ToLower(filepath.Ext(name))), http.DetectContentType(head)} {
		if t == "" {
			continue
		}
		if mt, _, err := mime.ParseMediaType(t); err == nil && strings.Count(mt, "/") == 1 && !strings.HasPrefix(mt, "multipart/") {
			return mt
		}
	}
	return "application/octet-stream"
}

// draftFileName cleans a file name for Content-Disposition: no
// directories, no controls, at most draftMaxNameBytes bytes (the
// extension kept).
func draftFileName(name string) string {
	name = strings.Map(func(r rune) rune {
		if draftBadRune(r) || r == '\t' || r == '/' || r == '\\' {
			return '_'
		}
		return r
	}, strings.ToValidUTF8(name, "_"))
	name = strings.TrimSpace(name)
	if name == "" || name == "." || name == ".." {
		return "attachment"
	}
	if len(name) > draftMaxNameBytes {
		ext := filepath.Ext(name)
		if len(ext) > 20 {
			ext = ""
		}
		name = strings.ToValidUTF8(name[:draftMaxNameBytes-len(ext)], "") + ext
	}
	return name
}
