package ttl

import (
	"fmt"

	"github.com/stated-io/stated/backend"
)

// Serializer encodes a Value[V] for byte backends and snapshots: the
// timestamp (AppendTimestamp), then Inner's encoding of the value. It is
// what a state with TTL uses for each stamped unit: a value, a list
// element, a map user value. Its snapshot is WrapSnapshot(Inner.Snapshot());
// the TTL config is not part of it.
//
// Like every serializer it is safe for concurrent use if Inner is, and
// deterministic if Inner is. Inner must not be nil.
type Serializer[V any] struct {
	// Inner encodes the user value.
	Inner backend.Serializer[V]
	// Clock stamps the values of a restored state that had no TTL (see
	// Compatibility); nil means SystemClock.
	Clock Clock
}

// Append appends the encoding of v to dst. On error it returns dst as
// passed.
func (s Serializer[V]) Append(dst []byte, v Value[V]) ([]byte, error) {
	out, err := s.Inner.Append(AppendTimestamp(dst, v.Timestamp), v.Value)
	if err != nil {
		return dst, fmt.Errorf("ttl value: %w", err)
	}
	return out, nil
}

// Decode decodes one encoded Value that fills b exactly. It does not retain
// b (if Inner does not).
func (s Serializer[V]) Decode(b []byte) (Value[V], error) {
	ts, rest, err := SplitTimestamp(b)
	if err != nil {
		return Value[V]{}, err
	}
	v, err := s.Inner.Decode(rest)
	if err != nil {
		return Value[V]{}, fmt.Errorf("ttl value: %w", err)
	}
	return Value[V]{Timestamp: ts, Value: v}, nil
}

// Snapshot returns WrapSnapshot(s.Inner.Snapshot()).
func (s Serializer[V]) Snapshot() backend.SerializerSnapshot { return WrapSnapshot(s.Inner.Snapshot()) }

// Compatibility judges data written under old:
//
//   - A TTL snapshot (the state had TTL before): Inner judges the inner
//     old snapshot and its answer carries over. As is stays as is; after
//     migration reads the timestamp unchanged and the value with Inner's
//     ReadOld; a reconfigured Inner gives a Serializer over it; incompatible
//     stays incompatible, with a reason that names both inner serializers.
//   - Any other snapshot (TTL turned on at restore): if Inner can read the
//     old data (as is, after migration or reconfigured), the answer is
//     CompatibleAfterMigration and ReadOld stamps every restored value with
//     the Clock's time taken once, when Compatibility is called: restored
//     values start their TTL at restore time. Otherwise incompatible.
//
// A TTL snapshot of an unknown version or with a malformed config is
// incompatible.
func (s Serializer[V]) Compatibility(old backend.SerializerSnapshot) backend.Compatibility[Value[V]] {
	innerOld, wasTTL, err := UnwrapSnapshot(old)
	if err != nil {
		return backend.IncompatibleBecause[Value[V]](err.Error())
	}
	if !wasTTL {
		return s.turnOn(old)
	}
	c := s.Inner.Compatibility(innerOld)
	switch c.Kind {
	case backend.CompatibleAsIs:
		return backend.AsIs[Value[V]]()
	case backend.CompatibleAfterMigration:
		if readOld := c.ReadOld; readOld != nil {
			return migration(func(b []byte) (Value[V], error) {
				ts, rest, err := SplitTimestamp(b)
				if err != nil {
					return Value[V]{}, err
				}
				v, err := readOld(rest)
				if err != nil {
					return Value[V]{}, fmt.Errorf("ttl value: %w", err)
				}
				return Value[V]{Timestamp: ts, Value: v}, nil
			})
		}
	case backend.CompatibleWithReconfiguredSerializer:
		if c.Reconfigured != nil {
			return backend.Compatibility[Value[V]]{
				Kind:         backend.CompatibleWithReconfiguredSerializer,
				Reconfigured: Serializer[V]{Inner: c.Reconfigured, Clock: s.Clock},
			}
		}
	}
	return backend.IncompatibleBecause[Value[V]](fmt.Sprintf("ttl value serializer %s cannot read data written by %s: %s",
		describe(s.Inner.Snapshot()), describe(innerOld), why(c)))
}

// turnOn judges data written without TTL under old.
func (s Serializer[V]) turnOn(old backend.SerializerSnapshot) backend.Compatibility[Value[V]] {
	c := s.Inner.Compatibility(old)
	read := readerOf(s.Inner, c)
	if read == nil {
		return backend.IncompatibleBecause[Value[V]](fmt.Sprintf("ttl value serializer %s cannot read data written without ttl by %s: %s",
			describe(s.Inner.Snapshot()), describe(old), why(c)))
	}
	now := clockOrSystem(s.Clock).Now()
	return migration(func(b []byte) (Value[V], error) {
		v, err := read(b)
		if err != nil {
			return Value[V]{}, fmt.Errorf("value restored without ttl: %w", err)
		}
		return Value[V]{Timestamp: now, Value: v}, nil
	})
}

