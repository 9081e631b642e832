//go:build race

package account

// raceEnabled: the race detector is on. go-imap v2.0.0-beta.8 reads a
// FETCH literal from two goroutines when the connection breaks in the
// middle of it (imapclient's reader goroutine and FetchMessageData.Next
// discarding the literal), which the detector reports as a race inside the
// library; tests that break connections mid-literal run without -race
// (.ci/run runs them separately).
const raceEnabled = true
