package state

// The keyed states below act on the current key of their backend and on
// their own current namespace, which starts as the default namespace "".
// A namespace is an opaque byte string (windows encode their bounds).
//
// They are not safe for concurrent use: they belong to the goroutine that
// owns their backend. Objects handed to Update, Add, Put and friends are
// kept by reference by object backends (heap): do not modify them
// afterwards. Slices returned by Get are owned by the state, read-only and
// valid until the next write to that state.

// Namespaced is the part common to every keyed state.
type Namespaced interface {
	// SetNamespace sets the namespace later calls act on.
	SetNamespace(ns string)
	// Clear removes the state of the current key and namespace.
	Clear() error
}

// ValueState holds one value per key and namespace.
type ValueState[V any] interface {
	Namespaced
	// Value returns the value, or ok=false if there is none.
	Value() (v V, ok bool, err error)
	// Update sets the value.
	Update(v V) error
}

// ListState holds a list per key and namespace.
type ListState[V any] interface {
	Namespaced
	// Get returns the elements in insertion order, nil if there are none.
	Get() ([]V, error)
	// Add appends one element.
	Add(v V) error
	// AddAll appends elements in order.
	AddAll(vs []V) error
	// Update replaces the list; an empty vs clears it.
	Update(vs []V) error
}

// MapState holds a map per key and namespace.
type MapState[UK comparable, UV any] interface {
	Namespaced
	Get(k UK) (v UV, ok bool, err error)
	Put(k UK, v UV) error
	PutAll(m map[UK]UV) error
	Remove(k UK) error
	Contains(k UK) (bool, error)
	IsEmpty() (bool, error)
	// Range calls fn for each entry in unspecified order until fn returns
	// false. The state must not be modified during Range.
	Range(fn func(k UK, v UV) bool) error
}

// ReducingState folds added values with a reduce function.
type ReducingState[V any] interface {
	Namespaced
	// Get returns the reduced value, or ok=false if nothing was added.
	Get() (v V, ok bool, err error)
	Add(v V) error
}

// AggregatingState folds inputs into an accumulator and returns a result.
type AggregatingState[IN, OUT any] interface {
	Namespaced
	// Get returns the result, or ok=false if nothing was added.
	Get() (out OUT, ok bool, err error)
	Add(in IN) error
}
