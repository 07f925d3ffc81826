package ttl

import (
	"bytes"
	"errors"
	"math"
	"testing"
	"time"
)

func TestExpired(t *testing.T) {
	const maxDur = time.Duration(math.MaxInt64)
	for _, tc := range []struct {
		name    string
		ts      int64
		ttl     time.Duration
		now     int64
		expired bool
	}{
		{"before expiry", 1000, time.Second, 1999, false},
		{"at expiry", 1000, time.Second, 2000, true},
		{"after expiry", 1000, time.Second, 2001, true},
		{"stamped now", 1000, time.Millisecond, 1000, false},
		{"one ms ttl", 1000, time.Millisecond, 1001, true},
		{"fraction of a ms dropped", 1000, 1500 * time.Microsecond, 1001, true},
		{"clock behind stamp", 5000, time.Second, 10, false},
		{"negative timestamps", -2000, time.Second, -1000, true},
		{"negative timestamps, live", -2000, time.Second, -1001, false},
		{"huge ttl does not overflow", math.MaxInt64 - 10, maxDur, math.MaxInt64 - 1, false},
		{"huge ttl from epoch", 0, maxDur, 1 << 40, false},
		{"huge ttl ends", 0, maxDur, int64(maxDur / time.Millisecond), true},
		{"huge ttl from now", time.Now().UnixMilli(), maxDur, time.Now().UnixMilli() + 1, false},
		{"huge ttl at max time", math.MaxInt64, maxDur, math.MaxInt64, true},
		{"zero ttl", 7, 0, 7, true},
		{"negative ttl", 7, -time.Second, 7, true},
		{"min time, negative ttl", math.MinInt64 + 1, -time.Hour, math.MinInt64, true},
	} {
		if got := Expired(tc.ts, tc.ttl, tc.now); got != tc.expired {
			t.Errorf("%s: Expired(%d, %v, %d) = %v, want %v", tc.name, tc.ts, tc.ttl, tc.now, got, tc.expired)
		}
		if got := (Value[string]{Timestamp: tc.ts}).Expired(tc.ttl, tc.now); got != tc.expired {
			t.Errorf("%s: Value.Expired = %v, want %v", tc.name, got, tc.expired)
		}
	}
}

func TestExpiresAt(t *testing.T) {
	for _, tc := range []struct {
		ts   int64
		ttl  time.Duration
		want int64
	}{
		{1000, time.Second, 2000},
		{1000, 999 * time.Microsecond, 1000},
		{math.MaxInt64 - 5, 5 * time.Millisecond, math.MaxInt64},
		{math.MaxInt64 - 5, 6 * time.Millisecond, math.MaxInt64},
		{math.MaxInt64, time.Duration(math.MaxInt64), math.MaxInt64},
		{math.MinInt64 + 5, -6 * time.Millisecond, math.MinInt64},
		{-10, -time.Millisecond, -11},
	} {
		if got := ExpiresAt(tc.ts, tc.ttl); got != tc.want {
			t.Errorf("ExpiresAt(%d, %v) = %d, want %d", tc.ts, tc.ttl, got, tc.want)
		}
		if got := (Value[int]{Timestamp: tc.ts}).ExpiresAt(tc.ttl); got != tc.want {
			t.Errorf("Value.ExpiresAt(%d, %v) = %d, want %d", tc.ts, tc.ttl, got, tc.want)
		}
	}
}

func TestConfigExpired(t *testing.T) {
	var none *Config
	if none.Expired(0, math.MaxInt64) {
		t.Error("a nil config expired a value")
	}
	c := &Config{TTL: time.Second}
	if c.Expired(0, 999) || !c.Expired(0, 1000) {
		t.Error("config expiry differs from ts + ttl <= now")
	}
}

func TestTimestampBytes(t *testing.T) {
	for _, ts := range []int64{0, 1, -1, 1_700_000_000_000, math.MaxInt64, math.MinInt64} {
		b := AppendTimestamp([]byte("x"), ts)
		if len(b) != 1+TimestampSize {
			t.Fatalf("AppendTimestamp(%d) wrote %d bytes", ts, len(b)-1)
		}
		b = append(b, "user"...)
		got, rest, err := SplitTimestamp(b[1:])
		if err != nil || got != ts || string(rest) != "user" {
			t.Fatalf("SplitTimestamp of %d = (%d, %q, %v)", ts, got, rest, err)
		}
	}
	if b := AppendTimestamp(nil, 0x0102030405060708); !bytes.Equal(b, []byte{1, 2, 3, 4, 5, 6, 7, 8}) {
		t.Fatalf("timestamp is not big-endian: %x", b)
	}
	if b := AppendTimestamp(nil, -2); !bytes.Equal(b, []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xfe}) {
		t.Fatalf("negative timestamp is not two's complement: %x", b)
	}
	if _, rest, err := SplitTimestamp(make([]byte, 8)); err != nil || len(rest) != 0 {
		t.Fatalf("8 bytes: rest %q, err %v", rest, err)
	}
	for _, n := range []int{0, 1, 7} {
		if _, _, err := SplitTimestamp(make([]byte, n)); !errors.Is(err, ErrMalformed) {
			t.Errorf("SplitTimestamp of %d bytes: %v, want ErrMalformed", n, err)
		}
	}
}
