package mailtest

import (
	"bufio"
	"bytes"
	"crypto/md5"
	"crypto/rand"
	"crypto/subtle"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"
)

// POP3Options configure NewPOP3Server. The zero value is a plain-text server
// with no users, CAPA, no PIPELINING and no SASL.
type POP3Options struct {
	// Users maps user names to passwords (for XOAUTH2 and OAUTHBEARER the
	// password is the bearer token).
	Users map[string]string
	// TLS, when set, makes the server speak implicit TLS (RFC 8314).
	TLS *tls.Config
	// STLS, when set, offers STLS (RFC 2595 §4) with this configuration.
	STLS *tls.Config
	// Pipelining announces PIPELINING in CAPA (RFC 2449 §6.6). The server
	// reads and answers pipelined commands either way.
	Pipelining bool
	// NoCAPA answers CAPA with -ERR, like an RFC 1939-only server.
	NoCAPA bool
	// SASL offers AUTH (RFC 5034) with PLAIN, LOGIN, CRAM-MD5, XOAUTH2 and
	// OAUTHBEARER.
	SASL bool
	// NoAPOP leaves the APOP timestamp out of the greeting.
	NoAPOP bool
	// IdleTimeout closes a connection that sends nothing for this long;
	// zero means 10 minutes (RFC 1939 §3's minimum autologout timer).
	IdleTimeout time.Duration
	// Misbehave makes the server break the protocol on purpose.
	Misbehave Misbehaviour
}

// Misbehaviour lists the ways the server can be told to fail. The zero value
// behaves.
type Misbehaviour struct {
	// DropAfterBytes closes the connection once this many bytes (after TLS
	// decryption, greeting included) have been sent; 0 disables.
	DropAfterBytes int64
	// StallAfterBytes stops sending, and answering, once this many bytes
	// have been sent, until the server is closed; 0 disables.
	StallAfterBytes int64
	// MalformedList adds a LIST line without a size.
	MalformedList bool
	// MalformedUIDL adds a UIDL line without a unique-id.
	MalformedUIDL bool
	// InvalidUID, when set, is the unique-id UIDL gives message 1.
	InvalidUID string
	// BareStatOK answers STAT with a bare "+OK".
	BareStatOK bool
	// InjectAfterSTLS is sent right after the positive STLS answer, in the
	// same write, before the TLS handshake (CVE-2020-14954 class).
	InjectAfterSTLS string
	// InUse answers a correct PASS, APOP or AUTH with -ERR [IN-USE].
	InUse bool
	// RefuseSTLS announces STLS (when STLS is set) but answers it with -ERR.
	RefuseSTLS bool
	// GreetingError greets with "-ERR " and this text, then hangs up.
	GreetingError string
}

// POP3Server is an in-process POP3 server (RFC 1939, RFC 2449 CAPA and
// PIPELINING, RFC 2595 STLS, RFC 5034 AUTH) listening on 127.0.0.1.
// Maildrops are locked per RFC 1939 §8: a second session for a user whose
// session is open gets -ERR [IN-USE].
type POP3Server struct {
	// Addr is "127.0.0.1:port".
	Addr string

	opt  POP3Options
	ln   net.Listener
	done chan struct{}
	wg   sync.WaitGroup
	once sync.Once

	mu    sync.Mutex
	boxes map[string]*pop3Maildrop
	conns map[net.Conn]struct{}
	log   []string
	seq   uint64
}

type pop3Maildrop struct {
	msgs   []*pop3Msg
	locked bool
}

type pop3Msg struct {
	data []byte // CRLF line endings, ending in CRLF unless empty; not stuffed
	uid  string
}

const (
	pop3MaxLine = 8 << 10 // longer than RFC 2449 §4's 255 octets, for SASL
	pop3MaxLog  = 1 << 16
)

// NewPOP3Server starts a server on 127.0.0.1 with an ephemeral port.
func NewPOP3Server(opt POP3Options) (*POP3Server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("mailtest: pop3: %w", err)
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 10 * time.Minute
	}
	s := &POP3Server{
		Addr:  ln.Addr().String(),
		opt:   opt,
		ln:    ln,
		done:  make(chan struct{}),
		boxes: map[string]*pop3Maildrop{},
		conns: map[net.Conn]struct{}{},
	}
	s.wg.Add(1)
	go s.serve()
	return s, nil
}

