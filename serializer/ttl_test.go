package serializer

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stated-io/stated/internal/golden"
	"github.com/stated-io/stated/ttl"
)

type ttlPoint struct{ X, Y int }

func ttlRoundTrip[V comparable](t *testing.T, s Serializer[ttl.Value[V]], vs ...ttl.Value[V]) {
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
		if c := s.Compatibility(s.Snapshot()); c.Kind != CompatibleAsIs {
			t.Fatalf("not compatible with itself: %v (%s)", c.Kind, c.Reason)
		}
	}
}

func TestTTLSerializerRoundTrip(t *testing.T) {
	ttlRoundTrip[string](t, TTL[string]{Inner: String{}},
		ttl.Value[string]{}, ttl.Value[string]{Timestamp: 1_700_000_000_000, Value: "hello"}, ttl.Value[string]{Timestamp: -1, Value: "日本"})
	ttlRoundTrip[int64](t, TTL[int64]{Inner: Int64{}},
		ttl.Value[int64]{Timestamp: 0, Value: 0}, ttl.Value[int64]{Timestamp: math.MaxInt64, Value: math.MinInt64}, ttl.Value[int64]{Timestamp: math.MinInt64, Value: -1})
	ttlRoundTrip[ttlPoint](t, TTL[ttlPoint]{Inner: JSON[ttlPoint]{TypeName: "point"}},
		ttl.Value[ttlPoint]{Timestamp: 42, Value: ttlPoint{1, 2}})
}

func TestTTLSerializerEncoding(t *testing.T) {
	b, err := TTL[string]{Inner: String{}}.Append(nil, ttl.Value[string]{Timestamp: 0x0102030405060708, Value: "ab"})
	if err != nil || string(b) != "\x01\x02\x03\x04\x05\x06\x07\x08ab" {
		t.Fatalf("encoding is %q, %v; want the 8-byte big-endian timestamp then the inner bytes", b, err)
	}
}

func TestTTLSerializerErrors(t *testing.T) {
	s := TTL[int64]{Inner: Int64{}}
	if _, err := s.Decode([]byte{1, 2, 3}); !errors.Is(err, ErrDecode) || !errors.Is(err, ttl.ErrMalformed) {
		t.Errorf("short value: %v", err)
	}
	if _, err := s.Decode(make([]byte, 10)); !errors.Is(err, ErrDecode) || !strings.HasPrefix(err.Error(), "ttl value: ") {
		t.Errorf("bad inner value: %v", err)
	}
	js := TTL[chan int]{Inner: JSON[chan int]{TypeName: "chan"}}
	dst := []byte("keep")
	out, err := js.Append(dst, ttl.Value[chan int]{Timestamp: 1, Value: make(chan int)})
	if err == nil || string(out) != "keep" {
		t.Errorf("inner append error: (%q, %v), want the error and dst as passed", out, err)
	}
}

func TestTTLPlainSerializerIsInner(t *testing.T) {
	inner := JSON[ttlPoint]{TypeName: "point"}
	p := TTLPlain[ttlPoint]{Inner: inner}
	if !reflect.DeepEqual(p.Snapshot(), inner.Snapshot()) {
		t.Fatalf("plain snapshot %+v differs from inner %+v", p.Snapshot(), inner.Snapshot())
	}
	want, _ := inner.Append(nil, ttlPoint{3, 4})
	got, err := p.Append(nil, ttlPoint{3, 4})
	if err != nil || string(got) != string(want) {
		t.Fatalf("plain encodes %q, inner %q", got, want)
	}
	if v, err := p.Decode(got); err != nil || v != (ttlPoint{3, 4}) {
		t.Fatalf("plain decodes (%v, %v)", v, err)
	}
	if c := p.Compatibility(inner.Snapshot()); c.Kind != CompatibleAsIs {
		t.Fatalf("plain over inner: %v", c.Kind)
	}
}

