package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
)

// outputLeaseName is the lock file an exactly-once file sink holds in its
// output directory while the run writes there (a name starting with "_" is
// not committed output). FORMAT.md section 7 of the snapshot package
// describes the lock file; the job's own lease keeps a second instance of
// the same job out, this one a second job that writes to the same
// directory.
const outputLeaseName = "_sink.lease"

// outputLocks holds the runtime's locks on the sinks' output directories,
// one per directory however many subtasks write to it. Sinks are opened
// one at a time while the job is built, and the locks are released when
// Run returns.
type outputLocks struct {
	mu     sync.Mutex
	leases map[string]snapshot.Lease // by absolute directory
	stores []*file.Storage
}

// hold takes the lock of the output directory dir (absolute) for the run,
// or returns the one it holds already. Another job (or another instance)
// writing to dir is refused with an error wrapping snapshot.ErrLeaseHeld
// that names the holder.
func (l *outputLocks) hold(ctx context.Context, r *runtime, uid, dir string) (snapshot.Lease, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if lease, ok := l.leases[dir]; ok {
		return lease, nil
	}
	store, err := file.New(dir)
	if err != nil {
		return nil, fmt.Errorf("sink %q: %w", uid, err)
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	lease, err := store.AcquireLease(ctx, outputLeaseName, snapshot.LeaseOptions{
		Holder: snapshot.LeaseHolder{Host: host, PID: os.Getpid(), Started: r.now().UTC(), Run: r.runID + " of job " + r.jobID},
	})
	if err != nil {
		store.Close()
		if errors.Is(err, snapshot.ErrLeaseHeld) {
			return nil, fmt.Errorf("sink %q: another job writes to the output directory %s: %w; give each job an output directory of its own", uid, dir, err)
		}
		return nil, fmt.Errorf("sink %q: lock the output directory: %w", uid, err)
	}
	if l.leases == nil {
		l.leases = map[string]snapshot.Lease{}
	}
	l.leases[dir] = lease
	l.stores = append(l.stores, store)
	return lease, nil
}

// releaseAll releases every lock.
func (l *outputLocks) releaseAll(ctx context.Context) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	var errs []error
	for _, lease := range l.leases {
		errs = append(errs, lease.Release(ctx))
	}
	for _, s := range l.stores {
		errs = append(errs, s.Close())
	}
	l.leases, l.stores = nil, nil
	return errors.Join(errs...)
}
