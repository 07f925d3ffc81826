package lsm

import (
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
)

const restoreMaxP = 8

// newRangeBackend returns a backend of the key groups [lo, hi] of
// restoreMaxP.
func newRangeBackend(t *testing.T, lo, hi int) *Backend[string] {
	t.Helper()
	b, err := New(Options[string]{Dir: t.TempDir(), CacheSize: 8 << 20, MemTableSize: 1 << 20,
		KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "op", MaxParallelism: restoreMaxP,
			KeyGroups: backend.KeyGroupRange{Start: lo, End: hi}, KeySerializer: backend.StringSerializer{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

var restoreValue = backend.ValueDescriptor[int64]{Name: "v", Serializer: backend.Int64Serializer{}}

// writeValues sets the value of every key of keys that b owns to v, and
// deletes it where v is negative.
func writeValues(t *testing.T, b *Backend[string], keys []string, v func(key string) int64) {
	t.Helper()
	st, err := backend.GetValueState(b, restoreValue)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !b.groups.Contains(backend.KeyGroupForKey([]byte(k), restoreMaxP)) {
			continue
		}
		if err := b.SetCurrentKey(k); err != nil {
			t.Fatal(err)
		}
		if n := v(k); n < 0 {
			err = st.Clear()
		} else {
			err = st.Update(n)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
}

// snapshotTo writes a checkpoint of b under dir and returns its handle.
func snapshotTo(t *testing.T, b *Backend[string], store snapshot.Storage, dir string, id int64) snapshot.KeyedStateHandle {
	t.Helper()
	c, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	hs, err := c.Write(context.Background(), backend.SnapshotTarget{Store: store, Dir: dir, FilePrefix: fmt.Sprint("op-", id),
		CheckpointID: id, Kind: snapshot.KindCheckpoint, SharedDir: "../shared"})
	if err != nil {
		t.Fatal(err)
	}
	return hs[0]
}

// keyGroupsOfRows returns the key groups that rows of b's database are in.
func keyGroupsOfRows(t *testing.T, b *Backend[string]) map[int]int {
	t.Helper()
	it, err := b.db.NewIter(&pebble.IterOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer it.Close()
	kgs := map[int]int{}
	for valid := it.First(); valid; valid = it.Next() {
		kgs[int(binary.BigEndian.Uint16(it.Key()))]++
	}
	return kgs
}

// TestRestoreCutsWhatTheHandleDoesNotCover: a restore keeps, of the
// database it takes as base, only the key groups that its handle covers
// and the backend owns, whatever else the files hold (a handle that claims
// fewer key groups than its files have).
func TestRestoreCutsWhatTheHandleDoesNotCover(t *testing.T) {
	ctx := context.Background()
	store, err := snapshot.NewFileStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 400 {
		keys = append(keys, fmt.Sprint("key-", i))
	}
	// Old values everywhere; a handle that claims key groups 4 to 7 only.
	all := newRangeBackend(t, 0, restoreMaxP-1)
	writeValues(t, all, keys, func(string) int64 { return 1 })
	old := snapshotTo(t, all, store, "job/chk-1", 1)
	old.KeyGroupStart = 4
	// New values, and deletions, in key groups 0 to 3.
	low := newRangeBackend(t, 0, 3)
	writeValues(t, low, keys, func(k string) int64 {
		if len(k)%2 == 0 {
			return -1
		}
		return 2
	})
	fresh := snapshotTo(t, low, store, "job/chk-1", 2)

	upper := newRangeBackend(t, 4, 7)
	if err := upper.Restore(ctx, backend.RestoreSource{Store: store, Dir: "job/chk-1", MaxParallelism: restoreMaxP,
		Handles: []snapshot.KeyedStateHandle{old}}); err != nil {
		t.Fatal(err)
	}
	for kg, n := range keyGroupsOfRows(t, upper) {
		if kg < 4 || kg > 7 {
			t.Errorf("restore into key groups 4-7: %d rows of key group %d are left", n, kg)
		}
	}

	// Both handles into one backend: the base must not bring its stale
	// rows of key groups 0 to 3 along.
	whole := newRangeBackend(t, 0, restoreMaxP-1)
	if err := whole.Restore(ctx, backend.RestoreSource{Store: store, Dir: "job/chk-1", MaxParallelism: restoreMaxP,
		Handles: []snapshot.KeyedStateHandle{old, fresh}}); err != nil {
		t.Fatal(err)
	}
	st, err := backend.GetValueState(whole, restoreValue)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := whole.SetCurrentKey(k); err != nil {
			t.Fatal(err)
		}
		want, present := int64(1), true
		if kg := backend.KeyGroupForKey([]byte(k), restoreMaxP); kg < 4 {
			want, present = 2, len(k)%2 != 0
		}
		if v, ok, err := st.Value(); err != nil || ok != present || ok && v != want {
			t.Fatalf("key %q: got (%d, %v, %v), want (%d, %v)", k, v, ok, err, want, present)
		}
	}
}
