package account

import (
	"bytes"
	"fmt"
	"io"
	"sort"
	"strings"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailbag/mailbag/transport/mailtest"
)

// fileSentCopy stores raw in the account's Sent folder as Sending does
// after the SMTP server accepted it, and calls the AfterSent hook.
func fileSentCopy(t *testing.T, a *IMAP, raw []byte) string {
	t.Helper()
	ctx := testCtx(t)
	name, err := a.RoleFolder(ctx, RoleSent)
	if err != nil {
		t.Fatal(err)
	}
	f, err := a.dir.Folder(name)
	if err != nil {
		t.Fatal(err)
	}
	e, err := f.Deliver(bytes.NewReader(raw), "S")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.AppendSent(ctx, raw); err != nil {
		t.Fatalf("AppendSent: %v", err)
	}
	return e.Key
}

// listSubjects returns the subjects a folder lists, and how many of its
// messages are local (not yet on the server).
func listSubjects(t *testing.T, a *IMAP, folder string) (subjects []string, local int) {
	t.Helper()
	envs, err := a.List(testCtx(t), folder)
	if err != nil {
		t.Fatalf("List(%s): %v", folder, err)
	}
	for _, e := range envs {
		subjects = append(subjects, e.Subject)
		if isLocalID(MsgID(e.Key)) {
			local++
		}
	}
	return subjects, local
}

// serverMessageIDs returns the Message-IDs of a server mailbox in UID
// order, as a separate client sees them.
func serverMessageIDs(t *testing.T, s *mailtest.IMAPServer, mbox string) []string {
	t.Helper()
	_, msgs := fetchAll(t, s, mbox, &goimap.FetchOptions{UID: true, Envelope: true})
	sort.Slice(msgs, func(i, j int) bool { return msgs[i].UID < msgs[j].UID })
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = "<" + m.Envelope.MessageID + ">"
	}
	return out
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func TestIMAPSentCopyAppendedWhenOnline(t *testing.T) {
	s := newMemServer(t, mailtest.IMAPOptions{})
	s.AddMailbox(testUser, "Sent", goimap.MailboxAttrSent)
	a := newTestIMAP(t, s, t.TempDir(), nil)
	ctx := testCtx(t)
	if err := a.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// Offline: the copy is listed at once, as a local message.
	s.SetDropAfter(1)
	s.DropConnections()
	key := fileSentCopy(t, a, testMsg(1))
	if subj, local := listSubjects(t, a, "Sent"); len(subj) != 1 || local != 1 {
		t.Fatalf("Sent lists %v with %d local, want the copy, local", subj, local)
	}
	r, err := a.Open(ctx, "Sent", MsgID(key))
	if err != nil {
		t.Fatalf("Open of the local copy offline: %v", err)
	}
	body, _ := io.ReadAll(r)
	r.Close()
	if !bytes.Contains(body, []byte("body of message 1")) {
		t.Fatalf("Open = %q", body)
	}
	// Back online: the owner appends it on its own, once.
	s.SetDropAfter(0)
	a.wake()
	if err := a.SyncFolder(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "the copy on the server", func() bool { return len(serverMessageIDs(t, s, "Sent")) == 1 })
	waitFor(t, "the cache to know the copy's UID", func() bool {
		subj, local := listSubjects(t, a, "Sent")
		return len(subj) == 1 && local == 0
	})
	if err := a.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ids := serverMessageIDs(t, s, "Sent"); len(ids) != 1 || ids[0] != "<m1@example.test>" {
		t.Fatalf("server Sent = %v, want the copy once", ids)
	}
	_, sv := serverView(t, s, "Sent")
	if d := sameView(cacheView(t, a, "Sent"), sv); d != "" {
		t.Fatalf("Sent: cache and server differ: %s", d)
	}
	// The local file became the cached body: no second file, and it opens
	// offline under its server id.
	f, _ := a.dir.Folder("Sent")
	if ents, _ := f.List(); len(ents) != 1 || ents[0].Key != key {
		t.Fatalf("Sent maildir holds %v, want only the copy %s", ents, key)
	}
	id := idOf(t, a, "Sent", "message 1")
	s.SetDropAfter(1)
	s.DropConnections()
	r, err = a.Open(ctx, "Sent", id)
	if err != nil {
		t.Fatalf("Open of the appended copy offline: %v", err)
	}
	r.Close()
}

