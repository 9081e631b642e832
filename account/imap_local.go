package account

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailbag/mailbag/store/maildir"
	imapt "github.com/mailbag/mailbag/transport/imap"
)

// Local messages of an IMAP account.
//
// Sending (send.go) keeps its working folders in the account's maildir,
// found through RoleFolder: Outbox (waiting for SMTP), Drafts (postponed,
// or refused and given back) and Sent (sent copies). In an IMAP account:
//
//   - Outbox is a local-only folder; it never goes to the server. A server
//     mailbox that would have the same display name gets a "_" appended.
//   - Drafts and Sent are the folders of the server with those roles. What
//     Sending stores there is a local message: a file of the cache folder
//     that no UID names. List shows local messages next to the server's,
//     with their maildir key as id. Local drafts stay local. Local sent
//     copies are APPENDed to the server (RFC 3501 §6.3.11) by the
//     connection owner, whenever a connection is up, and then become the
//     cached body of their new UID (APPENDUID, RFC 4315 §3). A copy
//     already on the server (a crash after APPEND, before the cache
//     learned of it) is found by its Message-ID and not appended twice.
//   - Without a server folder for the role, Drafts and Sent are local-only
//     folders too.
//
// The file is the durable record of a pending APPEND: nothing else
// remembers it, so a crash at any point leaves it to the next connection.

// outboxName is the local Outbox: the name [folders] gives, else "Outbox".
func (a *IMAP) outboxName() string {
	if n := a.cfg.Folders[RoleOutbox]; n != "" {
		return n
	}
	return "Outbox"
}

// maxAppend bounds a local message read into memory for APPEND.
const maxAppend = 64 << 20

// localRoles are the roles whose local messages List shows.
var localRoles = []string{RoleDrafts, RoleSent}

// RoleFolder returns the folder playing role for Sending: the local
// Outbox, or the server folder with the role, else the folder the config
// names or the usual name as a local-only folder. The maildir folder is
// created when missing.
func (a *IMAP) RoleFolder(ctx context.Context, role string) (string, error) {
	if err := a.checkOpen(ctx); err != nil {
		return "", err
	}
	name := a.outboxName()
	if role != RoleOutbox {
		a.mu.Lock()
		name = a.roleFolderLocked(role)
		a.mu.Unlock()
		if name == "" {
			n, err := a.local.roleFolder(role)
			if err != nil {
				return "", err
			}
			name = n
		}
	}
	f, err := a.dir.Folder(name)
	if err != nil {
		return "", fmt.Errorf("%s: %s folder: %w", a.cfg.Name, role, err)
	}
	if role == RoleOutbox {
		// Everything in the Outbox is sent. A folder that holds the cache
		// of a server folder (one an older mailbag named "Outbox") must
		// not be taken for it.
		if _, err := os.Stat(filepath.Join(f.Path(), imapStateFile)); err == nil {
			return "", fmt.Errorf("%s: the folder %q holds the cache of a server folder, so it cannot be the outbox; name another in [accounts.%s.folders] outbox = \"…\"",
				a.cfg.Name, name, a.cfg.Name)
		}
	}
	return name, nil
}

// localOnlyLocked lists the local-only folders that exist: the Outbox,
// and Drafts and Sent when the server has no folder with the role.
func (a *IMAP) localOnlyLocked() []string {
	out := []string{}
	if a.dir.HasFolder(a.outboxName()) {
		out = append(out, a.outboxName())
	}
	for _, role := range localRoles {
		if a.roleFolderLocked(role) != "" {
			continue
		}
		name, err := a.local.roleFolder(role)
		if err != nil || !a.dir.HasFolder(name) {
			continue
		}
		if _, onServer := a.mailboxLocked(name); !onServer && !slices.Contains(out, name) {
			out = append(out, name)
		}
	}
	return out
}

// isLocalOnlyLocked reports whether name is a local-only folder. A server
// folder never is, and is told apart without reading the maildir (List
// asks on every call).
func (a *IMAP) isLocalOnlyLocked(name string) bool {
	if _, onServer := a.mailboxLocked(name); onServer {
		return false
	}
	return slices.Contains(a.localOnlyLocked(), name)
}

