package ui

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/charmbracelet/x/exp/teatest"
	"github.com/emersion/go-smtp"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/message"
	"github.com/mailbag/mailbag/transport/mailtest"
)

// The editor of these tests is the test binary itself, run again with
// testEditorEnv naming a script: a JSON array of rounds, one per editor
// run, each a list of edits. Each run saves the file as it found it
// (SCRIPT.seen.N) and the modes of the file and its directory
// (SCRIPT.mode.N).
const testEditorEnv = "MAILBAG_TEST_EDITOR"

type editOp struct {
	Op    string `json:"op"` // keep, empty, raw, header, body, fail
	Name  string `json:"name,omitempty"`
	Value string `json:"value,omitempty"`
}

func runTestEditor(script string, args []string) int {
	if len(args) != 1 {
		fmt.Fprintln(os.Stderr, "test editor: want one file, got", args)
		return 2
	}
	path := args[0]
	fail := func(err error) int {
		fmt.Fprintln(os.Stderr, "test editor:", err)
		return 2
	}
	n := 0
	if b, err := os.ReadFile(script + ".n"); err == nil {
		n, _ = strconv.Atoi(string(b))
	}
	if err := os.WriteFile(script+".n", []byte(strconv.Itoa(n+1)), 0o600); err != nil {
		return fail(err)
	}
	var rounds [][]editOp
	b, err := os.ReadFile(script)
	if err != nil {
		return fail(err)
	}
	if err := json.Unmarshal(b, &rounds); err != nil {
		return fail(err)
	}
	if n >= len(rounds) {
		return fail(fmt.Errorf("run %d, script has %d rounds", n, len(rounds)))
	}
	text, err := os.ReadFile(path)
	if err != nil {
		return fail(err)
	}
	fst, err := os.Stat(path)
	if err != nil {
		return fail(err)
	}
	dst, err := os.Stat(filepath.Dir(path))
	if err != nil {
		return fail(err)
	}
	os.WriteFile(fmt.Sprintf("%s.seen.%d", script, n), text, 0o600)
	os.WriteFile(fmt.Sprintf("%s.mode.%d", script, n), fmt.Appendf(nil, "%o %o %s", fst.Mode().Perm(), dst.Mode().Perm(), path), 0o600)
	s := string(text)
	for _, op := range rounds[n] {
		switch op.Op {
		case "keep":
		case "fail":
			return 1
		case "empty":
			s = ""
		case "raw":
			s = op.Value
		case "header":
			s = setTemplateHeader(s, op.Name, op.Value)
		case "body":
			head, body, _ := strings.Cut(s, "\n\n")
			s = head + "\n\n" + op.Value + body
		default:
			return fail(fmt.Errorf("unknown op %q", op.Op))
		}
	}
	if s != string(text) {
		if err := os.WriteFile(path, []byte(s), 0o600); err != nil {
			return fail(err)
		}
	}
	return 0
}

// setTemplateHeader sets a header line of a draft template.
func setTemplateHeader(s, name, value string) string {
	head, body, _ := strings.Cut(s, "\n\n")
	lines := strings.Split(head, "\n")
	for i, l := range lines {
		if strings.HasPrefix(l, name+":") {
			lines[i] = name + ": " + value
			return strings.Join(lines, "\n") + "\n\n" + body
		}
	}
	return name + ": " + value + "\n" + head + "\n\n" + body
}

// testEditor drives the scripted editor.
type testEditor struct{ script string }

func newTestEditor(t *testing.T) *testEditor {
	return &testEditor{script: filepath.Join(t.TempDir(), "edit.json")}
}

// command is the [ui] editor setting that runs it.
func (e *testEditor) command(t *testing.T) string {
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return testEditorEnv + "=" + shellQuote(e.script) + " " + shellQuote(exe)
}

// plan sets what the next editor runs do, one round each.
func (e *testEditor) plan(t *testing.T, rounds ...[]editOp) {
	t.Helper()
	b, err := json.Marshal(rounds)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(e.script, b, 0o600); err != nil {
		t.Fatal(err)
	}
	os.Remove(e.script + ".n")
}

