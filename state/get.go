package state

import (
	"errors"
	"fmt"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/bytestate"
	"github.com/stated-io/stated/internal/objectstate"
	"github.com/stated-io/stated/internal/ttlpolicy"
	"github.com/stated-io/stated/ttl"
)

// The capabilities of a backend and the TTL of a state, as the makers of
// kindOf take them.
type (
	objectBackend[K comparable] = backend.ObjectCapability[K]
	byteBackend                 = backend.ByteCapability
	policy                      = *ttlpolicy.Policy
)

// kindOf is how one kind of state is made over each capability of a
// backend, with and without TTL.
type kindOf[K comparable, S any] struct {
	objects    func(o objectBackend[K]) (S, error)
	objectsTTL func(o objectBackend[K], p policy) (S, error)
	bytes      func(b byteBackend) (S, error)
	bytesTTL   func(b byteBackend, p policy) (S, error)
}

// open makes the state name of b with the TTL cfg (nil: none): on the
// object states of an object backend, the byte states of a byte backend.
// It is the one place that tells the capabilities apart. lacks names the
// required fields the descriptor lacks, "" if none.
func open[K comparable, S any](b backend.KeyedBackend[K], name string, cfg *ttl.Config, lacks string, kind kindOf[K, S]) (S, error) {
	var zero S
	if name == "" {
		return zero, errors.New("state name is empty")
	}
	if lacks != "" {
		return zero, fmt.Errorf("state %q: descriptor has no %s", name, lacks)
	}
	c := b.Capability()
	o, isObjects := c.Objects()
	bb, isBytes := c.Bytes()
	var clock ttl.Clock
	switch {
	case isObjects:
		clock = o.ObjectContext().Key.Clock()
	case isBytes:
		clock = bb.Clock()
	default:
		return zero, fmt.Errorf("%w: %T returns a Capability that is neither backend.Objects nor backend.Bytes", backend.ErrUnsupportedBackend, b)
	}
	p, err := ttlpolicy.New(name, cfg, clock)
	if err != nil {
		return zero, err
	}
	var s S
	switch {
	case isObjects && p == nil:
		s, err = kind.objects(o)
	case isObjects:
		s, err = kind.objectsTTL(o, p)
	case p == nil:
		s, err = kind.bytes(bb)
	default:
		s, err = kind.bytesTTL(bb, p)
	}
	if err != nil {
		return zero, err
	}
	return s, nil
}

// lacking returns what if missing, else "".
func lacking(missing bool, what string) string {
	if missing {
		return what
	}
	return ""
}

// GetValueState returns a ValueState of b described by d. Object backends
// keep the values as objects; byte backends store their serialized form.
func GetValueState[K comparable, V any](b backend.KeyedBackend[K], d ValueDescriptor[V]) (ValueState[V], error) {
	return open(b, d.Name, d.TTL, lacking(d.Serializer == nil, "Serializer"), kindOf[K, ValueState[V]]{
		objects: func(o objectBackend[K]) (ValueState[V], error) { return objectstate.NewValue(o, d.Name, d.Serializer) },
		objectsTTL: func(o objectBackend[K], p policy) (ValueState[V], error) {
			return objectstate.NewTTLValue(o, d.Name, d.Serializer, p)
		},
		bytes: func(b byteBackend) (ValueState[V], error) { return bytestate.NewValue(b, d.Name, d.Serializer) },
		bytesTTL: func(b byteBackend, p policy) (ValueState[V], error) {
			return bytestate.NewTTLValue(b, d.Name, d.Serializer, p)
		},
	})
}

// GetListState returns a ListState of b described by d. With a TTL, each
// element expires on its own.
func GetListState[K comparable, V any](b backend.KeyedBackend[K], d ListDescriptor[V]) (ListState[V], error) {
	return open(b, d.Name, d.TTL, lacking(d.Serializer == nil, "Serializer"), kindOf[K, ListState[V]]{
		objects: func(o objectBackend[K]) (ListState[V], error) { return objectstate.NewList(o, d.Name, d.Serializer) },
		objectsTTL: func(o objectBackend[K], p policy) (ListState[V], error) {
			return objectstate.NewTTLList(o, d.Name, d.Serializer, p)
		},
		bytes: func(b byteBackend) (ListState[V], error) { return bytestate.NewList(b, d.Name, d.Serializer) },
		bytesTTL: func(b byteBackend, p policy) (ListState[V], error) {
			return bytestate.NewTTLList(b, d.Name, d.Serializer, p)
		},
	})
}

