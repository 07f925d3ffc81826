// Package objectstate holds the typed states over an object backend
// (backend.ObjectCapability, the heap backend): each keeps its objects in a
// copy-on-write store (package cowstore) that the backend registers,
// captures and restores, and never serializes on the read/write path. The
// states with TTL keep ttl.Value units and expire them on read. Package
// state creates them; they are not safe for concurrent use and belong to
// the goroutine of their backend.
package objectstate

import (
	"fmt"
	"slices"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/cowstore"
	"github.com/stated-io/stated/internal/ttlpolicy"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

// made returns s, or nil and err if err is set.
func made[S any](s *S, err error) (*S, error) {
	if err != nil {
		return nil, err
	}
	return s, nil
}

// register registers a typed store with an object backend: codec makes
// the codec of the state given the serializers of restored data, expiry is
// nil for a state without TTL.
func register[K comparable, V any](o backend.ObjectCapability[K], name string, kind snapshot.StateKind,
	codec func(old []serializer.Snapshot) (cowstore.Codec[V], error), expiry *cowstore.Expiry[V]) (*cowstore.Store[K, V], error) {
	st, err := o.RegisterObjectStore(backend.ObjectRegistration[K]{Name: name, Kind: kind,
		NewStore: func(old []serializer.Snapshot) (backend.ObjectStore[K], error) {
			c, err := codec(old)
			if err != nil {
				return nil, err
			}
			return cowstore.New(o.ObjectContext(), kind, c, expiry), nil
		}})
	if err != nil {
		return nil, err
	}
	s, ok := st.(*cowstore.Store[K, V])
	if !ok {
		return nil, fmt.Errorf("%w: state %q is registered with another value type or another ttl setting", backend.ErrStateConflict, name)
	}
	return s, nil
}

// NewValue returns the value state name of o.
func NewValue[K comparable, V any](o backend.ObjectCapability[K], name string, ser serializer.Serializer[V]) (*ValueState[K, V], error) {
	s, err := register(o, name, snapshot.StateValue, singleCodecOf(ttlpolicy.Plain(ser)), nil)
	return made(&ValueState[K, V]{s: s}, err)
}

// NewTTLValue returns the value state name of o with TTL p.
func NewTTLValue[K comparable, V any](o backend.ObjectCapability[K], name string, ser serializer.Serializer[V], p *ttlpolicy.Policy) (*TTLValueState[K, V], error) {
	s, err := register(o, name, snapshot.StateValue, singleCodecOf(ttlpolicy.Stamped(ser, p)), singleExpiry[V](p))
	return made(&TTLValueState[K, V]{ValueState: ValueState[K, ttl.Value[V]]{s: s}, p: p}, err)
}

// NewList returns the list state name of o; ser encodes one element.
func NewList[K comparable, V any](o backend.ObjectCapability[K], name string, ser serializer.Serializer[V]) (*ListState[K, V], error) {
	s, err := register(o, name, snapshot.StateList, listCodecOf(ttlpolicy.Plain(ser)), nil)
	return made(&ListState[K, V]{s: s}, err)
}

// NewTTLList returns the list state name of o with TTL p: each element
// expires on its own.
func NewTTLList[K comparable, V any](o backend.ObjectCapability[K], name string, ser serializer.Serializer[V], p *ttlpolicy.Policy) (*TTLListState[K, V], error) {
	s, err := register(o, name, snapshot.StateList, listCodecOf(ttlpolicy.Stamped(ser, p)), listExpiry[V](p))
	return made(&TTLListState[K, V]{ListState: ListState[K, ttl.Value[V]]{s: s}, p: p}, err)
}

// NewMap returns the map state name of o.
func NewMap[K, UK comparable, UV any](o backend.ObjectCapability[K], name string, ks serializer.Serializer[UK], vs serializer.Serializer[UV]) (*MapState[K, UK, UV], error) {
	s, err := register(o, name, snapshot.StateMap, mapCodecOf(ks, ttlpolicy.Plain(vs)), nil)
	return made(&MapState[K, UK, UV]{s: s}, err)
}

// NewTTLMap returns the map state name of o with TTL p: each entry expires
// on its own.
func NewTTLMap[K, UK comparable, UV any](o backend.ObjectCapability[K], name string, ks serializer.Serializer[UK], vs serializer.Serializer[UV], p *ttlpolicy.Policy) (*TTLMapState[K, UK, UV], error) {
	s, err := register(o, name, snapshot.StateMap, mapCodecOf(ks, ttlpolicy.Stamped(vs, p)), mapExpiry[UK, UV](p))
	return made(&TTLMapState[K, UK, UV]{MapState: MapState[K, UK, ttl.Value[UV]]{s: s}, p: p}, err)
}

// NewReducing returns the reducing state name of o.
func NewReducing[K comparable, V any](o backend.ObjectCapability[K], name string, ser serializer.Serializer[V], reduce func(a, b V) V) (*ReducingState[K, V], error) {
	s, err := register(o, name, snapshot.StateReducing, singleCodecOf(ttlpolicy.Plain(ser)), nil)
	return made(&ReducingState[K, V]{s: s, reduce: reduce}, err)
}

// NewTTLReducing returns the reducing state name of o with TTL p.
func NewTTLReducing[K comparable, V any](o backend.ObjectCapability[K], name string, ser serializer.Serializer[V], reduce func(a, b V) V, p *ttlpolicy.Policy) (*TTLReducingState[K, V], error) {
	s, err := register(o, name, snapshot.StateReducing, singleCodecOf(ttlpolicy.Stamped(ser, p)), singleExpiry[V](p))
	return made(&TTLReducingState[K, V]{ValueState: ValueState[K, ttl.Value[V]]{s: s}, p: p, reduce: reduce}, err)
}

// NewAggregating returns the aggregating state name of o; ser encodes the
// accumulator, and create, add and result are the CreateAccumulator, Add
// and Result of its aggregate function.
func NewAggregating[K comparable, IN, ACC, OUT any](o backend.ObjectCapability[K], name string, ser serializer.Serializer[ACC],
	create func() ACC, add func(IN, ACC) ACC, result func(ACC) OUT) (*AggregatingState[K, IN, ACC, OUT], error) {
	s, err := register(o, name, snapshot.StateAggregating, singleCodecOf(ttlpolicy.Plain(ser)), nil)
	return made(&AggregatingState[K, IN, ACC, OUT]{s: s, create: create, add: add, result: result}, err)
}

// NewTTLAggregating returns the aggregating state name of o with TTL p,
// as NewAggregating.
func NewTTLAggregating[K comparable, IN, ACC, OUT any](o backend.ObjectCapability[K], name string, ser serializer.Serializer[ACC],
	create func() ACC, add func(IN, ACC) ACC, result func(ACC) OUT, p *ttlpolicy.Policy) (*TTLAggregatingState[K, IN, ACC, OUT], error) {
	s, err := register(o, name, snapshot.StateAggregating, singleCodecOf(ttlpolicy.Stamped(ser, p)), singleExpiry[ACC](p))
	return made(&TTLAggregatingState[K, IN, ACC, OUT]{ValueState: ValueState[K, ttl.Value[ACC]]{s: s}, p: p, create: create, add: add, result: result}, err)
}

// ValueState is a value state without TTL (state.ValueState).
type ValueState[K comparable, V any] struct {
	s  *cowstore.Store[K, V]
	ns string
}

func (s *ValueState[K, V]) SetNamespace(ns string) { s.ns = ns }
func (s *ValueState[K, V]) Clear() error           { s.s.Delete(s.ns); return nil }
func (s *ValueState[K, V]) Update(v V) error       { s.s.Put(s.ns, v); return nil }
func (s *ValueState[K, V]) Value() (V, bool, error) {
	v, ok := s.s.Get(s.ns)
	return v, ok, nil
}

// ListState is a list state without TTL (state.ListState).
type ListState[K comparable, V any] struct {
	s  *cowstore.Store[K, []V]
	ns string
}

func (s *ListState[K, V]) SetNamespace(ns string) { s.ns = ns }
func (s *ListState[K, V]) Clear() error           { s.s.Delete(s.ns); return nil }

func (s *ListState[K, V]) Get() ([]V, error) {
	l, _ := s.s.Get(s.ns)
	return slices.Clip(l), nil
}

func (s *ListState[K, V]) Add(v V) error {
	l, _, err := s.s.Mutable(s.ns)
	if err != nil {
		return err
	}
	s.s.Put(s.ns, append(l, v))
	return nil
}

func (s *ListState[K, V]) AddAll(vs []V) error {
	if len(vs) == 0 {
		return nil
	}
	l, _, err := s.s.Mutable(s.ns)
	if err != nil {
		return err
	}
	s.s.Put(s.ns, append(l, vs...))
	return nil
}

func (s *ListState[K, V]) Update(vs []V) error {
	if len(vs) == 0 {
		s.s.Delete(s.ns)
		return nil
	}
	s.s.Put(s.ns, slices.Clone(vs))
	return nil
}

// MapState is a map state without TTL (state.MapState).
type MapState[K, UK comparable, UV any] struct {
	s  *cowstore.Store[K, map[UK]UV]
	ns string
}

func (s *MapState[K, UK, UV]) SetNamespace(ns string) { s.ns = ns }
func (s *MapState[K, UK, UV]) Clear() error           { s.s.Delete(s.ns); return nil }

func (s *MapState[K, UK, UV]) get() map[UK]UV {
	m, _ := s.s.Get(s.ns)
	return m
}

func (s *MapState[K, UK, UV]) Get(k UK) (UV, bool, error) {
	v, ok := s.get()[k]
	return v, ok, nil
}

// mutable returns the map of the current key and namespace for
// modification, creating it if there is none.
func (s *MapState[K, UK, UV]) mutable(size int) (map[UK]UV, error) {
	m, ok, err := s.s.Mutable(s.ns)
	if err != nil {
		return nil, err
	}
	if !ok {
		m = make(map[UK]UV, size)
		s.s.Put(s.ns, m)
	}
	return m, nil
}

func (s *MapState[K, UK, UV]) Put(k UK, v UV) error {
	m, err := s.mutable(1)
	if err != nil {
		return err
	}
	m[k] = v
	return nil
}

func (s *MapState[K, UK, UV]) PutAll(entries map[UK]UV) error {
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

func (s *MapState[K, UK, UV]) Remove(k UK) error {
	if _, ok := s.get()[k]; !ok {
		return nil
	}
	m, err := s.mutable(0)
	if err != nil {
		return err
	}
	delete(m, k)
	if len(m) == 0 {
		s.s.Delete(s.ns)
	}
	return nil
}

func (s *MapState[K, UK, UV]) Contains(k UK) (bool, error) {
	_, ok := s.get()[k]
	return ok, nil
}

func (s *MapState[K, UK, UV]) IsEmpty() (bool, error) { return len(s.get()) == 0, nil }

func (s *MapState[K, UK, UV]) Range(fn func(UK, UV) bool) error {
	for k, v := range s.get() {
		if !fn(k, v) {
			break
		}
	}
	return nil
}

// ReducingState is a reducing state without TTL (state.ReducingState).
type ReducingState[K comparable, V any] struct {
	s      *cowstore.Store[K, V]
	ns     string
	reduce func(a, b V) V
}

func (s *ReducingState[K, V]) SetNamespace(ns string) { s.ns = ns }
func (s *ReducingState[K, V]) Clear() error           { s.s.Delete(s.ns); return nil }

func (s *ReducingState[K, V]) Get() (V, bool, error) {
	v, ok := s.s.Get(s.ns)
	return v, ok, nil
}

func (s *ReducingState[K, V]) Add(v V) error {
	old, ok, err := s.s.Mutable(s.ns)
	if err != nil {
		return err
	}
	if ok {
		v = s.reduce(old, v)
	}
	s.s.Put(s.ns, v)
	return nil
}

// AggregatingState is an aggregating state without TTL
// (state.AggregatingState).
type AggregatingState[K comparable, IN, ACC, OUT any] struct {
	s      *cowstore.Store[K, ACC]
	ns     string
	create func() ACC
	add    func(IN, ACC) ACC
	result func(ACC) OUT
}

func (s *AggregatingState[K, IN, ACC, OUT]) SetNamespace(ns string) { s.ns = ns }
func (s *AggregatingState[K, IN, ACC, OUT]) Clear() error           { s.s.Delete(s.ns); return nil }

func (s *AggregatingState[K, IN, ACC, OUT]) Get() (OUT, bool, error) {
	acc, ok := s.s.Get(s.ns)
	if !ok {
		var zero OUT
		return zero, false, nil
	}
	return s.result(acc), true, nil
}

func (s *AggregatingState[K, IN, ACC, OUT]) Add(in IN) error {
	acc, ok, err := s.s.Mutable(s.ns)
	if err != nil {
		return err
	}
	if !ok {
		acc = s.create()
	}
	s.s.Put(s.ns, s.add(in, acc))
	return nil
}
