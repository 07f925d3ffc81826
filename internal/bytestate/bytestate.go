// Package bytestate holds the typed states over a byte backend
// (backend.ByteCapability: lsm, remote): they encode with the
// descriptor's serializers on every access, store bytes in the backend's
// tables (backend.ByteTable) and keep nothing but scratch buffers. The
// states with TTL store every unit stamped (serializer.TTL), so that a
// timestamp is read or rewritten without decoding the user bytes. Package
// state creates them; they are not safe for concurrent use and belong to
// the goroutine of their backend.
package bytestate

import (
	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/compat"
	"github.com/stated-io/stated/internal/statecodec"
	"github.com/stated-io/stated/internal/ttlpolicy"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
)

// bind registers the state s with b and returns it, its namespace ns
// bound to the table of the state: p is the TTL of a state with TTL, nil
// for one without, and sers describe what the state writes.
func bind[S any](s *S, ns *byteNamespace, b backend.ByteCapability, name string, kind snapshot.StateKind,
	migrate func(old []serializer.Snapshot) (backend.ByteMigration, error), p *ttlpolicy.Policy, sers ...serializer.Snapshot) (*S, error) {
	reg := backend.ByteRegistration{Name: name, Kind: kind, Serializers: sers, Migrate: migrate}
	if p != nil {
		reg.TTL = p.Config
	}
	t, err := b.ByteTable(reg)
	if err != nil {
		return nil, err
	}
	ns.t = t
	return s, nil
}

// singleMigration is the Migrate of a state with one serializer; it
// updates *cur to the serializer to use.
func singleMigration[T any](cur *serializer.Serializer[T]) func(old []serializer.Snapshot) (backend.ByteMigration, error) {
	return func(old []serializer.Snapshot) (backend.ByteMigration, error) {
		if err := compat.WantSerializers(old, 1); err != nil {
			return backend.ByteMigration{}, err
		}
		m, s, err := compat.Rewrite(*cur, old[0])
		if err != nil {
			return backend.ByteMigration{}, err
		}
		*cur = s
		return backend.ByteMigration{Value: m, Serializers: []serializer.Snapshot{s.Snapshot()}}, nil
	}
}

// NewValue returns the value state name of b.
func NewValue[V any](b backend.ByteCapability, name string, ser serializer.Serializer[V]) (*ValueState[V], error) {
	s := &ValueState[V]{ser: ttlpolicy.Plain(ser)}
	return bind(s, &s.byteNamespace, b, name, snapshot.StateValue, singleMigration(&s.ser), nil, s.ser.Snapshot())
}

// NewList returns the list state name of b; ser encodes one element.
func NewList[V any](b backend.ByteCapability, name string, ser serializer.Serializer[V]) (*ListState[V], error) {
	s := &ListState[V]{ser: ttlpolicy.Plain(ser)}
	return bind(s, &s.byteNamespace, b, name, snapshot.StateList, singleMigration(&s.ser), nil, s.ser.Snapshot())
}

// NewMap returns the map state name of b.
func NewMap[UK comparable, UV any](b backend.ByteCapability, name string, ks serializer.Serializer[UK], vs serializer.Serializer[UV]) (*MapState[UK, UV], error) {
	s := &MapState[UK, UV]{ks: ks, vs: ttlpolicy.Plain(vs)}
	return bind(s, &s.byteNamespace, b, name, snapshot.StateMap, s.migrate, nil, s.ks.Snapshot(), s.vs.Snapshot())
}

// migrate is the Migrate of a map state; it updates the serializers of s
// to the ones to use.
func (s *MapState[UK, UV]) migrate(old []serializer.Snapshot) (backend.ByteMigration, error) {
	if err := compat.WantSerializers(old, 2); err != nil {
		return backend.ByteMigration{}, err
	}
	mk, ks, err := compat.Rewrite(s.ks, old[0])
	if err != nil {
		return backend.ByteMigration{}, err
	}
	mv, vs, err := compat.Rewrite(s.vs, old[1])
	if err != nil {
		return backend.ByteMigration{}, err
	}
	s.ks, s.vs = ks, vs
	return backend.ByteMigration{UserKey: mk, Value: mv, Serializers: []serializer.Snapshot{ks.Snapshot(), vs.Snapshot()}}, nil
}

