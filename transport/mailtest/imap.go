package mailtest

import (
	"bytes"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapserver"
	"github.com/emersion/go-imap/v2/imapserver/imapmemserver"
)

// IMAPOptions configures NewIMAPServer. The zero value is a plain-text
// server with no users.
type IMAPOptions struct {
	// Users maps user name to password; each user starts with an INBOX.
	Users map[string]string
	// TLS, when set, makes the listener implicit TLS (port 993 style).
	TLS *tls.Config
	// STARTTLS, when set, offers STARTTLS (RFC 3501 §6.2.1) and refuses
	// LOGIN before it. Exclusive with TLS. With neither, LOGIN is allowed
	// in clear text.
	STARTTLS *tls.Config
	// PreAuth greets with PREAUTH (RFC 3501 §7.1.4), logged in as the
	// first user in name order, before any TLS upgrade.
	PreAuth bool
	// NoMove leaves out MOVE (RFC 6851): clients fall back to COPY,
	// STORE \Deleted and EXPUNGE.
	NoMove bool
	// NoIdle leaves out IDLE (RFC 2177): clients poll with NOOP.
	NoIdle bool
	// NoListExtended leaves out LIST-EXTENDED (RFC 5258) and LIST-STATUS
	// (RFC 5819, which needs it): LIST takes no selection options.
	NoListExtended bool
	// Refuse, when it returns non-nil, answers the command with that error
	// (an *imap.Error gives NO). op is "APPEND", "STORE", "COPY", "MOVE",
	// "EXPUNGE", "SELECT" or "FETCH"; mailbox is the one named or selected.
	Refuse func(op, mailbox string) error
	// Logf, when set, receives the server's error log.
	Logf func(format string, args ...any)
}

// IMAPServer is an in-process IMAP server on 127.0.0.1 backed by go-imap's
// imapmemserver, with mailboxes that carry special-use attributes
// (RFC 6154) and connections that can be dropped at chosen points.
type IMAPServer struct {
	// Addr is "127.0.0.1:PORT".
	Addr string

	opt   IMAPOptions
	mem   *imapmemserver.Server
	srv   *imapserver.Server
	ln    net.Listener
	users map[string]*imapmemserver.User

	served    chan struct{}
	once      sync.Once
	dropAfter atomic.Int64
	accepted  atomic.Int64

	mu    sync.Mutex
	boxes map[string]map[string]*memBox // user → mailbox name → state
	conns map[*dropConn]struct{}
	trans bytes.Buffer
}

type memBox struct {
	specialUse []imap.MailboxAttr
	subscribed bool
}

// NewIMAPServer starts a server on 127.0.0.1:0. Close stops it.
func NewIMAPServer(opt IMAPOptions) (*IMAPServer, error) {
	if opt.TLS != nil && opt.STARTTLS != nil {
		return nil, errors.New("mailtest: imap: TLS and STARTTLS are exclusive")
	}
	s := &IMAPServer{
		opt:    opt,
		mem:    imapmemserver.New(),
		users:  make(map[string]*imapmemserver.User),
		boxes:  make(map[string]map[string]*memBox),
		conns:  make(map[*dropConn]struct{}),
		served: make(chan struct{}),
	}
	for name, pass := range opt.Users {
		u := imapmemserver.NewUser(name, pass)
		if err := u.Create("INBOX", nil); err != nil {
			return nil, fmt.Errorf("mailtest: imap: %w", err)
		}
		s.mem.AddUser(u)
		s.users[name] = u
		s.boxes[name] = map[string]*memBox{"INBOX": {subscribed: true}}
	}
	caps := imap.CapSet{
		imap.CapIMAP4rev1: {}, imap.CapUIDPlus: {}, imap.CapESearch: {},
		imap.CapLiteralPlus: {}, imap.CapNamespace: {}, imap.CapUnselect: {},
		imap.CapListStatus: {}, imap.CapListExtended: {}, imap.CapSpecialUse: {},
		imap.CapStatusSize: {}, imap.CapSASLIR: {},
	}
	if !opt.NoMove {
		caps[imap.CapMove] = struct{}{}
	}
	if !opt.NoIdle {
		caps[imap.CapIdle] = struct{}{}
	}
	if opt.NoListExtended {
		delete(caps, imap.CapListExtended)
		delete(caps, imap.CapListStatus)
	}
	var logger imapserver.Logger = discardLogger{}
	if opt.Logf != nil {
		logger = funcLogger(opt.Logf)
	}
	s.srv = imapserver.New(&imapserver.Options{
		NewSession:   s.newSession,
		Caps:         caps,
		Logger:       logger,
		TLSConfig:    opt.STARTTLS,
		InsecureAuth: opt.TLS == nil && opt.STARTTLS == nil,
		DebugWriter:  imapTranscript{s},
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mailtest: imap: %w", err)
	}
	s.Addr = ln.Addr().String()
	var served net.Listener = &dropListener{Listener: ln, s: s}
	if opt.TLS != nil {
		served = tls.NewListener(served, opt.TLS)
	}
	s.ln = served
	go func() {
		defer close(s.served)
		s.srv.Serve(served)
	}()
	return s, nil
}

// Close stops the server and every connection.
func (s *IMAPServer) Close() error {
	var err error
	s.once.Do(func() {
		err = s.srv.Close()
		<-s.served
		s.DropConnections()
	})
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return err
}

// Transcript returns what was said on all connections (the first MiB,
// after TLS), for tests checking what a client did or did not send.
func (s *IMAPServer) Transcript() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.trans.String()
}

