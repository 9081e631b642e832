package account

import (
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	goimap "github.com/emersion/go-imap/v2"

	"github.com/mailbag/mailbag/store/maildir"
	imapt "github.com/mailbag/mailbag/transport/imap"
	"github.com/mailbag/mailbag/transport/mailtest/real"
)

// TestIMAPRealDovecot runs the account against the real dovecot: with
// CONDSTORE/QRESYNC (STARTTLS and implicit TLS) and without them, with the
// private CA as ca_file.
func TestIMAPRealDovecot(t *testing.T) {
	s := real.Need(t)
	for _, tc := range []struct {
		name      string
		port      int
		tls       string
		condstore bool
	}{
		{"starttls-condstore", s.IMAP, TLSStartTLS, true},
		{"tls-condstore", s.IMAPS, TLSImplicit, true},
		{"starttls-plain", s.IMAPNoQresync, TLSStartTLS, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			user, pass := s.TempUser(t)
			ctx := testCtx(t)
			msgs := make([][]byte, 30)
			for i := range msgs {
				msgs[i] = testMsg(i)
			}
			if err := s.DeliverMany(ctx, user, msgs); err != nil {
				t.Fatal(err)
			}
			cfg := AccountConfig{Name: "real", Maildir: t.TempDir(), IMAP: &ServerConfig{Kind: "imap",
				Host: s.Host, Port: tc.port, TLS: tc.tls, Username: user, Password: pass, CAFile: s.CAFile}}
			wire := &lockedBuffer{}
			a, err := NewIMAP(cfg, &IMAPOptions{Screen: 10, Timeout: 10 * time.Second, Debug: wire})
			if err != nil {
				t.Fatal(err)
			}
			defer a.Close()
			caps, err := a.Check(ctx)
			if err != nil {
				t.Fatalf("Check: %v", err)
			}
			has := false
			for _, c := range caps {
				has = has || c == "CONDSTORE"
			}
			if has != tc.condstore {
				t.Fatalf("CONDSTORE offered = %v, want %v (%v)", has, tc.condstore, caps)
			}
			if err := a.SyncFolder(ctx, "INBOX"); err != nil {
				t.Fatalf("SyncFolder: %v", err)
			}
			if err := a.Sync(ctx, nil); err != nil {
				t.Fatalf("Sync: %v", err)
			}
			other := dialReal(t, s, user, pass)
			compare := func(when string) {
				t.Helper()
				if err := a.SyncFolder(ctx, "INBOX"); err != nil {
					t.Fatalf("%s: SyncFolder: %v", when, err)
				}
				sv := realView(t, other)
				if d := sameView(cacheView(t, a, "INBOX"), sv); d != "" {
					t.Fatalf("%s: cache and dovecot differ: %s", when, d)
				}
			}
			compare("first sync")
			from := wire.Len()
			// Changes by another client: new mail, flags, expunge.
			if err := s.DeliverMany(ctx, user, [][]byte{testMsg(100), testMsg(101)}); err != nil {
				t.Fatal(err)
			}
			if err := other.Do(ctx, "store", func() error {
				var set goimap.UIDSet
				set.AddNum(3, 4)
				return other.Store(set, &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagFlagged}}, nil).Close()
			}); err != nil {
				t.Fatal(err)
			}
			if err := other.Do(ctx, "expunge", func() error {
				var set goimap.UIDSet
				set.AddNum(5)
				if err := other.Store(set, &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err != nil {
					return err
				}
				return other.UIDExpunge(set).Close()
			}); err != nil {
				t.Fatal(err)
			}
			compare("after another client's changes")
			// INBOX stayed selected: with CONDSTORE its resyncs are NOOPs
			// and FETCHes (stillSelected), without it SELECTs.
			if selects := strings.Count(wire.String()[from:], " SELECT "); (selects == 0) != tc.condstore {
				t.Fatalf("%d SELECTs to resync the selected INBOX; CONDSTORE %v", selects, tc.condstore)
			}
			// Our own actions, then a body.
			id := idOf(t, a, "INBOX", "message 7")
			if err := a.SetFlags(ctx, "INBOX", []MsgID{id}, "S", ""); err != nil {
				t.Fatal(err)
			}
			if err := a.Delete(ctx, "INBOX", []MsgID{idOf(t, a, "INBOX", "message 8")}); err != nil {
				t.Fatal(err) // no Trash on a fresh dovecot user: \Deleted + EXPUNGE
			}
			compare("after our actions")
			if f := realView(t, other)[mustUID(t, id)]; !f.Has(maildir.FlagSeen) {
				t.Fatalf("\\Seen not on the server: %q", f)
			}
			r, err := a.Open(ctx, "INBOX", idOf(t, a, "INBOX", "message 9"))
			if err != nil {
				t.Fatalf("Open: %v", err)
			}
			body, _ := io.ReadAll(r)
			r.Close()
			if len(body) < len(testMsg(9))-10 {
				t.Fatalf("Open = %d bytes", len(body))
			}
			// A sent copy reaches the server's Sent, which a fresh
			// dovecot user lacks: it is created.
			fileSentCopy(t, a, testMsg(200))
			if err := a.Sync(ctx, nil); err != nil {
				t.Fatalf("Sync with a sent copy: %v", err)
			}
			if subj, local := listSubjects(t, a, "Sent"); len(subj) != 1 || local != 0 {
				t.Fatalf("Sent lists %v (%d local), want the copy from the server", subj, local)
			}
		})
	}
}

