package backend

import "github.com/stated-io/stated/snapshot"

// ObjectBackend is the capability of keyed backends that keep state as
// objects in memory (heap). The typed states of this package run on its
// tables and never serialize on the read/write path; the backend encodes
// objects only to write snapshots and decodes them only on restore.
type ObjectBackend[K comparable] interface {
	KeyedBackend[K]
	// ObjectTable registers a state, binding any restored data of the same
	// name, or returns the table registered earlier under reg.Name. It fails
	// with ErrStateConflict if that table is of another kind, and with an
	// error matching ErrIncompatibleSerializer (an *IncompatibleStateError
	// naming operator and state) if restored data cannot be read.
	ObjectTable(reg ObjectRegistration) (ObjectTable[K], error)
}

// ObjectRegistration describes a state to an ObjectBackend.
type ObjectRegistration struct {
	Name string
	Kind snapshot.StateKind
	// Codec returns the codec of the state. old holds the serializer
	// snapshots of restored data, nil when there is none; Codec fails with
	// an *IncompatibleStateError when it cannot read that data.
	Codec func(old []SerializerSnapshot) (ObjectCodec, error)
}

// ObjectCodec encodes the objects of one state for snapshots. It is safe
// for concurrent use.
type ObjectCodec interface {
	// Serializers describes what Encode writes; it goes into snapshots.
	Serializers() []SerializerSnapshot
	// Encode appends the canonical encoding of obj (see FORMAT.md).
	Encode(dst []byte, obj any) ([]byte, error)
	// Decode reads the canonical encoding written under the serializer
	// snapshots the codec was made for. It must not retain b.
	Decode(b []byte) (any, error)
	// Clone returns a copy of obj that can be modified without changing obj.
	Clone(obj any) (any, error)
}

// ObjectTable holds the objects of one state, addressed by the current key
// of its backend and a namespace. Objects are opaque to the table.
type ObjectTable[K comparable] interface {
	// Get returns the object of the current key in ns. The caller must not
	// modify it.
	Get(ns string) (obj any, ok bool)
	// Mutable returns the object of the current key in ns for modification
	// in place. If a snapshot capture still holds the object, the table
	// first replaces it with a clone.
	Mutable(ns string) (obj any, ok bool, err error)
	// Put stores obj for the current key in ns; the table keeps obj.
	Put(ns string, obj any)
	// Delete removes the object of the current key in ns.
	Delete(ns string)
}