type imapTranscript struct{ s *IMAPServer }

func (w imapTranscript) Write(p []byte) (int, error) {
	w.s.mu.Lock()
	defer w.s.mu.Unlock()
	if room := (1 << 20) - w.s.trans.Len(); room > 0 {
		w.s.trans.Write(p[:min(len(p), room)])
	}
	return len(p), nil
}

// Accepted reports how many connections were accepted so far.
func (s *IMAPServer) Accepted() int { return int(s.accepted.Load()) }

// SetDropAfter makes every connection accepted from now on close itself
// once the server has written n bytes to it (counted before TLS); 0 turns
// it off. Tests use it to cut a client off in the middle of a response.
func (s *IMAPServer) SetDropAfter(n int64) { s.dropAfter.Store(n) }

// DropConnections closes every open connection at once.
func (s *IMAPServer) DropConnections() {
	s.mu.Lock()
	conns := make([]*dropConn, 0, len(s.conns))
	for c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.Close()
	}
}

// Connections reports how many connections are open.
func (s *IMAPServer) Connections() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *IMAPServer) user(name string) (*imapmemserver.User, error) {
	u := s.users[name]
	if u == nil {
		return nil, fmt.Errorf("mailtest: imap: no user %q", name)
	}
	return u, nil
}

// AddMailbox creates a mailbox for user ("/" is the hierarchy delimiter)
// with the given special-use attributes (imap.MailboxAttrSent, …).
func (s *IMAPServer) AddMailbox(user, name string, specialUse ...imap.MailboxAttr) error {
	u, err := s.user(user)
	if err != nil {
		return err
	}
	if err := u.Create(name, nil); err != nil {
		return fmt.Errorf("mailtest: imap: create %q: %w", name, err)
	}
	s.mu.Lock()
	s.boxes[user][name] = &memBox{specialUse: specialUse, subscribed: true}
	s.mu.Unlock()
	return nil
}

// SetSubscribed changes whether a mailbox is subscribed.
func (s *IMAPServer) SetSubscribed(user, name string, sub bool) error {
	u, err := s.user(user)
	if err != nil {
		return err
	}
	if sub {
		err = u.Subscribe(name)
	} else {
		err = u.Unsubscribe(name)
	}
	if err != nil {
		return err
	}
	s.mu.Lock()
	if b := s.boxes[user][name]; b != nil {
		b.subscribed = sub
	}
	s.mu.Unlock()
	return nil
}

// RecreateMailbox deletes a mailbox and creates it again, empty and with a
// new UIDVALIDITY, keeping its special use.
func (s *IMAPServer) RecreateMailbox(user, name string) error {
	u, err := s.user(user)
	if err != nil {
		return err
	}
	if err := u.Delete(name); err != nil {
		return fmt.Errorf("mailtest: imap: delete %q: %w", name, err)
	}
	if err := u.Create(name, nil); err != nil {
		return fmt.Errorf("mailtest: imap: create %q: %w", name, err)
	}
	return nil
}

// AddMessage appends raw to the mailbox with the given flags, as mail
// delivered by another party would arrive; sessions idling on the mailbox
// are told. It returns the new message's UID.
func (s *IMAPServer) AddMessage(user, mailbox string, raw []byte, flags ...imap.Flag) (imap.UID, error) {
	u, err := s.user(user)
	if err != nil {
		return 0, err
	}
	data, err := u.Append(mailbox, bytes.NewReader(raw), &imap.AppendOptions{Flags: flags, Time: time.Now()})
	if err != nil {
		return 0, fmt.Errorf("mailtest: imap: append to %q: %w", mailbox, err)
	}
	return data.UID, nil
}

