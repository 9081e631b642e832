// Package real connects integration tests to the real dovecot (POP3, IMAP,
// LMTP) and postfix (SMTP, submission) that `bash .ci/servers start` runs as a
// private instance on 127.0.0.1.
//
// The script writes a description of the running instance to
// STATEDIR/env.json (default /tmp/mailbag-servers/env.json, or the path in
// $MAILBAG_TEST_SERVERS); Load reads it and checks that every port answers.
// Tests call Need, which skips when the servers are absent, except under CI
// ($CI set), where a missing server is a failure rather than a silent skip.
//
//	func TestPOP3Real(t *testing.T) {
//		s := real.Need(t)
//		user, pass := s.TempUser(t)
//		if err := s.Deliver(ctx, user, msg); err != nil { … }
//		// dial s.Addr(s.POP3S) with s.ClientTLS(), log in as user/pass …
//	}
//
// Users alice, bob, carol and bench exist with password "secret-" + name
// (domain example.test). They are shared by every test package, and `go test`
// runs packages in parallel: a test that counts or empties a mailbox should use
// its own TempUser instead.
package real

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"
)

// DefaultEnvFile is where `bash .ci/servers start` writes env.json when no
// state directory is given.
const DefaultEnvFile = "/tmp/mailbag-servers/env.json"

// EnvVar names the environment variable that overrides DefaultEnvFile.
const EnvVar = "MAILBAG_TEST_SERVERS"

// StartHint tells a developer how to get the servers.
const StartHint = "start them with `bash .ci/servers install && bash .ci/servers start` (see the header of .ci/servers)"

// Servers describes one running instance, as written by .ci/servers.
type Servers struct {
	Host string `json:"host"` // 127.0.0.1
	// Domain is the mail domain of every user (example.test).
	Domain string `json:"domain"`

	POP3          int `json:"pop3"`           // plain, STLS offered
	POP3S         int `json:"pop3s"`          // implicit TLS
	IMAP          int `json:"imap"`           // plain, STARTTLS offered
	IMAPS         int `json:"imaps"`          // implicit TLS
	IMAPNoQresync int `json:"imap_noqresync"` // plain/STARTTLS, no CONDSTORE/QRESYNC
	Submission    int `json:"submission"`     // STARTTLS required, then AUTH
	SMTP          int `json:"smtp"`           // plain SMTP (STARTTLS offered, no AUTH)
	LMTP          int `json:"lmtp"`           // dovecot LMTP (RFC 2033)

	// CAFile is the PEM certificate of the private CA that signed the
	// servers' certificate (valid for 127.0.0.1, localhost, mail.example.test).
	CAFile string `json:"ca_file"`
	// Users maps user name to password for the permanent users.
	Users map[string]string `json:"users"`
	// Maildirs maps user name to the dovecot maildir of that user. Files
	// written there by hand must belong to MailUser.
	Maildirs map[string]string `json:"maildirs"`
	MailRoot string            `json:"mail_root"` // MailRoot/USER/Maildir
	MailUser string            `json:"mail_user"` // system user owning the mail
	// UsersFile is dovecot's passwd-file.
	UsersFile string `json:"users_file"`
	// TempUsers is the size of the pool tmp-001 … that TempUser claims from,
	// with one claim file per user in ClaimsDir.
	TempUsers int    `json:"temp_users"`
	ClaimsDir string `json:"claims_dir"`
	StateDir  string `json:"state_dir"`

	// Doveadm is the command line of doveadm for the main instance
	// ("doveadm -c STATEDIR/dovecot/dovecot.conf"); it needs root.
	Doveadm          []string          `json:"doveadm"`
	DoveadmNoQresync []string          `json:"doveadm_noqresync"`
	PIDFiles         map[string]string `json:"pid_files"` // dovecot, dovecot_noqresync, postfix
	Logs             map[string]string `json:"logs"`      // dovecot, dovecot_noqresync, postfix
}

// Load reads the instance description from $MAILBAG_TEST_SERVERS, else
// DefaultEnvFile, and checks that every port answers.
func Load() (*Servers, error) {
	path := os.Getenv(EnvVar)
	if path == "" {
		path = DefaultEnvFile
	}
	return LoadFile(path)
}

// LoadFile is Load with an explicit env.json path.
func LoadFile(path string) (*Servers, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("real servers: %w", err)
	}
	var s Servers
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, fmt.Errorf("real servers: %s: %w", path, err)
	}
	if s.Host == "" || s.CAFile == "" || len(s.Users) == 0 {
		return nil, fmt.Errorf("real servers: %s: host, ca_file or users missing", path)
	}
	if err := s.Ping(); err != nil {
		return nil, fmt.Errorf("real servers: %s: %w", path, err)
	}
	return &s, nil
}

