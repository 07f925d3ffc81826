package backend

import (
	"bytes"

	"github.com/stated-io/stated/snapshot"
)

// SerializerSnapshot identifies a serializer and its configuration; it is
// written into snapshots so that a later serializer can judge the data.
type SerializerSnapshot = snapshot.SerializerSnapshot

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
	Snapshot() SerializerSnapshot
	// Compatibility judges whether this serializer can read data written
	// by the serializer described by old.
	Compatibility(old SerializerSnapshot) Compatibility[T]
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

// SameSerializer is the usual judgement of a serializer without versions of
// its own: as is when name, version and configuration match, incompatible
// otherwise.
func SameSerializer[T any](cur, old SerializerSnapshot) Compatibility[T] {
	if sameSerializer(cur, old) {
		return AsIs[T]()
	}
	return IncompatibleBecause[T]("different serializer")
}

// sameSerializer reports whether a and b describe one serializer with one
// configuration.
func sameSerializer(a, b SerializerSnapshot) bool {
	return a.Name == b.Name && a.Version == b.Version && bytes.Equal(a.Config, b.Config)
}

// reader returns the function that decodes data written under old with s,
// after asking s for its judgement, and the serializer to use from then on.
// It returns an *IncompatibleStateError (without operator and state,
// filled in by the caller) when s cannot read the data.
func reader[T any](s Serializer[T], old SerializerSnapshot) (func([]byte) (T, error), Serializer[T], error) {
	c := s.Compatibility(old)
	switch c.Kind {
	case CompatibleAsIs:
		return s.Decode, s, nil
	case CompatibleAfterMigration:
		if c.ReadOld != nil {
			return c.ReadOld, s, nil
		}
		c.Reason = "migration answer without ReadOld"
	case CompatibleWithReconfiguredSerializer:
		if c.Reconfigured != nil {
			return c.Reconfigured.Decode, c.Reconfigured, nil
		}
		c.Reason = "reconfiguration answer without a serializer"
	}
	return nil, nil, &IncompatibleStateError{Old: old, New: s.Snapshot(), Reason: c.Reason}
}
