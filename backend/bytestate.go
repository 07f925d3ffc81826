package backend

import (
	"fmt"

	"github.com/stated-io/stated/snapshot"
)

// The typed states over a ByteBackend: they encode with the descriptor's
// serializers on every access and keep nothing but a scratch buffer.

// migration returns the ByteMigration of one serializer slot and the
// serializer to use from then on.
func migration[T any](s Serializer[T], old SerializerSnapshot) (func([]byte) ([]byte, error), Serializer[T], error) {
	c := s.Compatibility(old)
	switch c.Kind {
	case CompatibleAsIs:
		return nil, s, nil
	case CompatibleWithReconfiguredSerializer:
		if c.Reconfigured != nil {
			return nil, c.Reconfigured, nil
		}
	case CompatibleAfterMigration:
		if c.ReadOld != nil {
			return func(b []byte) ([]byte, error) {
				v, err := c.ReadOld(b)
				if err != nil {
					return nil, err
				}
				return s.Append(nil, v)
			}, s, nil
		}
	}
	_, _, err := reader(s, old)
	return nil, nil, err
}

func byteTable[K comparable](b KeyedBackend[K], name string, kind snapshot.StateKind, sers []SerializerSnapshot,
	migrate func(old []SerializerSnapshot) (ByteMigration, error)) (ByteTable, error) {
	bb, ok := b.(ByteBackend[K])
	if !ok {
		return nil, fmt.Errorf("%w: %T implements neither ObjectBackend nor ByteBackend", ErrUnsupportedBackend, b)
	}
	return bb.ByteTable(ByteRegistration{Name: name, Kind: kind, Serializers: sers, Migrate: migrate})
}

// singleMigration is the Migrate of a state with one serializer; it
// updates *cur to the serializer to use.
func singleMigration[T any](cur *Serializer[T]) func(old []SerializerSnapshot) (ByteMigration, error) {
	return func(old []SerializerSnapshot) (ByteMigration, error) {
		if err := wantSerializers(old, 1); err != nil {
			return ByteMigration{}, err
		}
		m, s, err := migration(*cur, old[0])
		if err != nil {
			return ByteMigration{}, err
		}
		*cur = s
		return ByteMigration{Value: m, Serializers: []SerializerSnapshot{s.Snapshot()}}, nil
	}
}

func newByteValue[K comparable, V any](b KeyedBackend[K], d ValueDescriptor[V]) (ValueState[V], error) {
	s := &byteValue[V]{ser: plainSerializer(d.Serializer)}
	t, err := byteTable(b, d.Name, snapshot.StateValue, []SerializerSnapshot{s.ser.Snapshot()}, singleMigration(&s.ser))
	if err != nil {
		return nil, err
	}
	s.t = t
	return s, nil
}

func newByteList[K comparable, V any](b KeyedBackend[K], d ListDescriptor[V]) (ListState[V], error) {
	s := &byteList[V]{ser: plainSerializer(d.Serializer)}
	t, err := byteTable(b, d.Name, snapshot.StateList, []SerializerSnapshot{s.ser.Snapshot()}, singleMigration(&s.ser))
	if err != nil {
		return nil, err
	}
	s.t = t
	return s, nil
}

func newByteMap[K, UK comparable, UV any](b KeyedBackend[K], d MapDescriptor[UK, UV]) (MapState[UK, UV], error) {
	s := &byteMap[UK, UV]{ks: d.KeySerializer, vs: plainSerializer(d.ValueSerializer)}
	t, err := byteTable(b, d.Name, snapshot.StateMap, []SerializerSnapshot{s.ks.Snapshot(), s.vs.Snapshot()}, s.migrate)
	if err != nil {
		return nil, err
	}
	s.t = t
	return s, nil
}

// migrate is the Migrate of a map state; it updates the serializers of s
// to the ones to use.
func (s *byteMap[UK, UV]) migrate(old []SerializerSnapshot) (ByteMigration, error) {
	if err := wantSerializers(old, 2); err != nil {
		return ByteMigration{}, err
	}
	mk, ks, err := migration(s.ks, old[0])
	if err != nil {
		return ByteMigration{}, err
	}
	mv, vs, err := migration(s.vs, old[1])
	if err != nil {
		return ByteMigration{}, err
	}
	s.ks, s.vs = ks, vs
	return ByteMigration{UserKey: mk, Value: mv, Serializers: []SerializerSnapshot{ks.Snapshot(), vs.Snapshot()}}, nil
}

func newByteReducing[K comparable, V any](b KeyedBackend[K], d ReducingDescriptor[V]) (ReducingState[V], error) {
	s := &byteReducing[V]{ser: plainSerializer(d.Serializer), reduce: d.Reduce}
	t, err := byteTable(b, d.Name, snapshot.StateReducing, []SerializerSnapshot{s.ser.Snapshot()}, singleMigration(&s.ser))
	if err != nil {
		return nil, err
	}
	s.t = t
	return s, nil
}

func newByteAggregating[K comparable, IN, ACC, OUT any](b KeyedBackend[K], d AggregatingDescriptor[IN, ACC, OUT]) (AggregatingState[IN, OUT], error) {
	s := &byteAggregating[IN, ACC, OUT]{ser: plainSerializer(d.AccumulatorSerializer), agg: d.Aggregate}
	t, err := byteTable(b, d.Name, snapshot.StateAggregating, []SerializerSnapshot{s.ser.Snapshot()}, singleMigration(&s.ser))
	if err != nil {
		return nil, err
	}
	s.t = t
	return s, nil
}

// byteNamespace is the namespace handling shared by the byte states.
type byteNamespace struct {
	t   ByteTable
	ns  string
	buf []byte
}

