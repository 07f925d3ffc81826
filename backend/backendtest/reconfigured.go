package backendtest

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
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
func (counterV1) Snapshot() serializer.Snapshot {
	return serializer.Snapshot{Name: "counter", Version: 1}
}
func (s counterV1) Compatibility(old serializer.Snapshot) serializer.Compatibility[int64] {
	return serializer.Same[int64](s.Snapshot(), old)
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
func (counterV2) Snapshot() serializer.Snapshot {
	return serializer.Snapshot{Name: "counter", Version: 2}
}
func (s counterV2) Compatibility(old serializer.Snapshot) serializer.Compatibility[int64] {
	if old.Name == "counter" && old.Version == 1 {
		return serializer.Compatibility[int64]{Kind: serializer.CompatibleWithReconfiguredSerializer, Reconfigured: counterV1{}}
	}
	return serializer.Same[int64](s.Snapshot(), old)
}

// testReconfiguredSerializer: data restored through a reconfigured
// serializer is written back in the format that serializer reads, and
// snapshots say so, so that it restores again and again.
func testReconfiguredSerializer(t *testing.T, f Factory) {
	store := newStore(t)
	keys := keyNames(50)
	write := func(c *cluster, ser serializer.Serializer[int64], bump int64) {
		t.Helper()
		for _, k := range keys {
			_, b := c.owner(k)
			st, err := state.GetValueState(b, state.ValueDescriptor[int64]{Name: "counter", Serializer: ser})
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
			st, err := state.GetValueState(b, state.ValueDescriptor[int64]{Name: "counter", Serializer: counterV2{}})
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

// versionedKeys writes keys as serializer.String does, under the
// identity "versioned-key" at its version. Version 2 reads what version 1
// wrote through a reconfigured version 1 serializer.
type versionedKeys struct {
	serializer.String
	version uint32
}

func (s versionedKeys) Snapshot() serializer.Snapshot {
	return serializer.Snapshot{Name: "versioned-key", Version: s.version}
}

func (s versionedKeys) Compatibility(old serializer.Snapshot) serializer.Compatibility[string] {
	if s.version == 2 && old.Name == "versioned-key" && old.Version == 1 {
		return serializer.Compatibility[string]{Kind: serializer.CompatibleWithReconfiguredSerializer, Reconfigured: versionedKeys{version: 1}}
	}
	return serializer.Same[string](s.Snapshot(), old)
}

// testReconfiguredKeySerializer: a key serializer that reads the restored
// keys through a reconfigured serializer is accepted (keys are never
// migrated, but a reconfiguration rewrites nothing), as in Flink; the
// reconfigured serializer goes on writing, and snapshots say so.
func testReconfiguredKeySerializer(t *testing.T, f Factory) {
	store := newStore(t)
	keys := keyNames(60)
	c, err := buildCluster(t, f, 2, 128, nil, settings{keySer: versionedKeys{version: 1}})
	must(t, err)
	s := withStates(t, c)
	m := fill(t, s, 81, 600, keys)
	dir := s.checkpoint(store, 1)
	r, err := restoreClusterWith(t, f, store, dir, 3, 128, settings{keySer: versionedKeys{version: 2}}, backend.NoClaim)
	if err != nil {
		t.Fatalf("restore with a key serializer that asks for reconfiguration: %v", err)
	}
	rs := withStates(t, r)
	rs.verify(t, m, testNamespaces)
	if err := mutate(rs, m, newRand(82), 300, keys, testNamespaces); err != nil {
		t.Fatal(err)
	}
	dir2 := rs.checkpoint(store, 2)
	for _, st := range mustMetadata(t, store, dir2).Operators[0].Subtasks {
		for _, h := range st.Keyed {
			if h.KeySerializer.Version != 1 {
				t.Fatalf("keys after the restore are written by %+v, want the reconfigured version 1", h.KeySerializer)
			}
		}
	}
	r2, err := restoreClusterWith(t, f, store, dir2, 2, 128, settings{keySer: versionedKeys{version: 2}}, backend.NoClaim)
	must(t, err)
	withStates(t, r2).verify(t, m, testNamespaces)
	// Asking for a migration of keys is still refused.
	_, err = restoreClusterWith(t, f, store, dir2, 2, 128, settings{keySer: migratingKeys{}}, backend.NoClaim)
	if !errors.Is(err, backend.ErrIncompatibleSerializer) {
		t.Fatalf("restore with a key serializer that asks for migration: got %v, want ErrIncompatibleSerializer", err)
	}
}

// migratingKeys asks for a migration of every key.
type migratingKeys struct{ serializer.String }

func (migratingKeys) Snapshot() serializer.Snapshot {
	return serializer.Snapshot{Name: "versioned-key", Version: 3}
}

func (migratingKeys) Compatibility(serializer.Snapshot) serializer.Compatibility[string] {
	return serializer.Compatibility[string]{Kind: serializer.CompatibleAfterMigration, ReadOld: serializer.String{}.Decode}
}

// shiftedKeys writes an int64 map key k as the 8 big-endian bytes of
// k+version-1: version 2 writes key k as version 1 writes k+1, so a
// migration from version 1 gives every old key the bytes of another old
// key. Version 2 migrates data of version 1.
type shiftedKeys struct{ version uint32 }

func (s shiftedKeys) Append(dst []byte, k int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(k+int64(s.version)-1)), nil
}

func (s shiftedKeys) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("shifted key: %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)) - int64(s.version) + 1, nil
}

func (s shiftedKeys) Snapshot() serializer.Snapshot {
	return serializer.Snapshot{Name: "shifted-key", Version: s.version}
}

func (s shiftedKeys) Compatibility(old serializer.Snapshot) serializer.Compatibility[int64] {
	if s.version == 2 && old.Name == "shifted-key" && old.Version == 1 {
		return serializer.Compatibility[int64]{Kind: serializer.CompatibleAfterMigration, ReadOld: shiftedKeys{version: 1}.Decode}
	}
	return serializer.Same[int64](s.Snapshot(), old)
}

// testMapKeyMigration migrates the user keys of a map whose old keys
// collide with migrated ones (every migrated key has the bytes of another
// old key): no entry may be lost, and the map restores again.
func testMapKeyMigration(t *testing.T, f Factory) {
	store := newStore(t)
	desc := func(version uint32) state.MapDescriptor[int64, int64] {
		return state.MapDescriptor[int64, int64]{Name: "shifted", KeySerializer: shiftedKeys{version: version}, ValueSerializer: serializer.Int64{}}
	}
	keys := keyNames(40)
	c := newCluster(t, f, 2, 128)
	for _, k := range keys {
		_, b := c.owner(k)
		st, err := state.GetMapState(b, desc(1))
		must(t, err)
		for uk := range int64(50) {
			must(t, st.Put(uk, uk*100+int64(len(k))))
		}
	}
	dir := c.checkpoint(store, 1)
	for round := range 2 {
		r := mustRestore(t, f, store, dir, 3, 128)
		for _, k := range keys {
			_, b := r.owner(k)
			st, err := state.GetMapState(b, desc(2))
			if err != nil {
				t.Fatalf("round %d: register the map with migrated keys: %v", round, err)
			}
			got := map[int64]int64{}
			must(t, st.Range(func(uk, v int64) bool { got[uk] = v; return true }))
			if len(got) != 50 {
				t.Fatalf("round %d key %q: %d entries after the migration, want 50: %v", round, k, len(got), got)
			}
			for uk := range int64(50) {
				if v, ok, err := st.Get(uk); err != nil || !ok || v != uk*100+int64(len(k)) {
					t.Fatalf("round %d key %q: Get(%d) = (%d, %v, %v), want %d", round, k, uk, v, ok, err, uk*100+int64(len(k)))
				}
			}
		}
		dir = r.checkpoint(store, int64(round+2))
	}
}

// halvedKeys writes an int64 map key as its 8 big-endian bytes; version 2
// migrates data of version 1 by halving every key, so two old keys become
// one new key.
type halvedKeys struct{ version uint32 }

func (halvedKeys) Append(dst []byte, k int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(k)), nil
}

func (halvedKeys) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, fmt.Errorf("halved key: %d bytes", len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}

func (s halvedKeys) Snapshot() serializer.Snapshot {
	return serializer.Snapshot{Name: "halved-key", Version: s.version}
}

func (s halvedKeys) Compatibility(old serializer.Snapshot) serializer.Compatibility[int64] {
	if s.version == 2 && old.Name == "halved-key" && old.Version == 1 {
		return serializer.Compatibility[int64]{Kind: serializer.CompatibleAfterMigration, ReadOld: func(b []byte) (int64, error) {
			k, err := halvedKeys{}.Decode(b)
			return k / 2, err
		}}
	}
	return serializer.Same[int64](s.Snapshot(), old)
}

// testMapKeyMerge: a migration of map user keys that gives two entries of
// one key the same new user key would lose one of them: the registration
// is refused (ErrIncompatibleSerializer) and the data stays as it was.
func testMapKeyMerge(t *testing.T, f Factory) {
	store := newStore(t)
	desc := func(version uint32) state.MapDescriptor[int64, int64] {
		return state.MapDescriptor[int64, int64]{Name: "halved", KeySerializer: halvedKeys{version: version}, ValueSerializer: serializer.Int64{}}
	}
	keys := keyNames(20)
	c := newCluster(t, f, 2, 128)
	for _, k := range keys {
		_, b := c.owner(k)
		st, err := state.GetMapState(b, desc(1))
		must(t, err)
		for uk := range int64(10) {
			must(t, st.Put(uk, uk+100))
		}
	}
	dir := c.checkpoint(store, 1)
	r := mustRestore(t, f, store, dir, 1, 128)
	if _, err := state.GetMapState(r.keyed[0], desc(2)); !errors.Is(err, backend.ErrIncompatibleSerializer) {
		t.Fatalf("register a map whose migration merges user keys: %v, want ErrIncompatibleSerializer", err)
	}
	again, err := state.GetMapState(r.keyed[0], desc(1))
	must(t, err)
	for _, k := range keys {
		r.owner(k)
		for uk := range int64(10) {
			if v, ok, err := again.Get(uk); err != nil || !ok || v != uk+100 {
				t.Fatalf("key %q after the refused migration: Get(%d) = (%d, %v, %v), want %d", k, uk, v, ok, err, uk+100)
			}
		}
	}
}

// pickyInt64 migrates int32 data to int64 but cannot read the value 13.
type pickyInt64 struct{ serializer.Int64 }

func (pickyInt64) Compatibility(old serializer.Snapshot) serializer.Compatibility[int64] {
	return serializer.Compatibility[int64]{Kind: serializer.CompatibleAfterMigration, ReadOld: func(b []byte) (int64, error) {
		v, err := serializer.Int32{}.Decode(b)
		if v == 13 {
			return 0, fmt.Errorf("picky: cannot migrate 13")
		}
		return int64(v), err
	}}
}

// testFailedMigration: a migration that cannot read some of the restored
// data fails the registration and leaves the data as it was: registered
// again with the serializer that wrote it, every value is there.
func testFailedMigration(t *testing.T, f Factory) {
	store := newStore(t)
	old := state.ValueDescriptor[int32]{Name: "count", Serializer: serializer.Int32{}}
	keys := keyNames(200)
	c := newCluster(t, f, 1, 128)
	st, err := state.GetValueState(c.keyed[0], old)
	must(t, err)
	for i, k := range keys {
		c.owner(k)
		must(t, st.Update(int32(i)))
	}
	dir := c.checkpoint(store, 1)
	r := mustRestore(t, f, store, dir, 1, 128)
	if _, err := state.GetValueState(r.keyed[0], state.ValueDescriptor[int64]{Name: "count", Serializer: pickyInt64{}}); err == nil {
		t.Fatal("a migration that cannot read the value 13 succeeded")
	}
	again, err := state.GetValueState(r.keyed[0], old)
	if err != nil {
		t.Fatalf("register with the old serializer after a failed migration: %v", err)
	}
	for i, k := range keys {
		r.owner(k)
		if v, ok, err := again.Value(); err != nil || !ok || v != int32(i) {
			t.Fatalf("key %q after a failed migration: got (%d, %v, %v), want %d", k, v, ok, err, i)
		}
	}
}
