package backend

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

// KeyedOptions configures a keyed backend of one subtask. Every keyed
// backend takes them.
type KeyedOptions[K comparable] struct {
	// OperatorUID names the operator in errors and file names. Required.
	OperatorUID string
	// Subtask is the index of this subtask, used in file names. Default 0.
	Subtask int
	// MaxParallelism is the number of key groups. Required, in
	// [1, snapshot.MaxMaxParallelism].
	MaxParallelism int
	// KeyGroups is the range this subtask owns. Required, within
	// [0, MaxParallelism).
	KeyGroups KeyGroupRange
	// KeySerializer turns keys into the bytes that are hashed to key groups
	// and written to snapshots. Required.
	KeySerializer serializer.Serializer[K]
	// Compression of snapshot streams. Default none.
	Compression snapshot.Compression
	// Logger receives the backend's logs. Default: discard.
	Logger *slog.Logger
	// Clock is the processing time that states with TTL stamp and expire
	// by; tests inject a ttl.ManualClock. Default: a ttl.CoarseClock,
	// opened when the first state with TTL registers and closed with the
	// backend (reading the wall clock on every access is slow, see
	// ttl.CoarseClock).
	Clock ttl.Clock
}

// EnsureDefaults fills in the defaults of unset optional fields.
func (o *KeyedOptions[K]) EnsureDefaults() {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem of o at once.
func (o *KeyedOptions[K]) Validate() error {
	var errs []error
	if o.OperatorUID == "" {
		errs = append(errs, errors.New("missing OperatorUID"))
	}
	if o.MaxParallelism < 1 || o.MaxParallelism > snapshot.MaxMaxParallelism {
		errs = append(errs, fmt.Errorf("invalid MaxParallelism %d: outside [1, %d]", o.MaxParallelism, snapshot.MaxMaxParallelism))
	}
	if o.KeyGroups.Empty() || o.KeyGroups.Start < 0 || o.KeyGroups.End >= o.MaxParallelism {
		errs = append(errs, fmt.Errorf("invalid KeyGroups %v: not a non-empty range within [0, %d)", o.KeyGroups, o.MaxParallelism))
	}
	if o.Subtask < 0 {
		errs = append(errs, fmt.Errorf("invalid Subtask %d: negative", o.Subtask))
	}
	if o.KeySerializer == nil {
		errs = append(errs, errors.New("missing KeySerializer"))
	}
	switch o.Compression {
	case snapshot.CompressionNone, snapshot.CompressionZstd, snapshot.CompressionS2:
	default:
		errs = append(errs, fmt.Errorf("invalid Compression %d: not none, zstd or s2", o.Compression))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("keyed backend options: %w", err)
	}
	return nil
}

// KeyedBackend holds the keyed state of one subtask of one operator.
//
// It is not safe for concurrent use; see the package documentation. The
// typed states are created on top of it with state.GetValueState and its
// siblings, through the Capability it returns.
type KeyedBackend[K comparable] interface {
	// Capability returns how the backend holds state: Objects(b) for a
	// backend that keeps state as objects, Bytes(b) for one that keeps it
	// serialized. A backend must return one of the two; it cannot compile
	// as a KeyedBackend without the methods of one of them.
	Capability() Capability[K]
	// SetCurrentKey sets the key that state calls act on. It fails with
	// ErrKeyGroupOutOfRange if the key's group is not owned here.
	SetCurrentKey(key K) error
	// CurrentKey returns the key set last.
	CurrentKey() K
	// CurrentKeyGroup returns the key group of the current key.
	CurrentKeyGroup() int
	// KeyGroups returns the key groups this backend owns.
	KeyGroups() KeyGroupRange
	// MaxParallelism returns the number of key groups.
	MaxParallelism() int
	// Keys calls fn for every key that has state in the named state and
	// namespace, in unspecified order, until fn returns false. The state
	// must not be modified during Keys.
	Keys(state, namespace string, fn func(key K) bool) error
	// Snapshot runs the synchronous phase of a snapshot: it captures a
	// consistent view of all state in time independent of the state size.
	// Writes after Snapshot returns do not change the capture.
	Snapshot() (SnapshotCapture, error)
	// Restore loads state from snapshot handles; it must be called before
	// any state is registered. Only key groups owned here are loaded. After
	// a failed Restore every method but Close fails with an error that
	// wraps the restore's.
	Restore(ctx context.Context, src RestoreSource) error
	// Close releases resources. Close is idempotent; later calls of other
	// methods fail with ErrClosed.
	Close() error
}

// SnapshotCapture is the result of the synchronous phase of a snapshot. It
// is safe to use from any one goroutine, concurrently with the backend.
type SnapshotCapture interface {
	// Write runs the asynchronous phase: it writes the captured state as
	// files under target and returns their handles. It releases the
	// capture. Files it wrote are removed on error.
	Write(ctx context.Context, target SnapshotTarget) ([]snapshot.KeyedStateHandle, error)
	// Release discards the capture; safe after Write and more than once.
	Release()
}

// SnapshotTarget tells a capture where to write.
type SnapshotTarget struct {
	Store snapshot.Storage
	// Dir is the directory of the checkpoint or savepoint: the one that
	// holds its _metadata. Handle paths are relative to it.
	Dir string
	// FilePrefix makes file names unique among all writers of Dir, e.g.
	// "<operator>-<subtask>".
	FilePrefix string
	// CheckpointID identifies the checkpoint; incremental backends key
	// their upload bookkeeping by it (see CheckpointListener).
	CheckpointID int64
	// Kind is KindCheckpoint or KindSavepoint. A savepoint is
	// self-contained: it shares no file and references nothing outside Dir.
	Kind snapshot.Kind
	// SharedDir, relative to Dir (e.g. "../shared"), is where files that
	// later checkpoints may reference go. Empty means nothing is shared:
	// every file goes under Dir. Ignored for savepoints.
	SharedDir string
}

// CheckpointListener is the optional capability of backends whose
// snapshots depend on which checkpoints completed, such as incremental
// ones. The caller reports every checkpoint it wrote with this backend, on
// the goroutine that owns the backend.
type CheckpointListener interface {
	// NotifyCheckpointComplete reports that checkpoint id was committed:
	// later checkpoints may reference the shared files it wrote.
	NotifyCheckpointComplete(id int64) error
	// NotifyCheckpointAborted reports that checkpoint id will never be
	// committed: nothing may reference the files only it wrote.
	NotifyCheckpointAborted(id int64) error
}

// ClaimMode says who owns the files of a restored checkpoint.
type ClaimMode uint8

const (
	// NoClaim (the default): the restored files stay the property of their
	// checkpoint or savepoint. A backend never references them from its own
	// checkpoints, so its first checkpoint is full.
	NoClaim ClaimMode = iota
	// Claim: the restored checkpoint is adopted. An incremental backend
	// restored into the same key groups references its shared files from
	// its next checkpoints, which stay incremental.
	Claim
)

// RestoreSource is what a keyed backend restores from: the handles of one
// operator that may overlap its key groups.
type RestoreSource struct {
	// Mode is NoClaim unless set.
	Mode  ClaimMode
	Store snapshot.Storage
	// Dir is the directory of the _metadata the handles come from.
	Dir string
	// MaxParallelism is the maxParallelism stored with the operator; it must
	// equal the backend's.
	MaxParallelism int
	// Handles may include handles that do not overlap the backend's key
	// groups; those are ignored.
	Handles []snapshot.KeyedStateHandle
}

// KeyedRestoreSource collects the keyed handles of op for a restore.
func KeyedRestoreSource(store snapshot.Storage, dir string, op *snapshot.OperatorState) RestoreSource {
	src := RestoreSource{Store: store, Dir: dir, MaxParallelism: op.MaxParallelism}
	for _, st := range op.Subtasks {
		src.Handles = append(src.Handles, st.Keyed...)
	}
	return src
}

// CheckRestoreMaxParallelism refuses a restore whose stored maxParallelism
// differs from the backend's, naming both.
func CheckRestoreMaxParallelism(operator string, stored, configured int) error {
	if stored != configured {
		return fmt.Errorf("%w: operator %q was snapshotted with maxParallelism %d but is restored with maxParallelism %d",
			ErrMaxParallelismMismatch, operator, stored, configured)
	}
	return nil
}

// RestoreKeySerializer returns the serializer that reads the keys of
// handles (those of a restore that overlap the backend's key groups) and
// writes keys from then on: cur when it reads them as they are, or the
// serializer that cur names when it asks for a reconfiguration (as in
// Flink). Keys are never migrated: a migration, an incompatibility, or
// handles written by serializers that cur judges differently fail with an
// *IncompatibleStateError naming operator and state "(keys)".
func RestoreKeySerializer[K comparable](operator string, cur serializer.Serializer[K], handles []*snapshot.KeyedStateHandle) (serializer.Serializer[K], error) {
	chosen := cur
	for i, h := range handles {
		c := cur.Compatibility(h.KeySerializer)
		use := cur
		switch {
		case c.Kind == serializer.CompatibleAsIs:
		case c.Kind == serializer.CompatibleWithReconfiguredSerializer && c.Reconfigured != nil:
			use = c.Reconfigured
		default:
			return nil, &IncompatibleStateError{Operator: operator, State: "(keys)", Old: h.KeySerializer, New: cur.Snapshot(),
				Reason: fmt.Sprintf("the answer is %s, and keys are never migrated", c.Kind)}
		}
		if i > 0 && !serializer.Equal(use.Snapshot(), chosen.Snapshot()) {
			return nil, &IncompatibleStateError{Operator: operator, State: "(keys)", Old: h.KeySerializer, New: cur.Snapshot(),
				Reason: fmt.Sprintf("other handles of the restore have keys read by %s", serializer.Describe(chosen.Snapshot()))}
		}
		chosen = use
	}
	return chosen, nil
}

// HandleKeyGroups returns the key groups of a handle.
func HandleKeyGroups(h *snapshot.KeyedStateHandle) KeyGroupRange {
	return KeyGroupRange{Start: h.KeyGroupStart, End: h.KeyGroupEnd}
}