// NewReducing returns the reducing state name of b.
func NewReducing[V any](b backend.ByteCapability, name string, ser serializer.Serializer[V], reduce func(a, b V) V) (*ReducingState[V], error) {
	s := &ReducingState[V]{ser: ttlpolicy.Plain(ser), reduce: reduce}
	return bind(s, &s.byteNamespace, b, name, snapshot.StateReducing, singleMigration(&s.ser), nil, s.ser.Snapshot())
}

// NewAggregating returns the aggregating state name of b; ser encodes the
// accumulator, and create, add and result are the CreateAccumulator, Add
// and Result of its aggregate function.
func NewAggregating[IN, ACC, OUT any](b backend.ByteCapability, name string, ser serializer.Serializer[ACC],
	create func() ACC, add func(IN, ACC) ACC, result func(ACC) OUT) (*AggregatingState[IN, ACC, OUT], error) {
	s := &AggregatingState[IN, ACC, OUT]{ser: ttlpolicy.Plain(ser), create: create, add: add, result: result}
	return bind(s, &s.byteNamespace, b, name, snapshot.StateAggregating, singleMigration(&s.ser), nil, s.ser.Snapshot())
}

// byteNamespace is the namespace handling shared by the byte states.
type byteNamespace struct {
	t   backend.ByteTable
	ns  string
	buf []byte
}

func (s *byteNamespace) SetNamespace(ns string) { s.ns = ns }
func (s *byteNamespace) Clear() error           { return s.t.Delete(s.ns) }

// getOne reads and decodes the single value of the current key and
// namespace.
func getOne[T any](s *byteNamespace, ser serializer.Serializer[T]) (T, bool, error) {
	var zero T
	b, ok, err := s.t.Get(s.ns)
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := ser.Decode(b)
	if err != nil {
		return zero, false, err
	}
	return v, true, nil
}

func putOne[T any](s *byteNamespace, ser serializer.Serializer[T], v T) error {
	var err error
	if s.buf, err = ser.Append(s.buf[:0], v); err != nil {
		return err
	}
	return s.t.Put(s.ns, s.buf)
}

// ValueState is a value state without TTL (state.ValueState).
type ValueState[V any] struct {
	byteNamespace
	ser serializer.Serializer[V]
}

func (s *ValueState[V]) Value() (V, bool, error) { return getOne(&s.byteNamespace, s.ser) }
func (s *ValueState[V]) Update(v V) error        { return putOne(&s.byteNamespace, s.ser, v) }

// ListState is a list state without TTL (state.ListState).
type ListState[V any] struct {
	byteNamespace
	ser     serializer.Serializer[V]
	scratch []byte
}