func (s *byteNamespace) SetNamespace(ns string) { s.ns = ns }
func (s *byteNamespace) Clear() error           { return s.t.Delete(s.ns) }

// getOne reads and decodes the single value of the current key and
// namespace.
func getOne[T any](s *byteNamespace, ser Serializer[T]) (T, bool, error) {
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

func putOne[T any](s *byteNamespace, ser Serializer[T], v T) error {
	var err error
	if s.buf, err = ser.Append(s.buf[:0], v); err != nil {
		return err
	}
	return s.t.Put(s.ns, s.buf)
}

type byteValue[V any] struct {
	byteNamespace
	ser Serializer[V]
}

func (s *byteValue[V]) Value() (V, bool, error) { return getOne(&s.byteNamespace, s.ser) }
func (s *byteValue[V]) Update(v V) error        { return putOne(&s.byteNamespace, s.ser, v) }

type byteList[V any] struct {
	byteNamespace
	ser     Serializer[V]
	scratch []byte
}

func (s *byteList[V]) Get() ([]V, error) {
	b, ok, err := s.t.Get(s.ns)
	if err != nil || !ok || len(b) == 0 {
		return nil, err
	}
	r := elementReader{b: b}
	var out []V
	for r.off < len(b) {
		e, err := r.element()
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
func (s *byteList[V]) encode(vs []V) error {
	s.buf = s.buf[:0]
	for _, v := range vs {
		var err error
		if s.scratch, err = s.ser.Append(s.scratch[:0], v); err != nil {
			return err
		}
		s.buf = appendElement(s.buf, s.scratch)
	}
	return nil
}

func (s *byteList[V]) Add(v V) error { return s.AddAll([]V{v}) }

func (s *byteList[V]) AddAll(vs []V) error {
	if len(vs) == 0 {
		return nil
	}
	if err := s.encode(vs); err != nil {
		return err
	}
	return s.t.Append(s.ns, s.buf)
}

func (s *byteList[V]) Update(vs []V) error {
	if len(vs) == 0 {
		return s.t.Delete(s.ns)
	}
	if err := s.encode(vs); err != nil {
		return err
	}
	return s.t.Put(s.ns, s.buf)
}

type byteMap[UK comparable, UV any] struct {
	byteNamespace
	ks   Serializer[UK]
	vs   Serializer[UV]
	kbuf []byte
}

func (s *byteMap[UK, UV]) userKey(k UK) ([]byte, error) {
	var err error
	s.kbuf, err = s.ks.Append(s.kbuf[:0], k)
	return s.kbuf, err
}

// entry returns the serialized user key k and the bytes of its entry
// (valid until the next call on the table), ok=false if there is none.
func (s *byteMap[UK, UV]) entry(k UK) (kb, value []byte, ok bool, err error) {
	if kb, err = s.userKey(k); err != nil {
		return nil, nil, false, err
	}
	value, ok, err = s.t.GetEntry(s.ns, kb)
	return kb, value, ok, err
}

func (s *byteMap[UK, UV]) Get(k UK) (UV, bool, error) {
	var zero UV
	_, b, ok, err := s.entry(k)
	if err != nil || !ok {
		return zero, false, err
	}
	v, err := s.vs.Decode(b)
	return v, err == nil, err
}

func (s *byteMap[UK, UV]) Put(k UK, v UV) error {
	kb, err := s.userKey(k)
	if err != nil {
		return err
	}
	if s.buf, err = s.vs.Append(s.buf[:0], v); err != nil {
		return err
	}
	return s.t.PutEntry(s.ns, kb, s.buf)
}

func (s *byteMap[UK, UV]) PutAll(m map[UK]UV) error {
	for k, v := range m {
		if err := s.Put(k, v); err != nil {
			return err
		}
	}
	return nil
}

func (s *byteMap[UK, UV]) Remove(k UK) error {
	kb, err := s.userKey(k)
	if err != nil {
		return err
	}
	return s.t.DeleteEntry(s.ns, kb)
}

func (s *byteMap[UK, UV]) Contains(k UK) (bool, error) {
	_, _, ok, err := s.entry(k)
	return ok, err
}

func (s *byteMap[UK, UV]) IsEmpty() (bool, error) {
	empty := true
	err := s.t.Entries(s.ns, func(_, _ []byte) bool { empty = false; return false })
	return empty, err
}

func (s *byteMap[UK, UV]) Range(fn func(UK, UV) bool) error {
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

type byteReducing[V any] struct {
	byteNamespace
	ser    Serializer[V]
	reduce func(a, b V) V
}

func (s *byteReducing[V]) Get() (V, bool, error) { return getOne(&s.byteNamespace, s.ser) }

func (s *byteReducing[V]) Add(v V) error {
	old, ok, err := getOne(&s.byteNamespace, s.ser)
	if err != nil {
		return err
	}
	if ok {
		v = s.reduce(old, v)
	}
	return putOne(&s.byteNamespace, s.ser, v)
}

type byteAggregating[IN, ACC, OUT any] struct {
	byteNamespace
	ser Serializer[ACC]
	agg AggregateFunction[IN, ACC, OUT]
}

func (s *byteAggregating[IN, ACC, OUT]) Get() (OUT, bool, error) {
	acc, ok, err := getOne(&s.byteNamespace, s.ser)
	if err != nil || !ok {
		var zero OUT
		return zero, false, err
	}
	return s.agg.Result(acc), true, nil
}

func (s *byteAggregating[IN, ACC, OUT]) Add(in IN) error {
	acc, ok, err := getOne(&s.byteNamespace, s.ser)
	if err != nil {
		return err
	}
	if !ok {
		acc = s.agg.CreateAccumulator()
	}
	return putOne(&s.byteNamespace, s.ser, s.agg.Add(in, acc))
}
