package account

import (
	"bufio"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/pop3"
)

// POP3StateFile is the name of the file, in the root of a POP3 account's
// maildir, that records which unique-ids (RFC 1939 §7) were downloaded and
// under which maildir key.
const POP3StateFile = "mailbag-pop3-state"

// pop3StateMagic starts the file; the number is the format version.
const (
	pop3StateMagic   = "mailbag-pop3-state"
	pop3StateVersion = 1
	maxStateFile     = 256 << 20 // far above 1,000,000 entries
)

// uidStatus says how far a download got.
type uidStatus byte

const (
	// uidPending: the message was streamed into tmp/ under Key and a
	// Batch commit was about to start. Whether it landed is decided by
	// looking for Key in the maildir.
	uidPending uidStatus = 'P'
	// uidDone: the message is durably in the maildir under Key (or was,
	// before the user moved or deleted it).
	uidDone uidStatus = 'D'
)

// uidEntry is what the state knows of one unique-id.
type uidEntry struct {
	Status  uidStatus
	Fetched time.Time // when it was downloaded (for delete_after_days)
	Key     string    // maildir key
}

// pop3State is the durable download record of one POP3 account. It is
// written whole, atomically (temporary file, fsync, rename, directory
// fsync), and ends with a SHA-256 of everything before it, so a torn or
// edited file is detected rather than trusted.
//
// The format, one record per line:
//
//	mailbag-pop3-state 1
//	server "HOST" "USER"
//	reconcile                     (only while rebuilding, see POP3)
//	D 1712345678 UID KEY
//	P 1712345678 UID KEY
//	end COUNT SHA256HEX
type pop3State struct {
	path   string
	Server string // host of the server the ids came from
	User   string
	// Reconcile marks a state rebuilt by content whose sync has not yet
	// completed: the next sync goes on matching by content.
	Reconcile bool
	UIDs      map[string]uidEntry
}

// errCorruptState is wrapped by loadPOP3State for a file that exists but
// cannot be trusted.
var errCorruptState = errors.New("corrupt state file")

// loadPOP3State reads the state in root. A missing file gives an empty
// state and missing = true; an unreadable or corrupt one an error
// wrapping errCorruptState.
func loadPOP3State(root string) (st *pop3State, missing bool, err error) {
	path := filepath.Join(root, POP3StateFile)
	st = &pop3State{path: path, UIDs: map[string]uidEntry{}}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return st, true, nil
	}
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxStateFile+1))
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", path, err)
	}
	if len(data) > maxStateFile {
		return nil, false, fmt.Errorf("%s: %w: larger than %d bytes", path, errCorruptState, maxStateFile)
	}
	if err := st.parse(data); err != nil {
		return nil, false, fmt.Errorf("%s: %w: %v", path, errCorruptState, err)
	}
	return st, false, nil
}