func (s *IMAPServer) newSession(c *imapserver.Conn) (imapserver.Session, *imapserver.GreetingData, error) {
	inner := s.mem.NewSession()
	base := &imapSession{Session: inner, s: s}
	var sess imapserver.Session = base
	if mv, ok := inner.(imapserver.SessionMove); ok && !s.opt.NoMove {
		sess = &imapMoveSession{imapSession: base, mv: mv}
	}
	if s.opt.PreAuth {
		names := make([]string, 0, len(s.opt.Users))
		for n := range s.opt.Users {
			names = append(names, n)
		}
		sort.Strings(names)
		if len(names) == 0 {
			return nil, nil, errors.New("mailtest: imap: PreAuth needs a user")
		}
		if err := base.Login(names[0], s.opt.Users[names[0]]); err != nil {
			return nil, nil, err
		}
		return sess, &imapserver.GreetingData{PreAuth: true}, nil
	}
	return sess, nil, nil
}

// imapSession wraps a memserver session: LIST with special-use
// attributes, mailbox bookkeeping, and refusals on demand.
type imapSession struct {
	imapserver.Session
	s        *IMAPServer
	user     string
	selected string
}

type imapMoveSession struct {
	*imapSession
	mv imapserver.SessionMove
}

func (ss *imapMoveSession) Move(w *imapserver.MoveWriter, numSet imap.NumSet, dest string) error {
	if err := ss.refuse("MOVE", dest); err != nil {
		return err
	}
	return ss.mv.Move(w, numSet, dest)
}

func (ss *imapSession) refuse(op, mailbox string) error {
	if ss.s.opt.Refuse == nil {
		return nil
	}
	return ss.s.opt.Refuse(op, mailbox)
}

func (ss *imapSession) Login(username, password string) error {
	if err := ss.Session.Login(username, password); err != nil {
		return err
	}
	ss.user = username
	return nil
}

func (ss *imapSession) Select(mailbox string, options *imap.SelectOptions) (*imap.SelectData, error) {
	if err := ss.refuse("SELECT", mailbox); err != nil {
		return nil, err
	}
	data, err := ss.Session.Select(mailbox, options)
	if err == nil {
		ss.selected = mailbox
	}
	return data, err
}

func (ss *imapSession) Create(mailbox string, options *imap.CreateOptions) error {
	if err := ss.Session.Create(mailbox, options); err != nil {
		return err
	}
	ss.s.mu.Lock()
	ss.s.boxes[ss.user][strings.TrimRight(mailbox, "/")] = &memBox{}
	ss.s.mu.Unlock()
	return nil
}

func (ss *imapSession) Delete(mailbox string) error {
	if err := ss.Session.Delete(mailbox); err != nil {
		return err
	}
	ss.s.mu.Lock()
	delete(ss.s.boxes[ss.user], mailbox)
	ss.s.mu.Unlock()
	return nil
}

func (ss *imapSession) Rename(mailbox, newName string, options *imap.RenameOptions) error {
	if err := ss.Session.Rename(mailbox, newName, options); err != nil {
		return err
	}
	ss.s.mu.Lock()
	b := ss.s.boxes[ss.user]
	b[strings.TrimRight(newName, "/")] = b[mailbox]
	delete(b, mailbox)
	ss.s.mu.Unlock()
	return nil
}

func (ss *imapSession) Subscribe(mailbox string) error {
	return ss.s.SetSubscribed(ss.user, mailbox, true)
}
func (ss *imapSession) Unsubscribe(mailbox string) error {
	return ss.s.SetSubscribed(ss.user, mailbox, false)
}