// GetMapState returns a MapState of b described by d. With a TTL, each
// entry expires on its own.
func GetMapState[K, UK comparable, UV any](b backend.KeyedBackend[K], d MapDescriptor[UK, UV]) (MapState[UK, UV], error) {
	return open(b, d.Name, d.TTL, lacking(d.KeySerializer == nil || d.ValueSerializer == nil, "KeySerializer or ValueSerializer"), kindOf[K, MapState[UK, UV]]{
		objects: func(o objectBackend[K]) (MapState[UK, UV], error) {
			return objectstate.NewMap(o, d.Name, d.KeySerializer, d.ValueSerializer)
		},
		objectsTTL: func(o objectBackend[K], p policy) (MapState[UK, UV], error) {
			return objectstate.NewTTLMap(o, d.Name, d.KeySerializer, d.ValueSerializer, p)
		},
		bytes: func(b byteBackend) (MapState[UK, UV], error) {
			return bytestate.NewMap(b, d.Name, d.KeySerializer, d.ValueSerializer)
		},
		bytesTTL: func(b byteBackend, p policy) (MapState[UK, UV], error) {
			return bytestate.NewTTLMap(b, d.Name, d.KeySerializer, d.ValueSerializer, p)
		},
	})
}

// GetReducingState returns a ReducingState of b described by d.
func GetReducingState[K comparable, V any](b backend.KeyedBackend[K], d ReducingDescriptor[V]) (ReducingState[V], error) {
	return open(b, d.Name, d.TTL, lacking(d.Serializer == nil || d.Reduce == nil, "Serializer or Reduce"), kindOf[K, ReducingState[V]]{
		objects: func(o objectBackend[K]) (ReducingState[V], error) {
			return objectstate.NewReducing(o, d.Name, d.Serializer, d.Reduce)
		},
		objectsTTL: func(o objectBackend[K], p policy) (ReducingState[V], error) {
			return objectstate.NewTTLReducing(o, d.Name, d.Serializer, d.Reduce, p)
		},
		bytes: func(b byteBackend) (ReducingState[V], error) {
			return bytestate.NewReducing(b, d.Name, d.Serializer, d.Reduce)
		},
		bytesTTL: func(b byteBackend, p policy) (ReducingState[V], error) {
			return bytestate.NewTTLReducing(b, d.Name, d.Serializer, d.Reduce, p)
		},
	})
}

// GetAggregatingState returns an AggregatingState of b described by d.
func GetAggregatingState[K comparable, IN, ACC, OUT any](b backend.KeyedBackend[K], d AggregatingDescriptor[IN, ACC, OUT]) (AggregatingState[IN, OUT], error) {
	ser, agg := d.AccumulatorSerializer, d.Aggregate
	return open(b, d.Name, d.TTL, lacking(d.AccumulatorSerializer == nil || d.Aggregate == nil, "AccumulatorSerializer or Aggregate"), kindOf[K, AggregatingState[IN, OUT]]{
		objects: func(o objectBackend[K]) (AggregatingState[IN, OUT], error) {
			return objectstate.NewAggregating(o, d.Name, ser, agg.CreateAccumulator, agg.Add, agg.Result)
		},
		objectsTTL: func(o objectBackend[K], p policy) (AggregatingState[IN, OUT], error) {
			return objectstate.NewTTLAggregating(o, d.Name, ser, agg.CreateAccumulator, agg.Add, agg.Result, p)
		},
		bytes: func(b byteBackend) (AggregatingState[IN, OUT], error) {
			return bytestate.NewAggregating(b, d.Name, ser, agg.CreateAccumulator, agg.Add, agg.Result)
		},
		bytesTTL: func(b byteBackend, p policy) (AggregatingState[IN, OUT], error) {
			return bytestate.NewTTLAggregating(b, d.Name, ser, agg.CreateAccumulator, agg.Add, agg.Result, p)
		},
	})
}
