// Package ttlunit reads and rewrites the stored units of states with TTL
// in their serialized form (backend.ByteRegistration.TTL): a unit is a
// serializer.TTL encoding, an 8-byte big-endian timestamp followed by the
// user bytes (ttl/FORMAT.md). The byte states and the byte backends use it
// to judge and re-stamp units without decoding the user bytes.
package ttlunit

import (
	"fmt"
	"time"

	"github.com/stated-io/stated/internal/statecodec"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

// Timestamp returns the timestamp of a stored unit. Bytes too short for
// it give an error wrapping serializer.ErrDecode and ttl.ErrMalformed.
func Timestamp(unit []byte) (int64, error) {
	ts, _, err := ttl.SplitTimestamp(unit)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", serializer.ErrDecode, err)
	}
	return ts, nil
}

// Restamp returns unit with its timestamp replaced by now, built in dst.
func Restamp(dst, unit []byte, now int64) []byte {
	return append(ttl.AppendTimestamp(dst[:0], now), unit[ttl.TimestampSize:]...)
}

// Expired reports whether a stored unit has expired at now under cfg.
// Nothing expires under a nil cfg.
func Expired(cfg *ttl.Config, unit []byte, now int64) (bool, error) {
	if cfg == nil {
		return false, nil
	}
	ts, err := Timestamp(unit)
	if err != nil {
		return false, err
	}
	return ttl.Expired(ts, cfg.TTL, now), nil
}

// LiveElements appends to dst the elements of a stored list value (the
// concatenation of uvarint-length-prefixed stamped elements) that have not
// expired at now under cfg, in order, and returns how many it dropped.
func LiveElements(dst, list []byte, cfg *ttl.Config, now int64) ([]byte, int, error) {
	dropped := 0
	err := statecodec.RangeElements(list, func(e []byte) error {
		dead, err := Expired(cfg, e, now)
		if err != nil {
			return err
		}
		if dead {
			dropped++
			return nil
		}
		dst = statecodec.AppendElement(dst, e)
		return nil
	})
	return dst, dropped, err
}

// LiveRow reports whether a stored row of a state of the given kind holds
// a unit that has not expired at now under cfg: for a list, any element;
// for any other kind, the value (a map row is one entry).
func LiveRow(kind snapshot.StateKind, value []byte, cfg *ttl.Config, now int64) (bool, error) {
	if cfg == nil {
		return true, nil
	}
	if kind != snapshot.StateList {
		dead, err := Expired(cfg, value, now)
		return !dead, err
	}
	live := false
	err := statecodec.RangeElements(value, func(e []byte) error {
		dead, err := Expired(cfg, e, now)
		if err == nil && !dead {
			live = true
			return errStopRange
		}
		return err
	})
	if err == errStopRange {
		err = nil
	}
	return live, err
}

// RowExpiry returns the earliest and the latest expiry time (timestamp +
// ttl, saturating) of the units of a stored row of a state of the given
// kind, and ok=false if the row holds no unit (an empty list).
func RowExpiry(kind snapshot.StateKind, value []byte, ttlDuration time.Duration) (first, last int64, ok bool, err error) {
	add := func(unit []byte) error {
		ts, err := Timestamp(unit)
		if err != nil {
			return err
		}
		at := ttl.ExpiresAt(ts, ttlDuration)
		if !ok || at < first {
			first = at
		}
		if !ok || at > last {
			last = at
		}
		ok = true
		return nil
	}
	if kind != snapshot.StateList {
		err = add(value)
	} else {
		err = statecodec.RangeElements(value, add)
	}
	return first, last, ok, err
}

// errStopRange ends a RangeElements early; never returned to callers.
var errStopRange = stopRange{}

type stopRange struct{}

func (stopRange) Error() string { return "stop" }
