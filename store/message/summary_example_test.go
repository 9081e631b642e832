package message_test

import (
	"fmt"
	"strings"

	"github.com/mailbag/mailbag/store/message"
)

// A worker that summarises many messages keeps one SummaryReader, so its
// buffers are reused from message to message.
func ExampleSummaryReader() {
	msgs := []string{
		"From: =?utf-8?q?J=C3=BCrgen?= <j@example.test>\r\nSubject: Hi\r\n" +
			"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n\r\nbody\r\n",
		"From: alice@example.test\nSubject: =?utf-8?b?R3LDvMOfZQ==?=\n\n",
	}
	var sr message.SummaryReader
	for _, m := range msgs {
		s, err := sr.ReadSummary(strings.NewReader(m))
		if err != nil {
			panic(err)
		}
		fmt.Printf("%s | %s | %s\n", s.From, s.Subject, s.Date.Format("2006-01-02"))
	}
	// Output:
	// Jürgen <j@example.test> | Hi | 2006-01-02
	// alice@example.test | Grüße | 0001-01-01
}