func (s *ListState[V]) Get() ([]V, error) {
	b, ok, err := s.t.Get(s.ns)
	if err != nil || !ok || len(b) == 0 {
		return nil, err
	}
	r := statecodec.NewReader(b)
	var out []V
	for r.More() {
		e, err := r.Element()
		if err != nil {
			return nil, err
		}
		v, err := s.ser.Decode(e)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, nil
}

// encode appends the length-prefixed encodings of vs to s.buf[:0].
func (s *ListState[V]) encode(vs []V) error {
	s.buf = s.buf[:0]
	for _, v := range vs {
		var err error
		if s.scratch, err = s.ser.Append(s.scratch[:0], v); err != nil {
			return err
		}
		s.buf = statecodec.AppendElement(s.buf, s.scratch)
	}
	return nil
}

func (s *ListState[V]) Add(v V) error { return s.AddAll([]V{v}) }

func (s *ListState[V]) AddAll(vs []V) error {
	if len(vs) == 0 {
		return nil
	}
	if err := s.encode(vs); err != nil {
		return err
	}
	return s.t.Append(s.ns, s.buf)
}

func (s *ListState[V]) Update(vs []V) error {
	if len(vs) == 0 {
		return s.t.Delete(s.ns)
	}
	if err := s.encode(vs); err != nil {
		return err
	}
	return s.t.Put(s.ns, s.buf)
}

// MapState is a map state without TTL (state.MapState).
type MapState[UK comparable, UV any] struct {
	byteNamespace
	ks   serializer.Serializer[UK]
	vs   serializer.Serializer[UV]
	kbuf []byte
}

func (s *MapState[UK, UV]) userKey(k UK) ([]byte, error) {
	var err error
	s.kbuf, err = s.ks.Append(s.kbuf[:0], k)
	return s.kbuf, err
}

// entry returns the serialized user key k and the bytes of its entry
// (valid until the next call on the table), ok=false if there is none.
func (s *MapState[UK, UV]) entry(k UK) (kb, value []byte, ok bool, err error) {
	if kb, err = s.userKey(k); err != nil {
		return nil, nil, false, err
	}
	value, ok, err = s.t.GetEntry(s.ns, kb)
	return kb, value, ok, err
}

func (s *MapState[UK, UV]) Get(k UK) (UV, bool, error) {
	var zero UV
	_, b, ok, err := s.entry(k)
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := s.vs.Decode(b)
	return v, err == nil, err
}

func (s *MapState[UK, UV]) Put(k UK, v UV) error {
	kb, err := s.userKey(k)
	if err != nil {
		return err
	}
	if s.buf, err = s.vs.Append(s.buf[:0], v); err != nil {
		return err
	}
	return s.t.PutEntry(s.ns, kb, s.buf)
}

func (s *MapState[UK, UV]) PutAll(m map[UK]UV) error {
	for k, v := range m {
		if err := s.Put(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (s *MapState[UK, UV]) Remove(k UK) error {
	kb, err := s.userKey(k)
	if err != nil {
		return err
	}
	return s.t.DeleteEntry(s.ns, kb)
}

func (s *MapState[UK, UV]) Contains(k UK) (bool, error) {
	_, _, ok, err := s.entry(k)
	return ok, err
}

func (s *MapState[UK, UV]) IsEmpty() (bool, error) {
	empty := true
	err := s.t.Entries(s.ns, func(_, _ []byte) bool { empty = false; return false })
	return empty, err
}

func (s *MapState[UK, UV]) Range(fn func(UK, UV) bool) error {
	var derr error
	err := s.t.Entries(s.ns, func(kb, vb []byte) bool {
		k, err := s.ks.Decode(kb)
		if err != nil {
			derr = err
			return false
		}
		v, err := s.vs.Decode(vb)
		if err != nil {
			derr = err
			return false
		}
		return fn(k, v)
	})
	if err != nil {
		return err
	}
	return derr
}

// ReducingState is a reducing state without TTL (state.ReducingState).
type ReducingState[V any] struct {
	byteNamespace
	ser    serializer.Serializer[V]
	reduce func(a, b V) V
}

func (s *ReducingState[V]) Get() (V, bool, error) { return getOne(&s.byteNamespace, s.ser) }

func (s *ReducingState[V]) Add(v V) error {
	old, ok, err := getOne(&s.byteNamespace, s.ser)
	if err != nil {
		return err
	}
	if ok {
		v = s.reduce(old, v)
	}
	return putOne(&s.byteNamespace, s.ser, v)
}

// AggregatingState is an aggregating state without TTL
// (state.AggregatingState).
type AggregatingState[IN, ACC, OUT any] struct {
	byteNamespace
	ser    serializer.Serializer[ACC]
	create func() ACC
	add    func(IN, ACC) ACC
	result func(ACC) OUT
}

func (s *AggregatingState[IN, ACC, OUT]) Get() (OUT, bool, error) {
	acc, ok, err := getOne(&s.byteNamespace, s.ser)
	if err != nil || !ok {
		var zero OUT
		return zero, false, err
	}
	return s.result(acc), true, nil
}

func (s *AggregatingState[IN, ACC, OUT]) Add(in IN) error {
	acc, ok, err := getOne(&s.byteNamespace, s.ser)
	if err != nil {
		return err
	}
	if !ok {
		acc = s.create()
	}
	return putOne(&s.byteNamespace, s.ser, s.add(in, acc))
}
