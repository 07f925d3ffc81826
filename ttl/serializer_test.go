package ttl

import (
	"errors"
	"fmt"
	"math"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
)

type point struct{ X, Y int }

func roundTrip[V comparable](t *testing.T, s backend.Serializer[Value[V]], vs ...Value[V]) {
	t.Helper()
	for _, v := range vs {
		b, err := s.Append([]byte("prefix"), v)
		if err != nil {
			t.Fatal(err)
		}
		enc := b[len("prefix"):]
		got, err := s.Decode(enc)
		if err != nil || got != v {
			t.Fatalf("%s: round trip of %+v gave (%+v, %v)", s.Snapshot().Name, v, got, err)
		}
		for i := range enc {
			enc[i] ^= 0xff // Decode must not retain b
		}
		if got != v {
			t.Fatalf("decoded value changed with its input: %+v", got)
		}
		if c := s.Compatibility(s.Snapshot()); c.Kind != backend.CompatibleAsIs {
			t.Fatalf("not compatible with itself: %v (%s)", c.Kind, c.Reason)
		}
	}
}

func TestSerializerRoundTrip(t *testing.T) {
	roundTrip[string](t, Serializer[string]{Inner: backend.StringSerializer{}},
		Value[string]{}, Value[string]{1_700_000_000_000, "hello"}, Value[string]{-1, "日本"})
	roundTrip[int64](t, Serializer[int64]{Inner: backend.Int64Serializer{}},
		Value[int64]{0, 0}, Value[int64]{math.MaxInt64, math.MinInt64}, Value[int64]{math.MinInt64, -1})
	roundTrip[point](t, Serializer[point]{Inner: backend.JSONSerializer[point]{TypeName: "point"}},
		Value[point]{42, point{1, 2}})
}

func TestSerializerEncoding(t *testing.T) {
	b, err := Serializer[string]{Inner: backend.StringSerializer{}}.Append(nil, Value[string]{Timestamp: 0x0102030405060708, Value: "ab"})
	if err != nil || string(b) != "\x01\x02\x03\x04\x05\x06\x07\x08ab" {
		t.Fatalf("encoding is %q, %v; want the 8-byte big-endian timestamp then the inner bytes", b, err)
	}
}

func TestSerializerErrors(t *testing.T) {
	s := Serializer[int64]{Inner: backend.Int64Serializer{}}
	if _, err := s.Decode([]byte{1, 2, 3}); !errors.Is(err, backend.ErrDecode) {
		t.Errorf("short value: %v", err)
	}
	if _, err := s.Decode(make([]byte, 10)); !errors.Is(err, backend.ErrDecode) || !strings.HasPrefix(err.Error(), "ttl value: ") {
		t.Errorf("bad inner value: %v", err)
	}
	js := Serializer[chan int]{Inner: backend.JSONSerializer[chan int]{TypeName: "chan"}}
	dst := []byte("keep")
	out, err := js.Append(dst, Value[chan int]{Timestamp: 1, Value: make(chan int)})
	if err == nil || string(out) != "keep" {
		t.Errorf("inner append error: (%q, %v), want the error and dst as passed", out, err)
	}
}

func TestPlainSerializerIsInner(t *testing.T) {
	inner := backend.JSONSerializer[point]{TypeName: "point"}
	p := PlainSerializer[point]{Inner: inner}
	if !reflect.DeepEqual(p.Snapshot(), inner.Snapshot()) {
		t.Fatalf("plain snapshot %+v differs from inner %+v", p.Snapshot(), inner.Snapshot())
	}
	want, _ := inner.Append(nil, point{3, 4})
	got, err := p.Append(nil, point{3, 4})
	if err != nil || string(got) != string(want) {
		t.Fatalf("plain encodes %q, inner %q", got, want)
	}
	if v, err := p.Decode(got); err != nil || v != (point{3, 4}) {
		t.Fatalf("plain decodes (%v, %v)", v, err)
	}
	if c := p.Compatibility(inner.Snapshot()); c.Kind != backend.CompatibleAsIs {
		t.Fatalf("plain over inner: %v", c.Kind)
	}
}

// migrate does what a backend does with an answer: read the old bytes,
// rewrite them with the serializer in use, and read them back.
func migrate[T any](t *testing.T, cur backend.Serializer[T], c backend.Compatibility[T], old []byte) T {
	t.Helper()
	read, use := cur.Decode, cur
	switch c.Kind {
	case backend.CompatibleAsIs:
	case backend.CompatibleAfterMigration:
		read = c.ReadOld
	case backend.CompatibleWithReconfiguredSerializer:
		read, use = c.Reconfigured.Decode, c.Reconfigured
	default:
		t.Fatalf("cannot migrate: %v (%s)", c.Kind, c.Reason)
	}
	v, err := read(old)
	if err != nil {
		t.Fatalf("reading old data %x: %v", old, err)
	}
	b, err := use.Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	v2, err := use.Decode(b)
	if err != nil {
		t.Fatal(err)
	}
	return v2
}

