package account

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"
)

// TestExampleConfig parses config.example.toml, with $HOME pointed at a
// temporary directory, and checks what it says.
func TestExampleConfig(t *testing.T) {
	home := t.TempDir()
	data, err := os.ReadFile(filepath.Join("..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	path := writeConfig(t, string(data), 0o644)
	cfg, err := LoadEnv(path, testEnv(map[string]string{"HOME": home}))
	if err != nil {
		t.Fatalf("config.example.toml: %v", err)
	}
	if cfg.UI != (UIConfig{Editor: "", OpenCmd: "xdg-open"}) || len(cfg.Keys) != 0 {
		t.Errorf("ui = %+v, keys = %+v", cfg.UI, cfg.Keys)
	}
	homeCmd := "pass show mail/home"
	workCmd := "secret-tool lookup mail work"
	want := []AccountConfig{
		{
			Name: "home", Address: "Alice Example <alice@example.test>", Maildir: filepath.Join(home, "Mail/home"),
			POP3: &ServerConfig{Kind: "pop3", Host: "pop.example.test", Port: 995, TLS: "tls", Username: "alice",
				PasswordCmd: homeCmd, CheckEvery: 5 * time.Minute},
			SMTP: &ServerConfig{Kind: "smtp", Host: "smtp.example.test", Port: 587, TLS: "starttls", Username: "alice",
				PasswordCmd: homeCmd},
			Folders: map[string]string{RoleSent: "Sent", RoleDrafts: "Drafts", RoleTrash: "Trash",
				RoleJunk: "Junk", RoleArchive: "Archive", RoleOutbox: "Outbox"},
		},
		{
			Name: "work", Address: "Alice Example <alice@work.example.test>", Maildir: filepath.Join(home, ".local/share/mailbag/work"),
			IMAP: &ServerConfig{Kind: "imap", Host: "imap.work.example.test", Port: 993, TLS: "tls",
				Username: "alice@work.example.test", PasswordCmd: workCmd, CheckEvery: 2 * time.Minute, FullOffline: true},
			SMTP: &ServerConfig{Kind: "smtp", Host: "smtp.work.example.test", Port: 465, TLS: "tls",
				Username: "alice@work.example.test", PasswordCmd: workCmd},
		},
	}
	if len(cfg.Accounts) != len(want) {
		t.Fatalf("accounts = %+v, want %d", cfg.Accounts, len(want))
	}
	for i := range want {
		got := cfg.Accounts[i]
		// Lines are checked for being set, not for their numbers, so the
		// comments can change.
		if got.Line == 0 {
			t.Errorf("%s: Line 0", got.Name)
		}
		got.Line = 0
		for _, s := range []*ServerConfig{got.POP3, got.IMAP, got.SMTP} {
			if s != nil {
				if s.Line <= got.Line {
					t.Errorf("%s.%s: Line %d", got.Name, s.Kind, s.Line)
				}
				s.Line = 0
			}
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("account %d =\n%+v\nwant\n%+v", i, got, want[i])
			for _, s := range []*ServerConfig{got.POP3, got.IMAP, got.SMTP} {
				if s != nil {
					t.Errorf("  %s: %+v", s.Kind, *s)
				}
			}
		}
	}

	// The commented local account, uncommented, is valid too.
	local := strings.Replace(string(data), "# [accounts.archive]\n# maildir", "[accounts.archive]\nmaildir", 1)
	if local == string(data) {
		t.Fatal("config.example.toml lost its commented local account")
	}
	if err := os.MkdirAll(filepath.Join(home, "Mail/archive"), 0o700); err != nil {
		t.Fatal(err)
	}
	cfg, err = LoadEnv(writeConfig(t, local, 0o600), testEnv(map[string]string{"HOME": home}))
	if err != nil {
		t.Fatalf("config.example.toml with the local account: %v", err)
	}
	if a := cfg.Accounts[2]; a.Name != "archive" || !a.Local() || a.Maildir != filepath.Join(home, "Mail/archive") {
		t.Errorf("local account = %+v", a)
	}
}
