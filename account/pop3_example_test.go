package account_test

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"

	"github.com/mailbag/mailbag/account"
	"github.com/mailbag/mailbag/store/maildir"
	"github.com/mailbag/mailbag/transport/mailtest"
)

// A POP3 account downloads into its maildir with Sync and then reads
// from there with no network.
func ExamplePOP3_Sync() {
	srv, err := mailtest.NewPOP3Server(mailtest.POP3Options{
		Users:      map[string]string{"alice": "secret"},
		Pipelining: true,
	})
	if err != nil {
		panic(err)
	}
	defer srv.Close()
	srv.Deliver("alice", []byte("Subject: hello\n\nfirst\n"))
	srv.Deliver("alice", []byte("Subject: again\n\nsecond\n"))

	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	host, port, _ := net.SplitHostPort(srv.Addr)
	p, _ := strconv.Atoi(port)
	acct, err := account.NewPOP3(account.AccountConfig{
		Name:    "home",
		Maildir: filepath.Join(dir, "Mail"),
		POP3: &account.ServerConfig{
			Kind: "pop3", Host: host, Port: p,
			TLS:      account.TLSNone, // only for this loopback example
			Username: "alice", Password: "secret",
		},
	}, nil)
	if err != nil {
		panic(err)
	}
	defer acct.Close()

	err = acct.Sync(context.Background(), func(pr account.Progress) {
		if pr.Stage == account.StageDone {
			fmt.Printf("%s: %d new messages\n", pr.Account, pr.Done)
		}
	})
	if err != nil {
		panic(err)
	}
	envs, _ := acct.List(context.Background(), maildir.Inbox)
	fmt.Println("in INBOX:", len(envs))
	fmt.Println("left on the server:", len(srv.Messages("alice")))
	// Output:
	// home: 2 new messages
	// in INBOX: 2
	// left on the server: 0
}