// List answers LIST from the server's own table so that special-use
// attributes (RFC 6154 §2) come back; LIST-STATUS (RFC 5819) is served
// through STATUS.
func (ss *imapSession) List(w *imapserver.ListWriter, ref string, patterns []string, options *imap.ListOptions) error {
	if len(patterns) == 0 {
		return w.WriteList(&imap.ListData{Attrs: []imap.MailboxAttr{imap.MailboxAttrNoSelect}, Delim: '/'})
	}
	if options == nil {
		options = &imap.ListOptions{}
	}
	type entry struct {
		name string
		box  memBox
	}
	ss.s.mu.Lock()
	var list []entry
	for name, b := range ss.s.boxes[ss.user] {
		list = append(list, entry{name, *b})
	}
	ss.s.mu.Unlock()
	sort.Slice(list, func(i, j int) bool { return list[i].name < list[j].name })
	for _, e := range list {
		match := false
		for _, p := range patterns {
			if imapserver.MatchList(e.name, '/', ref, p) {
				match = true
				break
			}
		}
		if !match || (options.SelectSubscribed && !e.box.subscribed) ||
			(options.SelectSpecialUse && len(e.box.specialUse) == 0) {
			continue
		}
		data := &imap.ListData{Mailbox: e.name, Delim: '/'}
		if e.box.subscribed && (options.ReturnSubscribed || options.SelectSubscribed) {
			data.Attrs = append(data.Attrs, imap.MailboxAttrSubscribed)
		}
		data.Attrs = append(data.Attrs, e.box.specialUse...)
		if options.ReturnStatus != nil {
			st, err := ss.Session.Status(e.name, options.ReturnStatus)
			if err != nil {
				continue // deleted meanwhile
			}
			data.Status = st
		}
		if err := w.WriteList(data); err != nil {
			return err
		}
	}
	return nil
}

func (ss *imapSession) Append(mailbox string, r imap.LiteralReader, options *imap.AppendOptions) (*imap.AppendData, error) {
	if err := ss.refuse("APPEND", mailbox); err != nil {
		io.Copy(io.Discard, r)
		return nil, err
	}
	return ss.Session.Append(mailbox, r, options)
}

func (ss *imapSession) Store(w *imapserver.FetchWriter, numSet imap.NumSet, flags *imap.StoreFlags, options *imap.StoreOptions) error {
	if err := ss.refuse("STORE", ss.selected); err != nil {
		return err
	}
	return ss.Session.Store(w, numSet, flags, options)
}

func (ss *imapSession) Copy(numSet imap.NumSet, dest string) (*imap.CopyData, error) {
	if err := ss.refuse("COPY", dest); err != nil {
		return nil, err
	}
	return ss.Session.Copy(numSet, dest)
}

func (ss *imapSession) Expunge(w *imapserver.ExpungeWriter, uids *imap.UIDSet) error {
	if err := ss.refuse("EXPUNGE", ss.selected); err != nil {
		return err
	}
	return ss.Session.Expunge(w, uids)
}

func (ss *imapSession) Fetch(w *imapserver.FetchWriter, numSet imap.NumSet, options *imap.FetchOptions) error {
	if err := ss.refuse("FETCH", ss.selected); err != nil {
		return err
	}
	return ss.Session.Fetch(w, numSet, options)
}

// dropListener tracks connections and wraps them so they can be cut.
type dropListener struct {
	net.Listener
	s *IMAPServer
}

func (l *dropListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	l.s.accepted.Add(1)
	dc := &dropConn{Conn: c, s: l.s, limit: l.s.dropAfter.Load()}
	l.s.mu.Lock()
	l.s.conns[dc] = struct{}{}
	l.s.mu.Unlock()
	return dc, nil
}

// dropConn closes itself once limit bytes were written (0: never).
type dropConn struct {
	net.Conn
	s       *IMAPServer
	limit   int64
	written atomic.Int64
	once    sync.Once
}

func (c *dropConn) Write(p []byte) (int, error) {
	if c.limit > 0 {
		room := c.limit - c.written.Load()
		if room <= 0 {
			c.Close()
			return 0, net.ErrClosed
		}
		if int64(len(p)) > room {
			n, _ := c.Conn.Write(p[:room])
			c.written.Add(int64(n))
			c.Close()
			return n, net.ErrClosed
		}
	}
	n, err := c.Conn.Write(p)
	c.written.Add(int64(n))
	return n, err
}

func (c *dropConn) Close() error {
	var err error
	c.once.Do(func() {
		err = c.Conn.Close()
		c.s.mu.Lock()
		delete(c.s.conns, c)
		c.s.mu.Unlock()
	})
	return err
}

type discardLogger struct{}

func (discardLogger) Printf(string, ...interface{}) {}

type funcLogger func(format string, args ...any)

func (f funcLogger) Printf(format string, args ...interface{}) { f(format, args...) }

// Namespace answers NAMESPACE (RFC 2342) from the memserver.
func (ss *imapSession) Namespace() (*imap.NamespaceData, error) {
	if ns, ok := ss.Session.(imapserver.SessionNamespace); ok {
		return ns.Namespace()
	}
	return &imap.NamespaceData{Personal: []imap.NamespaceDescriptor{{Delim: '/'}}}, nil
}