// A crash after APPEND, before the cache recorded it, leaves the file
// local while the server has the message: it is not appended again.
func TestIMAPSentCopyNotAppendedTwice(t *testing.T) {
	s := newMemServer(t, mailtest.IMAPOptions{})
	s.AddMailbox(testUser, "Sent", goimap.MailboxAttrSent)
	if _, err := s.AddMessage(testUser, "Sent", testMsg(7), goimap.FlagSeen); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	a := newTestIMAP(t, s, dir, nil)
	ctx := testCtx(t)
	if err := a.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	// The file of the crashed run, and a new copy sent since.
	fileSentCopy(t, a, testMsg(7))
	fileSentCopy(t, a, testMsg(8))
	if err := a.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	ids := serverMessageIDs(t, s, "Sent")
	if len(ids) != 2 || ids[0] != "<m7@example.test>" || ids[1] != "<m8@example.test>" {
		t.Fatalf("server Sent = %v, want m7 and m8 once each", ids)
	}
	if subj, local := listSubjects(t, a, "Sent"); len(subj) != 2 || local != 0 {
		t.Fatalf("Sent lists %v (%d local), want two server messages", subj, local)
	}
}

// Without a Sent folder on the server, the copy waits in a local-only
// Sent folder; the next connection creates the server folder and appends.
func TestIMAPSentFolderCreated(t *testing.T) {
	s := newMemServer(t, mailtest.IMAPOptions{})
	a := newTestIMAP(t, s, t.TempDir(), nil)
	ctx := testCtx(t)
	if err := a.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	s.SetDropAfter(1)
	s.DropConnections()
	fileSentCopy(t, a, testMsg(3))
	fs, err := a.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, f := range fs {
		if f.Name == "Sent" && f.Role == RoleSent && f.Total == 1 {
			found = true
		}
	}
	if !found {
		t.Fatalf("Folders = %+v, want a local Sent holding the copy", fs)
	}
	s.SetDropAfter(0)
	if err := a.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ids := serverMessageIDs(t, s, "Sent"); len(ids) != 1 {
		t.Fatalf("server Sent = %v, want the copy", ids)
	}
	if subj, local := listSubjects(t, a, "Sent"); len(subj) != 1 || local != 0 {
		t.Fatalf("Sent lists %v (%d local), want the server's copy", subj, local)
	}
}

// A refused APPEND keeps the copy on this computer and says why, once.
func TestIMAPSentCopyRefused(t *testing.T) {
	refuse := func(op, mailbox string) error {
		if op == "APPEND" {
			return &goimap.Error{Type: goimap.StatusResponseTypeNo, Text: "over quota"}
		}
		return nil
	}
	s := newMemServer(t, mailtest.IMAPOptions{Refuse: refuse})
	s.AddMailbox(testUser, "Sent", goimap.MailboxAttrSent)
	a := newTestIMAP(t, s, t.TempDir(), nil)
	ctx := testCtx(t)
	if err := a.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	fileSentCopy(t, a, testMsg(4))
	if err := a.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for {
		select {
		case ev := <-a.Events():
			if ev.Kind != EventError {
				continue
			}
			if !strings.Contains(ev.Err.Error(), "over quota") || !strings.Contains(ev.Err.Error(), "stays in Sent") {
				t.Fatalf("refusal event = %v", ev.Err)
			}
			if subj, local := listSubjects(t, a, "Sent"); len(subj) != 1 || local != 1 {
				t.Fatalf("Sent lists %v (%d local) after the refusal, want the local copy", subj, local)
			}
			return
		case <-ctx.Done():
			t.Fatal("no event for the refused APPEND")
		}
	}
}

