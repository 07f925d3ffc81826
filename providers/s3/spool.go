package s3

import (
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"

	"github.com/stated-io/stated/snapshot"
)

// Names in Options.SpoolDir. A storage's spool directory is created as
// spoolNewPrefix+"*" with its lock file locked inside, then renamed to
// spoolDirPrefix+"*", so that a directory under its final name always has
// a lock file.
const (
	spoolDirPrefix = "stated-s3-spool-"
	spoolNewPrefix = ".stated-s3-spool-new-"
	spoolLockName  = "lock"
	// legacySpoolPattern matches the spool files of versions that spooled
	// straight into SpoolDir.
	legacySpoolPattern = "stated-s3-*.spool"
)

// Ages after which the sweep removes leftovers that have no lock to tell
// whether their owner lives: a directory that lost its lock file, one
// that a process died creating, and the spool files of old versions (an
// upload never takes that long).
const (
	spoolUnlockedAge = time.Hour
	legacySpoolAge   = 24 * time.Hour
)

// errNoFileLocks: the platform has no flock (tryLockFile).
var errNoFileLocks = errors.New("no file locks on this platform")

// spoolDir is the directory where one Storage spools the files being
// written, made in its parent at the first spool file (a storage that
// only reads makes none). It holds an exclusive advisory lock (flock) on
// its lock file while the storage is open or a spool file in it is in
// use, and the kernel drops the lock when the process dies: so
// sweepSpool, run by every new storage, removes exactly the directories
// of dead processes, never a live one's. Safe for concurrent use.
type spoolDir struct {
	parent string

	mu     sync.Mutex
	path   string   // "" until made
	lock   *os.File // nil until made and once released
	inUse  int      // spool files created and not yet released
	closed bool
}

// openSpool sweeps parent of the spool directories of dead processes and
// returns the spool directory of a new storage in it.
func openSpool(parent string, log *slog.Logger) *spoolDir {
	sweepSpool(parent, log)
	return &spoolDir{parent: parent}
}

// makeDir creates the locked spool directory in parent and returns its
// path and lock.
func makeDir(parent string) (string, *os.File, error) {
	tmp, err := os.MkdirTemp(parent, spoolNewPrefix+"*")
	if err != nil {
		return "", nil, fmt.Errorf("spool directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(tmp, spoolLockName), os.O_CREATE|os.O_RDWR, 0o644)
	if err == nil {
		if err = tryLockFile(lock); errors.Is(err, errNoFileLocks) {
			err = nil // nothing is swept there either
		} else if err != nil {
			lock.Close()
		}
	}
	if err != nil {
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("spool directory: lock: %w", err)
	}
	final := filepath.Join(parent, spoolDirPrefix+strings.TrimPrefix(filepath.Base(tmp), spoolNewPrefix))
	if err := os.Rename(tmp, final); err != nil {
		lock.Close()
		os.RemoveAll(tmp)
		return "", nil, fmt.Errorf("spool directory: %w", err)
	}
	return final, lock, nil
}

// create makes a new spool file, and the spool directory first if there
// is none yet (once: the disk calls under the mutex happen only then);
// the caller removes the file and then calls release.
func (d *spoolDir) create() (*os.File, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed {
		return nil, snapshot.ErrClosed
	}
	if d.path == "" {
		path, lock, err := makeDir(d.parent)
		if err != nil {
			return nil, err
		}
		d.path, d.lock = path, lock
	}
	f, err := os.CreateTemp(d.path, "*.spool")
	if err != nil {
		return nil, err
	}
	d.inUse++
	return f, nil
}

// release records that a spool file of create was removed. The last one
// released after close removes the directory.
func (d *spoolDir) release() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inUse--
	d.removeIfDone()
}

// close removes the directory and drops its lock once no spool file is in
// use; spool files still in use keep it until they are released. It is
// idempotent.
func (d *spoolDir) close() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
	d.removeIfDone()
}

func (d *spoolDir) removeIfDone() {
	if !d.closed || d.inUse > 0 || d.lock == nil {
		return // open, in use, never made or already removed
	}
	// Remove first, then unlock: a sweep that locks the directory next
	// finds nothing left to remove.
	os.RemoveAll(d.path)
	d.lock.Close()
	d.lock = nil
}

// sweepSpool removes from parent the spool directories whose lock is not
// held (their process died), unfinished or unlocked ones older than
// spoolUnlockedAge and old versions' spool files older than
// legacySpoolAge. It never fails: what it cannot remove it logs and
// leaves.
func sweepSpool(parent string, log *slog.Logger) {
	entries, err := os.ReadDir(parent)
	if err != nil {
		log.Warn("s3 spool: cannot list the spool directory to sweep it", "dir", parent, "err", err)
		return
	}
	now := time.Now()
	for _, e := range entries {
		name := e.Name()
		p := filepath.Join(parent, name)
		switch {
		case e.IsDir() && strings.HasPrefix(name, spoolDirPrefix):
			sweepSpoolDir(p, now, log)
		case e.IsDir() && strings.HasPrefix(name, spoolNewPrefix):
			// Being created (for microseconds), or its creator died then.
			if olderThan(e, now, spoolUnlockedAge) && os.RemoveAll(p) == nil {
				log.Info("s3 spool: removed an unfinished spool directory", "path", p)
			}
		case e.Type().IsRegular():
			if ok, _ := filepath.Match(legacySpoolPattern, name); ok && olderThan(e, now, legacySpoolAge) {
				if err := os.Remove(p); err == nil {
					log.Info("s3 spool: removed an old spool file", "path", p)
				}
			}
		}
	}
}

// sweepSpoolDir removes the spool directory at p if its lock can be taken
// (its owner died), or if it has no lock file and is older than
// spoolUnlockedAge.
func sweepSpoolDir(p string, now time.Time, log *slog.Logger) {
	lock, err := os.OpenFile(filepath.Join(p, spoolLockName), os.O_RDWR, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if fi, err := os.Stat(p); err == nil && now.Sub(fi.ModTime()) > spoolUnlockedAge {
			if err := os.RemoveAll(p); err == nil {
				log.Info("s3 spool: removed an unlocked spool directory", "path", p)
			}
		}
		return
	}
	if err != nil {
		return
	}
	defer lock.Close()
	if tryLockFile(lock) != nil {
		return // a live process holds it (or the lock is unavailable here)
	}
	if err := os.RemoveAll(p); err != nil {
		log.Warn("s3 spool: cannot remove the spool directory of a dead process", "path", p, "err", err)
		return
	}
	log.Info("s3 spool: removed the spool directory of a dead process", "path", p)
}

func olderThan(e fs.DirEntry, now time.Time, age time.Duration) bool {
	fi, err := e.Info()
	return err == nil && now.Sub(fi.ModTime()) > age
}
