package backend

import (
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

// ByteCapability is the capability of keyed backends that keep state
// serialized (LSM, remote); such a backend returns Bytes(b) from
// KeyedBackend.Capability. The typed states of package state encode with
// the descriptor's serializers and store bytes in its ByteTables.
type ByteCapability interface {
	// ByteTable registers a state, binding restored data of the same name
	// (migrating it if reg.Migrate says so), or returns the table registered
	// earlier under reg.Name. It fails with ErrStateConflict for a name
	// taken by a state of another kind and with an *IncompatibleStateError
	// (matching ErrIncompatibleSerializer) if restored data cannot be read.
	ByteTable(reg ByteRegistration) (ByteTable, error)
	// Clock returns the processing-time clock of the backend
	// (KeyedOptions.Clock), which states with TTL stamp and expire by.
	Clock() ttl.Clock
}

// ByteRegistration describes a state to a ByteCapability.
type ByteRegistration struct {
	Name string
	Kind snapshot.StateKind
	// Serializers describes what the state writes; it goes into snapshots.
	Serializers []serializer.Snapshot
	// Migrate is called when restored data written under the old serializer
	// snapshots exists. It returns how to rewrite that data and the
	// serializers the state uses from then on, or an
	// *IncompatibleStateError.
	Migrate func(old []serializer.Snapshot) (ByteMigration, error)
	// TTL is the state's TTL with defaults filled in, or nil. Every unit of
	// a state with TTL is stored stamped, as serializer.TTL encodes it (an
	// 8-byte big-endian timestamp, then the user bytes): the value of a
	// Value, Reducing or Aggregating state, each element of a list, the
	// value of each map entry. The typed states expire units on read; the
	// backend uses TTL to hide expired state from Keys under
	// ttl.NeverReturnExpired, to leave expired units out of full snapshots
	// (ttl.Cleanup.FiltersFullSnapshots) and for its own cleanup
	// (ttl/FORMAT.md gives the layout of a stamped unit).
	TTL *ttl.Config
}

// ByteMigration rewrites restored bytes into the new serializers' format.
// A nil function leaves its part as is.
type ByteMigration struct {
	// Serializers describes the serializers in use after the restore: the
	// registration's, or reconfigured ones that read the old data as is.
	Serializers []serializer.Snapshot
	// Value rewrites a value (Value, Reducing, Aggregating), one list
	// element, or one map user value.
	Value func(old []byte) ([]byte, error)
	// UserKey rewrites one map user key.
	UserKey func(old []byte) ([]byte, error)
}

// ByteTable holds the serialized entries of one state, addressed by the
// current key of its backend and a namespace. Slices passed in are only
// read during the call; slices returned are valid until the next call on
// any table of the backend.
//
// A Value, Reducing or Aggregating state stores one value per key and
// namespace. A List state stores its elements as the concatenation of
// uvarint-length-prefixed element bytes, so that Append can add elements
// without reading. A Map state stores one entry per user key.
type ByteTable interface {
	// Get returns the value of the current key in ns (for a list, the
	// concatenated elements).
	Get(ns string) ([]byte, bool, error)
	// Put replaces the value of the current key in ns.
	Put(ns string, value []byte) error
	// Append adds length-prefixed list elements after the existing ones.
	Append(ns string, elements []byte) error
	// Delete removes the value, or every map entry, of the current key in
	// ns.
	Delete(ns string) error
	// GetEntry returns one map entry of the current key in ns.
	GetEntry(ns string, userKey []byte) ([]byte, bool, error)
	// PutEntry sets one map entry.
	PutEntry(ns string, userKey, value []byte) error
	// DeleteEntry removes one map entry.
	DeleteEntry(ns string, userKey []byte) error
	// Entries calls fn for each map entry of the current key in ns, in
	// user-key byte order, until fn returns false. The table must not be
	// modified during Entries.
	Entries(ns string, fn func(userKey, value []byte) bool) error
}
