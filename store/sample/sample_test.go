package sample

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	_ "github.com/emersion/go-message/charset"
	"github.com/emersion/go-message/mail"

	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/message"
)

var now = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

type parsed struct {
	folder string
	entry  maildir.Entry
	sum    message.Summary
	files  []string // attachment file names
	types  []string // content types of the leaf parts
}

// parseAll reads every message of every folder, fully, with go-message.
func parseAll(t *testing.T, d *maildir.Dir) []parsed {
	t.Helper()
	folders, err := d.Folders()
	if err != nil {
		t.Fatal(err)
	}
	var out []parsed
	for _, name := range folders {
		f, err := d.Folder(name)
		if err != nil {
			t.Fatal(err)
		}
		list, err := f.List()
		if err != nil {
			t.Fatal(err)
		}
		for _, e := range list {
			raw, err := os.ReadFile(filepath.Join(f.Path(), e.Name))
			if err != nil {
				t.Fatal(err)
			}
			sum, err := message.ReadSummary(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s %s: ReadSummary: %v", name, e.Name, err)
			}
			p := parsed{folder: name, entry: e, sum: sum}
			mr, err := mail.CreateReader(bytes.NewReader(raw))
			if err != nil {
				t.Fatalf("%s %q: %v", name, sum.Subject, err)
			}
			for {
				part, err := mr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatalf("%s %q: NextPart: %v", name, sum.Subject, err)
				}
				if _, err := io.ReadAll(part.Body); err != nil {
					t.Fatalf("%s %q: body: %v", name, sum.Subject, err)
				}
				ct, _, _ := part.Header.(interface {
					ContentType() (string, map[string]string, error)
				}).ContentType()
				p.types = append(p.types, ct)
				if ah, ok := part.Header.(*mail.AttachmentHeader); ok {
					fn, _ := ah.Filename()
					p.files = append(p.files, fn)
				}
			}
			out = append(out, p)
		}
	}
	return out
}

func TestDemo(t *testing.T) {
	d, err := maildir.Open(filepath.Join(t.TempDir(), "Mail"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Demo(d, now); err != nil {
		t.Fatal(err)
	}
	msgs := parseAll(t, d)
	count := map[string]int{}
	ids := map[string]parsed{}
	for _, m := range msgs {
		count[m.folder]++
		ids[m.sum.MessageID] = m
	}
	if count["INBOX"] < 35 || count["Sent"] < 3 || count["Archive"] < 5 {
		t.Fatalf("folder counts = %v, want ~40 in INBOX and some in Sent and Archive", count)
	}
	var unread, flagged, depth4 int
	subjects := map[string]bool{}
	files := map[string]bool{}
	types := map[string]bool{}
	for _, m := range msgs {
		s := m.sum
		if s.Subject == "" || s.From == "" || s.MessageID == "" || s.Date.IsZero() {
			t.Fatalf("%s %s: incomplete summary %+v", m.folder, m.entry.Name, s)
		}
		if s.Date.After(now) || s.Date.Before(now.Add(-60*24*time.Hour)) {
			t.Fatalf("%q: date %v not in the weeks before %v", s.Subject, s.Date, now)
		}
		if s.InReplyTo != "" {
			if _, ok := ids[s.InReplyTo]; !ok {
				t.Fatalf("%q replies to unknown %q", s.Subject, s.InReplyTo)
			}
			if !strings.HasSuffix(s.References, s.InReplyTo) {
				t.Fatalf("%q: References %q do not end with In-Reply-To", s.Subject, s.References)
			}
		}
		if len(strings.Fields(s.References)) >= 3 {
			depth4++
		}
		if !m.entry.Flags.Has(maildir.FlagSeen) {
			unread++
		}
		if m.entry.Flags.Has(maildir.FlagFlagged) {
			flagged++
		}
		subjects[s.Subject] = true
		for _, f := range m.files {
			files[f] = true
		}
		types[strings.Join(m.types, ",")] = true
	}
	if unread < 3 || flagged < 2 || depth4 < 2 {
		t.Fatalf("unread %d, flagged %d, replies 4 levels deep %d; want some of each", unread, flagged, depth4)
	}
	for _, want := range []string{"会議の資料について", "Re: 会議の資料について", "Café crème à Montréal", "🎉 Party invitation – Saturday", "[go-nuts] fsync on a directory after rename?"} {
		if !subjects[want] {
			t.Fatalf("no message with subject %q", want)
		}
	}
	for _, want := range []string{"Q2-report-draft.pdf", "summit.png", "retro-notes.txt"} {
		if !files[want] {
			t.Fatalf("no attachment %q (have %v)", want, files)
		}
	}
	for _, want := range []string{"text/html", "text/plain,text/html"} {
		if !types[want] {
			t.Fatalf("no message whose parts are %q (have %v)", want, types)
		}
	}
	for _, m := range msgs {
		if m.sum.Subject == "会議の資料について" && !strings.HasPrefix(m.sum.From, "山田 太郎") {
			t.Fatalf("ISO-2022-JP From decoded as %q", m.sum.From)
		}
	}
}

func TestDemoDeterministic(t *testing.T) {
	a, b := demoMessages(), demoMessages()
	for i := range a {
		if !bytes.Equal(a[i].render(now), b[i].render(now)) {
			t.Fatalf("message %d differs between runs", i)
		}
	}
}

func TestBulk(t *testing.T) {
	contents := func() ([]string, []maildir.Entry) {
		d, err := maildir.Open(filepath.Join(t.TempDir(), "Mail"))
		if err != nil {
			t.Fatal(err)
		}
		f, err := d.Folder(maildir.Inbox)
		if err != nil {
			t.Fatal(err)
		}
		if err := Bulk(f, 300, 42, now); err != nil {
			t.Fatal(err)
		}
		list, err := f.List()
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range list {
			raw, err := os.ReadFile(filepath.Join(f.Path(), e.Name))
			if err != nil {
				t.Fatal(err)
			}
			if len(raw) < 1000 || len(raw) > 21*1024 {
				t.Fatalf("%s: %d bytes, want 1–20 KB", e.Name, len(raw))
			}
			out = append(out, string(e.Flags)+"\x00"+string(raw))
		}
		sort.Strings(out)
		return out, list
	}
	a, list := contents()
	b, _ := contents()
	if len(a) != 300 || strings.Join(a, "") != strings.Join(b, "") {
		t.Fatalf("Bulk not deterministic or wrong count (%d)", len(a))
	}
	var replies, unread int
	ids := map[string]bool{}
	for _, s := range a {
		sum, err := message.ReadSummary(strings.NewReader(s[strings.IndexByte(s, 0)+1:]))
		if err != nil || sum.Subject == "" || sum.MessageID == "" || sum.Date.IsZero() {
			t.Fatalf("Bulk message summary %+v, %v", sum, err)
		}
		ids[sum.MessageID] = true
		if sum.InReplyTo != "" {
			replies++
		}
	}
	for _, e := range list {
		if e.Flags == "" {
			unread++
		}
	}
	if replies < 50 || unread == 0 || len(ids) != 300 {
		t.Fatalf("replies %d, unread %d, distinct ids %d", replies, unread, len(ids))
	}
}