// ttlMigrate does what a backend does with an answer: read the old bytes,
// rewrite them with the serializer in use, and read them back.
func ttlMigrate[T any](t *testing.T, cur Serializer[T], c Compatibility[T], old []byte) T {
	t.Helper()
	read, use := cur.Decode, cur
	switch c.Kind {
	case CompatibleAsIs:
	case CompatibleAfterMigration:
		read = c.ReadOld
	case CompatibleWithReconfiguredSerializer:
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

func ttlEncode[T any](t *testing.T, s Serializer[T], v T) []byte {
	t.Helper()
	b, err := s.Append(nil, v)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// ttlPrefixed encodes a string after a configured prefix; data written under
// another prefix is read by a reconfigured serializer.
type ttlPrefixed struct{ prefix string }

func (p ttlPrefixed) Append(dst []byte, v string) ([]byte, error) {
	return append(append(dst, p.prefix...), v...), nil
}
func (p ttlPrefixed) Decode(b []byte) (string, error) {
	if !strings.HasPrefix(string(b), p.prefix) {
		return "", fmt.Errorf("%w: no prefix %q", ErrDecode, p.prefix)
	}
	return string(b[len(p.prefix):]), nil
}
func (p ttlPrefixed) Snapshot() Snapshot {
	return Snapshot{Name: "test.prefixed", Version: 1, Config: []byte(p.prefix)}
}
func (p ttlPrefixed) Compatibility(old Snapshot) Compatibility[string] {
	if old.Name != "test.prefixed" {
		return IncompatibleBecause[string]("not prefixed")
	}
	if string(old.Config) == p.prefix {
		return AsIs[string]()
	}
	return Compatibility[string]{Kind: CompatibleWithReconfiguredSerializer, Reconfigured: ttlPrefixed{string(old.Config)}}
}

// ttlAnswering gives a fixed, possibly malformed, answer.
type ttlAnswering struct {
	String
	c Compatibility[string]
}

func (a ttlAnswering) Compatibility(Snapshot) Compatibility[string] {
	return a.c
}

func TestTTLSerializerCompatibilityTTLToTTL(t *testing.T) {
	clock := ttl.NewManualClock(9999)

	t.Run("as is", func(t *testing.T) {
		s := TTL[int64]{Inner: Int64{}, Clock: clock}
		old := TTL[int64]{Inner: Int64{}}
		c := s.Compatibility(old.Snapshot())
		if c.Kind != CompatibleAsIs {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
	})

	t.Run("inner migration keeps the timestamp", func(t *testing.T) {
		s := TTL[int64]{Inner: Int64{}, Clock: clock}
		old := TTL[int32]{Inner: Int32{}}
		c := s.Compatibility(old.Snapshot())
		if c.Kind != CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		got := ttlMigrate[ttl.Value[int64]](t, s, c, ttlEncode[ttl.Value[int32]](t, old, ttl.Value[int32]{Timestamp: 1234, Value: -7}))
		if got != (ttl.Value[int64]{Timestamp: 1234, Value: -7}) {
			t.Fatalf("migrated to %+v", got)
		}
		if _, err := c.ReadOld([]byte{1}); !errors.Is(err, ErrDecode) || !errors.Is(err, ttl.ErrMalformed) {
			t.Fatalf("short old value: %v", err)
		}
		if _, err := c.ReadOld(make([]byte, 9)); !errors.Is(err, ErrDecode) {
			t.Fatalf("bad old inner value: %v", err)
		}
	})

	t.Run("reconfigured inner", func(t *testing.T) {
		s := TTL[string]{Inner: ttlPrefixed{"new:"}, Clock: clock}
		old := TTL[string]{Inner: ttlPrefixed{"old:"}}
		c := s.Compatibility(old.Snapshot())
		if c.Kind != CompatibleWithReconfiguredSerializer {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		r, ok := c.Reconfigured.(TTL[string])
		if !ok || r.Inner != (ttlPrefixed{"old:"}) || r.Clock != clock {
			t.Fatalf("reconfigured serializer %#v", c.Reconfigured)
		}
		got := ttlMigrate[ttl.Value[string]](t, s, c, ttlEncode[ttl.Value[string]](t, old, ttl.Value[string]{Timestamp: 5, Value: "x"}))
		if got != (ttl.Value[string]{Timestamp: 5, Value: "x"}) {
			t.Fatalf("read %+v", got)
		}
	})

	t.Run("incompatible inner names both", func(t *testing.T) {
		s := TTL[int64]{Inner: Int64{}}
		c := s.Compatibility(TTL[string]{Inner: String{}}.Snapshot())
		if c.Kind != Incompatible {
			t.Fatalf("%v", c.Kind)
		}
		for _, want := range []string{"int64 (version 1)", "string (version 1)", "different serializer"} {
			if !strings.Contains(c.Reason, want) {
				t.Errorf("reason %q does not name %q", c.Reason, want)
			}
		}
	})

	t.Run("unreadable ttl snapshots", func(t *testing.T) {
		s := TTL[string]{Inner: String{}}
		v2 := s.Snapshot()
		v2.Version = 2
		broken := s.Snapshot()
		broken.Config = append(broken.Config, 0)
		for _, old := range []Snapshot{v2, broken} {
			if c := s.Compatibility(old); c.Kind != Incompatible || c.Reason == "" {
				t.Errorf("%+v: %v %q", old, c.Kind, c.Reason)
			}
			if c := (TTLPlain[string]{Inner: String{}}).Compatibility(old); c.Kind != Incompatible || c.Reason == "" {
				t.Errorf("plain over %+v: %v %q", old, c.Kind, c.Reason)
			}
		}
	})

	t.Run("malformed inner answers", func(t *testing.T) {
		for _, tc := range []struct {
			c    Compatibility[string]
			want string
		}{
			{Compatibility[string]{Kind: CompatibleAfterMigration}, "without ReadOld"},
			{Compatibility[string]{Kind: CompatibleWithReconfiguredSerializer}, "without a serializer"},
			{Compatibility[string]{}, "unknown compatibility kind 0"},
			{Compatibility[string]{Kind: Incompatible}, ": incompatible"},
		} {
			inner := ttlAnswering{c: tc.c}
			old := ttl.WrapSnapshot(String{}.Snapshot())
			if c := (TTL[string]{Inner: inner}).Compatibility(old); c.Kind != Incompatible || !strings.Contains(c.Reason, tc.want) {
				t.Errorf("ttl over %v: %v %q", tc.c.Kind, c.Kind, c.Reason)
			}
			if c := (TTL[string]{Inner: inner}).Compatibility(String{}.Snapshot()); c.Kind != Incompatible || !strings.Contains(c.Reason, tc.want) {
				t.Errorf("turn on over %v: %v %q", tc.c.Kind, c.Kind, c.Reason)
			}
			if c := (TTLPlain[string]{Inner: inner}).Compatibility(old); c.Kind != Incompatible || !strings.Contains(c.Reason, tc.want) {
				t.Errorf("turn off over %v: %v %q", tc.c.Kind, c.Kind, c.Reason)
			}
		}
	})
}

func TestTTLSerializerCompatibilityTurnOn(t *testing.T) {
	t.Run("as is stamps with the restore time", func(t *testing.T) {
		clock := ttl.NewManualClock(5000)
		s := TTL[string]{Inner: String{}, Clock: clock}
		c := s.Compatibility(String{}.Snapshot())
		if c.Kind != CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		clock.Advance(time.Hour) // the stamp is the time of the judgement
		got := ttlMigrate[ttl.Value[string]](t, s, c, []byte("hello"))
		if got != (ttl.Value[string]{Timestamp: 5000, Value: "hello"}) {
			t.Fatalf("migrated to %+v", got)
		}
	})

	t.Run("inner migration", func(t *testing.T) {
		s := TTL[int64]{Inner: Int64{}, Clock: ttl.NewManualClock(77)}
		c := s.Compatibility(Int32{}.Snapshot())
		if c.Kind != CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		got := ttlMigrate[ttl.Value[int64]](t, s, c, ttlEncode[int32](t, Int32{}, math.MinInt32))
		if got != (ttl.Value[int64]{Timestamp: 77, Value: math.MinInt32}) {
			t.Fatalf("migrated to %+v", got)
		}
		if _, err := c.ReadOld([]byte{1}); !errors.Is(err, ErrDecode) {
			t.Fatalf("bad old value: %v", err)
		}
	})

	t.Run("reconfigured inner", func(t *testing.T) {
		s := TTL[string]{Inner: ttlPrefixed{"new:"}, Clock: ttl.NewManualClock(3)}
		c := s.Compatibility(ttlPrefixed{"old:"}.Snapshot())
		if c.Kind != CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		got := ttlMigrate[ttl.Value[string]](t, s, c, []byte("old:x"))
		if got != (ttl.Value[string]{Timestamp: 3, Value: "x"}) {
			t.Fatalf("migrated to %+v", got)
		}
	})

	t.Run("system clock by default", func(t *testing.T) {
		before := time.Now().UnixMilli()
		c := TTL[string]{Inner: String{}}.Compatibility(String{}.Snapshot())
		v, err := c.ReadOld([]byte("a"))
		if err != nil || v.Timestamp < before || v.Timestamp > time.Now().UnixMilli() {
			t.Fatalf("stamped %+v, %v", v, err)
		}
	})

	t.Run("incompatible names both", func(t *testing.T) {
		c := TTL[int64]{Inner: Int64{}}.Compatibility(String{}.Snapshot())
		if c.Kind != Incompatible {
			t.Fatalf("%v", c.Kind)
		}
		for _, want := range []string{"int64 (version 1)", "without ttl by string (version 1)", "different serializer"} {
			if !strings.Contains(c.Reason, want) {
				t.Errorf("reason %q does not name %q", c.Reason, want)
			}
		}
	})
}

func TestTTLPlainSerializerCompatibility(t *testing.T) {
	t.Run("turn off strips the timestamp", func(t *testing.T) {
		p := TTLPlain[string]{Inner: String{}}
		old := TTL[string]{Inner: String{}}
		c := p.Compatibility(old.Snapshot())
		if c.Kind != CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		got := ttlMigrate[string](t, p, c, ttlEncode[ttl.Value[string]](t, old, ttl.Value[string]{Timestamp: 1, Value: "kept"}))
		if got != "kept" {
			t.Fatalf("migrated to %q", got)
		}
		if _, err := c.ReadOld([]byte{1, 2}); !errors.Is(err, ErrDecode) || !errors.Is(err, ttl.ErrMalformed) {
			t.Fatalf("short old value: %v", err)
		}
	})

	t.Run("turn off with inner migration", func(t *testing.T) {
		p := TTLPlain[int64]{Inner: Int64{}}
		old := TTL[int32]{Inner: Int32{}}
		c := p.Compatibility(old.Snapshot())
		if c.Kind != CompatibleAfterMigration {
			t.Fatalf("%v (%s)", c.Kind, c.Reason)
		}
		if got := ttlMigrate[int64](t, p, c, ttlEncode[ttl.Value[int32]](t, old, ttl.Value[int32]{Timestamp: 1, Value: 41})); got != 41 {
			t.Fatalf("migrated to %d", got)
		}
		if _, err := c.ReadOld(make([]byte, 9)); !errors.Is(err, ErrDecode) {
			t.Fatalf("bad old inner value: %v", err)
		}
	})

	t.Run("turn off with reconfigured inner", func(t *testing.T) {
		p := TTLPlain[string]{Inner: ttlPrefixed{"new:"}}
		old := TTL[string]{Inner: ttlPrefixed{"old:"}}
		c := p.Compatibility(old.Snapshot())
		if got := ttlMigrate[string](t, p, c, ttlEncode[ttl.Value[string]](t, old, ttl.Value[string]{Timestamp: 1, Value: "y"})); got != "y" {
			t.Fatalf("migrated to %q", got)
		}
	})

	t.Run("turn off incompatible names both", func(t *testing.T) {
		c := TTLPlain[int64]{Inner: Int64{}}.Compatibility(TTL[string]{Inner: String{}}.Snapshot())
		if c.Kind != Incompatible {
			t.Fatalf("%v", c.Kind)
		}
		for _, want := range []string{"int64 (version 1)", "with ttl by string (version 1)", "different serializer"} {
			if !strings.Contains(c.Reason, want) {
				t.Errorf("reason %q does not name %q", c.Reason, want)
			}
		}
	})

	t.Run("plain snapshots get the inner answer", func(t *testing.T) {
		p := TTLPlain[int64]{Inner: Int64{}}
		if c := p.Compatibility(Int64{}.Snapshot()); c.Kind != CompatibleAsIs {
			t.Errorf("int64: %v", c.Kind)
		}
		c := p.Compatibility(Int32{}.Snapshot())
		if c.Kind != CompatibleAfterMigration {
			t.Fatalf("int32: %v", c.Kind)
		}
		if got := ttlMigrate[int64](t, p, c, ttlEncode[int32](t, Int32{}, 8)); got != 8 {
			t.Errorf("int32 migrated to %d", got)
		}
		if c := p.Compatibility(String{}.Snapshot()); c.Kind != Incompatible || c.Reason != "different serializer" {
			t.Errorf("string: %v %q", c.Kind, c.Reason)
		}
		rc := TTLPlain[string]{Inner: ttlPrefixed{"new:"}}.Compatibility(ttlPrefixed{"old:"}.Snapshot())
		if r, ok := rc.Reconfigured.(TTLPlain[string]); !ok || r.Inner != (ttlPrefixed{"old:"}) {
			t.Errorf("reconfigured: %#v", rc.Reconfigured)
		}
	})
}

// The Serializer contract: safe for concurrent use.
func TestTTLSerializerConcurrent(t *testing.T) {
	s := TTL[string]{Inner: String{}, Clock: ttl.NewManualClock(1)}
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for j := range 200 {
				v := ttl.Value[string]{Timestamp: int64(j), Value: fmt.Sprint(i, j)}
				b, err := s.Append(nil, v)
				if err != nil {
					t.Error(err)
					return
				}
				if got, err := s.Decode(b); err != nil || got != v {
					t.Errorf("%+v decoded to %+v, %v", v, got, err)
					return
				}
				_ = s.Compatibility(String{}.Snapshot())
			}
		})
	}
	wg.Wait()
}

// The decoders below read restored bytes: they must reject anything
// malformed without panicking.

func FuzzTTLSerializerDecode(f *testing.F) {
	good, _ := TTL[int64]{Inner: Int64{}}.Append(nil, ttl.Value[int64]{Timestamp: 5, Value: 6})
	f.Add(good)
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01{\"X\":1}"))
	f.Add([]byte{1, 2})
	strs := TTL[string]{Inner: String{}}
	ints := TTL[int64]{Inner: Int64{}}
	points := TTL[ttlPoint]{Inner: JSON[ttlPoint]{TypeName: "point"}}
	plain := TTLPlain[int64]{Inner: Int64{}}
	offOld := plain.Compatibility(ints.Snapshot())
	onOld := ints.Compatibility(Int32{}.Snapshot())
	f.Fuzz(func(t *testing.T, b []byte) {
		if v, err := strs.Decode(b); err == nil {
			if again, _ := strs.Append(nil, v); !bytes.Equal(again, b) {
				t.Fatalf("string value %x re-encodes to %x", b, again)
			}
		}
		if v, err := ints.Decode(b); err == nil {
			if again, _ := ints.Append(nil, v); !bytes.Equal(again, b) {
				t.Fatalf("int64 value %x re-encodes to %x", b, again)
			}
		}
		_, _ = points.Decode(b)
		_, _ = offOld.ReadOld(b)
		_, _ = onOld.ReadOld(b)
	})
}

type ttlGoldenEncoding struct {
	Values    []ttlGoldenValue    `json:"values"`
	Snapshots []ttlGoldenSnapshot `json:"snapshots"`
}

// ttlGoldenSnapshot is the snapshot of a TTL over a built-in
// serializer; ttl's golden file pins WrapSnapshot over any inner snapshot.
type ttlGoldenSnapshot struct {
	Inner     string `json:"inner"`
	Name      string `json:"name"`
	Version   uint32 `json:"version"`
	ConfigHex string `json:"config_hex"`
}

type ttlGoldenValue struct {
	Case string `json:"case"`
	Hex  string `json:"hex"`
}

type ttlGoldenValueCase struct {
	name   string
	encode func() ([]byte, error)
	check  func(b []byte) bool
}

func ttlValueCase[V comparable](name string, s Serializer[V], v ttl.Value[V]) ttlGoldenValueCase {
	ts := TTL[V]{Inner: s}
	return ttlGoldenValueCase{name,
		func() ([]byte, error) { return ts.Append(nil, v) },
		func(b []byte) bool { got, err := ts.Decode(b); return err == nil && got == v }}
}

var ttlGoldenValueCases = []ttlGoldenValueCase{
	ttlValueCase[int64]("int64 0 at 0", Int64{}, ttl.Value[int64]{}),
	ttlValueCase[int64]("int64 -2 at 1700000000000", Int64{}, ttl.Value[int64]{Timestamp: 1_700_000_000_000, Value: -2}),
	ttlValueCase[string]("string hello at 1700000000000", String{}, ttl.Value[string]{Timestamp: 1_700_000_000_000, Value: "hello"}),
	ttlValueCase[string]("empty string at -1", String{}, ttl.Value[string]{Timestamp: -1}),
	ttlValueCase[ttlPoint]("json point {1,2} at 42", JSON[ttlPoint]{TypeName: "point"}, ttl.Value[ttlPoint]{Timestamp: 42, Value: ttlPoint{1, 2}}),
}

// ttlGoldenSnapshots are the snapshots of built-in serializers and of
// TTLSerializers over them.
var ttlGoldenSnapshots = []struct{ inner, wrapped Snapshot }{
	{Int64{}.Snapshot(), TTL[int64]{Inner: Int64{}}.Snapshot()},
	{String{}.Snapshot(), TTL[string]{Inner: String{}}.Snapshot()},
	{JSON[ttlPoint]{TypeName: "point"}.Snapshot(), TTL[ttlPoint]{Inner: JSON[ttlPoint]{TypeName: "point"}}.Snapshot()},
}

// TestTTLEncodingGolden pins the stored value encoding and the snapshot of
// TTL over built-in serializers, part of the on-disk format
// (ttl/FORMAT.md); ttl's TestEncodingGolden pins the stated.ttl snapshot of
// any inner snapshot.
func TestTTLEncodingGolden(t *testing.T) {
	path := filepath.Join("testdata", "ttlvalues.golden.json")
	var g ttlGoldenEncoding
	for _, c := range ttlGoldenValueCases {
		b, err := c.encode()
		if err != nil {
			t.Fatal(err)
		}
		g.Values = append(g.Values, ttlGoldenValue{c.name, hex.EncodeToString(b)})
	}
	for _, c := range ttlGoldenSnapshots {
		s := c.wrapped
		g.Snapshots = append(g.Snapshots, ttlGoldenSnapshot{Describe(c.inner), s.Name, s.Version, hex.EncodeToString(s.Config)})
	}
	got, err := json.MarshalIndent(g, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	want := golden.Check(t, path, append(got, '\n'), "ttl value encoding")

	// The golden bytes decode to what wrote them.
	var w ttlGoldenEncoding
	if err := json.Unmarshal(want, &w); err != nil {
		t.Fatal(err)
	}
	for i, v := range w.Values {
		b, err := hex.DecodeString(v.Hex)
		if err != nil || !ttlGoldenValueCases[i].check(b) {
			t.Errorf("golden value %q does not decode back (%v)", v.Case, err)
		}
	}
	for i, s := range w.Snapshots {
		config, err := hex.DecodeString(s.ConfigHex)
		if err != nil {
			t.Fatal(err)
		}
		inner, ok, err := ttl.UnwrapSnapshot(Snapshot{Name: s.Name, Version: s.Version, Config: config})
		if !ok || err != nil || !reflect.DeepEqual(inner, ttlGoldenSnapshots[i].inner) {
			t.Errorf("golden snapshot of %s unwraps to %+v, %v, %v", s.Inner, inner, ok, err)
		}
	}
}
