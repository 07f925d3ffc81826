package state

import (
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/ttl"
)

// Every descriptor has an optional TTL: nil (the default) means the state
// never expires. With a TTL, what the state stores is stamped with the
// processing time of the backend's clock (backend.KeyedOptions.Clock) and expires
// ttl.Config.TTL later: each value of a Value, Reducing or Aggregating
// state, each element of a List state, each entry of a Map state. Expired
// units are removed by the read that meets them, left out of full
// snapshots, and cleaned up by the backend (package ttl describes the
// semantics and strategies). The TTL config is not part of a snapshot: a
// restore may change it, and turning TTL on or off migrates the state.

// ValueDescriptor describes a ValueState: one value per key and namespace.
type ValueDescriptor[V any] struct {
	Name       string
	Serializer serializer.Serializer[V]
	TTL        *ttl.Config
}

// ListDescriptor describes a ListState; Serializer encodes one element.
type ListDescriptor[V any] struct {
	Name       string
	Serializer serializer.Serializer[V]
	TTL        *ttl.Config
}

// MapDescriptor describes a MapState from user keys UK to values UV.
type MapDescriptor[UK comparable, UV any] struct {
	Name            string
	KeySerializer   serializer.Serializer[UK]
	ValueSerializer serializer.Serializer[UV]
	TTL             *ttl.Config
}

// ReducingDescriptor describes a ReducingState. Reduce combines the stored
// value a with a new value b; it may modify and return a, and must not
// modify b.
type ReducingDescriptor[V any] struct {
	Name       string
	Serializer serializer.Serializer[V]
	Reduce     func(a, b V) V
	TTL        *ttl.Config
}

// AggregateFunction folds inputs IN into an accumulator ACC and reads a
// result OUT from it. Add and Merge may modify and return their accumulator
// argument.
type AggregateFunction[IN, ACC, OUT any] interface {
	CreateAccumulator() ACC
	Add(in IN, acc ACC) ACC
	Result(acc ACC) OUT
	Merge(a, b ACC) ACC
}

// AggregatingDescriptor describes an AggregatingState.
type AggregatingDescriptor[IN, ACC, OUT any] struct {
	Name                  string
	AccumulatorSerializer serializer.Serializer[ACC]
	Aggregate             AggregateFunction[IN, ACC, OUT]
	TTL                   *ttl.Config
}
