package account

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strings"
	"sync"
	"time"

	goimap "github.com/emersion/go-imap/v2"
	"github.com/emersion/go-imap/v2/imapclient"

	"github.com/mailbag/mailbag/store/index"
	"github.com/mailbag/mailbag/store/maildir"
	imapt "github.com/mailbag/mailbag/transport/imap"
	"github.com/mailbag/mailbag/transport/tlsconf"
)

// IMAPOptions tunes an IMAP account; nil means defaults. Fields marked
// "config" have no key in the configuration file yet.
type IMAPOptions struct {
	// FullOffline downloads every body during sync (config: offline = "full").
	FullOffline bool
	// SubscribedOnly lists only subscribed folders (config: subscribed_only).
	SubscribedOnly bool
	// DeleteExpunge makes Delete mark \Deleted and EXPUNGE instead of
	// moving to Trash (config: delete = "expunge").
	DeleteExpunge bool
	// Timeout bounds each command; 0 means transport/imap's default.
	Timeout time.Duration
	// TLSConfig replaces the one built from ca_file (tests).
	TLSConfig *tls.Config
	// PollEvery is the NOOP interval when the server lacks IDLE; 0 means
	// the server's check_every, else DefaultCheckEvery.
	PollEvery time.Duration
	// Screen is how many of the newest envelopes are fetched first on an
	// empty cache; 0 means 100.
	Screen int
	// Backoff is the first delay before reconnecting (doubling up to
	// MaxBackoff); 0 means 1 s and 5 min.
	Backoff, MaxBackoff time.Duration
	// Debug receives the raw protocol (credentials included).
	Debug io.Writer
}

// ErrOffline wraps the error of a request that needed the server while it
// cannot be reached.
var ErrOffline = errors.New("offline")

// IMAP is an account on an IMAP server (RFC 3501), read through a local
// cache in its maildir so it opens instantly and stays readable offline
// (the disconnected-client model of RFC 4549). One goroutine owns the
// connection and runs every network request in order; actions are applied
// to the cache at once and to the server through a durable queue. Its
// methods are safe for concurrent use.
type IMAP struct {
	cfg  AccountConfig
	opt  IMAPOptions
	srv  *ServerConfig
	dir  *maildir.Dir
	tlsc *tls.Config
	// local serves the local messages (imap_local.go) from the same
	// maildir.
	local *Local

	events chan Event
	reqs   chan *imapJob
	kick   chan struct{} // wake the owner: queue or background work waiting
	notify chan struct{} // unilateral data arrived on the connection
	quit   chan struct{}
	done   chan struct{}

	mu      sync.Mutex // guards everything below
	closed  bool
	folders []imapFolder
	caches  map[string]*folderCache // by display name
	queue   *imapQueue
	online  bool
	caps    []string
	bg      []bgTask
	open    string // folder to IDLE on (the last one synced by the UI)
	// appendRefused: local sent copies the server refused this session.
	appendRefused map[string]bool
	// warnedSubscribed: the user was told subscribed_only cannot be
	// honoured by this server.
	warnedSubscribed bool
}

// imapFolder is one server folder as listed.
type imapFolder struct {
	Name    string `json:"name"`    // display and maildir name ("lists/go")
	Mailbox string `json:"mailbox"` // server name
	Role    string `json:"role"`
	Total   int    `json:"total"`
	Unread  int    `json:"unread"`
}

// folderCache is the in-memory state of one folder.
type folderCache struct {
	name, mailbox string
	f             *maildir.Folder
	st            *folderState
	// fill holds UIDs known on the server whose envelopes are still to
	// be fetched (newest first), with the UIDNEXT and HIGHESTMODSEQ of the
	// listing that found them.
	fill        []uint32
	fillUIDNext uint32
	fillModSeq  uint64
}

// imapJob is a request run by the owner goroutine on the connection.
type imapJob struct {
	ctx  context.Context
	what string
	fn   func(ctx context.Context, c *imapt.Client) error
	done chan error
	once bool // never retried (not idempotent)
	// resyncs names the folder the job resyncs (SyncFolder), which
	// covers what the server announced of it before the job ran.
	resyncs string
}

// bgTask is background work the owner runs when no request waits.
type bgTask struct {
	key string // deduplication: "fill:INBOX", "sync:INBOX", "bodies:INBOX"
	fn  func(ctx context.Context, c *imapt.Client) error
}