// Sending through an IMAP account: drafts and the Outbox are visible, a
// message that cannot be sent waits in the Outbox, and a sent one is
// listed in Sent and appended to the server's.
func TestIMAPSendingFolders(t *testing.T) {
	s := newMemServer(t, mailtest.IMAPOptions{})
	s.AddMailbox(testUser, "Sent", goimap.MailboxAttrSent)
	s.AddMailbox(testUser, "Drafts", goimap.MailboxAttrDrafts)
	s.AddMailbox(testUser, "Outbox") // a server folder of that name
	if _, err := s.AddMessage(testUser, "Drafts", testMsg(50)); err != nil {
		t.Fatal(err)
	}
	a := newTestIMAP(t, s, t.TempDir(), nil)
	ctx := testCtx(t)
	if err := a.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	env := newSendEnv(t, mailtest.SMTPOptions{}, false, nil)
	sopt := &SendOptions{Timeout: 5 * time.Second, AfterSent: a.AppendSent}
	cfg := a.cfg
	cfg.Address = "Alice <alice@example.test>"
	cfg.SMTP = env.acct.srv
	snd, err := WithSMTP(a, cfg, sopt)
	if err != nil {
		t.Fatal(err)
	}

	draft, err := snd.Postpone(ctx, bytes.NewReader(testMsg(60)), "")
	if err != nil {
		t.Fatal(err)
	}
	subj, local := listSubjects(t, a, "Drafts")
	if len(subj) != 2 || local != 1 {
		t.Fatalf("Drafts lists %v (%d local), want the server's draft and the postponed one", subj, local)
	}
	// The SMTP server is away: the message waits in the visible Outbox.
	env.srv.Close()
	res, err := snd.SendDraft(ctx, draft)
	if err != nil || res.Status != Queued {
		t.Fatalf("SendDraft with the SMTP server away = %+v, %v; want queued", res, err)
	}
	if subj, _ := listSubjects(t, a, "Outbox"); len(subj) != 1 || subj[0] != "message 60" {
		t.Fatalf("Outbox lists %v, want the queued message", subj)
	}
	// The local Outbox is a folder of its own; the server's is Outbox_.
	fs, err := a.Folders(ctx)
	if err != nil {
		t.Fatal(err)
	}
	names := map[string]Folder{}
	for _, f := range fs {
		names[f.Name] = f
	}
	if o := names["Outbox"]; o.Role != RoleOutbox || o.Total != 1 {
		t.Fatalf("Folders = %+v, want the local Outbox holding the message", fs)
	}
	if _, ok := names["Outbox_"]; !ok {
		t.Fatalf("Folders = %+v, want the server's Outbox as Outbox_", fs)
	}
	if err := a.SyncFolder(ctx, "Outbox"); err != nil {
		t.Fatalf("SyncFolder of the local Outbox: %v", err)
	}
	if subj, _ := listSubjects(t, a, "Drafts"); len(subj) != 1 {
		t.Fatalf("Drafts lists %v after the draft went to the Outbox", subj)
	}

	// A local draft can be deleted; a server draft cannot move into the
	// local Outbox.
	other, err := snd.Postpone(ctx, bytes.NewReader(testMsg(61)), "")
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Delete(ctx, "Drafts", []MsgID{other}); err != nil {
		t.Fatal(err)
	}
	if subj, local := listSubjects(t, a, "Drafts"); len(subj) != 1 || local != 0 {
		t.Fatalf("Drafts lists %v (%d local) after deleting the local draft", subj, local)
	}
	if err := a.Move(ctx, "Outbox", []MsgID{draft}, "INBOX"); err == nil {
		t.Fatal("moving a local message into a server folder other than Drafts or Sent succeeded")
	}

	// The SMTP server returns: the message is sent, listed in Sent at
	// once and appended to the server's Sent.
	env2 := newSendEnv(t, mailtest.SMTPOptions{}, false, nil)
	cfg.SMTP = env2.acct.srv
	snd2, err := WithSMTP(a, cfg, sopt)
	if err != nil {
		t.Fatal(err)
	}
	if res, err := snd2.SendNow(ctx, res.ID); err != nil || res.Status != Sent {
		t.Fatalf("SendNow = %+v, %v", res, err)
	}
	if subj, _ := listSubjects(t, a, "Outbox"); len(subj) != 0 {
		t.Fatalf("Outbox lists %v after the flush", subj)
	}
	if subj, _ := listSubjects(t, a, "Sent"); len(subj) != 1 || subj[0] != "message 60" {
		t.Fatalf("Sent lists %v, want the sent message", subj)
	}
	if err := a.Sync(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if ids := serverMessageIDs(t, s, "Sent"); len(ids) != 1 || ids[0] != "<m60@example.test>" {
		t.Fatalf("server Sent = %v, want the sent message", ids)
	}
	if subj, local := listSubjects(t, a, "Sent"); len(subj) != 1 || local != 0 {
		t.Fatalf("Sent lists %v (%d local) after the append", subj, local)
	}
}

func TestToCRLF(t *testing.T) {
	for in, want := range map[string]string{
		"":                "",
		"a\nb\n":          "a\r\nb\r\n",
		"a\r\nb\n":        "a\r\nb\r\n",
		"a\r\nb\r\n":      "a\r\nb\r\n",
		"no newline":      "no newline",
		"\n\n":            "\r\n\r\n",
		"x\r\r\ny\nz":     "x\r\r\ny\r\nz",
		"bare\rcr\nline":  "bare\rcr\r\nline",
		"dot\n.\nend\r\n": "dot\r\n.\r\nend\r\n",
	} {
		if got := string(toCRLF([]byte(in))); got != want {
			t.Errorf("toCRLF(%q) = %q, want %q", in, got, want)
		}
	}
}

// The TLS configuration is made by the first connection; a CA file that
// cannot be read is then reported like a server that cannot be reached.
func TestIMAPBadCAFileOnConnect(t *testing.T) {
	s := newMemServer(t, mailtest.IMAPOptions{})
	dir := t.TempDir()
	cfg := imapConfig(t, s.Addr, dir)
	cfg.IMAP.TLS = TLSImplicit
	cfg.IMAP.CAFile = dir + "/missing-ca.pem"
	a, err := NewIMAP(cfg, &IMAPOptions{Timeout: time.Second, Backoff: 10 * time.Millisecond, MaxBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatalf("NewIMAP does no TLS work, yet: %v", err)
	}
	defer a.Close()
	if _, err := a.List(testCtx(t), "INBOX"); err != nil {
		t.Fatalf("List of the cache: %v", err)
	}
	err = a.SyncFolder(testCtx(t), "INBOX")
	if err == nil || !strings.Contains(err.Error(), "ca_file") {
		t.Fatalf("SyncFolder with a missing CA file = %v, want the ca_file problem", err)
	}
	// Nothing went to the server without TLS.
	time.Sleep(100 * time.Millisecond)
	if n := s.Accepted(); n != 0 {
		t.Fatalf("%d connections reached the server without a TLS configuration", n)
	}
}

// A maildir folder that caches a server folder is never taken for the
// Outbox, whose every message is sent.
func TestIMAPOutboxNotACache(t *testing.T) {
	s := newMemServer(t, mailtest.IMAPOptions{})
	dir := t.TempDir()
	a := newTestIMAP(t, s, dir, nil)
	f, err := a.dir.Folder("Outbox")
	if err != nil {
		t.Fatal(err)
	}
	if err := saveState(f.Path(), newFolderState()); err != nil {
		t.Fatal(err)
	}
	if _, err := a.RoleFolder(testCtx(t), RoleOutbox); err == nil || !strings.Contains(err.Error(), "cache of a server folder") {
		t.Fatalf("RoleFolder(outbox) on a cache folder = %v, want a refusal", err)
	}
	cfg := imapConfig(t, s.Addr, dir)
	cfg.Folders = map[string]string{RoleOutbox: "Queue"}
	b, err := NewIMAP(cfg, &IMAPOptions{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	if name, err := b.RoleFolder(testCtx(t), RoleOutbox); err != nil || name != "Queue" {
		t.Fatalf("RoleFolder(outbox) with outbox = \"Queue\" = %q, %v", name, err)
	}
}

// subscribed_only lists the subscribed folders where the server has
// LIST-EXTENDED; without it every folder is listed, and the user is told
// once.
func TestIMAPSubscribedOnly(t *testing.T) {
	for _, noExt := range []bool{false, true} {
		t.Run(fmt.Sprintf("no-list-extended=%v", noExt), func(t *testing.T) {
			s := newMemServer(t, mailtest.IMAPOptions{NoListExtended: noExt})
			s.AddMailbox(testUser, "Lists")
			s.AddMailbox(testUser, "Hidden")
			if err := s.SetSubscribed(testUser, "Lists", true); err != nil {
				t.Fatal(err)
			}
			if err := s.SetSubscribed(testUser, "Hidden", false); err != nil {
				t.Fatal(err)
			}
			a := newTestIMAP(t, s, t.TempDir(), &IMAPOptions{SubscribedOnly: true})
			ctx := testCtx(t)
			for range 2 {
				if err := a.Sync(ctx, nil); err != nil {
					t.Fatal(err)
				}
			}
			fs, err := a.Folders(ctx)
			if err != nil {
				t.Fatal(err)
			}
			names := map[string]bool{}
			for _, f := range fs {
				names[f.Name] = true
			}
			if !names["Lists"] || names["Hidden"] != noExt {
				t.Fatalf("Folders = %v; want Lists, and Hidden only without LIST-EXTENDED", names)
			}
			warnings := 0
			for {
				select {
				case ev := <-a.Events():
					if ev.Kind == EventError && strings.Contains(ev.Err.Error(), "LIST-EXTENDED") {
						warnings++
					}
					continue
				default:
				}
				break
			}
			if want := map[bool]int{false: 0, true: 1}[noExt]; warnings != want {
				t.Fatalf("%d warnings about LIST-EXTENDED over two syncs, want %d", warnings, want)
			}
		})
	}
}
