package ui

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/mail"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	tea "github.com/charmbracelet/bubbletea"
	gomail "github.com/emersion/go-message/mail"
	"github.com/emersion/go-message/textproto"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/store/message"
)

// Bounds of composing.
const (
	sendTimeout      = 3 * time.Minute // a submission with attachments over a slow link
	maxDraftFile     = 16 << 20        // the text the editor leaves
	maxOriginal      = 50 << 20        // a message replied to or forwarded
	maxCompletions   = 5000            // directory entries looked at by Tab
	draftFileName    = "message.eml"   // editors recognise mail by the name
	templateMarker   = "# mailbag: "   // lines mailbag puts on top of the file, removed on reading
	draftPlaceholder = "nobody@invalid"
)

// Replies of the compose commands; seq is the compose's (or the
// prompt's) request number.
type (
	composeReadyMsg struct {
		seq     uint64
		draft   *account.Draft
		atts    []attInfo
		dir     string
		path    string
		written []byte
		draftID account.MsgID
		moved   bool // a queued message was moved back to Drafts
		err     error
	}
	editorDoneMsg struct {
		seq uint64
		err error
	}
	editedMsg struct {
		seq      uint64
		draft    *account.Draft
		atts     []attInfo
		abort    bool   // empty file, or unchanged template
		parseErr error  // the headers do not parse
		gaveUp   bool   // … and the user saved the file as mailbag left it
		written  []byte // the file with the error on top
		err      error
	}
	templateWrittenMsg struct {
		seq     uint64
		written []byte
		err     error
	}
	sendDoneMsg struct {
		acct       int
		seq        uint64
		compose    bool // the message being composed (else queued mail sent now)
		res        account.SendResult
		err        error         // storing failed: nothing was sent
		buildErr   error         // the draft does not make a message
		draftID    account.MsgID // the draft it was stored as on the way
		queued     int
		haveQueued bool
		queuedErr  error
		flagErr    error
	}
	postponedMsg struct {
		seq    uint64
		acct   int
		id     account.MsgID
		folder string
		err    error
	}
	queuedMsg struct {
		acct int
		n    int
		err  error
	}
	completeMsg struct {
		seq        uint64
		input      string // the prompt's value when Tab was pressed
		value      string
		candidates []string // when more than one name matches
		unique     bool
		err        error
	}
	attachStatMsg struct {
		seq  uint64
		path string
		info attInfo
		err  error
	}
)

// postponer is the part of account.Sender that stores drafts.
type postponer interface {
	Postpone(ctx context.Context, raw io.Reader, replace account.MsgID) (account.MsgID, error)
}

// roleFolderer names (and creates) the folder playing a role.
type roleFolderer interface {
	RoleFolder(ctx context.Context, role string) (string, error)
}

// prepareCompose writes the draft file: a new message, a reply or
// forward of folder/key, or a stored draft resumed (moved first from
// moveFrom, the Outbox, when not empty).
func prepareCompose(a account.Account, seq uint64, kind composeKind, folder, key, moveFrom string) tea.Cmd {
	self := a.Address()
	return func() tea.Msg {
		out := composeReadyMsg{seq: seq}
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		dir, err := os.MkdirTemp("", "mailbag-compose-")
		if err != nil {
			out.err = fmt.Errorf("compose: %w", err)
			return out
		}
		out.dir = dir
		if err := os.Chmod(dir, 0o700); err != nil {
			out.err = fmt.Errorf("compose: %w", err)
			return out
		}
		d := &account.Draft{From: self}
		if kind != composeNew {
			if moveFrom != "" {
				if err := a.Move(ctx, moveFrom, []account.MsgID{account.MsgID(key)}, folder); err != nil {
					out.err = fmt.Errorf("%s: %s: move back to %s: %w", a.Name(), moveFrom, folder, err)
					return out
				}
				out.moved = true
			}
			raw, msg, err := readOriginal(ctx, a, folder, key)
			if err != nil {
				out.err = err
				return out
			}
			switch kind {
			case composeReply, composeReplyAll:
				d = account.Reply(msg, []string{self}, kind == composeReplyAll)
				if d.From == "" {
					d.From = self
				}
			case composeForward, composeForwardAtt:
				d = account.Forward(msg, raw, kind == composeForwardAtt)
				d.From = self
			case composeResume:
				d, err = draftFromMessage(msg, raw, filepath.Join(dir, "attachments"))
				if err != nil {
					out.err = fmt.Errorf("%s: %s: resume: %w", a.Name(), folder, err)
					return out
				}
				out.draftID = account.MsgID(key)
			}
		}
		out.path = filepath.Join(dir, draftFileName)
		out.written = d.Template()
		if err := os.WriteFile(out.path, out.written, 0o600); err != nil {
			out.err = fmt.Errorf("compose: %w", err)
			return out
		}
		out.draft = d
		out.atts = describeAttachments(d.Attachments)
		return out
	}
}

