package ttl

import (
	"bytes"
	"reflect"
	"testing"

	"github.com/stated-io/stated/snapshot"
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
	f.Add(appendSnapshotConfig(nil, snapshot.SerializerSnapshot{Name: "int64", Version: 1}))
	f.Add(appendSnapshotConfig(nil, snapshot.SerializerSnapshot{Name: "json", Version: 1, Config: []byte("point")}))
	f.Add(appendSnapshotConfig(nil, WrapSnapshot(snapshot.SerializerSnapshot{Name: "string", Version: 1})))
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
		_, _, _ = UnwrapSnapshot(snapshot.SerializerSnapshot{Name: SnapshotName, Version: SnapshotVersion, Config: b})
	})
}