func (st *pop3State) parse(data []byte) error {
	i := bytes.LastIndex(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	if i < 0 || !bytes.HasSuffix(data, []byte("\n")) {
		return errors.New("no end line (truncated)")
	}
	body, trailer := data[:i+1], strings.TrimSuffix(string(data[i+1:]), "\n")
	var count int
	var sum string
	if n, err := fmt.Sscanf(trailer, "end %d %s", &count, &sum); n != 2 || err != nil {
		return errors.New("no end line (truncated)")
	}
	h := sha256.Sum256(body)
	if hex.EncodeToString(h[:]) != sum {
		return errors.New("checksum mismatch")
	}
	sc := bufio.NewScanner(bytes.NewReader(body))
	sc.Buffer(make([]byte, 4096), 64<<10)
	line := 0
	for sc.Scan() {
		line++
		text := sc.Text()
		switch {
		case line == 1:
			var v int
			if n, err := fmt.Sscanf(text, pop3StateMagic+" %d", &v); n != 1 || err != nil {
				return fmt.Errorf("line 1: not a %s file", pop3StateMagic)
			}
			if v != pop3StateVersion {
				return fmt.Errorf("format version %d, this mailbag reads %d", v, pop3StateVersion)
			}
		case text == "reconcile":
			st.Reconcile = true
		case strings.HasPrefix(text, "server "):
			host, user, err := parseServerLine(text[len("server "):])
			if err != nil {
				return fmt.Errorf("line %d: %v", line, err)
			}
			st.Server, st.User = host, user
		default:
			uid, e, err := parseUIDLine(text)
			if err != nil {
				return fmt.Errorf("line %d: %v", line, err)
			}
			if _, dup := st.UIDs[uid]; dup {
				return fmt.Errorf("line %d: unique-id %q twice", line, uid)
			}
			st.UIDs[uid] = e
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if line == 0 {
		return errors.New("empty")
	}
	if count != len(st.UIDs) {
		return fmt.Errorf("end line counts %d entries, found %d", count, len(st.UIDs))
	}
	return nil
}

func parseServerLine(s string) (host, user string, err error) {
	host, rest, err := unquotePrefix(s)
	if err != nil || !strings.HasPrefix(rest, " ") {
		return "", "", errors.New("bad server line")
	}
	user, rest, err = unquotePrefix(rest[1:])
	if err != nil || rest != "" {
		return "", "", errors.New("bad server line")
	}
	return host, user, nil
}

func unquotePrefix(s string) (string, string, error) {
	q, err := strconv.QuotedPrefix(s)
	if err != nil {
		return "", "", err
	}
	v, err := strconv.Unquote(q)
	return v, s[len(q):], err
}

// parseUIDLine reads "S SECONDS UID KEY".
func parseUIDLine(s string) (string, uidEntry, error) {
	f := strings.SplitN(s, " ", 4)
	if len(f) != 4 || len(f[0]) != 1 {
		return "", uidEntry{}, errors.New("want STATUS SECONDS UID KEY")
	}
	var e uidEntry
	switch uidStatus(f[0][0]) {
	case uidPending, uidDone:
		e.Status = uidStatus(f[0][0])
	default:
		return "", uidEntry{}, fmt.Errorf("unknown status %q", f[0])
	}
	secs, err := strconv.ParseInt(f[1], 10, 64)
	if err != nil || secs < 0 {
		return "", uidEntry{}, fmt.Errorf("bad time %q", f[1])
	}
	e.Fetched = time.Unix(secs, 0)
	if !pop3.ValidUID(f[2]) {
		return "", uidEntry{}, fmt.Errorf("invalid unique-id %q", f[2])
	}
	if !validStateKey(f[3]) {
		return "", uidEntry{}, fmt.Errorf("invalid maildir key %q", f[3])
	}
	e.Key = f[3]
	return f[2], e, nil
}

// validStateKey accepts what maildir makes as a key: no '/', ':', NUL,
// control characters, no leading '.'.
func validStateKey(k string) bool {
	if k == "" || k[0] == '.' || len(k) > 255 {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c < 0x20 || c == 0x7f || c == '/' || c == ':' {
			return false
		}
	}
	return true
}

// encode renders the state in its file format.
func (st *pop3State) encode() []byte {
	uids := make([]string, 0, len(st.UIDs))
	for u := range st.UIDs {
		uids = append(uids, u)
	}
	sort.Strings(uids)
	var b bytes.Buffer
	b.Grow(64 + len(uids)*96)
	fmt.Fprintf(&b, "%s %d\n", pop3StateMagic, pop3StateVersion)
	fmt.Fprintf(&b, "server %s %s\n", strconv.Quote(st.Server), strconv.Quote(st.User))
	if st.Reconcile {
		b.WriteString("reconcile\n")
	}
	for _, u := range uids {
		e := st.UIDs[u]
		b.WriteByte(byte(e.Status))
		b.WriteByte(' ')
		b.WriteString(strconv.FormatInt(max(e.Fetched.Unix(), 0), 10))
		b.WriteByte(' ')
		b.WriteString(u)
		b.WriteByte(' ')
		b.WriteString(e.Key)
		b.WriteByte('\n')
	}
	h := sha256.Sum256(b.Bytes())
	fmt.Fprintf(&b, "end %d %s\n", len(uids), hex.EncodeToString(h[:]))
	return b.Bytes()
}

// save replaces the file atomically and durably (maildir.WriteFile): a
// crash at any instant leaves either the old or the new file, never a mix.
func (st *pop3State) save() error {
	if err := writeStateFile(st.path, st.encode()); err != nil {
		return fmt.Errorf("save state: %w", err)
	}
	return nil
}

// cleanStateTemps removes temporary state files a crash left behind.
func cleanStateTemps(root string) { maildir.CleanTemps(filepath.Join(root, POP3StateFile)) }