// NewIMAP opens the cache of an IMAP account and starts its connection
// owner. It does no network I/O: the connection is made by the first
// request (List never makes one).
func NewIMAP(cfg AccountConfig, opt *IMAPOptions) (*IMAP, error) {
	if cfg.IMAP == nil {
		return nil, fmt.Errorf("%s: no imap server configured", cfg.Name)
	}
	if cfg.Maildir == "" {
		return nil, fmt.Errorf("%s: no maildir", cfg.Name)
	}
	a := &IMAP{cfg: cfg, srv: cfg.IMAP}
	if opt != nil {
		a.opt = *opt
	}
	if a.opt.Screen <= 0 {
		a.opt.Screen = 100
	}
	if a.opt.Backoff <= 0 {
		a.opt.Backoff = time.Second
	}
	if a.opt.MaxBackoff <= 0 {
		a.opt.MaxBackoff = 5 * time.Minute
	}
	if a.opt.PollEvery <= 0 {
		a.opt.PollEvery = cfg.IMAP.CheckEvery
		if a.opt.PollEvery <= 0 {
			a.opt.PollEvery = DefaultCheckEvery
		}
	}
	d, err := maildir.Open(cfg.Maildir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	a.dir = d
	a.local = &Local{cfg: cfg, dir: d, indexes: make(map[string]*index.Index), events: make(chan Event)}
	a.appendRefused = make(map[string]bool)
	// The TLS configuration is made by the first connection (see
	// connect): loading the system's CAs takes a while, and the cache is
	// readable without them.
	a.tlsc = a.opt.TLSConfig
	a.folders = loadFolderList(d.Root())
	a.caches = make(map[string]*folderCache)
	if a.queue, err = loadQueue(d.Root()); err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Name, err)
	}
	a.events = make(chan Event, 64)
	a.reqs = make(chan *imapJob, 16)
	a.kick = make(chan struct{}, 1)
	a.notify = make(chan struct{}, 1)
	a.quit = make(chan struct{})
	a.done = make(chan struct{})
	go a.run()
	if a.queue.len() > 0 {
		a.wake()
	}
	return a, nil
}

// Name returns the account's name.
func (a *IMAP) Name() string { return a.cfg.Name }

// Address returns the account's address as configured.
func (a *IMAP) Address() string { return a.cfg.Address }

// Caps: everything, readable offline.
func (a *IMAP) Caps() Caps { return Caps{Move: true, Flags: true, Sync: true, Offline: true} }

// Events delivers folder changes, connection state and refused actions.
// It is closed by Close.
func (a *IMAP) Events() <-chan Event { return a.events }

// Online reports whether the account's connection is up.
func (a *IMAP) Online() bool {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.online
}

// emit sends an event without ever blocking the owner: when the UI does
// not keep up, events are dropped (the next folder change repeats them).
func (a *IMAP) emit(kind EventKind, folder string, err error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.closed {
		return
	}
	select {
	case a.events <- Event{Account: a.cfg.Name, Folder: folder, Kind: kind, Err: err, Time: time.Now()}:
	default:
	}
}

func (a *IMAP) wake() {
	select {
	case a.kick <- struct{}{}:
	default:
	}
}

func (a *IMAP) checkOpen(ctx context.Context) error {
	a.mu.Lock()
	closed := a.closed
	a.mu.Unlock()
	if closed {
		return fmt.Errorf("%s: %w", a.cfg.Name, ErrClosed)
	}
	return ctx.Err()
}

// Close stops the connection owner (logging out when connected), closes
// the event channel and makes later calls fail with ErrClosed. Actions
// still queued stay in the durable queue for the next start.
func (a *IMAP) Close() error {
	a.mu.Lock()
	if a.closed {
		a.mu.Unlock()
		return nil
	}
	a.closed = true
	a.mu.Unlock()
	close(a.quit)
	<-a.done
	a.local.Close()
	a.mu.Lock()
	close(a.events)
	a.mu.Unlock()
	return nil
}

// do runs fn on the connection owner and waits for it. A request that
// cannot get a connection fails with an error wrapping ErrOffline.
func (a *IMAP) do(ctx context.Context, what string, fn func(ctx context.Context, c *imapt.Client) error) error {
	return a.doJob(ctx, &imapJob{ctx: ctx, what: what, fn: fn, done: make(chan error, 1)})
}

