package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/stated-io/stated/snapshot"
)

// holdJobLease takes the lease of job in store (snapshot.JobLeaseName), the
// one a running job holds, so that a command that deletes files of the job
// never runs beside it. The returned function releases it. A job that runs
// is refused naming its holder; so is a storage that cannot hold leases.
func holdJobLease(ctx context.Context, store snapshot.Storage, job, command string) (func(), error) {
	leaser, ok := store.(snapshot.Leaser)
	if !ok {
		return nil, fmt.Errorf("%s: %s cannot hold the lease of job %q, so it cannot make sure the job is stopped", command, locate(store, job), job)
	}
	host, err := os.Hostname()
	if err != nil {
		host = "unknown"
	}
	lease, err := leaser.AcquireLease(ctx, snapshot.JobLeaseName(job), snapshot.LeaseOptions{
		Holder: snapshot.LeaseHolder{Host: host, PID: os.Getpid(), Started: time.Now().UTC(), Run: "stated " + command},
	})
	if errors.Is(err, snapshot.ErrLeaseHeld) {
		return nil, fmt.Errorf("%s: job %q is running: %w; stop it first", command, job, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", command, err)
	}
	return func() { lease.Release(context.WithoutCancel(ctx)) }, nil
}
