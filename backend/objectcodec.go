package backend

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
)

// Codecs of the object states: how their values are encoded into
// snapshots, decoded on restore (migrating where the serializer says so)
// and cloned for copy-on-write.

func wantSerializers(old []SerializerSnapshot, n int) error {
	if len(old) != n {
		return &IncompatibleStateError{Reason: fmt.Sprintf("restored state has %d serializers, want %d", len(old), n)}
	}
	return nil
}

// singleCodec stores one V per entry (Value, Reducing, Aggregating).
type singleCodec[V any] struct {
	ser  Serializer[V]
	read func([]byte) (V, error)
	copy func(V) (V, error)
}

func newSingleCodec[V any](s Serializer[V], old []SerializerSnapshot) (*singleCodec[V], error) {
	c := &singleCodec[V]{ser: s, read: s.Decode}
	if old != nil {
		if err := wantSerializers(old, 1); err != nil {
			return nil, err
		}
		var err error
		if c.read, c.ser, err = reader(s, old[0]); err != nil {
			return nil, err
		}
	}
	c.copy = Cloner(c.ser)
	return c, nil
}

func (c *singleCodec[V]) serializers() []SerializerSnapshot {
	return []SerializerSnapshot{c.ser.Snapshot()}
}
func (c *singleCodec[V]) encode(dst []byte, v V) ([]byte, error) { return c.ser.Append(dst, v) }
func (c *singleCodec[V]) decode(b []byte) (V, error)             { return c.read(b) }

func (c *singleCodec[V]) clone(v V) (V, error) { return c.copy(v) }

// Cloner returns a function that copies values of V so that a copy can
// be modified without changing the original: the identity when values of
// V share no memory (numbers, strings, and arrays and structs of them),
// else an encoding and decoding through s. Object backends store the
// objects they are given, hand them out on reads and share them with
// their captures: code that modifies a value it read (an accumulator it
// folds into, say) must modify a copy. It is safe for concurrent use if s
// is.
func Cloner[V any](s Serializer[V]) func(V) (V, error) {
	if immutableValue(reflect.TypeFor[V]()) {
		return func(v V) (V, error) { return v, nil }
	}
	return func(v V) (V, error) {
		b, err := s.Append(nil, v)
		if err != nil {
			return v, err
		}
		return s.Decode(b)
	}
}

// listCodec stores a []E per entry.
type listCodec[E any] struct {
	ser  Serializer[E]
	read func([]byte) (E, error)
}

func newListCodec[E any](s Serializer[E], old []SerializerSnapshot) (*listCodec[E], error) {
	c, err := newSingleCodec(s, old)
	if err != nil {
		return nil, err
	}
	return &listCodec[E]{ser: c.ser, read: c.read}, nil
}

func (c *listCodec[E]) serializers() []SerializerSnapshot {
	return []SerializerSnapshot{c.ser.Snapshot()}
}
func (c *listCodec[E]) encode(dst []byte, l []E) ([]byte, error) { return encodeList(dst, c.ser, l) }
func (c *listCodec[E]) decode(b []byte) ([]E, error)             { return decodeList(b, c.read) }
func (c *listCodec[E]) clone(l []E) ([]E, error)                 { return slices.Clone(l), nil }

// mapCodec stores a map[UK]UV per entry.
type mapCodec[UK comparable, UV any] struct {
	ks    Serializer[UK]
	vs    Serializer[UV]
	readK func([]byte) (UK, error)
	readV func([]byte) (UV, error)
}

func newMapCodec[UK comparable, UV any](ks Serializer[UK], vs Serializer[UV], old []SerializerSnapshot) (*mapCodec[UK, UV], error) {
	c := &mapCodec[UK, UV]{ks: ks, vs: vs, readK: ks.Decode, readV: vs.Decode}
	if old == nil {
		return c, nil
	}
	if err := wantSerializers(old, 2); err != nil {
		return nil, err
	}
	var err error
	if c.readK, c.ks, err = reader(ks, old[0]); err != nil {
		return nil, err
	}
	c.readV, c.vs, err = reader(vs, old[1])
	return c, err
}

func (c *mapCodec[UK, UV]) serializers() []SerializerSnapshot {
	return []SerializerSnapshot{c.ks.Snapshot(), c.vs.Snapshot()}
}
func (c *mapCodec[UK, UV]) encode(dst []byte, m map[UK]UV) ([]byte, error) {
	return encodeMap(dst, c.ks, c.vs, m)
}
func (c *mapCodec[UK, UV]) decode(b []byte) (map[UK]UV, error) { return decodeMap(b, c.readK, c.readV) }
func (c *mapCodec[UK, UV]) clone(m map[UK]UV) (map[UK]UV, error) {
	return maps.Clone(m), nil
}

// immutableValue reports whether values of t cannot share mutable memory,
// so that a copy of the value is already a deep copy.
func immutableValue(t reflect.Type) bool {
	switch t.Kind() {
	case reflect.Bool, reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64, reflect.Uintptr,
		reflect.Float32, reflect.Float64, reflect.Complex64, reflect.Complex128, reflect.String:
		return true
	case reflect.Array:
		return immutableValue(t.Elem())
	case reflect.Struct:
		for i := range t.NumField() {
			if !immutableValue(t.Field(i).Type) {
				return false
			}
		}
		return true
	}
	return false
}
