package backendtest

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
)

// counterV1 writes a counter in 4 bytes; counterV2 in 8, and reads data of
// v1 through a reconfigured v1 serializer (it keeps the old format).
type counterV1 struct{}

func (counterV1) Append(dst []byte, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, uint32(v)), nil
}
func (counterV1) Decode(b []byte) (int64, error) {
	if len(b) != 4 {
		return 0, fmt.Errorf("counter v1: %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint32(b)), nil
}
func (counterV1) Snapshot() backend.SerializerSnapshot {
	return backend.SerializerSnapshot{Name: "counter", Version: 1}
}
func (s counterV1) Compatibility(old backend.SerializerSnapshot) backend.Compatibility[int64] {
	return backend.SameSerializer[int64](s.Snapshot(), old)
}

type counterV2 struct{}

func (counterV2) Append(dst []byte, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(v)), nil
}
func (counterV2) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("counter v2: %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}
func (counterV2) Snapshot() backend.SerializerSnapshot {
	return backend.SerializerSnapshot{Name: "counter", Version: 2}
}
func (s counterV2) Compatibility(old backend.SerializerSnapshot) backend.Compatibility[int64] {
	if old.Name == "counter" && old.Version == 1 {
		return backend.Compatibility[int64]{Kind: backend.CompatibleWithReconfiguredSerializer, Reconfigured: counterV1{}}
	}
	return backend.SameSerializer[int64](s.Snapshot(), old)
}

// testReconfiguredSerializer: data restored through a reconfigured
// serializer is written back in the format that serializer reads, and
// snapshots say so, so that it restores again and again.
func testReconfiguredSerializer(t *testing.T, f Factory) {
	store := newStore(t)
	keys := keyNames(50)
	write := func(c *cluster, ser backend.Serializer[int64], bump int64) {
		t.Helper()
		for _, k := range keys {
			_, b := c.owner(k)
			st, err := backend.GetValueState(b, backend.ValueDescriptor[int64]{Name: "counter", Serializer: ser})
			must(t, err)
			v, _, err := st.Value()
			must(t, err)
			must(t, st.Update(v+bump))
		}
	}
	c := newCluster(t, f, 2, 128)
	write(c, counterV1{}, 7)
	dir := c.checkpoint(store, 1)
	for round := range 2 {
		r := mustRestore(t, f, store, dir, 3, 128)
		write(r, counterV2{}, 1) // reads through the reconfigured v1
		for _, k := range keys {
			_, b := r.owner(k)
			st, err := backend.GetValueState(b, backend.ValueDescriptor[int64]{Name: "counter", Serializer: counterV2{}})
			must(t, err)
			if v, ok, err := st.Value(); err != nil || !ok || v != int64(8+round) {
				t.Fatalf("round %d key %q: got (%d, %v, %v), want %d", round, k, v, ok, err, 8+round)
			}
		}
		dir = r.checkpoint(store, int64(round+2))
		md, err := snapshot.ReadMetadata(context.Background(), store, dir)
		must(t, err)
		for _, st := range md.Operators[0].Subtasks {
			for _, h := range st.Keyed {
				for _, m := range h.States {
					if m.Name == "counter" && m.Serializers[0].Version != 1 {
						t.Fatalf("round %d: snapshot says counter version %d wrote the data, but the reconfigured v1 did", round, m.Serializers[0].Version)
					}
				}
			}
		}
	}
}
