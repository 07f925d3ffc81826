package backend

import (
	"errors"
	"math"
	"slices"
	"testing"
)

func roundTrip[T comparable](t *testing.T, s Serializer[T], vs ...T) {
	t.Helper()
	for _, v := range vs {
		b, err := s.Append([]byte("prefix"), v)
		if err != nil {
			t.Fatal(err)
		}
		got, err := s.Decode(b[len("prefix"):])
		if err != nil || got != v {
			t.Fatalf("%s: round trip of %v gave (%v, %v)", s.Snapshot().Name, v, got, err)
		}
		if c := s.Compatibility(s.Snapshot()); c.Kind != CompatibleAsIs {
			t.Fatalf("%s: not compatible with itself: %v", s.Snapshot().Name, c.Kind)
		}
	}
}

func TestBuiltinSerializers(t *testing.T) {
	roundTrip[string](t, StringSerializer{}, "", "a", "日本")
	roundTrip[int64](t, Int64Serializer{}, 0, -1, math.MaxInt64, math.MinInt64)
	roundTrip[int32](t, Int32Serializer{}, 0, -1, math.MaxInt32)
	roundTrip[float64](t, Float64Serializer{}, 0, -1.5, math.Inf(1))
	roundTrip[bool](t, BoolSerializer{}, true, false)
	roundTrip[struct{}](t, EmptySerializer{}, struct{}{})
	roundTrip[timerKey](t, timerKeySerializer{}, timerKey{ts: -5, ns: "w"}, timerKey{ts: 1 << 40})
	type point struct{ X, Y int }
	roundTrip[point](t, JSONSerializer[point]{TypeName: "point"}, point{1, 2})
}

func TestSerializerDecodeErrors(t *testing.T) {
	for name, err := range map[string]error{
		"int64": second(Int64Serializer{}.Decode([]byte{1, 2})),
		"int32": second(Int32Serializer{}.Decode(nil)),
		"bool":  second(BoolSerializer{}.Decode([]byte{2})),
		"empty": second(EmptySerializer{}.Decode([]byte{0})),
		"timer": second(timerKeySerializer{}.Decode([]byte{1})),
		"json":  second(JSONSerializer[int]{TypeName: "int"}.Decode([]byte("{"))),
		"float": second(Float64Serializer{}.Decode(nil)),
	} {
		if !errors.Is(err, ErrDecode) {
			t.Errorf("%s: bad input gave %v, want ErrDecode", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestCompatibility(t *testing.T) {
	if c := (Int64Serializer{}).Compatibility(Int32Serializer{}.Snapshot()); c.Kind != CompatibleAfterMigration || c.ReadOld == nil {
		t.Fatalf("int64 over int32: %v", c.Kind)
	}
	if c := (Int64Serializer{}).Compatibility(StringSerializer{}.Snapshot()); c.Kind != Incompatible {
		t.Fatalf("int64 over string: %v", c.Kind)
	}
	if c := (JSONSerializer[int]{TypeName: "a"}).Compatibility(JSONSerializer[int]{TypeName: "b"}.Snapshot()); c.Kind != Incompatible {
		t.Fatalf("json a over json b: %v", c.Kind)
	}
	read, _, err := reader[int64](Int64Serializer{}, StringSerializer{}.Snapshot())
	var ie *IncompatibleStateError
	if read != nil || !errors.As(err, &ie) || !errors.Is(err, ErrIncompatibleSerializer) {
		t.Fatalf("reader of incompatible data: %v", err)
	}
}

// The canonical list and map decoders read restored bytes: they must
// reject anything malformed without panicking.
func FuzzDecodeList(f *testing.F) {
	good, _ := encodeList(nil, Serializer[string](StringSerializer{}), []string{"a", "", "bc"})
	f.Add(good)
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, b []byte) {
		l, err := decodeList(b, StringSerializer{}.Decode)
		if err != nil {
			return
		}
		again, err := encodeList(nil, Serializer[string](StringSerializer{}), l)
		if err != nil {
			t.Fatal(err)
		}
		if l2, err := decodeList(again, StringSerializer{}.Decode); err != nil || !slices.Equal(l, l2) {
			t.Fatalf("%q decodes to %q, which re-encodes to %q and decodes to %q (%v)", b, l, again, l2, err)
		}
	})
}

func FuzzDecodeMap(f *testing.F) {
	good, _ := encodeMap(nil, Serializer[string](StringSerializer{}), Serializer[int64](Int64Serializer{}), map[string]int64{"a": 1})
	f.Add(good)
	f.Add([]byte{2, 1, 'a', 8})
	f.Fuzz(func(t *testing.T, b []byte) {
		_, _ = decodeMap(b, StringSerializer{}.Decode, Int64Serializer{}.Decode)
	})
}

func FuzzTimerKey(f *testing.F) {
	f.Add([]byte{0, 0, 0, 0, 0, 0, 0, 1, 'w'})
	f.Fuzz(func(t *testing.T, b []byte) {
		k, err := timerKeySerializer{}.Decode(b)
		if err != nil {
			return
		}
		again, _ := timerKeySerializer{}.Append(nil, k)
		if string(again) != string(b) {
			t.Fatalf("timer %q re-encodes to %q", b, again)
		}
	})
}
