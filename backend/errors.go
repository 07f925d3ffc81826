package backend

import (
	"errors"
	"fmt"

	"github.com/stated-io/stated/serializer"
)

// Sentinel errors of the backend contract; check them with errors.Is.
var (
	// ErrInvalidParallelism: a parallelism or maxParallelism out of bounds.
	ErrInvalidParallelism = errors.New("invalid parallelism")
	// ErrKeyGroupOutOfRange: a key whose key group this backend does not own.
	ErrKeyGroupOutOfRange = errors.New("key group out of range")
	// ErrMaxParallelismMismatch: a restore whose maxParallelism differs from
	// the one stored in the snapshot.
	ErrMaxParallelismMismatch = errors.New("maxParallelism mismatch")
	// ErrIncompatibleSerializer: a restored state that the new serializer
	// cannot read, even with migration.
	ErrIncompatibleSerializer = errors.New("incompatible serializer")
	// ErrStateConflict: a state registered under a name already used by a
	// state of another kind.
	ErrStateConflict = errors.New("state conflict")
	// ErrUnsupportedBackend: the backend lacks a capability a call needs.
	ErrUnsupportedBackend = errors.New("unsupported backend")
	// ErrClosed: the backend was closed.
	ErrClosed = errors.New("backend closed")
	// ErrRestoreAfterUse: Restore called after states were registered.
	ErrRestoreAfterUse = errors.New("restore after state registration")
)

// IncompatibleStateError reports a restored state whose data the new
// serializer cannot read. It matches ErrIncompatibleSerializer.
type IncompatibleStateError struct {
	Operator string
	State    string
	Old, New serializer.Snapshot
	Reason   string
}

func (e *IncompatibleStateError) Error() string {
	msg := fmt.Sprintf("operator %q state %q: new serializer %s cannot read data written by %s",
		e.Operator, e.State, serializer.Describe(e.New), serializer.Describe(e.Old))
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

func (e *IncompatibleStateError) Is(target error) bool { return target == ErrIncompatibleSerializer }
