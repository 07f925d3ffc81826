package backend

import (
	"errors"
	"fmt"
	"slices"

	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

func checkName(name string) error {
	if name == "" {
		return errors.New("state name is empty")
	}
	return nil
}

func missing(name, what string) error {
	return fmt.Errorf("state %q: descriptor has no %s", name, what)
}

// objectStoreOf registers a typed store with an object backend; expiry is
// nil for a state without TTL.
func objectStoreOf[K comparable, V any](ob ObjectBackend[K], name string, kind snapshot.StateKind,
	codec func(old []SerializerSnapshot) (objectCodec[V], error), expiry *objectExpiry[V]) (*objectStore[K, V], error) {
	st, err := ob.RegisterObjectStore(ObjectRegistration[K]{Name: name, Kind: kind,
		NewStore: func(old []SerializerSnapshot) (ObjectStore[K], error) {
			c, err := codec(old)
			if err != nil {
				return nil, err
			}
			return newObjectStore(ob.ObjectContext(), kind, c, expiry), nil
		}})
	if err != nil {
		return nil, err
	}
	s, ok := st.(*objectStore[K, V])
	if !ok {
		return nil, fmt.Errorf("%w: state %q is registered with another value type or another ttl setting", ErrStateConflict, name)
	}
	return s, nil
}

// policyOf validates the TTL of a descriptor and returns its policy with
// the clock of b, or nil for a state without TTL.
func policyOf[K comparable](b KeyedBackend[K], name string, c *ttl.Config) (*ttlPolicy, error) {
	if c == nil {
		return nil, nil
	}
	var clock ttl.Clock
	switch b := b.(type) {
	case ObjectBackend[K]:
		clock = b.ObjectContext().Key.Clock()
	case ByteBackend[K]:
		clock = b.Clock()
	}
	return newTTLPolicy(name, c, clock)
}

// GetValueState returns a ValueState of b described by d. Object backends
// keep the values as objects; byte backends store their serialized form.
func GetValueState[K comparable, V any](b KeyedBackend[K], d ValueDescriptor[V]) (ValueState[V], error) {
	if err := checkName(d.Name); err != nil {
		return nil, err
	}
	if d.Serializer == nil {
		return nil, missing(d.Name, "Serializer")
	}
	p, err := policyOf(b, d.Name, d.TTL)
	if err != nil {
		return nil, err
	}
	ob, ok := b.(ObjectBackend[K])
	switch {
	case !ok && p != nil:
		return newByteTTLValue(b, d, p)
	case !ok:
		return newByteValue(b, d)
	case p != nil:
		s, err := objectStoreOf(ob, d.Name, snapshot.StateValue, func(old []SerializerSnapshot) (objectCodec[ttl.Value[V]], error) {
			return newSingleCodec(ttlSerializer(d.Serializer, p), old)
		}, singleExpiry[V](p))
		if err != nil {
			return nil, err
		}
		return &ttlObjectValue[K, V]{objectValue: objectValue[K, ttl.Value[V]]{s: s}, p: p}, nil
	}
	s, err := objectStoreOf(ob, d.Name, snapshot.StateValue, func(old []SerializerSnapshot) (objectCodec[V], error) {
		return newSingleCodec(plainSerializer(d.Serializer), old)
	}, nil)
	if err != nil {
		return nil, err
	}
	return &objectValue[K, V]{s: s}, nil
}

// GetListState returns a ListState of b described by d.
func GetListState[K comparable, V any](b KeyedBackend[K], d ListDescriptor[V]) (ListState[V], error) {
	if err := checkName(d.Name); err != nil {
		return nil, err
	}
	if d.Serializer == nil {
		return nil, missing(d.Name, "Serializer")
	}
	p, err := policyOf(b, d.Name, d.TTL)
	if err != nil {
		return nil, err
	}
	ob, ok := b.(ObjectBackend[K])
	switch {
	case !ok && p != nil:
		return newByteTTLList(b, d, p)
	case !ok:
		return newByteList(b, d)
	case p != nil:
		s, err := objectStoreOf(ob, d.Name, snapshot.StateList, func(old []SerializerSnapshot) (objectCodec[[]ttl.Value[V]], error) {
			return newListCodec(ttlSerializer(d.Serializer, p), old)
		}, listExpiry[V](p))
		if err != nil {
			return nil, err
		}
		return &ttlObjectList[K, V]{objectList: objectList[K, ttl.Value[V]]{s: s}, p: p}, nil
	}
	s, err := objectStoreOf(ob, d.Name, snapshot.StateList, func(old []SerializerSnapshot) (objectCodec[[]V], error) {
		return newListCodec(plainSerializer(d.Serializer), old)
	}, nil)
	if err != nil {
		return nil, err
	}
	return &objectList[K, V]{s: s}, nil
}

// GetMapState returns a MapState of b described by d. With a TTL, each
// entry expires on its own.
func GetMapState[K, UK comparable, UV any](b KeyedBackend[K], d MapDescriptor[UK, UV]) (MapState[UK, UV], error) {
	if err := checkName(d.Name); err != nil {
		return nil, err
	}
	if d.KeySerializer == nil || d.ValueSerializer == nil {
		return nil, missing(d.Name, "KeySerializer or ValueSerializer")
	}
	p, err := policyOf(b, d.Name, d.TTL)
	if err != nil {
		return nil, err
	}
	ob, ok := b.(ObjectBackend[K])
	switch {
	case !ok && p != nil:
		return newByteTTLMap(b, d, p)
	case !ok:
		return newByteMap(b, d)
	case p != nil:
		s, err := objectStoreOf(ob, d.Name, snapshot.StateMap, func(old []SerializerSnapshot) (objectCodec[map[UK]ttl.Value[UV]], error) {
			return newMapCodec(d.KeySerializer, ttlSerializer(d.ValueSerializer, p), old)
		}, mapExpiry[UK, UV](p))
		if err != nil {
			return nil, err
		}
		return &ttlObjectMap[K, UK, UV]{objectMap: objectMap[K, UK, ttl.Value[UV]]{s: s}, p: p}, nil
	}
	s, err := objectStoreOf(ob, d.Name, snapshot.StateMap, func(old []SerializerSnapshot) (objectCodec[map[UK]UV], error) {
		return newMapCodec(d.KeySerializer, plainSerializer(d.ValueSerializer), old)
	}, nil)
	if err != nil {
		return nil, err
	}
	return &objectMap[K, UK, UV]{s: s}, nil
}

// GetReducingState returns a ReducingState of b described by d.
func GetReducingState[K comparable, V any](b KeyedBackend[K], d ReducingDescriptor[V]) (ReducingState[V], error) {
	if err := checkName(d.Name); err != nil {
		return nil, err
	}
	if d.Serializer == nil || d.Reduce == nil {
		return nil, missing(d.Name, "Serializer or Reduce")
	}
	p, err := policyOf(b, d.Name, d.TTL)
	if err != nil {
		return nil, err
	}
	ob, ok := b.(ObjectBackend[K])
	switch {
	case !ok && p != nil:
		return newByteTTLReducing(b, d, p)
	case !ok:
		return newByteReducing(b, d)
	case p != nil:
		s, err := objectStoreOf(ob, d.Name, snapshot.StateReducing, func(old []SerializerSnapshot) (objectCodec[ttl.Value[V]], error) {
			return newSingleCodec(ttlSerializer(d.Serializer, p), old)
		}, singleExpiry[V](p))
		if err != nil {
			return nil, err
		}
		return &ttlObjectReducing[K, V]{objectValue: objectValue[K, ttl.Value[V]]{s: s}, p: p, reduce: d.Reduce}, nil
	}
	s, err := objectStoreOf(ob, d.Name, snapshot.StateReducing, func(old []SerializerSnapshot) (objectCodec[V], error) {
		return newSingleCodec(plainSerializer(d.Serializer), old)
	}, nil)
	if err != nil {
		return nil, err
	}
	return &objectReducing[K, V]{s: s, reduce: d.Reduce}, nil
}

// GetAggregatingState returns an AggregatingState of b described by d.
func GetAggregatingState[K comparable, IN, ACC, OUT any](b KeyedBackend[K], d AggregatingDescriptor[IN, ACC, OUT]) (AggregatingState[IN, OUT], error) {
	if err := checkName(d.Name); err != nil {
		return nil, err
	}
	if d.AccumulatorSerializer == nil || d.Aggregate == nil {
		return nil, missing(d.Name, "AccumulatorSerializer or Aggregate")
	}
	p, err := policyOf(b, d.Name, d.TTL)
	if err != nil {
		return nil, err
	}
	ob, ok := b.(ObjectBackend[K])
	switch {
	case !ok && p != nil:
		return newByteTTLAggregating(b, d, p)
	case !ok:
		return newByteAggregating(b, d)
	case p != nil:
		s, err := objectStoreOf(ob, d.Name, snapshot.StateAggregating, func(old []SerializerSnapshot) (objectCodec[ttl.Value[ACC]], error) {
			return newSingleCodec(ttlSerializer(d.AccumulatorSerializer, p), old)
		}, singleExpiry[ACC](p))
		if err != nil {
			return nil, err
		}
		return &ttlObjectAggregating[K, IN, ACC, OUT]{objectValue: objectValue[K, ttl.Value[ACC]]{s: s}, p: p, agg: d.Aggregate}, nil
	}
	s, err := objectStoreOf(ob, d.Name, snapshot.StateAggregating, func(old []SerializerSnapshot) (objectCodec[ACC], error) {
		return newSingleCodec(plainSerializer(d.AccumulatorSerializer), old)
	}, nil)
	if err != nil {
		return nil, err
	}
	return &objectAggregating[K, IN, ACC, OUT]{s: s, agg: d.Aggregate}, nil
}

// ttlSerializer is the serializer of the stamped units of a state with TTL.
func ttlSerializer[V any](s Serializer[V], p *ttlPolicy) Serializer[ttl.Value[V]] {
	return TTLSerializer[V]{Inner: s, Clock: p.clock}
}

// plainSerializer is the serializer of a state without TTL: it reads data
// that a state with TTL wrote (TTL turned off at restore).
func plainSerializer[V any](s Serializer[V]) Serializer[V] {
	if _, ok := s.(TTLPlainSerializer[V]); ok {
		return s
	}
	return TTLPlainSerializer[V]{Inner: s}
}

type objectValue[K comparable, V any] struct {
	s  *objectStore[K, V]
	ns string
}

func (s *objectValue[K, V]) SetNamespace(ns string) { s.ns = ns }
func (s *objectValue[K, V]) Clear() error           { s.s.del(s.ns); return nil }
func (s *objectValue[K, V]) Update(v V) error       { s.s.put(s.ns, v); return nil }
func (s *objectValue[K, V]) Value() (V, bool, error) {
	v, ok := s.s.get(s.ns)
	return v, ok, nil
}

type objectList[K comparable, V any] struct {
	s  *objectStore[K, []V]
	ns string
}

func (s *objectList[K, V]) SetNamespace(ns string) { s.ns = ns }
func (s *objectList[K, V]) Clear() error           { s.s.del(s.ns); return nil }

func (s *objectList[K, V]) Get() ([]V, error) {
	l, _ := s.s.get(s.ns)
	return slices.Clip(l), nil
}

func (s *objectList[K, V]) Add(v V) error {
	l, _, err := s.s.mutable(s.ns)
	if err != nil {
		return err
	}
	s.s.put(s.ns, append(l, v))
	return nil
}

func (s *objectList[K, V]) AddAll(vs []V) error {
	if len(vs) == 0 {
		return nil
	}
	l, _, err := s.s.mutable(s.ns)
	if err != nil {
		return err
	}
	s.s.put(s.ns, append(l, vs...))
	return nil
}

func (s *objectList[K, V]) Update(vs []V) error {
	if len(vs) == 0 {
		s.s.del(s.ns)
		return nil
	}
	s.s.put(s.ns, slices.Clone(vs))
	return nil
}

type objectMap[K, UK comparable, UV any] struct {
	s  *objectStore[K, map[UK]UV]
	ns string
}

func (s *objectMap[K, UK, UV]) SetNamespace(ns string) { s.ns = ns }
func (s *objectMap[K, UK, UV]) Clear() error           { s.s.del(s.ns); return nil }

func (s *objectMap[K, UK, UV]) get() map[UK]UV {
	m, _ := s.s.get(s.ns)
	return m
}

func (s *objectMap[K, UK, UV]) Get(k UK) (UV, bool, error) {
	v, ok := s.get()[k]
	return v, ok, nil
}

// mutable returns the map of the current key and namespace for
// modification, creating it if there is none.
func (s *objectMap[K, UK, UV]) mutable(size int) (map[UK]UV, error) {
	m, ok, err := s.s.mutable(s.ns)
	if err != nil {
		return nil, err
	}
	if !ok {
		m = make(map[UK]UV, size)
		s.s.put(s.ns, m)
	}
	return m, nil
}

func (s *objectMap[K, UK, UV]) Put(k UK, v UV) error {
	m, err := s.mutable(1)
	if err != nil {
		return err
	}
	m[k] = v
	return nil
}

func (s *objectMap[K, UK, UV]) PutAll(entries map[UK]UV) error {
	if len(entries) == 0 {
		return nil
	}
	m, err := s.mutable(len(entries))
	if err != nil {
		return err
	}
	for k, v := range entries {
		m[k] = v
	}
	return nil
}

func (s *objectMap[K, UK, UV]) Remove(k UK) error {
	if _, ok := s.get()[k]; !ok {
		return nil
	}
	m, err := s.mutable(0)
	if err != nil {
		return err
	}
	delete(m, k)
	if len(m) == 0 {
		s.s.del(s.ns)
	}
	return nil
}

func (s *objectMap[K, UK, UV]) Contains(k UK) (bool, error) {
	_, ok := s.get()[k]
	return ok, nil
}

func (s *objectMap[K, UK, UV]) IsEmpty() (bool, error) { return len(s.get()) == 0, nil }

func (s *objectMap[K, UK, UV]) Range(fn func(UK, UV) bool) error {
	for k, v := range s.get() {
		if !fn(k, v) {
			break
		}
	}
	return nil
}

type objectReducing[K comparable, V any] struct {
	s      *objectStore[K, V]
	ns     string
	reduce func(a, b V) V
}

func (s *objectReducing[K, V]) SetNamespace(ns string) { s.ns = ns }
func (s *objectReducing[K, V]) Clear() error           { s.s.del(s.ns); return nil }

func (s *objectReducing[K, V]) Get() (V, bool, error) {
	v, ok := s.s.get(s.ns)
	return v, ok, nil
}

func (s *objectReducing[K, V]) Add(v V) error {
	old, ok, err := s.s.mutable(s.ns)
	if err != nil {
		return err
	}
	if ok {
		v = s.reduce(old, v)
	}
	s.s.put(s.ns, v)
	return nil
}

type objectAggregating[K comparable, IN, ACC, OUT any] struct {
	s   *objectStore[K, ACC]
	ns  string
	agg AggregateFunction[IN, ACC, OUT]
}

func (s *objectAggregating[K, IN, ACC, OUT]) SetNamespace(ns string) { s.ns = ns }
func (s *objectAggregating[K, IN, ACC, OUT]) Clear() error           { s.s.del(s.ns); return nil }

func (s *objectAggregating[K, IN, ACC, OUT]) Get() (OUT, bool, error) {
	acc, ok := s.s.get(s.ns)
	if !ok {
		var zero OUT
		return zero, false, nil
	}
	return s.agg.Result(acc), true, nil
}

func (s *objectAggregating[K, IN, ACC, OUT]) Add(in IN) error {
	acc, ok, err := s.s.mutable(s.ns)
	if err != nil {
		return err
	}
	if !ok {
		acc = s.agg.CreateAccumulator()
	}
	s.s.put(s.ns, s.agg.Add(in, acc))
	return nil
}