// readOriginal reads and parses a stored message.
func readOriginal(ctx context.Context, a account.Account, folder, key string) ([]byte, *message.Message, error) {
	rc, err := a.Open(ctx, folder, account.MsgID(key))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: open: %w", a.Name(), folder, err)
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxOriginal+1))
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: read: %w", a.Name(), folder, err)
	}
	if len(raw) > maxOriginal {
		return nil, nil, fmt.Errorf("%s: %s: message larger than %d bytes", a.Name(), folder, maxOriginal)
	}
	msg, err := message.Parse(bytes.NewReader(raw), nil)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %s: %w", a.Name(), folder, err)
	}
	return raw, msg, nil
}

// draftFromMessage turns a stored draft back into a Draft: its header
// fields (Bcc too: drafts keep it), its text, and its attachments saved
// as files into attDir, which the draft then attaches.
func draftFromMessage(msg *message.Message, raw []byte, attDir string) (*account.Draft, error) {
	d := &account.Draft{
		From:      msg.From,
		Subject:   msg.Subject,
		InReplyTo: msg.InReplyTo,
		Body:      msg.Text,
	}
	if msg.To != "" {
		d.To = []string{msg.To}
	}
	if msg.Cc != "" {
		d.Cc = []string{msg.Cc}
	}
	for _, f := range msg.Header {
		if strings.EqualFold(f.Name, "Bcc") && strings.TrimSpace(f.Value) != "" {
			d.Bcc = append(d.Bcc, f.Value)
		}
	}
	d.References = strings.Fields(msg.References)
	if len(msg.Attachments) > 0 {
		if err := os.Mkdir(attDir, 0o700); err != nil {
			return nil, err
		}
	}
	for i, att := range msg.Attachments {
		dir := attDir
		if i > 0 { // one directory each: equal names must not collide
			dir = filepath.Join(attDir, fmt.Sprint(i+1))
			if err := os.Mkdir(dir, 0o700); err != nil {
				return nil, err
			}
		}
		p, err := message.SaveAttachment(bytes.NewReader(raw), att, dir, false)
		if err != nil {
			return nil, err
		}
		d.Attachments = append(d.Attachments, account.DraftAttachment{Path: p, ContentType: att.Type})
	}
	return d, nil
}

// readEdited reads the draft file the editor left and applies it to d.
func readEdited(seq uint64, path string, d account.Draft, written []byte, fresh bool) tea.Cmd {
	return func() tea.Msg {
		out := editedMsg{seq: seq}
		b, err := readBounded(path, maxDraftFile)
		if err != nil {
			out.err = fmt.Errorf("compose: %w", err)
			return out
		}
		text := stripMarkers(b)
		if len(bytes.TrimSpace(text)) == 0 || (fresh && bytes.Equal(b, written)) {
			out.abort = true
			return out
		}
		d.Attachments = slices.Clone(d.Attachments)
		if err := d.Apply(text); err != nil {
			var te *account.TemplateError
			if !errors.As(err, &te) {
				out.err = err
				return out
			}
			// Line numbers as the user sees them, with the marker on top.
			shown := *te
			shown.Line++
			out.parseErr = &shown
			if bytes.Equal(b, written) {
				out.gaveUp = true
				out.written = b
				return out
			}
			marked := append([]byte(templateMarker+shown.Error()+" (fix it and save; this line goes away)\n"), text...)
			if err := os.WriteFile(path, marked, 0o600); err != nil {
				out.err = fmt.Errorf("compose: %w", err)
				return out
			}
			out.written = marked
			return out
		}
		out.draft = &d
		out.atts = describeAttachments(d.Attachments)
		return out
	}
}