// hasLocalLocked reports whether the server folder name can hold local
// messages (its role is Drafts or Sent).
func (a *IMAP) hasLocalLocked(name string) bool {
	for _, f := range a.folders {
		if f.Name == name {
			return slices.Contains(localRoles, f.Role)
		}
	}
	return false
}

// isLocalID reports whether id names a local message (a maildir key)
// rather than a server one ("UIDVALIDITY.UID").
func isLocalID(id MsgID) bool {
	_, _, ok := parseMsgID(id)
	return !ok
}

// splitIDs separates the local ids from the server ones.
func splitIDs(ids []MsgID) (server, local []MsgID) {
	for _, id := range ids {
		if isLocalID(id) {
			local = append(local, id)
		} else {
			server = append(server, id)
		}
	}
	return server, local
}

// uncachedLocked keeps of files, the envelopes of fc's maildir folder,
// those no cached UID has as its body: the local messages.
func uncachedLocked(fc *folderCache, files []Envelope) []Envelope {
	known := make(map[string]bool)
	for _, m := range fc.st.Msgs {
		if k := fc.st.bodyKey(m); k != "" {
			known[k] = true
		}
	}
	return slices.DeleteFunc(files, func(e Envelope) bool { return known[e.Key] })
}

// localMessages returns the envelopes of the local messages of the server
// folder name: the files of its maildir folder no cached UID names. The
// files are listed before the cache is asked, so a body stored meanwhile
// (file first, then its UID's record) is not taken for a local message.
func (a *IMAP) localMessages(ctx context.Context, name string) ([]Envelope, error) {
	a.mu.Lock()
	_, err := a.cacheLocked(name)
	a.mu.Unlock()
	if err != nil {
		return nil, err
	}
	envs, err := a.local.List(ctx, name)
	if err != nil {
		return nil, err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	fc, err := a.cacheLocked(name)
	if err != nil {
		return nil, err
	}
	return uncachedLocked(fc, envs), nil
}

// AppendSent is Sending's AfterSent hook: the sent copy is in the Sent
// folder already, as a local message; the connection owner APPENDs it
// when it can. It never fails: offline, the copy waits.
func (a *IMAP) AppendSent(context.Context, []byte) error {
	a.scheduleAppends()
	a.wake()
	return nil
}

// scheduleAppends queues the APPEND of the local sent copies, one per
// step.
func (a *IMAP) scheduleAppends() {
	a.addBG(bgTask{key: "append:sent", fn: func(ctx context.Context, c *imapt.Client) error {
		more, err := a.appendStep(ctx, c)
		if err == nil && more {
			a.scheduleAppends()
		}
		return err
	}})
}

// appendAll APPENDs every local sent copy (for Sync).
func (a *IMAP) appendAll(ctx context.Context, c *imapt.Client) error {
	for {
		more, err := a.appendStep(ctx, c)
		if err != nil || !more {
			return err
		}
	}
}

// appendStep APPENDs the oldest local sent copy; more says whether others
// wait. A server refusal is reported once (EventError) and the copy stays
// local; a network error is returned.
func (a *IMAP) appendStep(ctx context.Context, c *imapt.Client) (more bool, err error) {
	sent, err := a.sentFolder(ctx, c)
	if sent == "" || err != nil {
		return false, err
	}
	envs, err := a.localMessages(ctx, sent)
	if err != nil {
		return false, err
	}
	a.mu.Lock()
	envs = slices.DeleteFunc(envs, func(e Envelope) bool { return a.appendRefused[e.Key] })
	fc, cerr := a.cacheLocked(sent)
	a.mu.Unlock()
	if cerr != nil || len(envs) == 0 {
		return false, nil
	}
	e := slices.MinFunc(envs, func(x, y Envelope) int { return x.Date.Compare(y.Date) })
	err = a.appendOne(ctx, c, fc, e)
	if err != nil && imapt.IsRefusal(err) {
		a.mu.Lock()
		a.appendRefused[e.Key] = true
		a.mu.Unlock()
		a.emit(EventError, sent, fmt.Errorf("%s: the server refused the copy of %q for %s; it stays in %s on this computer: %w",
			a.cfg.Name, e.Subject, fc.mailbox, sent, err))
		err = nil
	}
	return len(envs) > 1, err
}

// sentFolder returns the server's Sent folder. When the server has none
// and sent copies wait in the local-only Sent folder, it creates one
// (the name the config gives, else "Sent") and lists the folders again,
// so the local folder becomes the cache of the new one. "" means there is
// no Sent folder and nothing to append.
func (a *IMAP) sentFolder(ctx context.Context, c *imapt.Client) (string, error) {
	a.mu.Lock()
	sent := a.roleFolderLocked(RoleSent)
	listed := len(a.folders) > 0
	a.mu.Unlock()
	if sent != "" || !listed {
		return sent, nil
	}
	name, err := a.local.roleFolder(RoleSent)
	if err != nil {
		return "", nil
	}
	if fo, err := a.local.folderInfo(name); err != nil || fo.Total == 0 {
		return "", nil
	}
	mbox := "Sent"
	if n, ok := a.cfg.Folders[RoleSent]; ok {
		mbox = n
	}
	err = c.Do(ctx, "create "+mbox, func() error { return c.Create(mbox, nil).Wait() })
	var ie *goimap.Error
	if err != nil && !(errors.As(err, &ie) && ie.Code == goimap.ResponseCodeAlreadyExists) {
		return "", err
	}
	if err := a.syncFolders(ctx, c); err != nil {
		return "", err
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.roleFolderLocked(RoleSent), nil
}

// appendOne puts one local message of fc on the server, unless a message
// with its Message-ID is there already, and then records it under its
// UID or lets the next resync fetch it.
func (a *IMAP) appendOne(ctx context.Context, c *imapt.Client, fc *folderCache, e Envelope) error {
	raw, err := a.readLocal(fc.f, e.Key)
	if errors.Is(err, maildir.ErrNotFound) {
		return nil // removed meanwhile
	}
	if err != nil {
		return fmt.Errorf("%s: %s: %w", a.cfg.Name, fc.name, err)
	}
	sel, err := a.selectWatch(ctx, c, fc.name, fc.mailbox)
	if err != nil {
		return err
	}
	uv := sel.UIDValidity
	var uid goimap.UID
	if e.MessageID != "" {
		err := c.Do(ctx, "search message-id", func() error {
			d, err := c.UIDSearch(&goimap.SearchCriteria{Header: []goimap.SearchCriteriaHeaderField{
				{Key: "Message-ID", Value: "<" + e.MessageID + ">"}}}, nil).Wait()
			if err == nil {
				if uids := d.AllUIDs(); len(uids) > 0 {
					uid = uids[0]
				}
			}
			return err
		})
		if err != nil {
			return err
		}
	}
	if uid == 0 {
		flags := maildirToIMAPFlags(e.Flags.With("S"))
		date := e.Date
		if date.IsZero() {
			date = time.Now()
		}
		appendOnce := func() error {
			return c.DoTimeout(ctx, 4*c.Timeout(), "append to "+fc.mailbox, func() error {
				cmd := c.Append(fc.mailbox, int64(len(raw)), &goimap.AppendOptions{Flags: flags, Time: date})
				if _, err := cmd.Write(raw); err != nil {
					cmd.Close()
					return err
				}
				if err := cmd.Close(); err != nil {
					return err
				}
				d, err := cmd.Wait()
				if err == nil && d != nil && d.UIDValidity == uv {
					uid = d.UID
				}
				return err
			})
		}
		if err := withTryCreate(ctx, c, fc.mailbox, appendOnce); err != nil {
			return err
		}
	}
	a.adoptLocal(fc, e, uv, uint32(uid))
	// The resync of the folder shows it from the server (and fetches the
	// envelope when the UID is not known).
	a.addBG(bgTask{key: "sync:" + fc.name, fn: func(ctx context.Context, c *imapt.Client) error {
		return a.syncFolder(ctx, c, fc.name, false)
	}})
	return nil
}

// adoptLocal makes the local message e of fc, now on the server as uid,
// the cached body of that UID; without a usable UID the file goes and the
// resync fetches the message.
func (a *IMAP) adoptLocal(fc *folderCache, e Envelope, uv, uid uint32) {
	a.mu.Lock()
	defer a.mu.Unlock()
	ent, err := fc.f.Find(e.Key)
	if err != nil {
		return
	}
	if uid == 0 || fc.st.UIDValidity != uv {
		fc.f.Remove(ent)
		a.emitLocked(EventFolderChanged, fc.name, nil)
		return
	}
	if m, ok := fc.st.Msgs[uid]; ok {
		if k := fc.st.bodyKey(m); k != "" && k != e.Key {
			fc.f.Remove(ent) // the body is cached already
		} else {
			fc.st.setBodyKey(m, e.Key)
		}
	} else {
		env := e
		env.Flags = env.Flags.With("S")
		fc.st.put(uid, e.Key, &env)
	}
	if err := saveState(fc.f.Path(), fc.st); err != nil {
		a.emitLocked(EventError, fc.name, fmt.Errorf("%s: %w", a.cfg.Name, err))
	}
	a.updateCountsLocked(fc)
	a.emitLocked(EventFolderChanged, fc.name, nil)
}

// readLocal reads a local message with CRLF line endings, as APPEND
// sends it (RFC 3501 §6.3.11 takes an RFC 5322 message).
func (a *IMAP) readLocal(f *maildir.Folder, key string) ([]byte, error) {
	ent, err := f.Find(key)
	if err != nil {
		return nil, err
	}
	file, _, err := f.Open(ent)
	if err != nil {
		return nil, err
	}
	defer file.Close()
	data, err := io.ReadAll(io.LimitReader(file, maxAppend+1))
	if err != nil {
		return nil, err
	}
	if len(data) > maxAppend {
		return nil, fmt.Errorf("message %s is larger than %d MB", key, maxAppend>>20)
	}
	return toCRLF(data), nil
}

// toCRLF turns bare LF line endings into CRLF.
func toCRLF(data []byte) []byte {
	n := bytes.Count(data, []byte("\n")) - bytes.Count(data, []byte("\r\n"))
	if n == 0 {
		return data
	}
	out := make([]byte, 0, len(data)+n)
	for len(data) > 0 {
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			out = append(out, data...)
			break
		}
		line := data[:i]
		out = append(out, line...)
		if len(line) == 0 || line[len(line)-1] != '\r' {
			out = append(out, '\r')
		}
		out = append(out, '\n')
		data = data[i+1:]
	}
	return out
}

// moveLocal moves local messages to a folder that can hold them: a
// local-only one, or the server's Drafts or Sent (where a sent copy is
// then APPENDed).
func (a *IMAP) moveLocal(ctx context.Context, from string, ids []MsgID, to string) error {
	if err := a.checkOpen(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	ok := a.isLocalOnlyLocked(to) || a.hasLocalLocked(to)
	a.mu.Unlock()
	if !ok {
		return fmt.Errorf("%s: %d message(s) of %s exist only on this computer and cannot go to %s, a server folder",
			a.cfg.Name, len(ids), from, to)
	}
	if _, err := a.dir.Folder(to); err != nil {
		return fmt.Errorf("%s: %w", a.cfg.Name, err)
	}
	if err := a.local.Move(ctx, from, ids, to); err != nil {
		return err
	}
	a.scheduleAppends()
	a.wake()
	return nil
}

// removeLocal deletes local messages. They were never on the server, so
// there is no server Trash to move them to: they go for good.
func (a *IMAP) removeLocal(ctx context.Context, folder string, ids []MsgID) error {
	if err := a.checkOpen(ctx); err != nil {
		return err
	}
	f, err := a.local.folder(folder)
	if err != nil {
		return err
	}
	for _, id := range ids {
		e, err := f.Find(string(id))
		if errors.Is(err, maildir.ErrNotFound) {
			continue
		}
		if err == nil {
			err = f.Remove(e)
		}
		if err != nil {
			return fmt.Errorf("%s: %s: delete %s: %w", a.cfg.Name, folder, id, err)
		}
	}
	return nil
}
