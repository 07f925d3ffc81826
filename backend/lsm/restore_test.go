package lsm

import (
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

var restoreValue = state.ValueDescriptor[int64]{Name: "v", Serializer: serializer.Int64{}}

// writeValues sets the value of every key of keys that b owns to v, and
// deletes it where v is negative.
func writeValues(t *testing.T, b *Backend[string], keys []string, v func(key string) int64) {
	t.Helper()
	st, err := state.GetValueState(b, restoreValue)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if !b.groups.Contains(backend.KeyGroupForKey([]byte(k), 128)) {
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
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	var keys []string
	for i := range 400 {
		keys = append(keys, fmt.Sprint("key-", i))
	}
	// Old values everywhere; a handle that claims key groups 64 to 127 only.
	all := newRangeBackend(t, nil, 0, 127)
	writeValues(t, all, keys, func(string) int64 { return 1 })
	old := snapshotAs(t, all, store, "job/chk-1", "op-1", 1, snapshot.KindCheckpoint, "../shared")[0]
	old.KeyGroupStart = 64
	// New values, and deletions, in key groups 0 to 63.
	low := newRangeBackend(t, nil, 0, 63)
	writeValues(t, low, keys, func(k string) int64 {
		if len(k)%2 == 0 {
			return -1
		}
		return 2
	})
	fresh := snapshotAs(t, low, store, "job/chk-1", "op-2", 2, snapshot.KindCheckpoint, "../shared")[0]

	upper := newRangeBackend(t, nil, 64, 127)
	if err := upper.Restore(ctx, backend.RestoreSource{Store: store, Dir: "job/chk-1", MaxParallelism: 128,
		Handles: []snapshot.KeyedStateHandle{old}}); err != nil {
		t.Fatal(err)
	}
	for kg, n := range keyGroupsOfRows(t, upper) {
		if kg < 64 {
			t.Errorf("restore into key groups 64-127: %d rows of key group %d are left", n, kg)
		}
	}

	// Both handles into one backend: the base must not bring its stale
	// rows of key groups 0 to 63 along.
	whole := newRangeBackend(t, nil, 0, 127)
	if err := whole.Restore(ctx, backend.RestoreSource{Store: store, Dir: "job/chk-1", MaxParallelism: 128,
		Handles: []snapshot.KeyedStateHandle{old, fresh}}); err != nil {
		t.Fatal(err)
	}
	st, err := state.GetValueState(whole, restoreValue)
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range keys {
		if err := whole.SetCurrentKey(k); err != nil {
			t.Fatal(err)
		}
		want, present := int64(1), true
		if kg := backend.KeyGroupForKey([]byte(k), 128); kg < 64 {
			want, present = 2, len(k)%2 != 0
		}
		if v, ok, err := st.Value(); err != nil || ok != present || ok && v != want {
			t.Fatalf("key %q: got (%d, %v, %v), want (%d, %v)", k, v, ok, err, want, present)
		}
	}
}

// TestMigrationInBoundedBatches: a migration writes the rewritten rows in
// batches of bounded size, not in one batch of the whole state.
func TestMigrationInBoundedBatches(t *testing.T) {
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	b := newRangeBackend(t, nil, 0, 127)
	tb := register(t, b, "v", snapshot.StateValue, nil)
	value := bytes.Repeat([]byte("v"), 100)
	for i := range 2000 {
		if err := b.SetCurrentKey(fmt.Sprint("key-", i)); err != nil {
			t.Fatal(err)
		}
		if err := tb.Put("", value); err != nil {
			t.Fatal(err)
		}
	}
	hs := snapshotTo(t, b, store, "job/chk-1", 1, snapshot.KindCheckpoint, "../shared")
	r := newRangeBackend(t, nil, 0, 127)
	restoreFrom(t, r, store, "job/chk-1", hs)
	const limit = 8 << 10
	r.migrationBatch = limit
	var batches []int
	r.migrationCommitted = func(n int) { batches = append(batches, n) }
	newSers := []serializer.Snapshot{{Name: "raw", Version: 2}}
	mt, err := r.ByteTable(backend.ByteRegistration{Name: "v", Kind: snapshot.StateValue, Serializers: newSers,
		Migrate: func([]serializer.Snapshot) (backend.ByteMigration, error) {
			return backend.ByteMigration{Serializers: newSers, Value: func(old []byte) ([]byte, error) { return append(old, '2'), nil }}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	if len(batches) < 2000*100/limit {
		t.Fatalf("the migration of 2000 rows of 100 bytes committed %d batches %v, want batches of at most %d bytes", len(batches), batches, limit)
	}
	for _, n := range batches {
		if n > limit+200 {
			t.Fatalf("the migration committed a batch of %d bytes, over the limit of %d by more than one row", n, limit)
		}
	}
	for i := range 2000 {
		if err := r.SetCurrentKey(fmt.Sprint("key-", i)); err != nil {
			t.Fatal(err)
		}
		if v, ok, err := mt.Get(""); err != nil || !ok || string(v) != string(value)+"2" {
			t.Fatalf("key-%d after the migration: (%q, %v, %v)", i, v, ok, err)
		}
	}
}
