package maildir

import (
	"errors"
	"io"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

func TestWriteFile(t *testing.T) {
	old := syscall.Umask(0)
	defer syscall.Umask(old)
	dir := t.TempDir()
	path := filepath.Join(dir, "state")
	for _, content := range []string{"first", "second, longer than the first"} {
		if err := WriteFile(path, func(w io.Writer) error { _, err := io.WriteString(w, content); return err }); err != nil {
			t.Fatalf("WriteFile(%q) = %v", content, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("after WriteFile(%q) the file holds %q, %v", content, got, err)
		}
		if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
			t.Fatalf("mode %v, want 0600 under umask 0", st.Mode().Perm())
		}
	}
	boom := errors.New("boom")
	if err := WriteFile(path, func(w io.Writer) error { io.WriteString(w, "half"); return boom }); !errors.Is(err, boom) {
		t.Fatalf("failing writer: WriteFile = %v, want boom", err)
	}
	if got, _ := os.ReadFile(path); string(got) != "second, longer than the first" {
		t.Fatalf("a failed write changed the file to %q", got)
	}
	// A crash leaves a temporary file; CleanTemps removes it, nothing else.
	os.WriteFile(filepath.Join(dir, ".state.tmp-123"), []byte("x"), 0o600)
	CleanTemps(path)
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 || ents[0].Name() != "state" {
		t.Fatalf("after CleanTemps the directory holds %v, want only state", ents)
	}
}
