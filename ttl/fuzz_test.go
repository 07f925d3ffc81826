package ttl

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/stated-io/stated/backend"
)

// The decoders below read restored bytes: they must reject anything
// malformed without panicking.

func FuzzSplitTimestamp(f *testing.F) {
	f.Add([]byte{})
	f.Add([]byte{1, 2, 3, 4, 5, 6, 7})
	f.Add(AppendTimestamp(nil, -1))
	f.Add(append(AppendTimestamp(nil, 1_700_000_000_000), "value"...))
	f.Fuzz(func(t *testing.T, b []byte) {
		ts, rest, err := SplitTimestamp(b)
		if err != nil {
			if len(b) >= TimestampSize {
				t.Fatalf("%d bytes rejected: %v", len(b), err)
			}
			return
		}
		if again := append(AppendTimestamp(nil, ts), rest...); !bytes.Equal(again, b) {
			t.Fatalf("%x splits to (%d, %x), which joins to %x", b, ts, rest, again)
		}
	})
}

func FuzzDecodeSnapshotConfig(f *testing.F) {
	f.Add(appendSnapshotConfig(nil, backend.Int64Serializer{}.Snapshot()))
	f.Add(appendSnapshotConfig(nil, backend.JSONSerializer[point]{TypeName: "point"}.Snapshot()))
	f.Add(appendSnapshotConfig(nil, WrapSnapshot(backend.StringSerializer{}.Snapshot())))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Add([]byte{1, 'a', 0x80, 0x80, 0x80, 0x80, 0x10, 0})
	f.Fuzz(func(t *testing.T, b []byte) {
		s, err := decodeSnapshotConfig(b)
		if err != nil {
			return
		}
		again := appendSnapshotConfig(nil, s)
		if s2, err := decodeSnapshotConfig(again); err != nil || !reflect.DeepEqual(s, s2) {
			t.Fatalf("%x decodes to %+v, which re-encodes to %x and decodes to %+v (%v)", b, s, again, s2, err)
		}
		_, _, _ = UnwrapSnapshot(backend.SerializerSnapshot{Name: SnapshotName, Version: SnapshotVersion, Config: b})
	})
}

func FuzzSerializerDecode(f *testing.F) {
	good, _ := Serializer[int64]{Inner: backend.Int64Serializer{}}.Append(nil, Value[int64]{Timestamp: 5, Value: 6})
	f.Add(good)
	f.Add([]byte("\x00\x00\x00\x00\x00\x00\x00\x01{\"X\":1}"))
	f.Add([]byte{1, 2})
	strs := Serializer[string]{Inner: backend.StringSerializer{}}
	ints := Serializer[int64]{Inner: backend.Int64Serializer{}}
	points := Serializer[point]{Inner: backend.JSONSerializer[point]{TypeName: "point"}}
	plain := PlainSerializer[int64]{Inner: backend.Int64Serializer{}}
	offOld := plain.Compatibility(ints.Snapshot())
	onOld := ints.Compatibility(backend.Int32Serializer{}.Snapshot())
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
