package engine

import (
	"context"
	"errors"
	"fmt"
	"os"

	"github.com/stated-io/stated/snapshot"
)

// acquireLease takes the job's lease on its checkpoint directory (one
// writer per job), before the run restores or writes anything. A storage
// without snapshot.Leaser is refused (ErrConfig), and so is a lease
// another instance holds (snapshot.ErrLeaseHeld, naming the holder).
func (r *runtime) acquireLease(ctx context.Context) (snapshot.Lease, error) {
	leaser, ok := r.ckptStore.(snapshot.Leaser)
	if !ok {
		return nil, fmt.Errorf("%w: execution.checkpointing.dir %s: this storage cannot hold the lease that keeps a second instance of the job out (one writer per job)", ErrConfig, r.ckptRoot)
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	lease, err := leaser.AcquireLease(ctx, snapshot.JobLeaseName(r.jobID), snapshot.LeaseOptions{
		Holder: snapshot.LeaseHolder{Host: host, PID: os.Getpid(), Started: r.now().UTC(), Run: r.runID},
		TTL:    r.cfg.LeaseTTL,
	})
	if errors.Is(err, snapshot.ErrLeaseHeld) {
		return nil, fmt.Errorf("another instance of job %q is running: %w; stop it first, or give this one another pipeline.name and output", r.jobID, err)
	}
	if err != nil {
		return nil, fmt.Errorf("lease on execution.checkpointing.dir: %w", err)
	}
	return lease, nil
}

// checkLease returns the error of a lost lease: after it the run commits
// nothing.
func (r *runtime) checkLease() error {
	if err := r.lease.Err(); err != nil {
		return fmt.Errorf("job %q: %w", r.jobID, err)
	}
	return nil
}
