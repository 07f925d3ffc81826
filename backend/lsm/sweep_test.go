package lsm

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
)

func sweepOptions(dir string) Options[string] {
	return Options[string]{Dir: dir, KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "op", Subtask: 1,
		MaxParallelism: 128, KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: serializer.String{}}}
}

// TestSweepStaleDirectories: New removes what killed processes left behind
// for any subtask of its operator, and nothing a live backend uses.
func TestSweepStaleDirectories(t *testing.T) {
	dir := t.TempDir()
	// Killed processes: their databases are closed but their directories
	// remain, of this subtask, of another subtask of the operator (a job
	// restarted at a lower parallelism) and of another operator.
	deadDB := func(name string) string {
		inst := filepath.Join(dir, name)
		db, err := pebble.Open(filepath.Join(inst, "db"), &pebble.Options{})
		if err != nil {
			t.Fatal(err)
		}
		if err := db.Close(); err != nil {
			t.Fatal(err)
		}
		return inst
	}
	stale := deadDB("op-1-deadbeefdeadbeef")
	staleSibling := deadDB("op-7-deadbeefdeadbeef")
	otherOperator := deadDB("op-x-1-deadbeefdeadbeef")
	other := filepath.Join(dir, "op-2-deadbeefdeadbeef") // being created: no database yet
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
	if _, err := os.Stat(staleSibling); !os.IsNotExist(err) {
		t.Fatalf("stale directory of another subtask %s not removed (%v)", staleSibling, err)
	}
	for _, d := range []string{other, otherOperator} {
		if _, err := os.Stat(d); err != nil {
			t.Fatalf("directory %s removed: %v", d, err)
		}
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
