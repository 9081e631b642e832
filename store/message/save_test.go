package message

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailbag/mailbag/store/termsafe"
)

var saveMsg = "Subject: files\r\n" +
	"Content-Type: multipart/mixed; boundary=outer\r\n\r\n" +
	"--outer\r\nContent-Type: multipart/alternative; boundary=alt\r\n\r\n" +
	"--alt\r\nContent-Type: text/plain\r\n\r\nhello\r\n--alt--\r\n" +
	"--outer\r\nContent-Type: application/octet-stream\r\n" +
	"Content-Disposition: attachment; filename=\"../../../../tmp/evil.bin\"\r\n" +
	"Content-Transfer-Encoding: base64\r\n\r\n" +
	"AAECAwQFBgcICQ==\r\n" +
	"--outer\r\nContent-Type: text/plain; name=\"notes.txt\"\r\nContent-Disposition: attachment\r\n" +
	"Content-Transfer-Encoding: quoted-printable\r\n\r\n" +
	"caf=C3=A9 " + strings.Repeat("x", 5000) + "=\r\nend\r\n" +
	"--outer--\r\n"

func TestSaveAttachment(t *testing.T) {
	m := mustParse(t, saveMsg, nil)
	if len(m.Attachments) != 2 {
		t.Fatalf("Parse(saveMsg) attachments = %+v, notes %q", m.Attachments, m.Notes)
	}
	dir := t.TempDir()
	tests := []struct {
		a        Attachment
		wantName string
		want     string
	}{
		{m.Attachments[0], "evil.bin", "\x00\x01\x02\x03\x04\x05\x06\x07\x08\x09"},
		{m.Attachments[1], "notes.txt", "café " + strings.Repeat("x", 5000) + "end"},
	}
	for _, tt := range tests {
		path, err := SaveAttachment(strings.NewReader(saveMsg), tt.a, dir, false)
		if err != nil {
			t.Fatalf("SaveAttachment(%+v) error %v", tt.a, err)
		}
		if path != filepath.Join(dir, tt.wantName) {
			t.Fatalf("SaveAttachment(%+v) path = %q, want %q in %q", tt.a, path, tt.wantName, dir)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != tt.want {
			t.Fatalf("SaveAttachment(%+v) wrote %.80q (%v), want %.80q", tt.a, got, err, tt.want)
		}
		if int64(len(got)) != tt.a.Size {
			t.Fatalf("saved %d bytes, Parse said Size %d", len(got), tt.a.Size)
		}
		fi, err := os.Stat(path)
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("SaveAttachment mode = %v (%v), want 0600", fi.Mode(), err)
		}
	}

	// No overwrite without asking; the old content stays.
	if err := os.WriteFile(filepath.Join(dir, "evil.bin"), []byte("mine"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := SaveAttachment(strings.NewReader(saveMsg), m.Attachments[0], dir, false)
	if !errors.Is(err, fs.ErrExist) {
		t.Fatalf("SaveAttachment(existing) error = %v, want fs.ErrExist", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "evil.bin")); string(b) != "mine" {
		t.Fatalf("SaveAttachment(existing, no overwrite) changed the file to %q", b)
	}
	if _, err := SaveAttachment(strings.NewReader(saveMsg), m.Attachments[0], dir, true); err != nil {
		t.Fatalf("SaveAttachment(overwrite) error %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "evil.bin")); string(b) != tests[0].want {
		t.Fatalf("SaveAttachment(overwrite) content %q", b)
	}

	// Nothing was written outside dir, and no temporary files are left.
	entries, _ := os.ReadDir(dir)
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	if strings.Join(names, ",") != "evil.bin,notes.txt" {
		t.Fatalf("dir holds %q", names)
	}

	// A message that changed under the locator is refused.
	other := strings.Replace(saveMsg, "Content-Type: application/octet-stream", "Content-Type: image/png", 1)
	if _, err := SaveAttachment(strings.NewReader(other), m.Attachments[0], t.TempDir(), false); err == nil {
		t.Fatalf("SaveAttachment(changed message) error nil")
	}
}

func TestSaveAttachmentTopLevelAndRFC822(t *testing.T) {
	raw := "Content-Type: application/pdf\r\nContent-Disposition: attachment; filename=\"\u202e.pdf\"\r\n\r\n%PDF-1.4\r\n"
	m := mustParse(t, raw, nil)
	path, err := SaveAttachment(strings.NewReader(raw), m.Attachments[0], t.TempDir(), false)
	if err != nil || filepath.Base(path) != "_U+202E_.pdf" {
		t.Fatalf("SaveAttachment(top level) = %q, %v", path, err)
	}
	b, _ := os.ReadFile(path)
	if string(b) != "%PDF-1.4\r\n" {
		t.Fatalf("saved %q", b)
	}
}

func TestRender(t *testing.T) {
	m := &Message{
		Summary: Summary{From: "A \x1b[31m<a@b>", Subject: "s\u202e"},
		Text:    "short\n\tindented\n" + strings.Repeat("word ", 30) + "\n" + strings.Repeat("日本", 30),
		Attachments: []Attachment{
			{Name: "x\x07.pdf", Type: "application/pdf", Size: 1536},
			{Type: "image/png", Size: 3 << 20},
		},
		Notes: []string{"part 2: bad\nnote"},
	}
	out := Render(m, 40)
	for _, line := range strings.Split(out, "\n") {
		if w := termsafe.Width(line); w > 40 {
			t.Fatalf("Render line %q is %d cells wide, want <= 40", line, w)
		}
	}
	if err := termsafe.Check(out, false); err != nil {
		t.Fatalf("Render output unsafe: %v\n%s", err, out)
	}
	for _, want := range []string{
		"From: A ␛[31m<a@b>\n", "Subject: s<U+202E>\n\nshort\n        indented\nword word",
		"日本日本", "Attachments:\n  1. x␇.pdf (application/pdf, 1.5 KiB)\n  2. (no name) (image/png, 3.0 MiB)\n",
		"Notes:\n  - part 2: bad note\n",
	} {
		if !strings.Contains(out, want) {
			t.Fatalf("Render = %q, want it to contain %q", out, want)
		}
	}
	if Render(m, 0) == out {
		t.Fatalf("Render(width 0) wrapped like width 40")
	}
}
