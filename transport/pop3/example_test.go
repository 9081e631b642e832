package pop3_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"strings"

	"github.com/mailbag/mailbag/transport/mailtest"
	"github.com/mailbag/mailbag/transport/pop3"
)

// Download every message over implicit TLS, then delete them on the server.
func Example() {
	ca, err := mailtest.NewCA()
	if err != nil {
		log.Fatal(err)
	}
	srv, err := mailtest.NewPOP3Server(mailtest.POP3Options{
		Users:      map[string]string{"alice": "secret"},
		TLS:        ca.ServerTLS(),
		Pipelining: true,
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	srv.Deliver("alice", []byte("Subject: hello\n\n.and welcome\n")) // stuffed on the wire
	srv.Deliver("alice", []byte("Subject: again\n\nbye\n"))

	c, err := pop3.Dial(context.Background(), srv.Addr, &pop3.Options{TLS: "tls", TLSConfig: ca.ClientTLS()})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	if err := c.Login("alice", "secret"); err != nil {
		log.Fatal(err)
	}
	msgs, err := c.ListAll()
	if err != nil {
		log.Fatal(err)
	}
	var ids []int
	for _, m := range msgs {
		ids = append(ids, m.ID)
	}
	err = c.RetrMany(ids, func(n int, r io.Reader) error {
		var b strings.Builder
		_, err := io.Copy(&b, r)
		fmt.Printf("%d (%d octets on the server): %q\n", n, msgs[n-1].Size, b.String())
		return err
	})
	if err != nil {
		log.Fatal(err)
	}
	if err := c.DeleMany(ids); err != nil {
		log.Fatal(err)
	}
	if err := c.Quit(); err != nil {
		log.Fatal(err)
	}
	fmt.Println("left on the server:", len(srv.Messages("alice")))
	// Output:
	// 1 (32 octets on the server): "Subject: hello\n\n.and welcome\n"
	// 2 (23 octets on the server): "Subject: again\n\nbye\n"
	// left on the server: 0
}

// A -ERR answer is an *Error; its response code says whether to retry.
func ExampleError() {
	srv, err := mailtest.NewPOP3Server(mailtest.POP3Options{
		Users:     map[string]string{"alice": "secret"},
		Misbehave: mailtest.Misbehaviour{InUse: true},
	})
	if err != nil {
		log.Fatal(err)
	}
	defer srv.Close()
	c, err := pop3.Dial(context.Background(), srv.Addr, &pop3.Options{TLS: "none"})
	if err != nil {
		log.Fatal(err)
	}
	defer c.Close()
	err = c.Login("alice", "secret")
	if e, ok := errors.AsType[*pop3.Error](err); ok {
		fmt.Println(e.Code, e.Temporary())
	}
	// Output: IN-USE true
}