func (a *IMAP) doJob(ctx context.Context, j *imapJob) error {
	if err := a.checkOpen(ctx); err != nil {
		return err
	}
	select {
	case a.reqs <- j:
	case <-ctx.Done():
		return ctx.Err()
	case <-a.quit:
		return fmt.Errorf("%s: %w", a.cfg.Name, ErrClosed)
	}
	select {
	case err := <-j.done:
		return err
	case <-a.done:
		select {
		case err := <-j.done:
			return err
		default:
		}
		return fmt.Errorf("%s: %w", a.cfg.Name, ErrClosed)
	case <-ctx.Done():
		// The owner sees the same ctx and gives up on its own.
		return ctx.Err()
	}
}

// addBG schedules background work unless the same key is waiting.
func (a *IMAP) addBG(t bgTask) {
	a.mu.Lock()
	for _, b := range a.bg {
		if b.key == t.key {
			a.mu.Unlock()
			return
		}
	}
	a.bg = append(a.bg, t)
	a.mu.Unlock()
	a.wake()
}

func (a *IMAP) popBG() (bgTask, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if len(a.bg) == 0 {
		return bgTask{}, false
	}
	t := a.bg[0]
	a.bg = a.bg[1:]
	return t, true
}

// owner is the state of the connection-owning goroutine.
type owner struct {
	a       *IMAP
	c       *imapt.Client
	backoff time.Duration
	retryAt time.Time // when offline: next reconnection attempt
	failed  bool      // the last attempt failed (we are offline)
}

// run is the connection owner: it serialises every network request,
// replays the action queue, runs background work, and otherwise IDLEs on
// the open folder (RFC 2177) or polls with NOOP.
func (a *IMAP) run() {
	defer close(a.done)
	o := &owner{a: a, backoff: a.opt.Backoff}
	defer func() {
		if o.c != nil {
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			o.c.Logout(ctx)
			cancel()
		}
	}()
	for {
		select {
		case <-a.quit:
			return
		case j := <-a.reqs:
			o.runJob(j)
			continue
		default:
		}
		if o.c != nil && a.queue.len() > 0 {
			o.flush()
			continue
		}
		if o.c != nil || !o.failed {
			if t, ok := a.popBG(); ok {
				o.runBG(t)
				continue
			}
		}
		o.wait()
	}
}

// connect dials and logs in when there is no connection; it reports the
// transition to EventOnline / EventOffline.
func (o *owner) connect(ctx context.Context) error {
	if o.c != nil {
		select {
		case <-o.c.Closed():
			o.drop(errors.New("connection closed by server"))
		default:
			return nil
		}
	}
	a := o.a
	token := a.srv.Auth == AuthXOAUTH2 || a.srv.Auth == AuthOAuthBearer
	pass := ""
	if !token {
		p, err := a.srv.PasswordFor(ctx)
		if err != nil && !errors.Is(err, ErrNoPassword) {
			return fmt.Errorf("%s: imap %s: %w", a.cfg.Name, a.srv.Addr(), err)
		}
		pass = p
	}
	opt := &imapt.Options{
		TLS:       a.srv.TLS,
		TLSConfig: a.tlsc,
		Timeout:   a.opt.Timeout,
		Username:  a.srv.Username,
		Password:  pass,
		Auth:      a.srv.Auth,
		Debug:     a.opt.Debug,
		Unilateral: &imapclient.UnilateralDataHandler{
			Expunge: func(uint32) { o.a.poke() },
			Mailbox: func(d *imapclient.UnilateralDataMailbox) {
				if d.NumMessages != nil {
					o.a.poke()
				}
			},
			Fetch: func(m *imapclient.FetchMessageData) {
				m.Collect()
				o.a.poke()
			},
		},
	}
	if token {
		opt.Token = a.srv.PasswordFor
	}
	if opt.TLSConfig == nil && a.srv.TLS != TLSNone {
		cfg, err := tlsconf.Config(a.srv.Host, a.srv.CAFile)
		if err != nil {
			o.offline(err) // retried with backoff, like a failed dial
			return fmt.Errorf("%s: imap %s: %w", a.cfg.Name, a.srv.Addr(), err)
		}
		a.tlsc, opt.TLSConfig = cfg, cfg // the owner alone reads and sets it
	}
	c, err := imapt.Dial(ctx, a.srv.Addr(), opt)
	if err != nil {
		o.offline(err)
		return fmt.Errorf("%s: %w: %w", a.cfg.Name, ErrOffline, err)
	}
	o.c = c
	caps := make([]string, 0, len(c.Caps()))
	for cp := range c.Caps() {
		caps = append(caps, string(cp))
	}
	sort.Strings(caps)
	a.mu.Lock()
	was := a.online
	a.online = true
	a.caps = caps
	a.mu.Unlock()
	o.backoff = a.opt.Backoff
	a.scheduleAppends() // local sent copies waiting for the server
	if o.failed || !was {
		o.failed = false
		a.emit(EventOnline, "", nil)
	}
	return nil
}

