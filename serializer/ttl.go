package serializer

import (
	"fmt"

	"github.com/stated-io/stated/ttl"
)

// TTL is the serializer of a ttl.Value[V], for byte backends and
// snapshots: the timestamp (ttl.AppendTimestamp), then Inner's encoding of
// the value. It is what a state with TTL uses for each stamped unit: a
// value, a list element, a map user value. Its snapshot is
// ttl.WrapSnapshot(Inner.Snapshot()); the TTL config is not part of it
// (ttl/FORMAT.md).
//
// Like every serializer it is safe for concurrent use if Inner is, and
// deterministic if Inner is. Inner must not be nil.
type TTL[V any] struct {
	// Inner encodes the user value.
	Inner Serializer[V]
	// Clock stamps the values of a restored state that had no TTL (see
	// Compatibility); nil means ttl.SystemClock.
	Clock ttl.Clock
}

// Append appends the encoding of v to dst. On error it returns dst as
// passed.
func (s TTL[V]) Append(dst []byte, v ttl.Value[V]) ([]byte, error) {
	out, err := s.Inner.Append(ttl.AppendTimestamp(dst, v.Timestamp), v.Value)
	if err != nil {
		return dst, fmt.Errorf("ttl value: %w", err)
	}
	return out, nil
}

// Decode decodes one encoded ttl.Value that fills b exactly. It does not
// retain b (if Inner does not). Bytes too short for the timestamp give an
// error wrapping both ErrDecode and ttl.ErrMalformed.
func (s TTL[V]) Decode(b []byte) (ttl.Value[V], error) {
	ts, rest, err := splitTTLTimestamp(b)
	if err != nil {
		return ttl.Value[V]{}, err
	}
	v, err := s.Inner.Decode(rest)
	if err != nil {
		return ttl.Value[V]{}, fmt.Errorf("ttl value: %w", err)
	}
	return ttl.Value[V]{Timestamp: ts, Value: v}, nil
}

// Snapshot returns ttl.WrapSnapshot(s.Inner.Snapshot()).
func (s TTL[V]) Snapshot() Snapshot { return ttl.WrapSnapshot(s.Inner.Snapshot()) }

// Compatibility judges data written under old:
//
//   - A TTL snapshot (the state had TTL before): Inner judges the inner
//     old snapshot and its answer carries over. As is stays as is; after
//     migration reads the timestamp unchanged and the value with Inner's
//     ReadOld; a reconfigured Inner gives a TTL serializer over it;
//     incompatible stays incompatible, with a reason that names both inner
//     serializers.
//   - Any other snapshot (TTL turned on at restore): if Inner can read the
//     old data (as is, after migration or reconfigured), the answer is
//     CompatibleAfterMigration and ReadOld stamps every restored value with
//     the Clock's time taken once, when Compatibility is called: restored
//     values start their TTL at restore time. Otherwise incompatible.
//
// A TTL snapshot of an unknown version or with a malformed config is
// incompatible.
func (s TTL[V]) Compatibility(old Snapshot) Compatibility[ttl.Value[V]] {
	innerOld, wasTTL, err := ttl.UnwrapSnapshot(old)
	if err != nil {
		return IncompatibleBecause[ttl.Value[V]](err.Error())
	}
	if !wasTTL {
		return s.turnOn(old)
	}
	c := s.Inner.Compatibility(innerOld)
	switch c.Kind {
	case CompatibleAsIs:
		return AsIs[ttl.Value[V]]()
	case CompatibleAfterMigration:
		if readOld := c.ReadOld; readOld != nil {
			return ttlMigration(func(b []byte) (ttl.Value[V], error) {
				ts, rest, err := splitTTLTimestamp(b)
				if err != nil {
					return ttl.Value[V]{}, err
				}
				v, err := readOld(rest)
				if err != nil {
					return ttl.Value[V]{}, fmt.Errorf("ttl value: %w", err)
				}
				return ttl.Value[V]{Timestamp: ts, Value: v}, nil
			})
		}
	case CompatibleWithReconfiguredSerializer:
		if c.Reconfigured != nil {
			return Compatibility[ttl.Value[V]]{
				Kind:         CompatibleWithReconfiguredSerializer,
				Reconfigured: TTL[V]{Inner: c.Reconfigured, Clock: s.Clock},
			}
		}
	}
	return IncompatibleBecause[ttl.Value[V]](fmt.Sprintf("ttl value serializer %s cannot read data written by %s: %s",
		Describe(s.Inner.Snapshot()), Describe(innerOld), ttlWhy(c)))
}