// Close stops listening, closes every connection without committing
// deletions, and waits for the connection goroutines to end.
func (s *POP3Server) Close() error {
	var err error
	s.once.Do(func() {
		close(s.done)
		err = s.ln.Close()
		s.mu.Lock()
		for c := range s.conns {
			c.Close()
		}
		s.mu.Unlock()
		s.wg.Wait()
	})
	return err
}

// Deliver adds msg to user's maildrop. Line endings become CRLF on the wire
// (the stored copy is normalised) and the server dot-stuffs on RETR. A
// session already open does not see the new message (RFC 1939 §8).
func (s *POP3Server) Deliver(user string, msg []byte) {
	data := pop3NormalizeCRLF(msg)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.seq++
	uid := fmt.Sprintf("mt%06d.%x", s.seq, md5.Sum(data))
	s.box(user).msgs = append(s.box(user).msgs, &pop3Msg{data: data, uid: uid})
}

// Messages returns copies of the messages in user's maildrop, CRLF
// normalised. Deletions count only once a session ended with QUIT (RFC 1939
// §6, UPDATE state).
func (s *POP3Server) Messages(user string) [][]byte {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out [][]byte
	if b := s.boxes[user]; b != nil {
		for _, m := range b.msgs {
			out = append(out, bytes.Clone(m.data))
		}
	}
	return out
}

// UIDs returns the unique-ids UIDL gives user's messages, in order.
func (s *POP3Server) UIDs(user string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	if b := s.boxes[user]; b != nil {
		for _, m := range b.msgs {
			out = append(out, m.uid)
		}
	}
	return out
}

// Commands returns the command lines received, in order, from every
// connection (at most the last 65536), SASL responses included.
func (s *POP3Server) Commands() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.log...)
}

func (s *POP3Server) box(user string) *pop3Maildrop {
	b := s.boxes[user]
	if b == nil {
		b = &pop3Maildrop{}
		s.boxes[user] = b
	}
	return b
}

func (s *POP3Server) record(line string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.log) >= pop3MaxLog {
		s.log = append(s.log[:0], s.log[pop3MaxLog/2:]...)
	}
	s.log = append(s.log, line)
}

func (s *POP3Server) serve() {
	defer s.wg.Done()
	for {
		conn, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.mu.Lock()
		select {
		case <-s.done:
			s.mu.Unlock()
			conn.Close()
			return
		default:
		}
		s.conns[conn] = struct{}{}
		s.wg.Add(1)
		s.mu.Unlock()
		go func() {
			defer s.wg.Done()
			defer func() {
				s.mu.Lock()
				delete(s.conns, conn)
				s.mu.Unlock()
				conn.Close()
			}()
			newPOP3Session(s, conn).run()
		}()
	}
}

// pop3NormalizeCRLF turns bare LF into CRLF and makes a non-empty message end
// with CRLF.
func pop3NormalizeCRLF(msg []byte) []byte {
	out := make([]byte, 0, len(msg)+len(msg)/32+2)
	for i := 0; i < len(msg); {
		j := bytes.IndexByte(msg[i:], '\n')
		if j < 0 {
			out = append(out, msg[i:]...)
			out = append(out, '\r', '\n')
			break
		}
		line := msg[i : i+j]
		out = append(out, line...)
		if len(line) == 0 || line[len(line)-1] != '\r' {
			out = append(out, '\r')
		}
		out = append(out, '\n')
		i += j + 1
	}
	return out
}

// pop3Session is one connection.
type pop3Session struct {
	s     *POP3Server
	raw   net.Conn
	conn  net.Conn // raw or TLS
	r     *bufio.Reader
	out   *pop3MisbehavingWriter
	w     *bufio.Writer
	isTLS bool
	stamp string

	user    string // from USER
	authed  string // user in the TRANSACTION state
	box     *pop3Maildrop
	msgs    []*pop3Msg // snapshot at login
	deleted []bool
}

func newPOP3Session(s *POP3Server, raw net.Conn) *pop3Session {
	ss := &pop3Session{s: s, raw: raw, conn: raw}
	if s.opt.TLS != nil {
		ss.conn = tls.Server(raw, s.opt.TLS)
		ss.isTLS = true
	}
	ss.out = &pop3MisbehavingWriter{w: ss.conn, m: s.opt.Misbehave, done: s.done, conn: raw, beforeDrop: ss.unlock}
	ss.r = bufio.NewReaderSize(ss.conn, 16<<10)
	ss.w = bufio.NewWriterSize(ss.out, 64<<10)
	if !s.opt.NoAPOP {
		var nonce [8]byte
		rand.Read(nonce[:])
		ss.stamp = fmt.Sprintf("<%x.%d@mailtest>", nonce, time.Now().UnixNano())
	}
	return ss
}

