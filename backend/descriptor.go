package backend

// ValueDescriptor describes a ValueState: one value per key and namespace.
type ValueDescriptor[V any] struct {
	Name       string
	Serializer Serializer[V]
}

// ListDescriptor describes a ListState; Serializer encodes one element.
type ListDescriptor[V any] struct {
	Name       string
	Serializer Serializer[V]
}

// MapDescriptor describes a MapState from user keys UK to values UV.
type MapDescriptor[UK comparable, UV any] struct {
	Name            string
	KeySerializer   Serializer[UK]
	ValueSerializer Serializer[UV]
}

// ReducingDescriptor describes a ReducingState. Reduce combines the stored
// value a with a new value b; it may modify and return a, and must not
// modify b.
type ReducingDescriptor[V any] struct {
	Name       string
	Serializer Serializer[V]
	Reduce     func(a, b V) V
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
	AccumulatorSerializer Serializer[ACC]
	Aggregate             AggregateFunction[IN, ACC, OUT]
}
