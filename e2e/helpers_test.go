package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"
)

// buildMailbag builds the mailbag binary into a temporary directory.
func buildMailbag(t testing.TB) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "mailbag")
	build := exec.Command("go", "build", "-o", bin, ".")
	build.Dir = moduleRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -o %s . in %s: %v\n%s", bin, build.Dir, err, out)
	}
	return bin
}

// crashParams are a crash test's seed and number of kills: a fresh seed
// (logged) unless MAILBAG_CRASH_SEED replays one, and kills (short with
// -short) unless MAILBAG_CRASH_KILLS asks for more.
func crashParams(t *testing.T, name string, kills, short int) (uint64, int) {
	t.Helper()
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("MAILBAG_CRASH_SEED"); s != "" {
		v, err := strconv.ParseUint(s, 10, 64)
		if err != nil {
			t.Fatalf("MAILBAG_CRASH_SEED=%q: %v", s, err)
		}
		seed = v
	}
	if testing.Short() {
		kills = short
	}
	if s := os.Getenv("MAILBAG_CRASH_KILLS"); s != "" {
		v, err := strconv.Atoi(s)
		if err != nil || v < 1 {
			t.Fatalf("MAILBAG_CRASH_KILLS=%q: want a positive number", s)
		}
		kills = v
	}
	t.Logf("%s seed %d, %d kills (replay with MAILBAG_CRASH_SEED=%d)", name, seed, kills, seed)
	return seed, kills
}
