package snapshot

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrLeaseHeld: another holder has the lease and it has not expired. The
// error is a *LeaseHeldError that names the holder.
var ErrLeaseHeld = errors.New("snapshot: lease held by another instance")

// ErrLeaseLost: a lease this process held can no longer be trusted (a
// renewal failed until the lease expired, or another holder took it over).
// A holder that sees it must stop writing under the lease at once.
var ErrLeaseLost = errors.New("snapshot: lease lost")

// Leaser is the optional capability of storages that give one holder at
// a time an exclusive lease on a name, such as a job's checkpoint
// directory ("one writer per job"). A file system takes an advisory lock
// (flock) that the kernel releases when the process dies; an object store
// writes a lease object with conditional PUTs and renews it, so that it
// expires LeaseOptions.TTL after the holder stopped renewing.
//
// AcquireLease is safe for concurrent use. Acquiring a lease the caller
// already holds through another Lease value fails like any other holder.
type Leaser interface {
	// AcquireLease takes the lease called name (a storage name such as
	// "job/_lease"). It fails with a *LeaseHeldError (errors.Is
	// ErrLeaseHeld) when another holder has it and has not let it expire.
	// An expired lease is taken over.
	AcquireLease(ctx context.Context, name string, opts LeaseOptions) (Lease, error)
}

// JobLeaseName is the storage name of the lease a job holds on its
// checkpoint directory while it runs: "<job>/_lease" (FORMAT.md sections 7
// and 8). Tools that delete a job's files (prune, gc, move-aside) take it
// too, so they never run beside the job.
func JobLeaseName(jobID string) string { return jobID + "/_lease" }

// LeaseOptions tune AcquireLease.
type LeaseOptions struct {
	// Holder describes this process to a second instance that is refused.
	// Required.
	Holder LeaseHolder
	// TTL is how long a lease outlives its holder's last renewal on
	// stores that renew (object stores, the stated service); renewals run
	// every TTL/3. Default DefaultLeaseTTL. File locks ignore it: the
	// kernel drops them with the process.
	TTL time.Duration
}

// DefaultLeaseTTL is the default LeaseOptions.TTL.
const DefaultLeaseTTL = 30 * time.Second

// EnsureDefaults fills in the defaults of unset fields.
func (o *LeaseOptions) EnsureDefaults() {
	if o.TTL <= 0 {
		o.TTL = DefaultLeaseTTL
	}
}

// LeaseHolder identifies the holder of a lease.
type LeaseHolder struct {
	Host    string    `json:"host"`
	PID     int       `json:"pid"`
	Started time.Time `json:"started"`
	// Run is the holder's run id (random per process run).
	Run string `json:"run"`
}

func (h LeaseHolder) String() string {
	return fmt.Sprintf("pid %d on host %s (run %s, started %s)", h.PID, h.Host, h.Run, h.Started.UTC().Format(time.RFC3339))
}

// Lease is a held lease. Its methods are safe for concurrent use.
type Lease interface {
	// Holder is the holder this lease was acquired for.
	Holder() LeaseHolder
	// Lost is closed when the lease is lost; Err then wraps ErrLeaseLost
	// and says why. It is never closed by Release.
	Lost() <-chan struct{}
	// Err is nil while the lease is held.
	Err() error
	// Release gives the lease up so a successor can take it at once. It
	// is idempotent.
	Release(ctx context.Context) error
}

// LeaseHeldError is returned by AcquireLease when another holder has the
// lease.
type LeaseHeldError struct {
	// Name is the lease's storage name as the store shows it to users (a
	// path or URL).
	Name   string
	Holder LeaseHolder
	// Expires is when the lease expires unless renewed; the zero time for
	// a lock that lasts as long as its holder's process.
	Expires time.Time
}

func (e *LeaseHeldError) Error() string {
	msg := fmt.Sprintf("%s is held by %s", e.Name, e.Holder)
	if !e.Expires.IsZero() {
		msg += fmt.Sprintf(" until %s unless renewed", e.Expires.UTC().Format(time.RFC3339))
	}
	return msg
}

// Is reports whether target is ErrLeaseHeld.
func (e *LeaseHeldError) Is(target error) bool { return target == ErrLeaseHeld }