// Ping checks that every port accepts a TCP connection.
func (s *Servers) Ping() error {
	ports := []struct {
		name string
		port int
	}{
		{"pop3", s.POP3}, {"pop3s", s.POP3S}, {"imap", s.IMAP}, {"imaps", s.IMAPS},
		{"imap_noqresync", s.IMAPNoQresync}, {"submission", s.Submission},
		{"smtp", s.SMTP}, {"lmtp", s.LMTP},
	}
	for _, p := range ports {
		if p.port <= 0 {
			return fmt.Errorf("%s port missing", p.name)
		}
		c, err := net.DialTimeout("tcp", s.Addr(p.port), 2*time.Second)
		if err != nil {
			return fmt.Errorf("%s: %w", p.name, err)
		}
		c.Close()
	}
	return nil
}

// Need returns the running servers, or skips the test with a hint on how to
// start them. When $CI is set (and not "false" or "0") it fails instead, so
// CI never silently skips the integration tests.
func Need(t testing.TB) *Servers {
	t.Helper()
	s, err := Load()
	if err == nil {
		return s
	}
	if InCI() {
		t.Fatalf("real servers required under CI but not usable: %v; .ci/run must %s", err, StartHint)
	}
	t.Skipf("real servers not running (%v): %s", err, StartHint)
	return nil
}

// InCI reports whether $CI asks for the integration tests to be mandatory.
func InCI() bool {
	switch strings.ToLower(os.Getenv("CI")) {
	case "", "0", "false", "no":
		return false
	}
	return true
}

// Addr returns "host:port" for one of the ports.
func (s *Servers) Addr(port int) string {
	return net.JoinHostPort(s.Host, strconv.Itoa(port))
}

// Address returns the mail address of user (user@example.test); an argument
// that already holds an '@' is returned as it is.
func (s *Servers) Address(user string) string {
	if strings.Contains(user, "@") {
		return user
	}
	return user + "@" + s.Domain
}

// ClientTLS returns a TLS configuration that trusts only the private CA and
// verifies the server as s.Host. It panics if the CA file cannot be read,
// which Load has already made unlikely; use CertPool to handle the error.
func (s *Servers) ClientTLS() *tls.Config {
	pool, err := s.CertPool()
	if err != nil {
		panic(err)
	}
	return &tls.Config{RootCAs: pool, ServerName: s.Host, MinVersion: tls.VersionTLS12}
}

// CertPool returns a pool holding only the private CA.
func (s *Servers) CertPool() (*x509.CertPool, error) {
	pem, err := os.ReadFile(s.CAFile)
	if err != nil {
		return nil, fmt.Errorf("real servers: CA: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("real servers: CA %s: no PEM certificate", s.CAFile)
	}
	return pool, nil
}

// DoveadmError is returned when a doveadm command fails; Output holds what it
// printed.
type DoveadmError struct {
	Args   []string
	Output string
	Err    error
}

func (e *DoveadmError) Error() string {
	return fmt.Sprintf("doveadm %s: %v: %s", strings.Join(e.Args, " "), e.Err, strings.TrimSpace(e.Output))
}

func (e *DoveadmError) Unwrap() error { return e.Err }

// RunDoveadm runs doveadm against the main instance with args and returns its
// standard output. doveadm needs root (it reads the private key's config and
// switches to the mail user).
func (s *Servers) RunDoveadm(ctx context.Context, args ...string) ([]byte, error) {
	if len(s.Doveadm) == 0 {
		return nil, errors.New("real servers: no doveadm command in env.json")
	}
	argv := append(append([]string{}, s.Doveadm[1:]...), args...)
	cmd := exec.CommandContext(ctx, s.Doveadm[0], argv...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		return out, &DoveadmError{Args: args, Output: stderr.String(), Err: err}
	}
	return out, nil
}

// standardMailbox reports whether Reset keeps mailbox name; dovecot creates
// these for every user (auto = create).
func standardMailbox(name string) bool {
	switch name {
	case "INBOX", "Drafts", "Sent", "Trash", "Junk":
		return true
	}
	return false
}

// Reset empties every mailbox of user and deletes every mailbox other than
// INBOX, Drafts, Sent, Trash and Junk, using doveadm. UIDs are not reset:
// UIDVALIDITY and UIDNEXT of INBOX stay as they were.
func (s *Servers) Reset(ctx context.Context, user string) error {
	if _, err := s.RunDoveadm(ctx, "expunge", "-u", user, "mailbox", "*", "all"); err != nil {
		return fmt.Errorf("real servers: reset %s: %w", user, err)
	}
	out, err := s.RunDoveadm(ctx, "mailbox", "list", "-u", user)
	if err != nil {
		return fmt.Errorf("real servers: reset %s: %w", user, err)
	}
	var extra []string
	for _, mb := range strings.Split(string(out), "\n") {
		mb = strings.TrimSpace(mb)
		if mb != "" && !standardMailbox(mb) {
			extra = append(extra, mb)
		}
	}
	if len(extra) == 0 {
		return nil
	}
	// -r deletes children recursively, -s unsubscribes.
	args := append([]string{"mailbox", "delete", "-u", user, "-r", "-s", "--"}, extra...)
	if _, err := s.RunDoveadm(ctx, args...); err != nil {
		return fmt.Errorf("real servers: reset %s: %w", user, err)
	}
	return nil
}