func readBounded(path string, limit int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	b, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(b)) > limit {
		return nil, fmt.Errorf("%s: larger than %d bytes", path, limit)
	}
	return b, nil
}

// stripMarkers removes the lines mailbag put on top of the file.
func stripMarkers(b []byte) []byte {
	for bytes.HasPrefix(b, []byte(templateMarker)) {
		i := bytes.IndexByte(b, '\n')
		if i < 0 {
			return nil
		}
		b = b[i+1:]
	}
	return b
}

// describeAttachments gives name, type and size of each attachment.
func describeAttachments(atts []account.DraftAttachment) []attInfo {
	out := make([]attInfo, len(atts))
	for i, a := range atts {
		info := attInfo{name: a.Name, typ: a.ContentType}
		if info.name == "" {
			info.name = filepath.Base(a.Path)
		}
		if a.Path == "" {
			info.size = int64(len(a.Data))
			if info.typ == "" {
				info.typ = sniffType(info.name, a.Data)
			}
		} else if st, err := os.Stat(a.Path); err == nil {
			info.size = st.Size()
			if info.typ == "" {
				info.typ = fileType(a.Path)
			}
		}
		out[i] = info
	}
	return out
}

// fileType guesses a file's media type from its name, then its first
// bytes.
func fileType(path string) string {
	if t := typeByName(path); t != "" {
		return t
	}
	f, err := os.Open(path)
	if err != nil {
		return "application/octet-stream"
	}
	defer f.Close()
	head := make([]byte, 512)
	n, _ := io.ReadFull(f, head)
	return sniffType("", head[:n])
}

func typeByName(name string) string {
	t := mime.TypeByExtension(filepath.Ext(name))
	if mt, _, err := mime.ParseMediaType(t); err == nil {
		return mt
	}
	return ""
}

func sniffType(name string, data []byte) string {
	if t := typeByName(name); t != "" {
		return t
	}
	mt, _, _ := mime.ParseMediaType(http.DetectContentType(data))
	return mt
}

// writeTemplate writes the draft file again before another edit.
func writeTemplate(seq uint64, path string, tpl []byte) tea.Cmd {
	return func() tea.Msg {
		err := os.WriteFile(path, tpl, 0o600)
		if err != nil {
			err = fmt.Errorf("compose: %w", err)
		}
		return templateWrittenMsg{seq: seq, written: tpl, err: err}
	}
}

// buildRaw builds the message for the Sender. Build leaves Bcc out of
// what it writes; the Sender reads the recipients from To, Cc and Bcc
// and strips Bcc before transmitting, so Bcc goes in as a header field of
// its own. For a draft, a missing recipient is no error: the message is
// built with a placeholder in the (unwritten) envelope.
func buildRaw(d account.Draft, now time.Time, domain string, forDraft bool) ([]byte, error) {
	bcc := d.Bcc
	if forDraft && len(d.To)+len(d.Cc)+len(d.Bcc) == 0 {
		d.Bcc = []string{draftPlaceholder}
	}
	var b bytes.Buffer
	if len(bcc) > 0 {
		list, err := mail.ParseAddressList(strings.Join(bcc, ", "))
		if err != nil {
			return nil, fmt.Errorf("compose: Bcc: %w", err)
		}
		addrs := make([]*gomail.Address, len(list))
		for i, a := range list {
			addrs[i] = (*gomail.Address)(a)
		}
		var h gomail.Header
		h.SetAddressList("Bcc", addrs)
		var hb bytes.Buffer
		if err := textproto.WriteHeader(&hb, h.Header.Header); err != nil {
			return nil, fmt.Errorf("compose: Bcc: %w", err)
		}
		b.Write(bytes.TrimSuffix(hb.Bytes(), []byte("\r\n"))) // the fields, not the blank line
	}
	if _, err := d.Build(&b, now, account.BuildOptions{Domain: domain}); err != nil {
		return nil, err
	}
	return b.Bytes(), nil
}