func dialReal(t *testing.T, s *real.Servers, user, pass string) *imapt.Client {
	t.Helper()
	c, err := imapt.Dial(testCtx(t), s.Addr(s.IMAPS), &imapt.Options{TLS: imapt.TLSImplicit, TLSConfig: s.ClientTLS(), Username: user, Password: pass})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { c.Close() })
	if _, err := selectMailbox(testCtx(t), c, "INBOX"); err != nil {
		t.Fatal(err)
	}
	return c
}

func realView(t *testing.T, c *imapt.Client) map[uint32]maildir.Flags {
	t.Helper()
	out := map[uint32]maildir.Flags{}
	err := c.Do(testCtx(t), "fetch", func() error {
		if err := c.Noop().Wait(); err != nil {
			return err
		}
		if mb := c.Mailbox(); mb == nil || mb.NumMessages == 0 {
			return nil
		}
		var all goimap.SeqSet
		all.AddRange(1, 0)
		msgs, err := c.Fetch(all, &goimap.FetchOptions{UID: true, Flags: true}).Collect()
		for _, m := range msgs {
			out[uint32(m.UID)] = imapFlagsToMaildir(m.Flags)
		}
		return err
	})
	if err != nil {
		t.Fatal(fmt.Errorf("server view: %w", err))
	}
	return out
}

// lockedBuffer collects the protocol an account's connections write.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Len()
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestIMAPRealDovecotSelectedResyncs: rounds of random changes by another
// client (deliveries, flags, expunges, sometimes deliveries during a
// resync), each followed by a resync of the INBOX the account keeps
// selected (NOOP, FETCH … CHANGEDSINCE, see stillSelected); the cache
// must equal the server after every round.
func TestIMAPRealDovecotSelectedResyncs(t *testing.T) {
	s := real.Need(t)
	user, pass := s.TempUser(t)
	ctx := testCtx(t)
	msgs := make([][]byte, 40)
	for i := range msgs {
		msgs[i] = testMsg(i)
	}
	if err := s.DeliverMany(ctx, user, msgs); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	cfg := AccountConfig{Name: "real", Maildir: dir, IMAP: &ServerConfig{Kind: "imap",
		Host: s.Host, Port: s.IMAP, TLS: TLSStartTLS, Username: user, Password: pass, CAFile: s.CAFile}}
	a, err := NewIMAP(cfg, &IMAPOptions{Screen: 10, Timeout: 10 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if err := a.SyncFolder(ctx, "INBOX"); err != nil {
		t.Fatal(err)
	}
	other := dialReal(t, s, user, pass)
	defer func() {
		// Nothing changed since a resync: the state file is not
		// written again.
		if err := a.SyncFolder(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		before, err := os.Stat(filepath.Join(dir, imapStateFile))
		if err != nil {
			t.Fatal(err)
		}
		if err := a.SyncFolder(ctx, "INBOX"); err != nil {
			t.Fatal(err)
		}
		if after, err := os.Stat(filepath.Join(dir, imapStateFile)); err != nil || !os.SameFile(before, after) {
			t.Fatalf("a resync that found nothing rewrote the state file (%v)", err)
		}
	}()
	rng := rand.New(rand.NewPCG(7, 11))
	flags := []goimap.Flag{goimap.FlagSeen, goimap.FlagFlagged, goimap.FlagAnswered}
	next := 100
	for round := range 25 {
		sv := realView(t, other)
		uids := slices.Sorted(maps.Keys(sv))
		for range 1 + rng.IntN(4) {
			switch op := rng.IntN(3); {
			case op == 0 || len(uids) < 5:
				if err := s.DeliverMany(ctx, user, [][]byte{testMsg(next)}); err != nil {
					t.Fatal(err)
				}
				next++
			case op == 1:
				var set goimap.UIDSet
				set.AddNum(goimap.UID(uids[rng.IntN(len(uids))]))
				storeOp := goimap.StoreFlagsAdd
				if rng.IntN(2) == 0 {
					storeOp = goimap.StoreFlagsDel
				}
				if err := other.Do(ctx, "store", func() error {
					return other.Store(set, &goimap.StoreFlags{Op: storeOp, Silent: true, Flags: []goimap.Flag{flags[rng.IntN(len(flags))]}}, nil).Close()
				}); err != nil {
					t.Fatal(err)
				}
			default:
				var set goimap.UIDSet
				set.AddNum(goimap.UID(uids[rng.IntN(len(uids))]))
				if err := other.Do(ctx, "expunge", func() error {
					if err := other.Store(set, &goimap.StoreFlags{Op: goimap.StoreFlagsAdd, Silent: true, Flags: []goimap.Flag{goimap.FlagDeleted}}, nil).Close(); err != nil {
						return err
					}
					return other.UIDExpunge(set).Close()
				}); err != nil {
					t.Fatal(err)
				}
			}
		}
		if rng.IntN(3) == 0 {
			// Mail arriving during the resync: the one after it catches up.
			burst := make([][]byte, 5)
			for i := range burst {
				burst[i] = testMsg(next)
				next++
			}
			done := make(chan error, 1)
			go func() { done <- s.DeliverMany(ctx, user, burst) }()
			if err := a.SyncFolder(ctx, "INBOX"); err != nil {
				t.Fatalf("round %d: SyncFolder during deliveries: %v", round, err)
			}
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		}
		if err := a.SyncFolder(ctx, "INBOX"); err != nil {
			t.Fatalf("round %d: SyncFolder: %v", round, err)
		}
		if d := sameView(cacheView(t, a, "INBOX"), realView(t, other)); d != "" {
			t.Fatalf("round %d: cache and dovecot differ: %s", round, d)
		}
	}
}