func (ss *pop3Session) run() {
	defer ss.unlock()
	if ss.s.opt.Misbehave.GreetingError != "" {
		ss.reply("-ERR " + ss.s.opt.Misbehave.GreetingError)
		ss.flush()
		return
	}
	greeting := "+OK mailtest POP3 server ready"
	if ss.stamp != "" {
		greeting += " " + ss.stamp
	}
	ss.reply(greeting)
	for {
		if ss.r.Buffered() == 0 {
			if ss.flush() != nil {
				return
			}
		}
		line, err := ss.readLine()
		if err != nil {
			if errors.Is(err, errPOP3LineTooLong) {
				ss.reply("-ERR line too long")
				ss.flush()
			}
			return
		}
		ss.s.record(line)
		verb, arg, _ := strings.Cut(line, " ")
		if !ss.command(strings.ToUpper(verb), arg) {
			ss.flush()
			return
		}
	}
}

var errPOP3LineTooLong = errors.New("line too long")

func (ss *pop3Session) readLine() (string, error) {
	ss.raw.SetReadDeadline(time.Now().Add(ss.s.opt.IdleTimeout))
	var buf []byte
	for {
		chunk, err := ss.r.ReadSlice('\n')
		buf = append(buf, chunk...)
		if len(buf) > pop3MaxLine {
			return "", errPOP3LineTooLong
		}
		if err == nil {
			return strings.TrimRight(string(buf), "\r\n"), nil
		}
		if err != bufio.ErrBufferFull {
			return "", err
		}
	}
}

func (ss *pop3Session) reply(line string) {
	ss.w.WriteString(line)
	ss.w.WriteString("\r\n")
}

func (ss *pop3Session) flush() error {
	ss.raw.SetWriteDeadline(time.Now().Add(ss.s.opt.IdleTimeout))
	return ss.w.Flush()
}

// command handles one command and reports whether the session goes on.
func (ss *pop3Session) command(verb, arg string) bool {
	switch verb {
	case "CAPA":
		ss.capa()
		return true
	case "QUIT":
		if ss.authed != "" {
			// UPDATE state: commit, and release the lock before answering
			// so the client may start its next session at once.
			ss.commit()
			ss.unlock()
		}
		ss.reply("+OK mailtest POP3 server signing off")
		return false
	}
	if ss.authed == "" {
		return ss.authorization(verb, arg)
	}
	ss.transaction(verb, arg)
	return true
}

func (ss *pop3Session) capa() {
	if ss.s.opt.NoCAPA {
		ss.reply("-ERR unknown command")
		return
	}
	ss.reply("+OK capability list follows")
	for _, c := range []string{"TOP", "UIDL", "RESP-CODES", "AUTH-RESP-CODE", "USER", "IMPLEMENTATION mailtest"} {
		ss.reply(c)
	}
	if ss.s.opt.Pipelining {
		ss.reply("PIPELINING")
	}
	if ss.s.opt.STLS != nil && !ss.isTLS && ss.authed == "" {
		ss.reply("STLS")
	}
	if ss.s.opt.SASL {
		ss.reply("SASL PLAIN LOGIN CRAM-MD5 XOAUTH2 OAUTHBEARER")
	}
	ss.reply(".")
}

// authorization handles the AUTHORIZATION state, RFC 1939 §4 and §7.
func (ss *pop3Session) authorization(verb, arg string) bool {
	switch verb {
	case "USER":
		if arg == "" {
			ss.reply("-ERR missing user name")
			return true
		}
		ss.user = arg
		ss.reply("+OK send PASS")
	case "PASS":
		user := ss.user
		ss.user = ""
		pass, ok := ss.password(user)
		if user == "" || !ok || subtle.ConstantTimeCompare([]byte(pass), []byte(arg)) != 1 {
			ss.reply("-ERR [AUTH] invalid user name or password")
			return true
		}
		ss.login(user)
	case "APOP":
		name, digest, _ := strings.Cut(arg, " ")
		pass, ok := ss.password(name)
		sum := md5.Sum([]byte(ss.stamp + pass))
		if ss.stamp == "" || !ok || subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(strings.ToLower(digest))) != 1 {
			ss.reply("-ERR [AUTH] invalid user name or digest")
			return true
		}
		ss.login(name)
	case "AUTH":
		return ss.auth(arg)
	case "STLS":
		return ss.stls()
	case "NOOP":
		ss.reply("-ERR not logged in")
	default:
		ss.reply("-ERR unknown command in AUTHORIZATION state")
	}
	return true
}