// seen is the file as the editor's run n found it, and the modes.
func (e *testEditor) seen(t *testing.T, n int) (text, mode string) {
	t.Helper()
	b, err := os.ReadFile(fmt.Sprintf("%s.seen.%d", e.script, n))
	if err != nil {
		t.Fatalf("editor run %d: %v", n, err)
	}
	m, _ := os.ReadFile(fmt.Sprintf("%s.mode.%d", e.script, n))
	return string(b), string(m)
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

func fill(to, subject, body string) []editOp {
	return []editOp{{Op: "header", Name: "To", Value: to}, {Op: "header", Name: "Subject", Value: subject}, {Op: "body", Value: body}}
}

// composeEnv is a real local account wrapped by account.WithSMTP around
// an in-process SMTP server, and the scripted editor.
type composeEnv struct {
	*mailbox
	srv    *mailtest.SMTPServer
	sender account.Account
	editor *testEditor
	cfg    *account.Config
}

const aliceAddr = "Alice Example <alice@example.test>"

func newComposeEnv(t *testing.T, sopt *mailtest.SMTPOptions, extra ...string) *composeEnv {
	t.Helper()
	mb := newMailbox(t, extra...)
	e := &composeEnv{mailbox: mb, editor: newTestEditor(t)}
	e.cfg = &account.Config{UI: account.UIConfig{Editor: e.editor.command(t)}}
	ac := account.AccountConfig{Name: "home", Address: aliceAddr, Maildir: mb.root}
	local, err := account.NewLocal(ac)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { local.Close() })
	// The role folders exist from the start, so that the sidebar's order
	// does not change under the keys sidebarTo types.
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for _, role := range []string{account.RoleDrafts, account.RoleOutbox, account.RoleSent} {
		if _, err := local.RoleFolder(ctx, role); err != nil {
			t.Fatal(err)
		}
	}
	if sopt == nil {
		e.sender = local
		return e
	}
	srv, err := mailtest.NewSMTPServer(*sopt)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	e.srv = srv
	host, port, _ := strings.Cut(srv.Addr, ":")
	p, _ := strconv.Atoi(port)
	ac.SMTP = &account.ServerConfig{Kind: "smtp", Host: host, Port: p, TLS: account.TLSNone}
	s, err := account.WithSMTP(local, ac, &account.SendOptions{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	e.sender = s
	return e
}

func (e *composeEnv) start(t *testing.T) *teatest.TestModel {
	t.Helper()
	m, err := New([]account.Account{e.sender}, Options{Config: e.cfg})
	if err != nil {
		t.Fatal(err)
	}
	tm := teatest.NewTestModel(t, m, teatest.WithInitialTermSize(110, 32))
	t.Cleanup(func() {
		// Remove the compose directories as Run does on exit.
		tm.Quit()
		if fm, ok := tm.FinalModel(t, teatest.WithFinalTimeout(10*time.Second)).(*Model); ok {
			fm.cleanup()
		}
	})
	return tm
}

// folder returns the raw messages of a maildir folder and their flags.
func (e *composeEnv) folder(t *testing.T, name string) ([]string, []maildir.Flags) {
	t.Helper()
	if !e.dir.HasFolder(name) {
		return nil, nil
	}
	f, err := e.dir.Folder(name)
	if err != nil {
		t.Fatal(err)
	}
	entries, err := f.List()
	if err != nil {
		t.Fatal(err)
	}
	var raws []string
	var flags []maildir.Flags
	for _, en := range entries {
		file, _, err := f.Open(en)
		if err != nil {
			t.Fatal(err)
		}
		var b bytes.Buffer
		b.ReadFrom(file)
		file.Close()
		raws = append(raws, b.String())
		flags = append(flags, en.Flags)
	}
	return raws, flags
}

// lunch is a message from Bob to Alice and Carol, Cc Dave, in a thread;
// its date in the future puts it at the top of INBOX.
func lunch() string {
	return "From: Bob Builder <bob@example.test>\r\n" +
		"To: Alice Example <alice@example.test>, Carol <carol@example.test>\r\n" +
		"Cc: dave@example.test\r\n" +
		"Subject: Lunch plans\r\n" +
		"Date: " + time.Now().Add(time.Hour).Format(time.RFC1123Z) + "\r\n" +
		"Message-ID: <orig@example.test>\r\n" +
		"References: <root@example.test>\r\n" +
		"In-Reply-To: <root@example.test>\r\n" +
		"\r\n" +
		"Shall we meet at noon?\r\nThe usual place.\r\n"
}

func (e *composeEnv) lunchKey(t *testing.T) string {
	t.Helper()
	for _, en := range e.inbox(t) {
		if en.Subject == "Lunch plans" {
			return en.Key
		}
	}
	t.Fatal("Lunch plans not in INBOX")
	return ""
}

func TestComposeSend(t *testing.T) {
	e := newComposeEnv(t, &mailtest.SMTPOptions{})
	tm := e.start(t)
	waitFor(t, tm, "1/")
	e.editor.plan(t, fill("Bob <bob@example.test>", "Hello Bob", "Hi Bob,\nsee you at noon.\n"))
	tm.Send(keyMsg("c"))
	waitFor(t, tm, "Review the new message", "To: Bob <bob@example.test>", "Subject: Hello Bob", "see you at noon.", "y/s send")

	tpl, mode := e.editor.seen(t, 0)
	if !strings.HasPrefix(tpl, "From: "+aliceAddr+"\nTo: \nCc: \nBcc: \nSubject: \n\n") {
		t.Fatalf("new message template = %q, want the empty headers with From %s", tpl, aliceAddr)
	}
	fields := strings.Fields(mode)
	if len(fields) != 3 || fields[0] != "600" || fields[1] != "700" {
		t.Fatalf("draft file and directory modes = %q, want 600 700", mode)
	}

	tm.Send(keyMsg("y"))
	waitFor(t, tm, "sent")
	quit(t, tm)
	got := e.srv.Received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if !slices.Equal(got[0].To, []string{"bob@example.test"}) || got[0].From != "alice@example.test" {
		t.Fatalf("envelope from %q to %q, want alice@example.test to bob@example.test", got[0].From, got[0].To)
	}
	msg, err := message.Parse(bytes.NewReader(got[0].Data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Hello Bob" || !strings.Contains(msg.Text, "see you at noon.") {
		t.Fatalf("sent subject %q text %q", msg.Subject, msg.Text)
	}
	sent, _ := e.folder(t, "Sent")
	if !slices.ContainsFunc(sent, func(s string) bool { return strings.Contains(s, "Subject: Hello Bob") }) {
		t.Fatalf("Sent holds no Hello Bob among %d messages", len(sent))
	}
	if _, err := os.Stat(filepath.Dir(fields[2])); !os.IsNotExist(err) {
		t.Fatalf("the draft directory %s is still there after sending: %v", filepath.Dir(fields[2]), err)
	}
}

func TestComposeAbort(t *testing.T) {
	for _, tc := range []struct {
		name string
		ops  []editOp
	}{
		{"unchanged", []editOp{{Op: "keep"}}},
		{"emptied", []editOp{{Op: "empty"}}},
		{"blank", []editOp{{Op: "raw", Value: "\n  \n"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newComposeEnv(t, nil, lunch())
			tm := e.start(t)
			waitFor(t, tm, "Lunch plans")
			e.editor.plan(t, tc.ops)
			tm.Send(keyMsg("r"))
			waitFor(t, tm, "aborted: nothing written")
			m := quit(t, tm)
			if m.compose != nil {
				t.Fatalf("compose still open after abort")
			}
			if d, _ := e.folder(t, "Drafts"); len(d) != 0 {
				t.Fatalf("Drafts has %d messages after an abort", len(d))
			}
		})
	}
}

func TestComposeReplySendsAndFlags(t *testing.T) {
	e := newComposeEnv(t, &mailtest.SMTPOptions{}, lunch())
	key := e.lunchKey(t)
	tm := e.start(t)
	waitFor(t, tm, "Lunch plans")
	tm.Send(keyMsg("enter")) // from the reader
	waitFor(t, tm, "Shall we meet at noon?")
	e.editor.plan(t, []editOp{{Op: "body", Value: "Noon is fine.\n\n"}})
	tm.Send(keyMsg("r"))
	waitFor(t, tm, "Review the reply", "Subject: Re: Lunch plans", "Noon is fine.")
	tpl, _ := e.editor.seen(t, 0)
	for _, want := range []string{"To: Bob Builder <bob@example.test>\n", "Cc: \n", "Subject: Re: Lunch plans\n", "> Shall we meet at noon?\n", "> The usual place.\n", "Bob Builder wrote:"} {
		if !strings.Contains(tpl, want) {
			t.Fatalf("reply template lacks %q:\n%s", want, tpl)
		}
	}
	tm.Send(keyMsg("s"))
	waitFor(t, tm, "sent")
	quit(t, tm)
	got := e.srv.Received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	msg, err := message.Parse(bytes.NewReader(got[0].Data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg.InReplyTo != "orig@example.test" || msg.References != "root@example.test orig@example.test" {
		t.Fatalf("reply In-Reply-To %q References %q, want orig and root orig", msg.InReplyTo, msg.References)
	}
	if msg.Subject != "Re: Lunch plans" || !strings.Contains(msg.Text, "> Shall we meet at noon?") || !strings.HasPrefix(msg.Text, "Noon is fine.") {
		t.Fatalf("reply subject %q text %q", msg.Subject, msg.Text)
	}
	if f, flags := e.where(t, key); f != maildir.Inbox || !flags.Has(maildir.FlagReplied) {
		t.Fatalf("original is in %q with flags %q, want INBOX with R", f, flags)
	}
}

func TestComposeReplyAllMinusSelfThenDiscard(t *testing.T) {
	e := newComposeEnv(t, &mailtest.SMTPOptions{}, lunch())
	tm := e.start(t)
	waitFor(t, tm, "Lunch plans")
	e.editor.plan(t, []editOp{{Op: "body", Value: "All of us.\n"}})
	tm.Send(keyMsg("R"))
	waitFor(t, tm, "Review the reply all", "Cc: Carol <carol@example.test>, dave@example.test")
	tpl, _ := e.editor.seen(t, 0)
	if !strings.Contains(tpl, "To: Bob Builder <bob@example.test>\nCc: Carol <carol@example.test>, dave@example.test\n") {
		t.Fatalf("reply-all template:\n%s\nwant To Bob, Cc Carol and Dave", tpl)
	}
	if _, rest, _ := strings.Cut(tpl[:strings.Index(tpl, "\n\n")], "\n"); strings.Contains(rest, "alice@") {
		t.Fatalf("reply-all headers hold the user's own address:\n%s", tpl)
	}
	tm.Send(keyMsg("x"))
	waitFor(t, tm, "Discard this message? (y/n)")
	tm.Send(keyMsg("n"))
	waitFor(t, tm, "Cancelled")
	tm.Send(keyMsg("q"))
	waitFor(t, tm, "Discard this message? (y/n)")
	tm.Send(keyMsg("y"))
	waitFor(t, tm, "discarded")
	m := quit(t, tm)
	if m.compose != nil || len(e.srv.Received()) != 0 {
		t.Fatalf("after discard: compose %v, %d messages sent", m.compose != nil, len(e.srv.Received()))
	}
	if d, _ := e.folder(t, "Drafts"); len(d) != 0 {
		t.Fatalf("Drafts has %d messages after a discard", len(d))
	}
}

func TestComposeForwardAsAttachment(t *testing.T) {
	e := newComposeEnv(t, &mailtest.SMTPOptions{}, lunch())
	key := e.lunchKey(t)
	tm := e.start(t)
	waitFor(t, tm, "Lunch plans")
	e.editor.plan(t, []editOp{{Op: "header", Name: "To", Value: "erin@example.test"}, {Op: "body", Value: "FYI\n"}})
	tm.Send(keyMsg("F"))
	waitFor(t, tm, "Subject: Fwd: Lunch plans", "Lunch plans.eml (message/rfc822")
	tm.Send(keyMsg("y"))
	waitFor(t, tm, "sent")
	quit(t, tm)
	got := e.srv.Received()
	if len(got) != 1 || !slices.Equal(got[0].To, []string{"erin@example.test"}) {
		t.Fatalf("server received %v, want one message to erin", got)
	}
	msg, err := message.Parse(bytes.NewReader(got[0].Data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(msg.Attachments) != 1 || msg.Attachments[0].Type != "message/rfc822" {
		t.Fatalf("forward attachments %+v, want one message/rfc822", msg.Attachments)
	}
	if !bytes.Contains(got[0].Data, []byte("Message-ID: <orig@example.test>")) {
		t.Fatalf("the forwarded message is not inside:\n%s", got[0].Data)
	}
	if _, flags := e.where(t, key); !flags.Has(maildir.FlagPassed) {
		t.Fatalf("original has flags %q, want P", flags)
	}
}

// sidebarTo opens a folder through the sidebar.
func sidebarTo(t *testing.T, tm *teatest.TestModel, e *composeEnv, name string, want ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	fs, err := e.sender.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(fs, func(f account.Folder) bool { return f.Name == name })
	if i < 0 {
		t.Fatalf("no folder %s", name)
	}
	tm.Send(keyMsg("tab")) // the sidebar's cursor is on INBOX, the first folder
	for range i {
		tm.Send(keyMsg("j"))
	}
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, append(want, "home › "+name)...)
}

func TestComposeAttachCompletePostponeResume(t *testing.T) {
	e := newComposeEnv(t, &mailtest.SMTPOptions{})
	files := t.TempDir()
	for name, content := range map[string]string{"notes.txt": "my notes\n", "report-2024.pdf": "%PDF-1.4 old", "report-2025.txt": "this year's report\n"} {
		if err := os.WriteFile(filepath.Join(files, name), []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	tm := e.start(t)
	waitFor(t, tm, "1/")
	e.editor.plan(t, append(fill("bob@example.test", "Reports", "Both reports.\n"), editOp{Op: "header", Name: "Bcc", Value: "boss@example.test"}))
	tm.Send(keyMsg("c"))
	waitFor(t, tm, "Subject: Reports", "Bcc: boss@example.test")

	// A unique completion, then attach.
	tm.Send(keyMsg("a"))
	waitFor(t, tm, "Attach file (tab completes):")
	tm.Type(files + "/no")
	tm.Send(keyMsg("tab"))
	waitFor(t, tm, files+"/notes.txt")
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "Attached notes.txt", "[1] notes.txt (text/plain, ")

	// Two candidates: the common prefix, the list, then one more letter.
	tm.Send(keyMsg("a"))
	waitFor(t, tm, "Attach file")
	tm.Type(files + "/rep")
	tm.Send(keyMsg("tab"))
	waitFor(t, tm, files+"/report-202", "Completions", "report-2024.pdf", "report-2025.txt")
	tm.Type("5")
	tm.Send(keyMsg("tab"))
	waitFor(t, tm, files+"/report-2025.txt")
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "Attached report-2025.txt", "[2] report-2025.txt")

	// Remove the first.
	tm.Send(keyMsg("D"))
	waitFor(t, tm, "Remove which attachment?")
	tm.Type("notes")
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "Removed notes.txt", "[1] report-2025.txt")

	tm.Send(keyMsg("p"))
	waitFor(t, tm, "postponed to Drafts")
	drafts, flags := e.folder(t, "Drafts")
	if len(drafts) != 1 {
		t.Fatalf("Drafts holds %d messages, want 1", len(drafts))
	}
	if !flags[0].Has(maildir.FlagDraft) || !strings.Contains(drafts[0], "report-2025.txt") || strings.Contains(drafts[0], "notes.txt") {
		t.Fatalf("draft (flags %q) should attach report-2025.txt only:\n%s", flags[0], drafts[0])
	}
	if !strings.Contains(drafts[0], "Bcc: <boss@example.test>") {
		t.Fatalf("draft lost its Bcc:\n%s", drafts[0])
	}

	// Resume it from Drafts, change the subject, send.
	sidebarTo(t, tm, e, "Drafts", "Reports")
	e.editor.plan(t, []editOp{{Op: "header", Name: "Subject", Value: "Reports, final"}})
	tm.Send(keyMsg("enter"))
	waitFor(t, tm, "Review the draft", "Subject: Reports, final", "report-2025.txt (text/plain", "Bcc: boss@example.test")
	tpl, _ := e.editor.seen(t, 0)
	if !strings.Contains(tpl, "To: bob@example.test\n") || !strings.Contains(tpl, "Both reports.") || !strings.Contains(tpl, "Attach: ") {
		t.Fatalf("resumed template:\n%s", tpl)
	}
	tm.Send(keyMsg("y"))
	waitFor(t, tm, "sent")
	quit(t, tm)
	if d, _ := e.folder(t, "Drafts"); len(d) != 0 {
		t.Fatalf("Drafts holds %d messages after the draft was sent", len(d))
	}
	got := e.srv.Received()
	if len(got) != 1 {
		t.Fatalf("server received %d messages, want 1", len(got))
	}
	if !slices.Contains(got[0].To, "boss@example.test") || bytes.Contains(got[0].Data, []byte("boss@")) {
		t.Fatalf("Bcc: envelope %v, message has boss@: %v", got[0].To, bytes.Contains(got[0].Data, []byte("boss@")))
	}
	msg, err := message.Parse(bytes.NewReader(got[0].Data), nil)
	if err != nil {
		t.Fatal(err)
	}
	if msg.Subject != "Reports, final" || len(msg.Attachments) != 1 || msg.Attachments[0].Name != "report-2025.txt" {
		t.Fatalf("sent subject %q attachments %+v", msg.Subject, msg.Attachments)
	}
}

func TestComposeTemporaryFailureQueues(t *testing.T) {
	var accept atomic.Bool
	e := newComposeEnv(t, &mailtest.SMTPOptions{FailData: func() *smtp.SMTPError {
		if accept.Load() {
			return nil
		}
		return &smtp.SMTPError{Code: 451, EnhancedCode: smtp.EnhancedCode{4, 3, 0}, Message: "try again later"}
	}})
	tm := e.start(t)
	waitFor(t, tm, "1/")
	e.editor.plan(t, fill("bob@example.test", "Later", "queued\n"))
	tm.Send(keyMsg("c"))
	waitFor(t, tm, "Subject: Later")
	tm.Send(keyMsg("y"))
	waitFor(t, tm, "queued in the outbox:", "try again later", "outbox: 1 waiting")
	if q, _ := e.folder(t, "Outbox"); len(q) != 1 {
		t.Fatalf("Outbox holds %d messages, want 1", len(q))
	}

	sidebarTo(t, tm, e, "Outbox", "Later")
	tm.Send(keyMsg("d"))
	waitFor(t, tm, "Delete this queued message?")
	tm.Send(keyMsg("n"))
	waitFor(t, tm, "Cancelled")
	accept.Store(true)
	tm.Send(keyMsg("S"))
	waitFor(t, tm, "sent")
	m := quit(t, tm)
	if n := m.queuedTotal(); n != 0 {
		t.Fatalf("queued count after send now = %d, want 0", n)
	}
	if q, _ := e.folder(t, "Outbox"); len(q) != 0 {
		t.Fatalf("Outbox holds %d messages after send now", len(q))
	}
	if len(e.srv.Received()) != 1 {
		t.Fatalf("server received %d messages, want 1", len(e.srv.Received()))
	}
}

func TestComposePermanentFailureBackToDrafts(t *testing.T) {
	e := newComposeEnv(t, &mailtest.SMTPOptions{RejectRcpt: func(string) *smtp.SMTPError {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "no such user here"}
	}})
	tm := e.start(t)
	waitFor(t, tm, "1/")
	e.editor.plan(t, fill("nobody@example.test", "Refused", "hello?\n"))
	tm.Send(keyMsg("c"))
	waitFor(t, tm, "Subject: Refused")
	tm.Send(keyMsg("y"))
	waitFor(t, tm, "refused:", "no such user here", "saved in Drafts")
	quit(t, tm)
	d, _ := e.folder(t, "Drafts")
	if len(d) != 1 || !strings.Contains(d[0], "Subject: Refused") {
		t.Fatalf("Drafts holds %d messages, want the refused one", len(d))
	}
}

func TestComposeNoSMTPPostpones(t *testing.T) {
	e := newComposeEnv(t, nil)
	tm := e.start(t)
	waitFor(t, tm, "1/")
	e.editor.plan(t, []editOp{{Op: "header", Name: "Subject", Value: "Just an idea"}, {Op: "body", Value: "to finish later\n"}})
	tm.Send(keyMsg("c"))
	waitFor(t, tm, "Subject: Just an idea", "(no recipient)")
	tm.Send(keyMsg("y"))
	waitFor(t, tm, "this account has no [smtp] server")
	tm.Send(keyMsg("p"))
	waitFor(t, tm, "postponed to Drafts")
	quit(t, tm)
	d, flags := e.folder(t, "Drafts")
	if len(d) != 1 || !strings.Contains(d[0], "Subject: Just an idea") || !flags[0].Has(maildir.FlagDraft) {
		t.Fatalf("Drafts holds %d messages (%v), want the postponed one", len(d), flags)
	}
	if strings.Contains(d[0], draftPlaceholder) {
		t.Fatalf("the draft shows the placeholder recipient:\n%s", d[0])
	}
}

func TestComposeTemplateErrorBackToEditor(t *testing.T) {
	e := newComposeEnv(t, nil)
	tm := e.start(t)
	waitFor(t, tm, "1/")
	e.editor.plan(t,
		[]editOp{{Op: "header", Name: "Subject", Value: "Typo"}, {Op: "header", Name: "Tx", Value: "bob@example.test"}, {Op: "body", Value: "keep me\n"}},
		[]editOp{{Op: "keep"}}, // leaves the error: the review says so
		[]editOp{{Op: "raw", Value: "To: bob@example.test\nSubject: Typo\n\nkeep me\n"}},
	)
	tm.Send(keyMsg("c"))
	waitFor(t, tm, "The message has an error", `unknown header "Tx"`)
	second, _ := e.editor.seen(t, 1)
	if !strings.HasPrefix(second, templateMarker+"draft line 2: unknown header") || !strings.Contains(second, "keep me") || !strings.Contains(second, "Tx: bob@example.test") {
		t.Fatalf("second editor run saw:\n%s\nwant the error on top and the user's text", second)
	}
	tm.Send(keyMsg("e"))
	waitFor(t, tm, "To: bob@example.test", "keep me")
	tm.Send(keyMsg("ctrl+c")) // asks first: the message would be lost
	waitFor(t, tm, "ctrl+c again quits")
	m := quit(t, tm)
	if m.compose == nil || m.compose.broken != nil || m.compose.draft.Subject != "Typo" {
		t.Fatalf("after the fix: compose %+v", m.compose)
	}
}

func TestComposeKeysConfigurable(t *testing.T) {
	cfg := &account.Config{Keys: []account.KeyBinding{{Action: "reply_all", Keys: []string{"A"}}, {Action: "send", Keys: []string{"ctrl+s"}}}}
	mi, err := New(nil, Options{Config: cfg})
	if err != nil {
		t.Fatalf("New with [keys] reply_all, send: %v", err)
	}
	m := mi.(*Model)
	if got := m.keys.List.ReplyAll.Keys(); !slices.Equal(got, []string{"A"}) {
		t.Fatalf("reply_all keys = %v, want [A]", got)
	}
	if got := m.keys.Review.Send.Keys(); !slices.Equal(got, []string{"ctrl+s"}) {
		t.Fatalf("send keys = %v, want [ctrl+s]", got)
	}
	for _, a := range []string{"compose", "reply", "reply_all", "forward", "forward_attachment", "send_now", "edit", "send", "attach", "remove_attachment", "postpone", "discard"} {
		if !slices.Contains(knownActions(), a) {
			t.Errorf("action %q is not known", a)
		}
	}
}

func TestCompletePath(t *testing.T) {
	dir := t.TempDir()
	for _, n := range []string{"alpha.txt", "alpine.pdf", "beta.txt", ".hidden"} {
		os.WriteFile(filepath.Join(dir, n), nil, 0o600)
	}
	os.Mkdir(filepath.Join(dir, "bin"), 0o700)
	for _, tc := range []struct {
		in, want string
		cands    []string
	}{
		{dir + "/al", dir + "/alp", []string{"alpha.txt", "alpine.pdf"}},
		{dir + "/alpi", dir + "/alpine.pdf", nil},
		{dir + "/bi", dir + "/bin/", nil},
		{dir + "/b", dir + "/b", []string{"beta.txt", "bin/"}},
		{dir + "/zz", dir + "/zz", nil},
		{dir + "/.h", dir + "/.hidden", nil},
	} {
		msg := completePath(1, tc.in)().(completeMsg)
		if msg.err != nil || msg.value != tc.want || !slices.Equal(msg.candidates, tc.cands) {
			t.Fatalf("completePath(%q) = %q %v %v, want %q %v", tc.in, msg.value, msg.candidates, msg.err, tc.want, tc.cands)
		}
	}
}

func TestComposeOutboxEditAndCountOnStart(t *testing.T) {
	e := newComposeEnv(t, &mailtest.SMTPOptions{FailData: func() *smtp.SMTPError {
		return &smtp.SMTPError{Code: 421, EnhancedCode: smtp.EnhancedCode{4, 4, 2}, Message: "closing"}
	}})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	raw := "From: " + aliceAddr + "\r\nTo: bob@example.test\r\nSubject: Waiting\r\n\r\nstill here\r\n"
	res, err := e.sender.(account.Sender).Send(ctx, strings.NewReader(raw))
	if err != nil || res.Status != account.Queued {
		t.Fatalf("Send = %+v, %v; want queued", res, err)
	}
	tm := e.start(t)
	waitFor(t, tm, "outbox: 1 waiting")
	sidebarTo(t, tm, e, "Outbox", "Waiting")
	e.editor.plan(t, []editOp{{Op: "keep"}})
	tm.Send(keyMsg("e"))
	waitFor(t, tm, "Review the draft", "Subject: Waiting", "still here")
	if q, _ := e.folder(t, "Outbox"); len(q) != 0 {
		t.Fatalf("Outbox holds %d messages while the queued one is edited", len(q))
	}
	tm.Send(keyMsg("x"))
	waitFor(t, tm, "Discard this message?")
	tm.Send(keyMsg("y"))
	waitFor(t, tm, "the draft stays in Drafts")
	m := quit(t, tm)
	if d, _ := e.folder(t, "Drafts"); len(d) != 1 || !strings.Contains(d[0], "Subject: Waiting") {
		t.Fatalf("Drafts holds %d messages, want the one taken from the Outbox", len(d))
	}
	if n := m.queuedTotal(); n != 0 {
		t.Fatalf("queued count = %d after the message left the Outbox, want 0", n)
	}
}