// PlainSerializer is what a state without TTL uses, so that TTL can be
// turned off at restore. It encodes, decodes and snapshots exactly as Inner
// does (its snapshot is Inner.Snapshot(): nothing changes for a job that
// never used TTL); only its judgement of TTL snapshots differs. It is safe
// for concurrent use and deterministic if Inner is. Inner must not be nil.
type PlainSerializer[V any] struct {
	Inner backend.Serializer[V]
}

// Append appends Inner's encoding of v.
func (p PlainSerializer[V]) Append(dst []byte, v V) ([]byte, error) { return p.Inner.Append(dst, v) }

// Decode decodes with Inner.
func (p PlainSerializer[V]) Decode(b []byte) (V, error) { return p.Inner.Decode(b) }

// Snapshot returns Inner.Snapshot().
func (p PlainSerializer[V]) Snapshot() backend.SerializerSnapshot { return p.Inner.Snapshot() }

// Compatibility judges data written under old:
//
//   - A TTL snapshot (TTL turned off at restore): if Inner can read data
//     written under the inner old snapshot (as is, after migration or
//     reconfigured), the answer is CompatibleAfterMigration and ReadOld
//     drops the timestamp and decodes the rest; otherwise incompatible,
//     with a reason that names both inner serializers. Expired values are
//     not filtered here: the full-snapshot filter kept most of them out of
//     savepoints, and the rest live on without TTL.
//   - Any other snapshot: Inner's answer (a reconfigured serializer is
//     wrapped in a PlainSerializer).
func (p PlainSerializer[V]) Compatibility(old backend.SerializerSnapshot) backend.Compatibility[V] {
	innerOld, wasTTL, err := UnwrapSnapshot(old)
	if err != nil {
		return backend.IncompatibleBecause[V](err.Error())
	}
	if !wasTTL {
		c := p.Inner.Compatibility(old)
		if c.Kind == backend.CompatibleWithReconfiguredSerializer && c.Reconfigured != nil {
			c.Reconfigured = PlainSerializer[V]{Inner: c.Reconfigured}
		}
		return c
	}
	c := p.Inner.Compatibility(innerOld)
	read := readerOf(p.Inner, c)
	if read == nil {
		return backend.IncompatibleBecause[V](fmt.Sprintf("value serializer %s cannot read data written with ttl by %s: %s",
			describe(p.Inner.Snapshot()), describe(innerOld), why(c)))
	}
	return migration(func(b []byte) (V, error) {
		_, rest, err := SplitTimestamp(b)
		if err != nil {
			var zero V
			return zero, err
		}
		v, err := read(rest)
		if err != nil {
			return v, fmt.Errorf("value restored with ttl: %w", err)
		}
		return v, nil
	})
}

// readerOf returns the function that decodes old data according to inner's
// answer c, or nil if c gives none.
func readerOf[V any](inner backend.Serializer[V], c backend.Compatibility[V]) func([]byte) (V, error) {
	switch c.Kind {
	case backend.CompatibleAsIs:
		return inner.Decode
	case backend.CompatibleAfterMigration:
		return c.ReadOld
	case backend.CompatibleWithReconfiguredSerializer:
		if c.Reconfigured != nil {
			return c.Reconfigured.Decode
		}
	}
	return nil
}

func migration[T any](readOld func([]byte) (T, error)) backend.Compatibility[T] {
	return backend.Compatibility[T]{Kind: backend.CompatibleAfterMigration, ReadOld: readOld}
}

// why explains an answer that gives no way to read the data.
func why[V any](c backend.Compatibility[V]) string {
	switch c.Kind {
	case backend.Incompatible:
		if c.Reason != "" {
			return c.Reason
		}
		return "incompatible"
	case backend.CompatibleAfterMigration:
		return "migration answer without ReadOld"
	case backend.CompatibleWithReconfiguredSerializer:
		return "reconfiguration answer without a serializer"
	}
	return fmt.Sprintf("unknown compatibility kind %d", c.Kind)
}

// describe names a serializer as backend's errors do.
func describe(s backend.SerializerSnapshot) string {
	return fmt.Sprintf("%s (version %d)", s.Name, s.Version)
}

var (
	_ backend.Serializer[Value[string]] = Serializer[string]{}
	_ backend.Serializer[string]        = PlainSerializer[string]{}
)