func (a *IMAP) poke() {
	select {
	case a.notify <- struct{}{}:
	default:
	}
}

// offline records a failed connection attempt and schedules the next.
func (o *owner) offline(err error) {
	a := o.a
	a.mu.Lock()
	was := a.online
	a.online = false
	a.mu.Unlock()
	if was || !o.failed {
		a.emit(EventOffline, "", err)
	}
	o.failed = true
	o.retryAt = time.Now().Add(o.backoff)
	o.backoff = min(2*o.backoff, a.opt.MaxBackoff)
}

// drop forgets a broken connection.
func (o *owner) drop(err error) {
	if o.c != nil {
		o.c.Close()
		o.c = nil
	}
	if err != nil {
		o.offline(err)
	}
}

// isNetErr reports whether err means the connection is unusable (as
// opposed to a refusal or a local failure).
func (o *owner) isNetErr(err error) bool {
	if err == nil || imapt.IsRefusal(err) {
		return false
	}
	if o.c != nil {
		select {
		case <-o.c.Closed():
			return true
		default:
		}
	}
	var ne net.Error
	return errors.Is(err, imapt.ErrTimeout) || errors.As(err, &ne) || errors.Is(err, io.EOF) ||
		errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, net.ErrClosed) ||
		strings.Contains(err.Error(), "connection closed") || strings.Contains(err.Error(), "use of closed")
}

func (o *owner) runJob(j *imapJob) {
	if err := j.ctx.Err(); err != nil {
		j.done <- err
		return
	}
	// A connection that idled may have died unnoticed: a request that
	// fails on a reused connection is tried once more on a fresh one
	// (except APPEND, which could then store the message twice).
	for attempt := 0; ; attempt++ {
		fresh := o.c == nil
		if err := o.connect(j.ctx); err != nil {
			j.done <- err
			return
		}
		if o.a.queue.len() > 0 {
			o.flush()
			if o.c == nil {
				if !fresh && attempt == 0 {
					continue
				}
				j.done <- fmt.Errorf("%s: %w: connection lost", o.a.cfg.Name, ErrOffline)
				return
			}
		}
		err := j.fn(j.ctx, o.c)
		if o.isNetErr(err) {
			o.drop(err)
			if !fresh && attempt == 0 && !j.once && j.ctx.Err() == nil {
				continue
			}
			err = fmt.Errorf("%s: %w: %w", o.a.cfg.Name, ErrOffline, err)
		}
		j.done <- err
		return
	}
}

func (o *owner) runBG(t bgTask) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		select {
		case <-o.a.quit:
			cancel()
		case <-ctx.Done():
		}
	}()
	if err := o.connect(ctx); err != nil {
		o.a.addBG(t) // retried when the connection returns
		return
	}
	err := t.fn(ctx, o.c)
	if o.isNetErr(err) {
		o.drop(err)
		o.a.addBG(t)
		return
	}
	if err != nil {
		o.a.emit(EventError, "", err)
	}
}

