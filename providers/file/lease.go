//go:build unix

package file

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/stated-io/stated/snapshot"
)

var _ snapshot.Leaser = (*Storage)(nil)

// leaseFileVersion is the version of the content of a lease file (FORMAT.md
// section 7).
const leaseFileVersion = 1

// leaseFile is the content of a lease file: who holds it.
type leaseFile struct {
	Version int `json:"version"`
	snapshot.LeaseHolder
}

// AcquireLease implements snapshot.Leaser with an advisory lock: flock(2) with
// LOCK_EX|LOCK_NB on the file name (created if missing, with its
// directories; never deleted, since removing a lock file lets two
// processes lock two different files of one name). The kernel releases the
// lock when the process dies, so a killed job's successor starts at once:
// opts.TTL does not delay it. Once locked, the file is rewritten to name
// opts.Holder (JSON, FORMAT.md section 7) and fsynced; a refused caller
// gets a *snapshot.LeaseHeldError naming the file's full path and the holder it
// names.
//
// The lease is lost (Lost is closed, Err wraps snapshot.ErrLeaseLost) when the file
// at name is removed or replaced while held, which a check every opts.TTL/3
// notices: the lock then guards a file no successor would look at. Locks
// are per open file, so a second AcquireLease of one name in the same
// process is refused like another process.
func (s *Storage) AcquireLease(ctx context.Context, name string, opts snapshot.LeaseOptions) (snapshot.Lease, error) {
	opts.EnsureDefaults()
	clean, full, err := s.resolve(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}
	if opts.Holder == (snapshot.LeaseHolder{}) {
		return nil, fmt.Errorf("acquire lease %s: no holder", clean)
	}
	dir := filepath.Dir(full)
	if err := s.mkdirAll(dir); err != nil {
		return nil, fmt.Errorf("acquire lease %s: %w", clean, err)
	}
	f, err := lockFile(full)
	if errors.Is(err, snapshot.ErrLeaseHeld) {
		return nil, err // names the file and its holder
	}
	if err != nil {
		return nil, fmt.Errorf("acquire lease: %w", err)
	}
	content, err := json.Marshal(leaseFile{Version: leaseFileVersion, LeaseHolder: opts.Holder})
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("acquire lease %s: %w", full, err)
	}
	if err := rewrite(f, content); err != nil {
		f.Close()
		return nil, fmt.Errorf("acquire lease %s: %w", full, err)
	}
	if err := SyncDir(dir); err != nil {
		f.Close()
		return nil, fmt.Errorf("acquire lease %s: %w", full, err)
	}
	l := &fileLease{path: full, f: f, holder: opts.Holder, lost: make(chan struct{}), stop: make(chan struct{}), stopped: make(chan struct{})}
	go l.watch(opts.TTL / 3)
	return l, nil
}

// lockFile opens path, creating it, and locks it. A file replaced between
// the open and the lock (by a user: stated never deletes lock files) is
// opened again.
func lockFile(path string) (*os.File, error) {
	for try := 0; ; try++ {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			return nil, err
		}
		if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
			defer f.Close()
			if errors.Is(err, syscall.EWOULDBLOCK) {
				return nil, &snapshot.LeaseHeldError{Name: path, Holder: readHolder(f)}
			}
			return nil, fmt.Errorf("lock %s: %w", path, err)
		}
		same, err := sameFile(f, path)
		if same || try >= 3 {
			if err == nil && !same {
				err = fmt.Errorf("lock %s: the file keeps being replaced", path)
			}
			if err != nil {
				f.Close()
				return nil, err
			}
			return f, nil
		}
		f.Close()
	}
}

// readHolder reads the holder a lease file names; a file being rewritten
// or of another format gives a holder whose Run says so.
func readHolder(f *os.File) snapshot.LeaseHolder {
	b, err := io.ReadAll(io.LimitReader(f, 64<<10))
	var lf leaseFile
	if err == nil {
		err = json.Unmarshal(b, &lf)
	}
	if err != nil || lf.Version != leaseFileVersion {
		return snapshot.LeaseHolder{Run: fmt.Sprintf("unknown: the lock file does not name its holder (%d bytes)", len(b))}
	}
	return lf.LeaseHolder
}

// rewrite replaces the content of f and fsyncs it.
func rewrite(f *os.File, content []byte) error {
	if err := f.Truncate(0); err != nil {
		return err
	}
	if _, err := f.WriteAt(content, 0); err != nil {
		return err
	}
	return f.Sync()
}

// sameFile reports whether path names the file f is open on.
func sameFile(f *os.File, path string) (bool, error) {
	fi, err := f.Stat()
	if err != nil {
		return false, err
	}
	pi, err := os.Stat(path)
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return os.SameFile(fi, pi), nil
}

// fileLease is the snapshot.Lease of Storage.
type fileLease struct {
	path   string
	f      *os.File
	holder snapshot.LeaseHolder

	lost    chan struct{}
	stop    chan struct{}
	stopped chan struct{}

	mu       sync.Mutex
	err      error
	released bool
}

func (l *fileLease) Holder() snapshot.LeaseHolder { return l.holder }
func (l *fileLease) Lost() <-chan struct{}        { return l.lost }

func (l *fileLease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// watch checks every interval that the lock file is still the one locked.
func (l *fileLease) watch(interval time.Duration) {
	defer close(l.stopped)
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-l.stop:
			return
		case <-t.C:
		}
		same, err := sameFile(l.f, l.path)
		if err == nil && same {
			continue
		}
		reason := "it was removed or replaced"
		if err != nil {
			reason = err.Error()
		}
		l.mu.Lock()
		l.err = fmt.Errorf("%w: lock file %s: %s", snapshot.ErrLeaseLost, l.path, reason)
		l.mu.Unlock()
		close(l.lost)
		return
	}
}

func (l *fileLease) Release(context.Context) error {
	l.mu.Lock()
	if l.released {
		l.mu.Unlock()
		return nil
	}
	l.released = true
	l.mu.Unlock()
	close(l.stop)
	<-l.stopped
	// Closing the last descriptor of the open file releases the lock.
	if err := l.f.Close(); err != nil {
		return fmt.Errorf("release lease %s: %w", l.path, err)
	}
	return nil
}