func (ss *pop3Session) password(user string) (string, bool) {
	p, ok := ss.s.opt.Users[user]
	return p, ok
}

// login locks the maildrop and enters the TRANSACTION state, RFC 1939 §8.
func (ss *pop3Session) login(user string) {
	if ss.s.opt.Misbehave.InUse {
		ss.reply("-ERR [IN-USE] maildrop already locked")
		return
	}
	ss.s.mu.Lock()
	box := ss.s.box(user)
	if box.locked {
		ss.s.mu.Unlock()
		ss.reply("-ERR [IN-USE] maildrop already locked")
		return
	}
	box.locked = true
	ss.msgs = append([]*pop3Msg(nil), box.msgs...)
	ss.s.mu.Unlock()
	ss.box = box
	ss.authed = user
	ss.deleted = make([]bool, len(ss.msgs))
	ss.reply(fmt.Sprintf("+OK maildrop has %d messages", len(ss.msgs)))
}

func (ss *pop3Session) unlock() {
	if ss.box == nil {
		return
	}
	ss.s.mu.Lock()
	ss.box.locked = false
	ss.s.mu.Unlock()
	ss.box = nil
}

// commit removes the messages marked as deleted, RFC 1939 §6.
func (ss *pop3Session) commit() {
	gone := map[*pop3Msg]bool{}
	for i, d := range ss.deleted {
		if d {
			gone[ss.msgs[i]] = true
		}
	}
	ss.s.mu.Lock()
	kept := ss.box.msgs[:0]
	for _, m := range ss.box.msgs {
		if !gone[m] {
			kept = append(kept, m)
		}
	}
	clear(ss.box.msgs[len(kept):])
	ss.box.msgs = kept
	ss.s.mu.Unlock()
}

func (ss *pop3Session) stls() bool {
	switch {
	case ss.s.opt.STLS == nil || ss.isTLS:
		ss.reply("-ERR STLS not available")
		return true
	case ss.s.opt.Misbehave.RefuseSTLS:
		ss.reply("-ERR [SYS/TEMP] STLS temporarily unavailable")
		return true
	}
	ss.reply("+OK begin TLS negotiation")
	ss.w.WriteString(ss.s.opt.Misbehave.InjectAfterSTLS)
	if ss.flush() != nil {
		return false
	}
	tc := tls.Server(ss.raw, ss.s.opt.STLS)
	ss.raw.SetDeadline(time.Now().Add(ss.s.opt.IdleTimeout))
	if err := tc.Handshake(); err != nil {
		return false
	}
	ss.conn = tc
	ss.isTLS = true
	ss.out.w = tc
	ss.r.Reset(tc)
	ss.user = ""
	return true
}

// transaction handles the TRANSACTION state, RFC 1939 §5 and §7.
func (ss *pop3Session) transaction(verb, arg string) {
	mis := ss.s.opt.Misbehave
	switch verb {
	case "STAT":
		if mis.BareStatOK {
			ss.reply("+OK")
			return
		}
		n, size := 0, 0
		for i, m := range ss.msgs {
			if !ss.deleted[i] {
				n++
				size += len(m.data)
			}
		}
		ss.reply(fmt.Sprintf("+OK %d %d", n, size))
	case "LIST", "UIDL":
		if arg != "" {
			i, ok := ss.msg(arg)
			if !ok {
				return
			}
			if verb == "LIST" {
				ss.reply(fmt.Sprintf("+OK %d %d", i+1, len(ss.msgs[i].data)))
			} else {
				ss.reply(fmt.Sprintf("+OK %d %s", i+1, ss.uid(i)))
			}
			return
		}
		ss.reply("+OK listing follows")
		for i, m := range ss.msgs {
			if ss.deleted[i] {
				continue
			}
			if verb == "LIST" {
				ss.reply(fmt.Sprintf("%d %d", i+1, len(m.data)))
			} else {
				ss.reply(fmt.Sprintf("%d %s", i+1, ss.uid(i)))
			}
		}
		if verb == "LIST" && mis.MalformedList {
			ss.reply(fmt.Sprintf("%d", len(ss.msgs)+1))
		}
		if verb == "UIDL" && mis.MalformedUIDL {
			ss.reply(fmt.Sprintf("%d", len(ss.msgs)+1))
		}
		ss.reply(".")
	case "RETR":
		i, ok := ss.msg(arg)
		if !ok {
			return
		}
		data := ss.msgs[i].data
		ss.reply(fmt.Sprintf("+OK %d octets", len(data)))
		pop3WriteStuffed(ss.w, data)
	case "TOP":
		num, lines, _ := strings.Cut(arg, " ")
		n, err := strconv.Atoi(lines)
		if err != nil || n < 0 {
			ss.reply("-ERR usage: TOP msg n")
			return
		}
		i, ok := ss.msg(num)
		if !ok {
			return
		}
		ss.reply("+OK top of message follows")
		pop3WriteStuffed(ss.w, pop3Top(ss.msgs[i].data, n))
	case "DELE":
		i, ok := ss.msg(arg)
		if !ok {
			return
		}
		ss.deleted[i] = true
		ss.reply(fmt.Sprintf("+OK message %d deleted", i+1))
	case "RSET":
		clear(ss.deleted)
		ss.reply("+OK")
	case "NOOP":
		ss.reply("+OK")
	default:
		ss.reply("-ERR unknown command")
	}
}