// wait blocks until a request, a wake-up, unilateral data or a timer:
// IDLE on the open folder when the server has it, NOOP polls otherwise,
// and reconnection attempts with backoff while offline.
func (o *owner) wait() {
	a := o.a
	if o.c == nil {
		var retry <-chan time.Time
		if o.failed {
			t := time.NewTimer(time.Until(o.retryAt))
			defer t.Stop()
			retry = t.C
		}
		select {
		case <-a.quit:
		case j := <-a.reqs:
			o.runJob(j)
		case <-a.kick:
		case <-retry:
			ctx, cancel := context.WithTimeout(context.Background(), 2*o.timeout())
			if o.connect(ctx) == nil {
				o.resyncOpen()
			}
			cancel()
		}
		return
	}
	a.mu.Lock()
	open := a.open
	a.mu.Unlock()
	if open != "" && o.c.Caps().Has(goimap.CapIdle) && o.c.Mailbox() != nil {
		o.idle()
		return
	}
	t := time.NewTimer(a.opt.PollEvery)
	defer t.Stop()
	select {
	case <-a.quit:
	case j := <-a.reqs:
		o.runJob(j)
	case <-a.kick:
	case <-a.notify:
		o.resyncOpen()
	case <-o.c.Closed():
		o.drop(errors.New("connection closed by server"))
	case <-t.C:
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout())
		err := o.c.Do(ctx, "noop", func() error { return o.c.Noop().Wait() })
		cancel()
		if err != nil && o.isNetErr(err) {
			o.drop(err)
		}
	}
}

func (o *owner) timeout() time.Duration {
	if o.a.opt.Timeout > 0 {
		return o.a.opt.Timeout
	}
	return imapt.DefaultTimeout
}

// When IDLE announces a change, the resync waits until the server has
// been quiet for idleSettle (at most idleSettleMax after the first
// announcement): a burst of deliveries, each announced, is fetched by one
// resync, and a SyncFolder asked for meanwhile does it instead.
const (
	idleSettle    = 150 * time.Millisecond
	idleSettleMax = time.Second
)

// idle runs IDLE (RFC 2177) until something needs the connection.
func (o *owner) idle() {
	a := o.a
	var cmd *imapclient.IdleCommand
	ctx, cancel := context.WithTimeout(context.Background(), o.timeout())
	err := o.c.Do(ctx, "idle", func() error {
		var err error
		cmd, err = o.c.Idle()
		return err
	})
	cancel()
	if err != nil {
		if o.isNetErr(err) {
			o.drop(err)
		}
		return
	}
	var job *imapJob
	changed := false
	var quiet, most <-chan time.Time
wait:
	for {
		select {
		case <-a.quit:
			break wait
		case job = <-a.reqs:
			break wait
		case <-a.kick:
			break wait
		case <-a.notify:
			if !changed {
				changed = true
				most = time.After(idleSettleMax)
			}
			quiet = time.After(idleSettle)
		case <-quiet:
			break wait
		case <-most:
			break wait
		case <-o.c.Closed():
			break wait
		}
	}
	ctx, cancel = context.WithTimeout(context.Background(), o.timeout())
	err = o.c.Do(ctx, "idle done", func() error {
		if err := cmd.Close(); err != nil {
			return err
		}
		return cmd.Wait()
	})
	cancel()
	if err != nil && o.isNetErr(err) {
		o.drop(err)
	}
	if job != nil && job.resyncs != "" {
		a.mu.Lock()
		if job.resyncs == a.open {
			changed = false // the job's resync fetches what was announced
		}
		a.mu.Unlock()
	}
	if changed && o.c != nil {
		o.resyncOpen()
	}
	if job != nil {
		o.runJob(job)
	}
}

// resyncOpen resyncs the folder the UI has open after the server told of
// a change or the connection came back.
func (o *owner) resyncOpen() {
	a := o.a
	a.mu.Lock()
	open := a.open
	a.mu.Unlock()
	if open == "" || o.c == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 4*o.timeout())
	defer cancel()
	err := a.syncFolder(ctx, o.c, open, false)
	if o.isNetErr(err) {
		o.drop(err)
	} else if err != nil {
		a.emit(EventError, open, err)
	}
}

// Check logs in and returns the server's capabilities, sorted.
func (a *IMAP) Check(ctx context.Context) ([]string, error) {
	var caps []string
	err := a.do(ctx, "check", func(ctx context.Context, c *imapt.Client) error {
		return c.Do(ctx, "capability", func() error {
			set, err := c.Capability().Wait()
			for cp := range set {
				caps = append(caps, string(cp))
			}
			return err
		})
	})
	sort.Strings(caps)
	return caps, err
}