// domainOf is the domain of an address ("" when it has none).
func domainOf(addr string) string {
	a, err := mail.ParseAddress(addr)
	if err != nil {
		return ""
	}
	if i := strings.LastIndexByte(a.Address, '@'); i >= 0 {
		return a.Address[i+1:]
	}
	return ""
}

// sendCompose builds the draft and hands it to the account's Sender: a
// stored draft is replaced by the new version and sent from Drafts, a
// new message is sent directly. After a send the original of a reply or
// forward gets its flag, and the Outbox is counted.
//
// Once the message is stored (sent, queued or back in Drafts) the
// compose's directory dir is removed: the compose ends with this reply.
func sendCompose(a account.Account, acct int, seq uint64, d account.Draft, draftID account.MsgID, orig *composeOrig, dir string, now time.Time) tea.Cmd {
	domain := domainOf(a.Address())
	return func() tea.Msg {
		out := sendDoneMsg{acct: acct, seq: seq, compose: true}
		raw, err := buildRaw(d, now, domain, false)
		if err != nil {
			out.buildErr = err
			return out
		}
		s := a.(account.Sender)
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		defer cancel()
		if draftID != "" {
			id, err := s.Postpone(ctx, bytes.NewReader(raw), draftID)
			if err != nil {
				out.err = fmt.Errorf("%s: store the draft: %w", a.Name(), err)
				return out
			}
			out.draftID = id
			out.res, err = s.SendDraft(ctx, id)
			if err != nil {
				out.err = fmt.Errorf("%s: send: %w", a.Name(), err)
				return out
			}
		} else {
			out.res, err = s.Send(ctx, bytes.NewReader(raw))
			if err != nil {
				out.err = fmt.Errorf("%s: send: %w", a.Name(), err)
				return out
			}
		}
		os.RemoveAll(dir)
		if out.res.Status == account.Sent && orig != nil {
			fctx, fcancel := context.WithTimeout(context.Background(), ioTimeout)
			if err := a.SetFlags(fctx, orig.folder, []account.MsgID{account.MsgID(orig.key)}, maildir.Flags(string(orig.flag)), ""); err != nil {
				out.flagErr = fmt.Errorf("flag the original: %w", err)
			}
			fcancel()
		}
		countInto(s, &out)
		return out
	}
}

func countInto(s account.Sender, out *sendDoneMsg) {
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	out.queued, out.queuedErr = s.Queued(ctx)
	out.haveQueued = out.queuedErr == nil
}

// nowSender is an account that can submit a queued message at once
// (account.Sending).
type nowSender interface {
	SendNow(ctx context.Context, id account.MsgID) (account.SendResult, error)
}

// sendQueued sends a message of the Outbox now: with SendNow when the
// account has it, else back to Drafts and SendDraft, which queues and
// submits it at once.
func sendQueued(a account.Account, s account.Sender, acct int, outbox, drafts, key string) tea.Cmd {
	return func() tea.Msg {
		out := sendDoneMsg{acct: acct}
		ctx, cancel := context.WithTimeout(context.Background(), sendTimeout)
		defer cancel()
		id := account.MsgID(key)
		var res account.SendResult
		var err error
		if n, ok := a.(nowSender); ok {
			res, err = n.SendNow(ctx, id)
		} else {
			if err := a.Move(ctx, outbox, []account.MsgID{id}, drafts); err != nil {
				out.err = fmt.Errorf("%s: %s: %w", a.Name(), outbox, err)
				return out
			}
			res, err = s.SendDraft(ctx, id)
		}
		if err != nil {
			out.err = fmt.Errorf("%s: send: %w", a.Name(), err)
		}
		out.res = res
		countInto(s, &out)
		return out
	}
}

