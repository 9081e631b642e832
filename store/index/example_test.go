package index_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/mailbag/mailbag/store/index"
	"github.com/mailbag/mailbag/store/maildir"
)

func ExampleIndex_Load() {
	root, _ := os.MkdirTemp("", "index-example-")
	defer os.RemoveAll(root)

	d, _ := maildir.Open(root)
	inbox, _ := d.Folder(maildir.Inbox)
	inbox.Deliver(strings.NewReader("From: Bob <bob@example.test>\nSubject: =?utf-8?q?Caf=C3=A9?=\n\nhi\n"), "S")

	ix := index.Open(inbox, nil)
	envs, err := ix.Load() // parses the new message, writes mailbag-index
	if err != nil {
		panic(err)
	}
	for _, e := range envs {
		fmt.Println(e.From, "|", e.Subject, "|", e.Flags)
	}
	// Output: Bob <bob@example.test> | Café | S
}