func encode[T any](t *testing.T, s backend.Serializer[T], v T) []byte {
	t.Helper()
	b, err := s.Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// prefixed encodes a string after a configured prefix; data written under
// another prefix is read by a reconfigured serializer.
type prefixed struct{ prefix string }

func (p prefixed) Append(dst []byte, v string) ([]byte, error) {
	return append(append(dst, p.prefix...), v...), nil
}
func (p prefixed) Decode(b []byte) (string, error) {
	if !strings.HasPrefix(string(b), p.prefix) {
		return "", fmt.Errorf("%w: no prefix %q", backend.ErrDecode, p.prefix)
	}
	return string(b[len(p.prefix):]), nil
}
func (p prefixed) Snapshot() backend.SerializerSnapshot {
	return backend.SerializerSnapshot{Name: "test.prefixed", Version: 1, Config: []byte(p.prefix)}
}
func (p prefixed) Compatibility(old backend.SerializerSnapshot) backend.Compatibility[string] {
	if old.Name != "test.prefixed" {
		return backend.IncompatibleBecause[string]("not prefixed")
	}
	if string(old.Config) == p.prefix {
		return backend.AsIs[string]()
	}
	return backend.Compatibility[string]{Kind: backend.CompatibleWithReconfiguredSerializer, Reconfigured: prefixed{string(old.Config)}}
}

// answering gives a fixed, possibly malformed, answer.
type answering struct {
	backend.StringSerializer
	c backend.Compatibility[string]
}

func (a answering) Compatibility(backend.SerializerSnapshot) backend.Compatibility[string] {
	return a.c
}

func TestSerializerCompatibilityTTLToTTL(t *testing.T) {
	clock := NewManualClock(9999)

	t.Run("as is", func(t *testing.T) {
		s := Serializer[int64]{Inner: backend.Int64Serializer{}, Clock: clock}
		old := Serializer[int64]{Inner: backend.Int64Serializer{}}
		c := s.Compatibility(old.Snapshot())
		if c.Kind != backend.CompatibleAsIs {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
	})

	t.Run("inner migration keeps the timestamp", func(t *testing.T) {
		s := Serializer[int64]{Inner: backend.Int64Serializer{}, Clock: clock}
		old := Serializer[int32]{Inner: backend.Int32Serializer{}}
		c := s.Compatibility(old.Snapshot())
		if c.Kind != backend.CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		got := migrate[Value[int64]](t, s, c, encode[Value[int32]](t, old, Value[int32]{Timestamp: 1234, Value: -7}))
		if got != (Value[int64]{Timestamp: 1234, Value: -7}) {
			t.Fatalf("migrated to %+v", got)
		}
		if _, err := c.ReadOld([]byte{1}); !errors.Is(err, backend.ErrDecode) {
			t.Fatalf("short old value: %v", err)
		}
		if _, err := c.ReadOld(make([]byte, 9)); !errors.Is(err, backend.ErrDecode) {
			t.Fatalf("bad old inner value: %v", err)
		}
	})

	t.Run("reconfigured inner", func(t *testing.T) {
		s := Serializer[string]{Inner: prefixed{"new:"}, Clock: clock}
		old := Serializer[string]{Inner: prefixed{"old:"}}
		c := s.Compatibility(old.Snapshot())
		if c.Kind != backend.CompatibleWithReconfiguredSerializer {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		r, ok := c.Reconfigured.(Serializer[string])
		if !ok || r.Inner != (prefixed{"old:"}) || r.Clock != clock {
			t.Fatalf("reconfigured serializer %#v", c.Reconfigured)
		}
		got := migrate[Value[string]](t, s, c, encode[Value[string]](t, old, Value[string]{Timestamp: 5, Value: "x"}))
		if got != (Value[string]{Timestamp: 5, Value: "x"}) {
			t.Fatalf("read %+v", got)
		}
	})

	t.Run("incompatible inner names both", func(t *testing.T) {
		s := Serializer[int64]{Inner: backend.Int64Serializer{}}
		c := s.Compatibility(Serializer[string]{Inner: backend.StringSerializer{}}.Snapshot())
		if c.Kind != backend.Incompatible {
			t.Fatalf("%v", c.Kind)
		}
		for _, want := range []string{"int64 (version 1)", "string (version 1)", "different serializer"} {
			if !strings.Contains(c.Reason, want) {
				t.Errorf("reason %q does not name %q", c.Reason, want)
			}
		}
	})

	t.Run("unreadable ttl snapshots", func(t *testing.T) {
		s := Serializer[string]{Inner: backend.StringSerializer{}}
		v2 := s.Snapshot()
		v2.Version = 2
		broken := s.Snapshot()
		broken.Config = append(broken.Config, 0)
		for _, old := range []backend.SerializerSnapshot{v2, broken} {
			if c := s.Compatibility(old); c.Kind != backend.Incompatible || c.Reason == "" {
				t.Errorf("%+v: %v %q", old, c.Kind, c.Reason)
			}
			if c := (PlainSerializer[string]{Inner: backend.StringSerializer{}}).Compatibility(old); c.Kind != backend.Incompatible || c.Reason == "" {
				t.Errorf("plain over %+v: %v %q", old, c.Kind, c.Reason)
			}
		}
	})

	t.Run("malformed inner answers", func(t *testing.T) {
		for _, tc := range []struct {
			c    backend.Compatibility[string]
			want string
		}{
			{backend.Compatibility[string]{Kind: backend.CompatibleAfterMigration}, "without ReadOld"},
			{backend.Compatibility[string]{Kind: backend.CompatibleWithReconfiguredSerializer}, "without a serializer"},
			{backend.Compatibility[string]{}, "unknown compatibility kind 0"},
			{backend.Compatibility[string]{Kind: backend.Incompatible}, ": incompatible"},
		} {
			inner := answering{c: tc.c}
			old := WrapSnapshot(backend.StringSerializer{}.Snapshot())
			if c := (Serializer[string]{Inner: inner}).Compatibility(old); c.Kind != backend.Incompatible || !strings.Contains(c.Reason, tc.want) {
				t.Errorf("ttl over %v: %v %q", tc.c.Kind, c.Kind, c.Reason)
			}
			if c := (Serializer[string]{Inner: inner}).Compatibility(backend.StringSerializer{}.Snapshot()); c.Kind != backend.Incompatible || !strings.Contains(c.Reason, tc.want) {
				t.Errorf("turn on over %v: %v %q", tc.c.Kind, c.Kind, c.Reason)
			}
			if c := (PlainSerializer[string]{Inner: inner}).Compatibility(old); c.Kind != backend.Incompatible || !strings.Contains(c.Reason, tc.want) {
				t.Errorf("turn off over %v: %v %q", tc.c.Kind, c.Kind, c.Reason)
			}
		}
	})
}

func TestSerializerCompatibilityTurnOn(t *testing.T) {
	t.Run("as is stamps with the restore time", func(t *testing.T) {
		clock := NewManualClock(5000)
		s := Serializer[string]{Inner: backend.StringSerializer{}, Clock: clock}
		c := s.Compatibility(backend.StringSerializer{}.Snapshot())
		if c.Kind != backend.CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		clock.Advance(time.Hour) // the stamp is the time of the judgement
		got := migrate[Value[string]](t, s, c, []byte("hello"))
		if got != (Value[string]{Timestamp: 5000, Value: "hello"}) {
			t.Fatalf("migrated to %+v", got)
		}
	})

	t.Run("inner migration", func(t *testing.T) {
		s := Serializer[int64]{Inner: backend.Int64Serializer{}, Clock: NewManualClock(77)}
		c := s.Compatibility(backend.Int32Serializer{}.Snapshot())
		if c.Kind != backend.CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		got := migrate[Value[int64]](t, s, c, encode[int32](t, backend.Int32Serializer{}, math.MinInt32))
		if got != (Value[int64]{Timestamp: 77, Value: math.MinInt32}) {
			t.Fatalf("migrated to %+v", got)
		}
		if _, err := c.ReadOld([]byte{1}); !errors.Is(err, backend.ErrDecode) {
			t.Fatalf("bad old value: %v", err)
		}
	})

	t.Run("reconfigured inner", func(t *testing.T) {
		s := Serializer[string]{Inner: prefixed{"new:"}, Clock: NewManualClock(3)}
		c := s.Compatibility(prefixed{"old:"}.Snapshot())
		if c.Kind != backend.CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		got := migrate[Value[string]](t, s, c, []byte("old:x"))
		if got != (Value[string]{Timestamp: 3, Value: "x"}) {
			t.Fatalf("migrated to %+v", got)
		}
	})

	t.Run("system clock by default", func(t *testing.T) {
		before := time.Now().UnixMilli()
		c := Serializer[string]{Inner: backend.StringSerializer{}}.Compatibility(backend.StringSerializer{}.Snapshot())
		v, err := c.ReadOld([]byte("a"))
		if err != nil || v.Timestamp < before || v.Timestamp > time.Now().UnixMilli() {
			t.Fatalf("stamped %+v, %v", v, err)
		}
	})

	t.Run("incompatible names both", func(t *testing.T) {
		c := Serializer[int64]{Inner: backend.Int64Serializer{}}.Compatibility(backend.StringSerializer{}.Snapshot())
		if c.Kind != backend.Incompatible {
			t.Fatalf("%v", c.Kind)
		}
		for _, want := range []string{"int64 (version 1)", "without ttl by string (version 1)", "different serializer"} {
			if !strings.Contains(c.Reason, want) {
				t.Errorf("reason %q does not name %q", c.Reason, want)
			}
		}
	})
}

func TestPlainSerializerCompatibility(t *testing.T) {
	t.Run("turn off strips the timestamp", func(t *testing.T) {
		p := PlainSerializer[string]{Inner: backend.StringSerializer{}}
		old := Serializer[string]{Inner: backend.StringSerializer{}}
		c := p.Compatibility(old.Snapshot())
		if c.Kind != backend.CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		got := migrate[string](t, p, c, encode[Value[string]](t, old, Value[string]{Timestamp: 1, Value: "kept"}))
		if got != "kept" {
			t.Fatalf("migrated to %q", got)
		}
		if _, err := c.ReadOld([]byte{1, 2}); !errors.Is(err, backend.ErrDecode) {
			t.Fatalf("short old value: %v", err)
		}
	})

	t.Run("turn off with inner migration", func(t *testing.T) {
		p := PlainSerializer[int64]{Inner: backend.Int64Serializer{}}
		old := Serializer[int32]{Inner: backend.Int32Serializer{}}
		c := p.Compatibility(old.Snapshot())
		if c.Kind != backend.CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		if got := migrate[int64](t, p, c, encode[Value[int32]](t, old, Value[int32]{Timestamp: 1, Value: 41})); got != 41 {
			t.Fatalf("migrated to %d", got)
		}
		if _, err := c.ReadOld(make([]byte, 9)); !errors.Is(err, backend.ErrDecode) {
			t.Fatalf("bad old inner value: %v", err)
		}
	})

	t.Run("turn off with reconfigured inner", func(t *testing.T) {
		p := PlainSerializer[string]{Inner: prefixed{"new:"}}
		old := Serializer[string]{Inner: prefixed{"old:"}}
		c := p.Compatibility(old.Snapshot())
		if got := migrate[string](t, p, c, encode[Value[string]](t, old, Value[string]{Timestamp: 1, Value: "y"})); got != "y" {
			t.Fatalf("migrated to %q", got)
		}
	})

	t.Run("turn off incompatible names both", func(t *testing.T) {
		c := PlainSerializer[int64]{Inner: backend.Int64Serializer{}}.Compatibility(Serializer[string]{Inner: backend.StringSerializer{}}.Snapshot())
		if c.Kind != backend.Incompatible {
			t.Fatalf("%v", c.Kind)
		}
		for _, want := range []string{"int64 (version 1)", "with ttl by string (version 1)", "different serializer"} {
			if !strings.Contains(c.Reason, want) {
				t.Errorf("reason %q does not name %q", c.Reason, want)
			}
		}
	})

	t.Run("plain snapshots get the inner answer", func(t *testing.T) {
		p := PlainSerializer[int64]{Inner: backend.Int64Serializer{}}
		if c := p.Compatibility(backend.Int64Serializer{}.Snapshot()); c.Kind != backend.CompatibleAsIs {
			t.Errorf("int64: %v", c.Kind)
		}
		c := p.Compatibility(backend.Int32Serializer{}.Snapshot())
		if c.Kind != backend.CompatibleAfterMigration {
			t.Fatalf("int32: %v", c.Kind)
		}
		if got := migrate[int64](t, p, c, encode[int32](t, backend.Int32Serializer{}, 8)); got != 8 {
			t.Errorf("int32 migrated to %d", got)
		}
		if c := p.Compatibility(backend.StringSerializer{}.Snapshot()); c.Kind != backend.Incompatible || c.Reason != "different serializer" {
			t.Errorf("string: %v %q", c.Kind, c.Reason)
		}
		rc := PlainSerializer[string]{Inner: prefixed{"new:"}}.Compatibility(prefixed{"old:"}.Snapshot())
		if r, ok := rc.Reconfigured.(PlainSerializer[string]); !ok || r.Inner != (prefixed{"old:"}) {
			t.Errorf("reconfigured: %#v", rc.Reconfigured)
		}
	})
}

// The Serializer contract: safe for concurrent use.
func TestSerializerConcurrent(t *testing.T) {
	s := Serializer[string]{Inner: backend.StringSerializer{}, Clock: NewManualClock(1)}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				v := Value[string]{Timestamp: int64(j), Value: fmt.Sprint(i, j)}
				b, err := s.Append(nil, v)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := s.Decode(b); err != nil || got != v {
					t.Errorf("%+v decoded to %+v, %v", v, got, err)
					return
				}
				_ = s.Compatibility(backend.StringSerializer{}.Snapshot())
			}
		})
	}
	wg.Wait()
}
