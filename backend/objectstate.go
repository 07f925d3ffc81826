package backend

import (
	"errors"
	"fmt"
	"reflect"
	"slices"

	"github.com/stated-io/stated/snapshot"
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

// GetValueState returns a ValueState of b described by d. Object backends
// keep the values as objects; byte backends store their serialized form.
func GetValueState[K comparable, V any](b KeyedBackend[K], d ValueDescriptor[V]) (ValueState[V], error) {
	if err := checkName(d.Name); err != nil {
		return nil, err
	}
	if d.Serializer == nil {
		return nil, missing(d.Name, "Serializer")
	}
	ob, ok := b.(ObjectBackend[K])
	if !ok {
		return newByteValue(b, d)
	}
	t, err := ob.ObjectTable(ObjectRegistration{Name: d.Name, Kind: snapshot.StateValue,
		Codec: func(old []SerializerSnapshot) (ObjectCodec, error) { return newSingleCodec(d.Serializer, old) }})
	if err != nil {
		return nil, err
	}
	return &objectValue[K, V]{objectNamespace[K]{t: t}}, nil
}

// GetListState returns a ListState of b described by d.
func GetListState[K comparable, V any](b KeyedBackend[K], d ListDescriptor[V]) (ListState[V], error) {
	if err := checkName(d.Name); err != nil {
		return nil, err
	}
	if d.Serializer == nil {
		return nil, missing(d.Name, "Serializer")
	}
	ob, ok := b.(ObjectBackend[K])
	if !ok {
		return newByteList(b, d)
	}
	t, err := ob.ObjectTable(ObjectRegistration{Name: d.Name, Kind: snapshot.StateList,
		Codec: func(old []SerializerSnapshot) (ObjectCodec, error) { return newListCodec(d.Serializer, old) }})
	if err != nil {
		return nil, err
	}
	return &objectList[K, V]{objectNamespace[K]{t: t}}, nil
}

// GetMapState returns a MapState of b described by d.
func GetMapState[K, UK comparable, UV any](b KeyedBackend[K], d MapDescriptor[UK, UV]) (MapState[UK, UV], error) {
	if err := checkName(d.Name); err != nil {
		return nil, err
	}
	if d.KeySerializer == nil || d.ValueSerializer == nil {
		return nil, missing(d.Name, "KeySerializer or ValueSerializer")
	}
	ob, ok := b.(ObjectBackend[K])
	if !ok {
		return newByteMap(b, d)
	}
	t, err := ob.ObjectTable(ObjectRegistration{Name: d.Name, Kind: snapshot.StateMap,
		Codec: func(old []SerializerSnapshot) (ObjectCodec, error) {
			return newMapCodec(d.KeySerializer, d.ValueSerializer, old)
		}})
	if err != nil {
		return nil, err
	}
	return &objectMap[K, UK, UV]{objectNamespace[K]{t: t}}, nil
}

// GetReducingState returns a ReducingState of b described by d.
func GetReducingState[K comparable, V any](b KeyedBackend[K], d ReducingDescriptor[V]) (ReducingState[V], error) {
	if err := checkName(d.Name); err != nil {
		return nil, err
	}
	if d.Serializer == nil || d.Reduce == nil {
		return nil, missing(d.Name, "Serializer or Reduce")
	}
	ob, ok := b.(ObjectBackend[K])
	if !ok {
		return newByteReducing(b, d)
	}
	t, err := ob.ObjectTable(ObjectRegistration{Name: d.Name, Kind: snapshot.StateReducing,
		Codec: func(old []SerializerSnapshot) (ObjectCodec, error) { return newSingleCodec(d.Serializer, old) }})
	if err != nil {
		return nil, err
	}
	return &objectReducing[K, V]{objectNamespace[K]{t: t}, d.Reduce, immutableValue(reflect.TypeFor[V]())}, nil
}

// GetAggregatingState returns an AggregatingState of b described by d.
func GetAggregatingState[K comparable, IN, ACC, OUT any](b KeyedBackend[K], d AggregatingDescriptor[IN, ACC, OUT]) (AggregatingState[IN, OUT], error) {
	if err := checkName(d.Name); err != nil {
		return nil, err
	}
	if d.AccumulatorSerializer == nil || d.Aggregate == nil {
		return nil, missing(d.Name, "AccumulatorSerializer or Aggregate")
	}
	ob, ok := b.(ObjectBackend[K])
	if !ok {
		return newByteAggregating(b, d)
	}
	t, err := ob.ObjectTable(ObjectRegistration{Name: d.Name, Kind: snapshot.StateAggregating,
		Codec: func(old []SerializerSnapshot) (ObjectCodec, error) {
			return newSingleCodec(d.AccumulatorSerializer, old)
		}})
	if err != nil {
		return nil, err
	}
	return &objectAggregating[K, IN, ACC, OUT]{objectNamespace[K]{t: t}, d.Aggregate, immutableValue(reflect.TypeFor[ACC]())}, nil
}

// objectNamespace is the namespace handling shared by the object states.
type objectNamespace[K comparable] struct {
	t  ObjectTable[K]
	ns string
}

func (s *objectNamespace[K]) SetNamespace(ns string) { s.ns = ns }
func (s *objectNamespace[K]) Clear() error           { s.t.Delete(s.ns); return nil }

// current returns the object of the current key and namespace, cloned
// first if a snapshot holds it, unless values of its type are immutable.
func (s *objectNamespace[K]) current(immutable bool) (any, bool, error) {
	if immutable {
		o, ok := s.t.Get(s.ns)
		return o, ok, nil
	}
	return s.t.Mutable(s.ns)
}

type objectValue[K comparable, V any] struct{ objectNamespace[K] }

func (s *objectValue[K, V]) Value() (V, bool, error) {
	o, ok := s.t.Get(s.ns)
	if !ok {
		var zero V
		return zero, false, nil
	}
	return o.(V), true, nil
}

func (s *objectValue[K, V]) Update(v V) error { s.t.Put(s.ns, v); return nil }

type objectList[K comparable, V any] struct{ objectNamespace[K] }

func (s *objectList[K, V]) Get() ([]V, error) {
	o, ok := s.t.Get(s.ns)
	if !ok {
		return nil, nil
	}
	return slices.Clip(*o.(*[]V)), nil
}

func (s *objectList[K, V]) Add(v V) error {
	o, ok, err := s.t.Mutable(s.ns)
	if err != nil {
		return err
	}
	if !ok {
		l := []V{v}
		s.t.Put(s.ns, &l)
		return nil
	}
	p := o.(*[]V)
	*p = append(*p, v)
	return nil
}

func (s *objectList[K, V]) AddAll(vs []V) error {
	if len(vs) == 0 {
		return nil
	}
	o, ok, err := s.t.Mutable(s.ns)
	if err != nil {
		return err
	}
	if !ok {
		l := slices.Clone(vs)
		s.t.Put(s.ns, &l)
		return nil
	}
	p := o.(*[]V)
	*p = append(*p, vs...)
	return nil
}

func (s *objectList[K, V]) Update(vs []V) error {
	if len(vs) == 0 {
		s.t.Delete(s.ns)
		return nil
	}
	l := slices.Clone(vs)
	s.t.Put(s.ns, &l)
	return nil
}

type objectMap[K, UK comparable, UV any] struct{ objectNamespace[K] }

func (s *objectMap[K, UK, UV]) get() map[UK]UV {
	o, ok := s.t.Get(s.ns)
	if !ok {
		return nil
	}
	return o.(map[UK]UV)
}

func (s *objectMap[K, UK, UV]) Get(k UK) (UV, bool, error) {
	v, ok := s.get()[k]
	return v, ok, nil
}

func (s *objectMap[K, UK, UV]) mutable() (map[UK]UV, error) {
	o, ok, err := s.t.Mutable(s.ns)
	if err != nil || !ok {
		return nil, err
	}
	return o.(map[UK]UV), nil
}

func (s *objectMap[K, UK, UV]) Put(k UK, v UV) error {
	m, err := s.mutable()
	if err != nil {
		return err
	}
	if m == nil {
		s.t.Put(s.ns, map[UK]UV{k: v})
		return nil
	}
	m[k] = v
	return nil
}

func (s *objectMap[K, UK, UV]) PutAll(entries map[UK]UV) error {
	if len(entries) == 0 {
		return nil
	}
	m, err := s.mutable()
	if err != nil {
		return err
	}
	if m == nil {
		m = make(map[UK]UV, len(entries))
		s.t.Put(s.ns, m)
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
	m, err := s.mutable()
	if err != nil {
		return err
	}
	delete(m, k)
	if len(m) == 0 {
		s.t.Delete(s.ns)
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
	objectNamespace[K]
	reduce    func(a, b V) V
	immutable bool
}

func (s *objectReducing[K, V]) Get() (V, bool, error) {
	o, ok := s.t.Get(s.ns)
	if !ok {
		var zero V
		return zero, false, nil
	}
	return o.(V), true, nil
}

func (s *objectReducing[K, V]) Add(v V) error {
	o, ok, err := s.current(s.immutable)
	if err != nil {
		return err
	}
	if ok {
		v = s.reduce(o.(V), v)
	}
	s.t.Put(s.ns, v)
	return nil
}

type objectAggregating[K comparable, IN, ACC, OUT any] struct {
	objectNamespace[K]
	agg       AggregateFunction[IN, ACC, OUT]
	immutable bool
}

func (s *objectAggregating[K, IN, ACC, OUT]) Get() (OUT, bool, error) {
	o, ok := s.t.Get(s.ns)
	if !ok {
		var zero OUT
		return zero, false, nil
	}
	return s.agg.Result(o.(ACC)), true, nil
}

func (s *objectAggregating[K, IN, ACC, OUT]) Add(in IN) error {
	o, ok, err := s.current(s.immutable)
	if err != nil {
		return err
	}
	var acc ACC
	if ok {
		acc = o.(ACC)
	} else {
		acc = s.agg.CreateAccumulator()
	}
	s.t.Put(s.ns, s.agg.Add(in, acc))
	return nil
}
