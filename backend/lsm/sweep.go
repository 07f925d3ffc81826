package lsm

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// sweepStale removes the instance directories below dir that killed
// processes left behind for any subtask of the operator (their names are
// "<operator>-<subtask>-<id>"), so that a job restarted at a lower
// parallelism does not leak the directories of the subtasks it no longer
// has. Pebble holds a file lock on the LOCK file of every open
// database, so a directory whose lock can be taken is used by no live
// process. A directory without a database is left alone: it may be one
// being created right now. It returns the directories it removed.
func sweepStale(dir, operator string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || !isInstanceOf(e.Name(), operator) {
			continue
		}
		inst := filepath.Join(dir, e.Name())
		db := filepath.Join(inst, "db")
		if _, err := os.Stat(filepath.Join(db, "LOCK")); err != nil {
			continue
		}
		lock, err := pebble.LockDirectory(db, vfs.Default)
		if err != nil {
			continue // locked: a live backend
		}
		err = os.RemoveAll(inst)
		_ = lock.Close()
		if err == nil {
			removed = append(removed, inst)
		}
	}
	return removed
}

// isInstanceOf reports whether name is "<operator>-<subtask>-<id>".
func isInstanceOf(name, operator string) bool {
	rest, ok := strings.CutPrefix(name, operator+"-")
	if !ok {
		return false
	}
	subtask, id, ok := strings.Cut(rest, "-")
	if !ok || subtask == "" || id == "" {
		return false
	}
	for _, c := range subtask {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}
