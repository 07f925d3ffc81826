package objectstate

import (
	"maps"
	"slices"

	"github.com/stated-io/stated/internal/compat"
	"github.com/stated-io/stated/internal/cowstore"
	"github.com/stated-io/stated/internal/statecodec"
	"github.com/stated-io/stated/serializer"
)

// The cowstore.Codec of each kind of object state: how its values are
// encoded into snapshots, decoded on restore (migrating where the
// serializer says so) and cloned for copy-on-write.

// singleCodecOf, listCodecOf and mapCodecOf make the codec of a state of
// their kind over the serializers given, judging the serializers of
// restored data (old, nil if none).
func singleCodecOf[V any](s serializer.Serializer[V]) func(old []serializer.Snapshot) (cowstore.Codec[V], error) {
	return func(old []serializer.Snapshot) (cowstore.Codec[V], error) { return newSingleCodec(s, old) }
}

func listCodecOf[E any](s serializer.Serializer[E]) func(old []serializer.Snapshot) (cowstore.Codec[[]E], error) {
	return func(old []serializer.Snapshot) (cowstore.Codec[[]E], error) { return newListCodec(s, old) }
}

func mapCodecOf[UK comparable, UV any](ks serializer.Serializer[UK], vs serializer.Serializer[UV]) func(old []serializer.Snapshot) (cowstore.Codec[map[UK]UV], error) {
	return func(old []serializer.Snapshot) (cowstore.Codec[map[UK]UV], error) { return newMapCodec(ks, vs, old) }
}

// singleCodec stores one V per entry (Value, Reducing, Aggregating).
type singleCodec[V any] struct {
	ser  serializer.Serializer[V]
	read func([]byte) (V, error)
	copy func(V) (V, error)
}

func newSingleCodec[V any](s serializer.Serializer[V], old []serializer.Snapshot) (*singleCodec[V], error) {
	c := &singleCodec[V]{ser: s, read: s.Decode}
	if old != nil {
		if err := compat.WantSerializers(old, 1); err != nil {
			return nil, err
		}
		var err error
		if c.read, c.ser, err = compat.Reader(s, old[0]); err != nil {
			return nil, err
		}
	}
	c.copy = serializer.Cloner(c.ser)
	return c, nil
}

func (c *singleCodec[V]) Serializers() []serializer.Snapshot {
	return []serializer.Snapshot{c.ser.Snapshot()}
}
func (c *singleCodec[V]) Encode(dst []byte, v V) ([]byte, error) { return c.ser.Append(dst, v) }
func (c *singleCodec[V]) Decode(b []byte) (V, error)             { return c.read(b) }

func (c *singleCodec[V]) Clone(v V) (V, error) { return c.copy(v) }

// listCodec stores a []E per entry.
type listCodec[E any] struct {
	ser  serializer.Serializer[E]
	read func([]byte) (E, error)
}

func newListCodec[E any](s serializer.Serializer[E], old []serializer.Snapshot) (*listCodec[E], error) {
	c, err := newSingleCodec(s, old)
	if err != nil {
		return nil, err
	}
	return &listCodec[E]{ser: c.ser, read: c.read}, nil
}

func (c *listCodec[E]) Serializers() []serializer.Snapshot {
	return []serializer.Snapshot{c.ser.Snapshot()}
}
func (c *listCodec[E]) Encode(dst []byte, l []E) ([]byte, error) {
	return statecodec.EncodeList(dst, c.ser, l)
}
func (c *listCodec[E]) Decode(b []byte) ([]E, error) { return statecodec.DecodeList(b, c.read) }
func (c *listCodec[E]) Clone(l []E) ([]E, error)     { return slices.Clone(l), nil }

// mapCodec stores a map[UK]UV per entry.
type mapCodec[UK comparable, UV any] struct {
	ks    serializer.Serializer[UK]
	vs    serializer.Serializer[UV]
	readK func([]byte) (UK, error)
	readV func([]byte) (UV, error)
}

func newMapCodec[UK comparable, UV any](ks serializer.Serializer[UK], vs serializer.Serializer[UV], old []serializer.Snapshot) (*mapCodec[UK, UV], error) {
	c := &mapCodec[UK, UV]{ks: ks, vs: vs, readK: ks.Decode, readV: vs.Decode}
	if old == nil {
		return c, nil
	}
	if err := compat.WantSerializers(old, 2); err != nil {
		return nil, err
	}
	var err error
	if c.readK, c.ks, err = compat.Reader(ks, old[0]); err != nil {
		return nil, err
	}
	c.readV, c.vs, err = compat.Reader(vs, old[1])
	return c, err
}

func (c *mapCodec[UK, UV]) Serializers() []serializer.Snapshot {
	return []serializer.Snapshot{c.ks.Snapshot(), c.vs.Snapshot()}
}
func (c *mapCodec[UK, UV]) Encode(dst []byte, m map[UK]UV) ([]byte, error) {
	return statecodec.EncodeMap(dst, c.ks, c.vs, m)
}
func (c *mapCodec[UK, UV]) Decode(b []byte) (map[UK]UV, error) {
	return statecodec.DecodeMap(b, c.readK, c.readV)
}
func (c *mapCodec[UK, UV]) Clone(m map[UK]UV) (map[UK]UV, error) {
	return maps.Clone(m), nil
}
