// Package compat applies a serializer's compatibility answer
// (serializer.Compatibility) to restored data: the function that reads
// bytes written under an old serializer snapshot, the rewrite that turns
// them into the new serializer's bytes, and the error of an answer that
// gives neither. The object states, the byte states and the operator
// states all judge restored data this way.
package compat

import (
	"fmt"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
)

// Reader returns the function that decodes data written under old with s,
// after asking s for its judgement, and the serializer to use from then
// on. It returns a *backend.IncompatibleStateError (without operator and
// state, which the caller fills in) when s cannot read the data.
func Reader[T any](s serializer.Serializer[T], old serializer.Snapshot) (func([]byte) (T, error), serializer.Serializer[T], error) {
	c := s.Compatibility(old)
	switch c.Kind {
	case serializer.CompatibleAsIs:
		return s.Decode, s, nil
	case serializer.CompatibleAfterMigration:
		if c.ReadOld != nil {
			return c.ReadOld, s, nil
		}
		c.Reason = "migration answer without ReadOld"
	case serializer.CompatibleWithReconfiguredSerializer:
		if c.Reconfigured != nil {
			return c.Reconfigured.Decode, c.Reconfigured, nil
		}
		c.Reason = "reconfiguration answer without a serializer"
	}
	return nil, nil, &backend.IncompatibleStateError{Old: old, New: s.Snapshot(), Reason: c.Reason}
}

// Rewrite returns the rewrite of bytes written under old into bytes of s
// (nil when they are read as they are) and the serializer to use from then
// on, or the error of Reader.
func Rewrite[T any](s serializer.Serializer[T], old serializer.Snapshot) (func([]byte) ([]byte, error), serializer.Serializer[T], error) {
	c := s.Compatibility(old)
	switch c.Kind {
	case serializer.CompatibleAsIs:
		return nil, s, nil
	case serializer.CompatibleWithReconfiguredSerializer:
		if c.Reconfigured != nil {
			return nil, c.Reconfigured, nil
		}
	case serializer.CompatibleAfterMigration:
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
	_, _, err := Reader(s, old)
	return nil, nil, err
}

// WantSerializers fails with a *backend.IncompatibleStateError unless a
// restored state has n serializers.
func WantSerializers(old []serializer.Snapshot, n int) error {
	if len(old) != n {
		return &backend.IncompatibleStateError{Reason: fmt.Sprintf("restored state has %d serializers, want %d", len(old), n)}
	}
	return nil
}
