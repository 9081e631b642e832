//go:build !unix

package account

// lockMaildir is a no-op where flock(2) does not exist; the server's own
// maildrop lock (RFC 1939 §8) still keeps two sessions apart.
func lockMaildir(root string) (unlock func(), err error) { return func() {}, nil }
