package backend

import (
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
)

// ObjectCapability is the capability of keyed backends that keep state as
// objects in memory (heap); such a backend returns Objects(b) from
// KeyedBackend.Capability. The typed states of package state keep their
// objects in typed per-key-group maps (an ObjectStore) that they create and
// the backend holds: it captures, snapshots and restores them, and never
// serializes on the read/write path.
type ObjectCapability[K comparable] interface {
	// ObjectContext returns the current key and the capture pins that the
	// stores of this backend share.
	ObjectContext() ObjectContext[K]
	// RegisterObjectStore registers a state. If a store was registered
	// under reg.Name before, it returns that one (ErrStateConflict if of
	// another kind). Otherwise it calls reg.NewStore with the serializer
	// snapshots of restored data (nil if none), loads that data into the
	// new store and returns it. An *IncompatibleStateError (matching
	// ErrIncompatibleSerializer) from NewStore is returned with operator and
	// state filled in.
	RegisterObjectStore(reg ObjectRegistration[K]) (ObjectStore[K], error)
}

// ObjectContext is what an object backend shares with its stores.
type ObjectContext[K comparable] struct {
	Key  *KeyContext[K]
	Pins *Pins
}

// ObjectRegistration describes a state to an ObjectCapability.
type ObjectRegistration[K comparable] struct {
	Name     string
	Kind     snapshot.StateKind
	NewStore func(old []serializer.Snapshot) (ObjectStore[K], error)
}

// ObjectStore is the storage of one object state, seen from its backend.
// Every method runs on the backend's goroutine except the methods of the
// captures it returns.
type ObjectStore[K comparable] interface {
	Kind() snapshot.StateKind
	// Serializers describes the encoding Capture writes.
	Serializers() []serializer.Snapshot
	// Capture freezes the content for a capture taken at epoch (already
	// pinned) in O(key groups): later writes go elsewhere.
	Capture(epoch uint64) ObjectCapture[K]
	// Restore decodes one restored entry of key group index i (key group
	// minus the first of the backend's range) and stores it. value is only
	// read during the call.
	Restore(i int, key K, ns string, value []byte) error
	// Keys calls fn for every key with state in ns until fn returns false.
	Keys(ns string, fn func(K) bool)
}

// ObjectCapture is the frozen content of an ObjectStore. Its methods may
// run on any one goroutine, concurrently with the backend.
type ObjectCapture[K comparable] interface {
	// Encode calls fn with the canonical encoding (FORMAT.md) of every entry
	// of key group index i. The slices are valid only during the call.
	Encode(i int, fn func(key K, ns string, value []byte) error) error
}
