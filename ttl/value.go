package ttl

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"
)

// ErrMalformed is wrapped by the errors of SplitTimestamp and UnwrapSnapshot
// when their input bytes do not decode. The decode errors that
// serializer.TTL and serializer.TTLPlain return from
// SplitTimestamp wrap serializer.ErrDecode as well.
var ErrMalformed = errors.New("malformed ttl encoding")

// TimestampSize is the size of the timestamp that prefixes an encoded value.
const TimestampSize = 8

// Value is a user value with the time of its last stamp (creation, write,
// or read under OnReadAndWrite), in milliseconds since the epoch. Object
// backends keep Values; byte backends keep their encoding
// (serializer.TTL).
type Value[V any] struct {
	Timestamp int64
	Value     V
}

// Expired reports whether v has expired at now under ttl.
func (v Value[V]) Expired(ttl time.Duration, now int64) bool { return Expired(v.Timestamp, ttl, now) }

// ExpiresAt returns the first time at which v is expired under ttl.
func (v Value[V]) ExpiresAt(ttl time.Duration) int64 { return ExpiresAt(v.Timestamp, ttl) }

// Expired reports whether a value stamped at ts has expired at now under
// ttl: ts + ttl <= now, all in milliseconds (ttl's fraction of a millisecond
// is dropped). The sum cannot overflow (see ExpiresAt).
func Expired(ts int64, ttl time.Duration, now int64) bool { return ExpiresAt(ts, ttl) <= now }

// ExpiresAt returns ts + ttl in milliseconds, the first time at which a value
// stamped at ts is expired. A sum beyond the int64 range saturates at
// math.MaxInt64 or math.MinInt64.
func ExpiresAt(ts int64, ttl time.Duration) int64 {
	ms := ttl.Milliseconds()
	switch {
	case ms > 0 && ts > math.MaxInt64-ms:
		return math.MaxInt64
	case ms < 0 && ts < math.MinInt64-ms:
		return math.MinInt64
	}
	return ts + ms
}

// AppendTimestamp appends ts as 8 bytes, big-endian two's complement, the
// prefix of every value a byte backend stores under TTL (FORMAT.md).
func AppendTimestamp(dst []byte, ts int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(ts))
}

// SplitTimestamp splits a stored value into its timestamp and the user
// value's bytes; rest aliases b. It fails with an error wrapping
// ErrMalformed if b is shorter than TimestampSize.
func SplitTimestamp(b []byte) (ts int64, rest []byte, err error) {
	if len(b) < TimestampSize {
		return 0, nil, fmt.Errorf("%w: ttl value wants at least %d bytes, got %d", ErrMalformed, TimestampSize, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), b[TimestampSize:], nil
}
