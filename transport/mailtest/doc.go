// Package mailtest runs in-process mail servers on the loopback interface for
// tests and for `mailbag demo`, in the spirit of net/http/httptest.
//
// Servers listen on 127.0.0.1 with an ephemeral port only, serve each
// connection in its own goroutine, and stop every connection on Close. They
// can be told to misbehave (drop or stall a connection, send malformed
// answers, inject bytes after STLS) so clients can be tested against the
// failures real servers and attackers produce.
//
// NewCA makes a throw-away certificate authority and a server certificate for
// 127.0.0.1, ::1 and localhost, shared by the POP3, IMAP and SMTP servers.
package mailtest
