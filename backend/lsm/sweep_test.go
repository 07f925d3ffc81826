package lsm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/backend"
)

func sweepOptions(dir string) Options[string] {
	return Options[string]{Dir: dir, KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "op", Subtask: 1,
		MaxParallelism: 128, KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: backend.StringSerializer{}}}
}

// TestSweepStaleDirectories: New removes what a killed process of the same
// subtask left behind, and nothing a live backend uses.
func TestSweepStaleDirectories(t *testing.T) {
	dir := t.TempDir()
	// A killed process: its database is closed but its directory remains.
	stale := filepath.Join(dir, "op-1-deadbeefdeadbeef")
	db, err := pebble.Open(filepath.Join(stale, "db"), &pebble.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	other := filepath.Join(dir, "op-2-deadbeefdeadbeef") // another subtask
	if err := os.MkdirAll(filepath.Join(other, "db"), 0o755); err != nil {
		t.Fatal(err)
	}
	live, err := New(sweepOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer live.Close()
	if _, err := os.Stat(stale); !os.IsNotExist(err) {
		t.Fatalf("stale directory %s not removed (%v)", stale, err)
	}
	if _, err := os.Stat(other); err != nil {
		t.Fatalf("directory of another subtask removed: %v", err)
	}
	// A second backend of the same subtask must not remove the live one's.
	second, err := New(sweepOptions(dir))
	if err != nil {
		t.Fatal(err)
	}
	defer second.Close()
	if _, err := os.Stat(live.dir); err != nil {
		t.Fatalf("directory of a live backend removed: %v", err)
	}
}