// postponeCompose stores the draft in Drafts through the account's
// Postpone (the sending half's, or the maildir's for an account with no
// [smtp] server), replacing the draft it was resumed from. Once it is
// stored the compose's directory dir is removed.
func postponeCompose(a account.Account, acct int, seq uint64, d account.Draft, replace account.MsgID, dir string, now time.Time) tea.Cmd {
	domain := domainOf(a.Address())
	return func() tea.Msg {
		out := postponedMsg{seq: seq, acct: acct, folder: "Drafts"}
		if strings.TrimSpace(d.From) == "" {
			d.From = a.Address()
		}
		raw, err := buildRaw(d, now, domain, true)
		if err != nil {
			out.err = err
			return out
		}
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if p, ok := account.As[postponer](a); ok {
			out.id, out.err = p.Postpone(ctx, bytes.NewReader(raw), replace)
			if rf, ok := account.As[roleFolderer](a); ok {
				if name, err := rf.RoleFolder(ctx, account.RoleDrafts); err == nil {
					out.folder = name
				}
			}
		} else {
			out.err = errors.New("this account cannot store drafts")
		}
		if out.err != nil {
			out.err = fmt.Errorf("%s: postpone: %w", a.Name(), out.err)
		} else {
			os.RemoveAll(dir)
		}
		return out
	}
}

// countQueued asks a Sender how many messages wait in its Outbox.
func countQueued(s account.Sender, acct int) tea.Cmd {
	return func() tea.Msg {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		n, err := s.Queued(ctx)
		return queuedMsg{acct: acct, n: n, err: err}
	}
}

// completePath completes a path typed in the attach prompt: to the
// longest common prefix of the names in its directory that start with
// what was typed (a directory gets a "/"), listing them when several.
func completePath(seq uint64, input string) tea.Cmd {
	return func() tea.Msg {
		out := completeMsg{seq: seq, input: input, value: input}
		dirPart, filePart := "", input
		if i := strings.LastIndexByte(input, '/'); i >= 0 {
			dirPart, filePart = input[:i+1], input[i+1:]
		}
		dir := dirPart
		if dir == "" {
			dir = "."
		}
		dir, err := expandHome(dir)
		if err != nil {
			out.err = err
			return out
		}
		f, err := os.Open(dir)
		if err != nil {
			out.err = fmt.Errorf("complete: %w", err)
			return out
		}
		defer f.Close()
		entries, err := f.ReadDir(maxCompletions)
		if err != nil && !errors.Is(err, io.EOF) {
			out.err = fmt.Errorf("complete: %w", err)
			return out
		}
		var names []string
		for _, e := range entries {
			n := e.Name()
			if !strings.HasPrefix(n, filePart) || (strings.HasPrefix(n, ".") && !strings.HasPrefix(filePart, ".")) {
				continue
			}
			isDir := e.IsDir()
			if e.Type()&os.ModeSymlink != 0 {
				if st, err := os.Stat(filepath.Join(dir, n)); err == nil {
					isDir = st.IsDir()
				}
			}
			if isDir {
				n += "/"
			}
			names = append(names, n)
		}
		slices.Sort(names)
		switch len(names) {
		case 0:
			return out
		case 1:
			out.value, out.unique = dirPart+names[0], true
			return out
		}
		lcp := names[0]
		for _, n := range names[1:] {
			for !strings.HasPrefix(n, lcp) {
				lcp = lcp[:len(lcp)-1]
			}
		}
		out.value = dirPart + lcp
		out.candidates = names
		return out
	}
}

// statAttachment checks a file to attach: it must be a regular file.
func statAttachment(seq uint64, input string) tea.Cmd {
	return func() tea.Msg {
		out := attachStatMsg{seq: seq}
		p, err := expandHome(input)
		if err == nil {
			p, err = filepath.Abs(p)
		}
		if err != nil {
			out.err = fmt.Errorf("attach: %w", err)
			return out
		}
		st, err := os.Stat(p)
		if err != nil {
			out.err = fmt.Errorf("attach: %w", err)
			return out
		}
		if !st.Mode().IsRegular() {
			out.err = fmt.Errorf("attach %s: not a regular file", p)
			return out
		}
		f, err := os.Open(p)
		if err != nil {
			out.err = fmt.Errorf("attach: %w", err)
			return out
		}
		f.Close()
		out.path = p
		out.info = attInfo{name: filepath.Base(p), typ: fileType(p), size: st.Size()}
		return out
	}
}

// removeDir removes a compose's private directory.
func removeDir(dir string) tea.Cmd {
	return func() tea.Msg {
		os.RemoveAll(dir)
		return nil
	}
}
