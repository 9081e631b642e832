package maildir_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/mailbag/mailbag/store/maildir"
)

func Example() {
	root, _ := os.MkdirTemp("", "maildir-example-")
	defer os.RemoveAll(root)

	d, err := maildir.Open(root)
	if err != nil {
		panic(err)
	}
	inbox, _ := d.Folder(maildir.Inbox)
	e, _ := inbox.Deliver(strings.NewReader("Subject: hi\n\nhello\n"), "")
	fmt.Println(strings.HasPrefix(e.Name, "new/"), e.Flags == "")

	e, _ = inbox.SetFlags(e, e.Flags.With("S"))
	archive, _ := d.Folder("Archive")
	e, _ = inbox.Move(e, archive)
	fmt.Println(e.Name == "cur/"+e.Key+":2,S")

	folders, _ := d.Folders()
	fmt.Println(folders)
	// Output:
	// true true
	// true
	// [INBOX Archive]
}

func ExampleBatch() {
	root, _ := os.MkdirTemp("", "maildir-example-")
	defer os.RemoveAll(root)

	d, _ := maildir.Open(root)
	inbox, _ := d.Folder(maildir.Inbox)
	b := inbox.NewBatch()
	for i := range 3 {
		if _, err := b.Add(strings.NewReader(fmt.Sprintf("Subject: %d\n\nbody\n", i)), ""); err != nil {
			b.Abort()
			panic(err)
		}
	}
	if err := b.Commit(); err != nil { // durable only now
		b.Abort()
		panic(err)
	}
	list, _ := inbox.List()
	fmt.Println(len(list))
	// Output: 3
}