// turnOn judges data written without TTL under old.
func (s TTL[V]) turnOn(old Snapshot) Compatibility[ttl.Value[V]] {
	c := s.Inner.Compatibility(old)
	read := ttlReaderOf(s.Inner, c)
	if read == nil {
		return IncompatibleBecause[ttl.Value[V]](fmt.Sprintf("ttl value serializer %s cannot read data written without ttl by %s: %s",
			Describe(s.Inner.Snapshot()), Describe(old), ttlWhy(c)))
	}
	clock := s.Clock
	if clock == nil {
		clock = ttl.SystemClock{}
	}
	now := clock.Now()
	return ttlMigration(func(b []byte) (ttl.Value[V], error) {
		v, err := read(b)
		if err != nil {
			return ttl.Value[V]{}, fmt.Errorf("value restored without ttl: %w", err)
		}
		return ttl.Value[V]{Timestamp: now, Value: v}, nil
	})
}

// TTLPlain is the serializer a state without TTL uses, so that TTL can be
// turned off at restore. It encodes, decodes and snapshots exactly as Inner
// does (its snapshot is Inner.Snapshot(): nothing changes for a job that
// never used TTL); only its judgement of TTL snapshots differs. It is safe
// for concurrent use and deterministic if Inner is. Inner must not be nil.
type TTLPlain[V any] struct {
	Inner Serializer[V]
}

// Append appends Inner's encoding of v.
func (p TTLPlain[V]) Append(dst []byte, v V) ([]byte, error) { return p.Inner.Append(dst, v) }

// Decode decodes with Inner.
func (p TTLPlain[V]) Decode(b []byte) (V, error) { return p.Inner.Decode(b) }

// Snapshot returns Inner.Snapshot().
func (p TTLPlain[V]) Snapshot() Snapshot { return p.Inner.Snapshot() }

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
//     wrapped in a TTLPlain).
func (p TTLPlain[V]) Compatibility(old Snapshot) Compatibility[V] {
	innerOld, wasTTL, err := ttl.UnwrapSnapshot(old)
	if err != nil {
		return IncompatibleBecause[V](err.Error())
	}
	if !wasTTL {
		c := p.Inner.Compatibility(old)
		if c.Kind == CompatibleWithReconfiguredSerializer && c.Reconfigured != nil {
			c.Reconfigured = TTLPlain[V]{Inner: c.Reconfigured}
		}
		return c
	}
	c := p.Inner.Compatibility(innerOld)
	read := ttlReaderOf(p.Inner, c)
	if read == nil {
		return IncompatibleBecause[V](fmt.Sprintf("value serializer %s cannot read data written with ttl by %s: %s",
			Describe(p.Inner.Snapshot()), Describe(innerOld), ttlWhy(c)))
	}
	return ttlMigration(func(b []byte) (V, error) {
		_, rest, err := splitTTLTimestamp(b)
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

// ttlReaderOf returns the function that decodes old data according to
// inner's answer c, or nil if c gives none.
func ttlReaderOf[V any](inner Serializer[V], c Compatibility[V]) func([]byte) (V, error) {
	switch c.Kind {
	case CompatibleAsIs:
		return inner.Decode
	case CompatibleAfterMigration:
		return c.ReadOld
	case CompatibleWithReconfiguredSerializer:
		if c.Reconfigured != nil {
			return c.Reconfigured.Decode
		}
	}
	return nil
}

func ttlMigration[T any](readOld func([]byte) (T, error)) Compatibility[T] {
	return Compatibility[T]{Kind: CompatibleAfterMigration, ReadOld: readOld}
}

// splitTTLTimestamp is ttl.SplitTimestamp, its error also wrapping
// ErrDecode as the errors of every serializer of this package do.
func splitTTLTimestamp(b []byte) (int64, []byte, error) {
	ts, rest, err := ttl.SplitTimestamp(b)
	if err != nil {
		return 0, nil, fmt.Errorf("%w: %w", ErrDecode, err)
	}
	return ts, rest, nil
}

// ttlWhy explains an answer that gives no way to read the data.
func ttlWhy[V any](c Compatibility[V]) string {
	switch c.Kind {
	case Incompatible:
		if c.Reason != "" {
			return c.Reason
		}
		return "incompatible"
	case CompatibleAfterMigration:
		return "migration answer without ReadOld"
	case CompatibleWithReconfiguredSerializer:
		return "reconfiguration answer without a serializer"
	}
	return fmt.Sprintf("unknown compatibility kind %d", c.Kind)
}

var (
	_ Serializer[ttl.Value[string]] = TTL[string]{}
	_ Serializer[string]            = TTLPlain[string]{}
)
