package message

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/mailbag/mailbag/store/termsafe"
)

// maxFileNameBytes bounds a saved file name (most file systems allow 255).
const maxFileNameBytes = 200

// SafeFileName turns an attachment name from a message into a file name
// that is safe to create in a directory: the base name only (after the
// last '/' or '\'), no "..", no leading dot, no NUL or other control,
// bidi or invisible character, no characters Windows file systems refuse,
// valid UTF-8, at most 200 bytes (the extension kept). When nothing usable
// is left it returns "attachment-N".
func SafeFileName(name string, n int) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	var b strings.Builder
	for i, r := range name {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD"):
			b.WriteByte('_')
		case r < 0x20 || r == 0x7f || termsafe.Unsafe(r):
			// dropped: controls, bidi and invisible characters
		case r >= 0x2400 && r <= 0x2426: // control pictures from termsafe
			b.WriteByte('_')
		case strings.ContainsRune(`:*?"<>|`, r):
			b.WriteByte('_')
		default:
			b.WriteRune(r)
		}
	}
	s := strings.Trim(b.String(), " .\t")
	for strings.Contains(s, "..") {
		s = strings.ReplaceAll(s, "..", ".")
	}
	if len(s) > maxFileNameBytes {
		ext := filepath.Ext(s)
		if len(ext) > 16 || len(ext) >= len(s) {
			ext = ""
		}
		s = strings.TrimRight(cutUTF8(s[:len(s)-len(ext)], maxFileNameBytes-len(ext)), " .") + ext
	}
	if s == "" || s == "." || s == ".." || strings.Trim(s, "_") == "" {
		return "attachment-" + strconv.Itoa(n)
	}
	return s
}

// SaveAttachment re-reads the raw message, finds the part a describes and
// streams its decoded content into dir/SafeFileName(a.Name, a.Index). The
// file is written to a temporary name in dir and then renamed (mode 0600).
// An existing file is kept unless overwrite is set: the error then
// satisfies errors.Is(err, fs.ErrExist), so the caller can ask.
func SaveAttachment(raw io.Reader, a Attachment, dir string, overwrite bool) (path string, err error) {
	name := SafeFileName(a.Name, a.Index)
	path = filepath.Join(dir, name)
	if filepath.Dir(path) != filepath.Clean(dir) {
		return "", fmt.Errorf("save attachment %d: unsafe name %q", a.Index, name)
	}
	if !overwrite {
		if _, err := os.Lstat(path); err == nil {
			return path, fmt.Errorf("save attachment %d: %s: %w", a.Index, path, fs.ErrExist)
		}
	}
	body, cte, err := findPart(raw, a)
	if err != nil {
		return "", fmt.Errorf("save attachment %d: %w", a.Index, err)
	}
	dec, _, _ := transferDecoder(cte, body)

	tmp, err := os.CreateTemp(dir, ".mailbag-save-*")
	if err != nil {
		return "", fmt.Errorf("save attachment %d: %w", a.Index, err)
	}
	tmpName := tmp.Name()
	defer func() {
		if err != nil {
			os.Remove(tmpName)
		}
	}()
	if err = tmp.Chmod(0o600); err == nil {
		if _, err = io.Copy(tmp, dec); err == io.ErrUnexpectedEOF {
			err = nil // a truncated part saves what there is, as Parse listed it
		}
	}
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return "", fmt.Errorf("save attachment %d: %s: %w", a.Index, path, err)
	}
	if overwrite {
		err = os.Rename(tmpName, path)
	} else {
		// Link fails if path appeared meanwhile; rename would replace it.
		if err = os.Link(tmpName, path); err == nil {
			os.Remove(tmpName)
		} else if errors.Is(err, fs.ErrExist) {
			return path, fmt.Errorf("save attachment %d: %s: %w", a.Index, path, fs.ErrExist)
		} else if _, serr := os.Lstat(path); serr == nil {
			return path, fmt.Errorf("save attachment %d: %s: %w", a.Index, path, fs.ErrExist)
		} else {
			err = os.Rename(tmpName, path) // file system without hard links
		}
	}
	if err != nil {
		return "", fmt.Errorf("save attachment %d: %s: %w", a.Index, path, err)
	}
	if d, derr := os.Open(dir); derr == nil {
		d.Sync()
		d.Close()
	}
	return path, nil
}

// findPart walks raw to the part a.Part() names, the same way Parse
// numbered it, and returns the reader positioned at its body.
func findPart(raw io.Reader, a Attachment) (*bufio.Reader, string, error) {
	p := &parser{lim: (*Limits)(nil).withDefaults()}
	br := bufio.NewReaderSize(raw, 32<<10)
	h, err := p.readHeader(br, "")
	if err != nil && len(h.fields) == 0 {
		return nil, "", fmt.Errorf("read header: %w", err)
	}
	var segs []string
	if a.part != "" {
		segs = strings.Split(a.part, ".")
	}
	if len(segs) > 1000 {
		return nil, "", fmt.Errorf("part %q: bad part number", a.part)
	}
	for _, seg := range segs {
		idx, err := strconv.Atoi(seg)
		if err != nil || idx < 1 {
			return nil, "", fmt.Errorf("part %q: bad part number", a.part)
		}
		boundary := h.params["boundary"]
		if h.badType || !strings.HasPrefix(h.mediaType, "multipart/") || boundary == "" || len(boundary) > 200 {
			return nil, "", fmt.Errorf("part %q not found", a.part)
		}
		mr := newMultipartReader(br, boundary, 0)
		for i := 1; ; i++ {
			pb, err := mr.next()
			if err != nil {
				return nil, "", fmt.Errorf("part %q not found", a.part)
			}
			if i == idx {
				br = bufio.NewReaderSize(pb, 32<<10)
				if h, err = p.readHeader(br, a.part); err != nil && err != io.ErrUnexpectedEOF {
					return nil, "", fmt.Errorf("part %q: %w", a.part, err)
				}
				break
			}
		}
	}
	if a.Type != "" && termsafe.Line(h.attachmentType()) != a.Type {
		return nil, "", fmt.Errorf("part %q is %s, not %s: message changed?", a.part, h.attachmentType(), a.Type)
	}
	return br, h.cte, nil
}
