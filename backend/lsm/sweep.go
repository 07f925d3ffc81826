package lsm

import (
	"os"
	"path/filepath"
	"strings"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/vfs"
)

// sweepStale removes the instance directories below dir that a killed
// process of the same operator subtask left behind (their names start with
// prefix). Pebble holds a file lock on the LOCK file of every open
// database, so a directory whose lock can be taken is used by no live
// process. A directory without a database is left alone: it may be one
// being created right now. It returns the directories it removed.
func sweepStale(dir, prefix string) []string {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var removed []string
	for _, e := range entries {
		if !e.IsDir() || !strings.HasPrefix(e.Name(), prefix) {
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
