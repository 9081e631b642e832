package account

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

func testState(dir string) *pop3State {
	return &pop3State{
		path:   filepath.Join(dir, POP3StateFile),
		Server: "pop.example.test",
		User:   "alice \"the\" user",
		UIDs: map[string]uidEntry{
			"AAA-1":      {Status: uidDone, Fetched: time.Unix(1712345678, 0), Key: "1712345678.M1P2Q3R4.host name"},
			"~!#%printy": {Status: uidPending, Fetched: time.Unix(1, 0), Key: "k2"},
		},
	}
}

func TestPOP3StateRoundTrip(t *testing.T) {
	dir := t.TempDir()
	for _, reconcile := range []bool{false, true} {
		st := testState(dir)
		st.Reconcile = reconcile
		if err := st.save(); err != nil {
			t.Fatal(err)
		}
		got, missing, err := loadPOP3State(dir)
		if err != nil || missing {
			t.Fatalf("loadPOP3State = missing %v, %v", missing, err)
		}
		if got.Server != st.Server || got.User != st.User || got.Reconcile != reconcile || !reflect.DeepEqual(got.UIDs, st.UIDs) {
			t.Fatalf("loadPOP3State = %+v, want %+v", got, st)
		}
		fi, err := os.Stat(st.path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("state file mode = %v, %v; want 0600", fi.Mode().Perm(), err)
		}
	}
	if matches, _ := filepath.Glob(filepath.Join(dir, ".*tmp*")); len(matches) != 0 {
		t.Fatalf("save left temporary files: %q", matches)
	}
}

func TestPOP3StateMissing(t *testing.T) {
	st, missing, err := loadPOP3State(t.TempDir())
	if err != nil || !missing || len(st.UIDs) != 0 {
		t.Fatalf("loadPOP3State(empty dir) = %+v, %v, %v; want an empty state, missing", st, missing, err)
	}
}

func TestPOP3StateCorrupt(t *testing.T) {
	good := string(testState("").encode())
	body := good[:strings.LastIndex(good[:len(good)-1], "\n")+1]
	// resum gives a hand-edited body a valid end line, so that the
	// content itself is what is checked.
	resum := func(b string, count int) string {
		sum := sha256.Sum256([]byte(b))
		return fmt.Sprintf("%send %d %s\n", b, count, hex.EncodeToString(sum[:]))
	}
	for _, c := range []struct {
		name, data string
	}{
		{"empty", ""},
		{"truncated", good[:len(good)/2]},
		{"no trailing newline", good[:len(good)-1]},
		{"flipped byte", strings.Replace(good, "AAA-1", "AAB-1", 1)},
		{"no end line", body},
		{"bad end line", body + "end x y\n"},
		{"wrong count", resum(body, 3)},
		{"other magic", resum(strings.Replace(body, pop3StateMagic, "something-else", 1), 2)},
		{"future version", resum(strings.Replace(body, pop3StateMagic+" 1", pop3StateMagic+" 2", 1), 2)},
		{"bad status", resum(strings.Replace(body, "D 1712345678", "X 1712345678", 1), 2)},
		{"bad time", resum(strings.Replace(body, "D 1712345678", "D -5", 1), 2)},
		{"invalid uid", resum(body+"D 1 "+strings.Repeat("u", 71)+" key\n", 3)},
		{"invalid key", resum(body+"D 1 uid3 ../x/y\n", 3)},
		{"duplicate uid", resum(body+"D 1 AAA-1 key\n", 3)},
		{"short line", resum(body+"D 1\n", 3)},
		{"bad server line", resum(strings.Replace(body, `server "pop.example.test"`, `server pop`, 1), 2)},
	} {
		dir := t.TempDir()
		if err := os.WriteFile(filepath.Join(dir, POP3StateFile), []byte(c.data), 0o600); err != nil {
			t.Fatal(err)
		}
		_, _, err := loadPOP3State(dir)
		if !errors.Is(err, errCorruptState) {
			t.Fatalf("%s: loadPOP3State = %v, want errCorruptState", c.name, err)
		}
	}
	if resum(body, 2) != good {
		t.Fatalf("resum does not rebuild the original file")
	}
}

func FuzzPOP3State(f *testing.F) {
	f.Add(testState("").encode())
	f.Add([]byte("mailbag-pop3-state 1\nend 0 e3b0\n"))
	f.Add([]byte(""))
	f.Fuzz(func(t *testing.T, data []byte) {
		st := &pop3State{UIDs: map[string]uidEntry{}}
		if err := st.parse(data); err != nil {
			return
		}
		// Whatever parses must encode and parse back to the same state.
		again := &pop3State{UIDs: map[string]uidEntry{}}
		if err := again.parse(st.encode()); err != nil {
			t.Fatalf("re-parse of an accepted state: %v", err)
		}
		if again.Server != st.Server || again.User != st.User || !reflect.DeepEqual(again.UIDs, st.UIDs) {
			t.Fatalf("round trip changed the state: %+v vs %+v", again, st)
		}
	})
}
