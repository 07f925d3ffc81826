package serializer

import (
	"errors"
	"math"
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
	roundTrip[string](t, String{}, "", "a", "日本")
	roundTrip[int64](t, Int64{}, 0, -1, math.MaxInt64, math.MinInt64)
	roundTrip[int32](t, Int32{}, 0, -1, math.MaxInt32)
	roundTrip[float64](t, Float64{}, 0, -1.5, math.Inf(1))
	roundTrip[bool](t, Bool{}, true, false)
	roundTrip[struct{}](t, Empty{}, struct{}{})
	type point struct{ X, Y int }
	roundTrip[point](t, JSON[point]{TypeName: "point"}, point{1, 2})
}

func TestSerializerDecodeErrors(t *testing.T) {
	for name, err := range map[string]error{
		"int64": second(Int64{}.Decode([]byte{1, 2})),
		"int32": second(Int32{}.Decode(nil)),
		"bool":  second(Bool{}.Decode([]byte{2})),
		"empty": second(Empty{}.Decode([]byte{0})),
		"json":  second(JSON[int]{TypeName: "int"}.Decode([]byte("{"))),
		"float": second(Float64{}.Decode(nil)),
	} {
		if !errors.Is(err, ErrDecode) {
			t.Errorf("%s: bad input gave %v, want ErrDecode", name, err)
		}
	}
}

func second[T any](_ T, err error) error { return err }

func TestCompatibility(t *testing.T) {
	if c := (Int64{}).Compatibility(Int32{}.Snapshot()); c.Kind != CompatibleAfterMigration || c.ReadOld == nil {
		t.Fatalf("int64 over int32: %v", c.Kind)
	}
	if c := (Int64{}).Compatibility(String{}.Snapshot()); c.Kind != Incompatible {
		t.Fatalf("int64 over string: %v", c.Kind)
	}
	if c := (JSON[int]{TypeName: "a"}).Compatibility(JSON[int]{TypeName: "b"}.Snapshot()); c.Kind != Incompatible {
		t.Fatalf("json a over json b: %v", c.Kind)
	}
}
