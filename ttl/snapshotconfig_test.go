package ttl

import (
	"errors"
	"reflect"
	"strings"
	"testing"

	"github.com/stated-io/stated/snapshot"
)

func TestSnapshotConfigRoundTrip(t *testing.T) {
	for _, s := range []snapshot.SerializerSnapshot{
		{},
		{Name: "int64", Version: 1},
		{Name: "json", Version: 1, Config: []byte("point")},
		{Name: strings.Repeat("n", 300), Version: 1<<32 - 1, Config: make([]byte, 200)},
		WrapSnapshot(snapshot.SerializerSnapshot{Name: "string", Version: 1}),
	} {
		b := appendSnapshotConfig([]byte("prefix"), s)
		got, err := decodeSnapshotConfig(b[len("prefix"):])
		if err != nil || !reflect.DeepEqual(got, s) {
			t.Fatalf("%+v decodes to %+v, %v", s, got, err)
		}
		if len(got.Config) > 0 && &got.Config[0] == &b[len(b)-len(got.Config)] {
			t.Fatal("decoded config aliases its input")
		}
	}
	if got, _ := decodeSnapshotConfig([]byte{0, 1, 0}); got.Config != nil {
		t.Fatalf("an empty config decodes to %#v, want nil", got.Config)
	}
}

func TestSnapshotConfigMalformed(t *testing.T) {
	for _, tc := range []struct {
		name string
		b    []byte
	}{
		{"empty", nil},
		{"name length beyond input", []byte{5, 'a'}},
		{"no version", []byte{1, 'a'}},
		{"truncated version varint", []byte{1, 'a', 0x80}},
		{"version overflows uint32", []byte{0, 0x80, 0x80, 0x80, 0x80, 0x10, 0}},
		{"varint overflows uint64", []byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f}},
		{"no config length", []byte{1, 'a', 1}},
		{"config length beyond input", []byte{1, 'a', 1, 3, 'x'}},
		{"huge config length", []byte{1, 'a', 1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01}},
		{"trailing bytes", []byte{1, 'a', 1, 0, 9}},
	} {
		if s, err := decodeSnapshotConfig(tc.b); !errors.Is(err, ErrMalformed) {
			t.Errorf("%s: decoded %+v, %v; want ErrMalformed", tc.name, s, err)
		}
	}
}

func TestUnwrapSnapshot(t *testing.T) {
	inner := snapshot.SerializerSnapshot{Name: "json", Version: 1, Config: []byte("point")}
	got, ok, err := UnwrapSnapshot(WrapSnapshot(inner))
	if !ok || err != nil || !reflect.DeepEqual(got, inner) {
		t.Fatalf("UnwrapSnapshot(WrapSnapshot(%+v)) = %+v, %v, %v", inner, got, ok, err)
	}
	if _, ok, err := UnwrapSnapshot(inner); ok || err != nil {
		t.Fatalf("a plain snapshot unwraps: %v, %v", ok, err)
	}
	bad := WrapSnapshot(inner)
	bad.Version = 2
	if _, ok, err := UnwrapSnapshot(bad); !ok || err == nil || !strings.Contains(err.Error(), "version 2") {
		t.Fatalf("version 2: %v, %v", ok, err)
	}
	bad = WrapSnapshot(inner)
	bad.Config = bad.Config[:3]
	if _, ok, err := UnwrapSnapshot(bad); !ok || !errors.Is(err, ErrMalformed) {
		t.Fatalf("truncated config: %v, %v", ok, err)
	}
}