// msg resolves a message-number argument, answering -ERR itself when it is
// invalid or the message is marked as deleted.
func (ss *pop3Session) msg(arg string) (int, bool) {
	n, err := strconv.Atoi(arg)
	if err != nil || n < 1 || n > len(ss.msgs) {
		ss.reply("-ERR no such message")
		return 0, false
	}
	if ss.deleted[n-1] {
		ss.reply("-ERR message already deleted")
		return 0, false
	}
	return n - 1, true
}

func (ss *pop3Session) uid(i int) string {
	if i == 0 && ss.s.opt.Misbehave.InvalidUID != "" {
		return ss.s.opt.Misbehave.InvalidUID
	}
	return ss.msgs[i].uid
}

// pop3WriteStuffed writes data as a multi-line answer: lines starting with "."
// get another "." (RFC 1939 §3) and ".\r\n" ends it. data is written in
// place, without copying.
func pop3WriteStuffed(w *bufio.Writer, data []byte) {
	for len(data) > 0 {
		if data[0] == '.' {
			w.WriteByte('.')
		}
		i := bytes.IndexByte(data, '\n')
		if i < 0 {
			w.Write(data)
			w.WriteString("\r\n")
			break
		}
		w.Write(data[:i+1])
		data = data[i+1:]
	}
	w.WriteString(".\r\n")
}

// top returns the header, the blank line and the first n body lines of a
// CRLF message, RFC 1939 §7.
func pop3Top(data []byte, n int) []byte {
	end := bytes.Index(data, []byte("\r\n\r\n"))
	if end < 0 {
		return data
	}
	end += 4
	for ; n > 0 && end < len(data); n-- {
		i := bytes.IndexByte(data[end:], '\n')
		if i < 0 {
			return data
		}
		end += i + 1
	}
	return data[:end]
}

// pop3MisbehavingWriter counts the bytes a session sends and drops or stalls the
// connection as Misbehaviour says.
type pop3MisbehavingWriter struct {
	w    io.Writer
	m    Misbehaviour
	n    int64
	done <-chan struct{}
	conn net.Conn
	// beforeDrop runs (on the session's goroutine) just before a dropped
	// connection is closed: it releases the maildrop lock first, so a
	// client that sees the drop can log in again at once, as it can with
	// a server that noticed the drop.
	beforeDrop func()
}

var errPOP3Misbehaved = errors.New("mailtest: connection dropped on purpose")

func (mw *pop3MisbehavingWriter) Write(p []byte) (int, error) {
	limit := int64(-1)
	if mw.m.DropAfterBytes > 0 {
		limit = mw.m.DropAfterBytes
	}
	if mw.m.StallAfterBytes > 0 && (limit < 0 || mw.m.StallAfterBytes < limit) {
		limit = mw.m.StallAfterBytes
	}
	if limit < 0 || mw.n+int64(len(p)) <= limit {
		n, err := mw.w.Write(p)
		mw.n += int64(n)
		return n, err
	}
	n, err := mw.w.Write(p[:limit-mw.n])
	mw.n += int64(n)
	if err != nil {
		return n, err
	}
	if mw.m.StallAfterBytes > 0 && mw.m.StallAfterBytes == limit {
		<-mw.done
	}
	if mw.beforeDrop != nil {
		mw.beforeDrop()
	}
	mw.conn.Close()
	return n, errPOP3Misbehaved
}
