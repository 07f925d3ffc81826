package serializer

import (
	"bytes"
	"fmt"

	"github.com/stated-io/stated/snapshot"
)

// Snapshot identifies a serializer and its configuration; it is written
// into snapshots so that a later serializer can judge the data. It is
// snapshot.SerializerSnapshot, the type the snapshot format stores.
type Snapshot = snapshot.SerializerSnapshot

// Serializer turns values of T into bytes and back. Implementations must be
// safe for concurrent use (snapshots encode from another goroutine) and
// deterministic: equal values give equal bytes (keys are hashed by their
// bytes).
type Serializer[T any] interface {
	// Append appends the encoding of v to dst and returns the extended
	// slice.
	Append(dst []byte, v T) ([]byte, error)
	// Decode decodes one value that fills b exactly. It must not retain b.
	Decode(b []byte) (T, error)
	// Snapshot describes this serializer and its configuration.
	Snapshot() Snapshot
	// Compatibility judges whether this serializer can read data written
	// by the serializer described by old.
	Compatibility(old Snapshot) Compatibility[T]
}

// CompatibilityKind is the four-way answer of a serializer to an old
// snapshot.
type CompatibilityKind uint8

const (
	// CompatibleAsIs: the new serializer reads the old data unchanged.
	CompatibleAsIs CompatibilityKind = iota + 1
	// CompatibleAfterMigration: the old data must be read with ReadOld and
	// rewritten with the new serializer before processing.
	CompatibleAfterMigration
	// CompatibleWithReconfiguredSerializer: the old data is read and written
	// by the serializer given in Reconfigured.
	CompatibleWithReconfiguredSerializer
	// Incompatible: the data cannot be read; the restore fails.
	Incompatible
)

func (k CompatibilityKind) String() string {
	switch k {
	case CompatibleAsIs:
		return "compatible as is"
	case CompatibleAfterMigration:
		return "compatible after migration"
	case CompatibleWithReconfiguredSerializer:
		return "compatible with reconfigured serializer"
	case Incompatible:
		return "incompatible"
	}
	return "unknown"
}

// Compatibility is a serializer's judgement of an old snapshot.
type Compatibility[T any] struct {
	Kind CompatibilityKind
	// ReadOld decodes data written under the old snapshot; required when
	// Kind is CompatibleAfterMigration.
	ReadOld func([]byte) (T, error)
	// Reconfigured reads the old data and writes from then on; required
	// when Kind is CompatibleWithReconfiguredSerializer.
	Reconfigured Serializer[T]
	// Reason explains an Incompatible answer.
	Reason string
}

// AsIs is the answer of a serializer that reads old unchanged.
func AsIs[T any]() Compatibility[T] { return Compatibility[T]{Kind: CompatibleAsIs} }

// IncompatibleBecause is an Incompatible answer with a reason.
func IncompatibleBecause[T any](reason string) Compatibility[T] {
	return Compatibility[T]{Kind: Incompatible, Reason: reason}
}

// Same is the usual judgement of a serializer without versions of its
// own: as is when name, version and configuration match (Equal),
// incompatible otherwise.
func Same[T any](cur, old Snapshot) Compatibility[T] {
	if Equal(cur, old) {
		return AsIs[T]()
	}
	return IncompatibleBecause[T]("different serializer")
}

// Equal reports whether a and b describe one serializer with one
// configuration.
func Equal(a, b Snapshot) bool {
	return a.Name == b.Name && a.Version == b.Version && bytes.Equal(a.Config, b.Config)
}

// Describe names the serializer s describes, for errors: "name (version
// n)".
func Describe(s Snapshot) string {
	return fmt.Sprintf("%s (version %d)", s.Name, s.Version)
}
