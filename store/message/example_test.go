package message_test

import (
	"fmt"
	"strings"

	"github.com/mailbag/mailbag/store/message"
)

func Example() {
	raw := "From: =?utf-8?q?J=C3=BCrgen?= <j@example.test>\r\n" +
		"To: alice@example.test\r\n" +
		"Date: Mon, 2 Jan 2006 15:04:05 +0000\r\n" +
		"Subject: =?utf-8?q?Gr=C3=BC=C3=9Fe?= \x1b[31m\r\n" +
		"Content-Type: multipart/mixed; boundary=b\r\n" +
		"\r\n" +
		"--b\r\n" +
		"Content-Type: text/html; charset=iso-8859-1\r\n" +
		"\r\n" +
		"<p>Hall\xf6chen!</p><ul><li>one</li><li>two</li></ul>\r\n" +
		"--b\r\n" +
		"Content-Type: application/pdf; name=\"../../report.pdf\"\r\n" +
		"Content-Transfer-Encoding: base64\r\n" +
		"\r\n" +
		"JVBERi0xLjQK\r\n" +
		"--b--\r\n"
	m, err := message.Parse(strings.NewReader(raw), nil)
	if err != nil {
		panic(err)
	}
	fmt.Print(message.Render(m, 72))
	fmt.Println(message.SafeFileName(m.Attachments[0].Name, 1))
	// Output:
	// From: Jürgen <j@example.test>
	// To: alice@example.test
	// Date: Mon, 02 Jan 2006 15:04:05 +0000
	// Subject: Grüße ␛[31m
	//
	// Hallöchen!
	//
	// • one
	// • two
	//
	// Attachments:
	//   1. ../../report.pdf (application/pdf, 9 B)
	// report.pdf
}
