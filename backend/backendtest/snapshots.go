package backendtest

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

var testNamespaces = []string{"", "w1", "w2"}

// fill writes n random operations over keys and returns the model.
func fill(t testing.TB, s *stateful, seed uint64, n int, keys []string) model {
	t.Helper()
	m := model{}
	if err := mutate(s, m, newRand(seed), n, keys, testNamespaces); err != nil {
		t.Fatal(err)
	}
	return m
}

func testSnapshotRestore(t *testing.T, f Factory) {
	store := newStore(t)
	s := withStates(t, newCluster(t, f, 2, 128))
	m := fill(t, s, 1, 3000, keyNames(200))
	dir := s.checkpoint(store, 1)
	r := withStates(t, mustRestore(t, f, store, dir, 2, 128))
	r.verify(t, m, testNamespaces)
	// The restored backend snapshots again, to the same content.
	dir2 := r.checkpoint(store, 2)
	withStates(t, mustRestore(t, f, store, dir2, 2, 128)).verify(t, m, testNamespaces)
}

func testRescale(t *testing.T, f Factory) {
	for _, tc := range []struct{ from, to, maxP int }{
		{1, 3, 128}, {3, 1, 128}, {2, 5, 128}, {4, 3, 128}, {1, 128, 128}, {3, 7, 1024},
	} {
		t.Run(fmt.Sprintf("%dto%d", tc.from, tc.to), func(t *testing.T) {
			store := newStore(t)
			s := withStates(t, newCluster(t, f, tc.from, tc.maxP))
			keys := keyNames(500)
			m := fill(t, s, uint64(tc.from*1000+tc.to), 4000, keys)
			dir := s.checkpoint(store, 1)
			r := withStates(t, mustRestore(t, f, store, dir, tc.to, tc.maxP))
			r.verify(t, m, testNamespaces)
		})
	}
}

func testOperatorState(t *testing.T, f Factory) {
	store := newStore(t)
	c := newCluster(t, f, 3, 128)
	var all []string
	for i, o := range c.operator {
		split, err := state.GetListOperatorState(o, "offsets", serializer.String{})
		must(t, err)
		union, err := state.GetUnionListOperatorState(o, "union", serializer.Int64{})
		must(t, err)
		bc, err := state.GetBroadcastState(o, "rules", serializer.String{}, serializer.Int64{})
		must(t, err)
		for j := range 3 + i { // 3, 4 and 5 elements: 12 in all
			e := fmt.Sprintf("s%d-e%d", i, j)
			split.Add(e)
			all = append(all, e)
		}
		union.Add(int64(i))
		bc.Put("subtask", int64(i))
		bc.Put("shared", 42)
	}
	dir := c.checkpoint(store, 1)
	for _, newP := range []int{1, 2, 5} {
		r := mustRestore(t, f, store, dir, newP, 128)
		var got []string
		sizes := map[int]int{}
		for i, o := range r.operator {
			split, err := state.GetListOperatorState(o, "offsets", serializer.String{})
			must(t, err)
			got = append(got, split.Get()...)
			sizes[len(split.Get())]++
			union, err := state.GetUnionListOperatorState(o, "union", serializer.Int64{})
			must(t, err)
			if u := union.Get(); !slices.Equal(u, []int64{0, 1, 2}) {
				t.Fatalf("p=%d subtask %d union state: got %v, want [0 1 2]", newP, i, u)
			}
			bc, err := state.GetBroadcastState(o, "rules", serializer.String{}, serializer.Int64{})
			must(t, err)
			if v, _ := bc.Get("subtask"); v != int64(i%3) || bc.Len() != 2 {
				t.Fatalf("p=%d subtask %d broadcast state: got subtask=%d len=%d, want %d and 2", newP, i, v, bc.Len(), i%3)
			}
		}
		if !slices.Equal(got, all) {
			t.Fatalf("p=%d split state: got %q, want every element once in order %q", newP, got, all)
		}
		base := len(all) / newP
		for n := range sizes {
			if n != base && n != base+1 {
				t.Fatalf("p=%d split state slice sizes %v, want %d or %d", newP, sizes, base, base+1)
			}
		}
	}
}

// testSnapshotIsolation: what a snapshot holds is the state at capture
// time, whatever is written between capture and write.
func testSnapshotIsolation(t *testing.T, f Factory) {
	store := newStore(t)
	s := withStates(t, newCluster(t, f, 2, 128))
	keys := keyNames(150)
	m := fill(t, s, 7, 2000, keys)
	atCapture := m.clone()
	cs := s.capture()
	// Every kind of write, on existing and new keys and namespaces.
	if err := mutate(s, m, rand.New(rand.NewPCG(8, 9)), 3000, append(keys, keyNames(300)[150:]...), append(testNamespaces, "w3")); err != nil {
		t.Fatal(err)
	}
	dir := snapshot.CheckpointDir("conformance", 1)
	must(t, cs.write(s.cluster, store, dir, 1))
	must(t, s.notifyComplete(1))
	withStates(t, mustRestore(t, f, store, dir, 2, 128)).verify(t, atCapture, testNamespaces)
	// The live state has every write, and stays right when writes go on
	// after the capture is released (overlays fold back into the base).
	nss := append(testNamespaces, "w3")
	s.verify(t, m, nss)
	if err := mutate(s, m, rand.New(rand.NewPCG(10, 11)), 3000, keys, nss); err != nil {
		t.Fatal(err)
	}
	s.verify(t, m, nss)
	dir2 := s.checkpoint(store, 2)
	withStates(t, mustRestore(t, f, store, dir2, 3, 128)).verify(t, m, nss)
}

// testSnapshotConcurrentWrites writes a capture on another goroutine while
// the task goes on writing (run it with -race).
func testSnapshotConcurrentWrites(t *testing.T, f Factory) {
	store := newStore(t)
	s := withStates(t, newCluster(t, f, 1, 128))
	keys := keyNames(200)
	m := fill(t, s, 11, 2000, keys)
	var snaps []model
	var dirs []string
	var wg sync.WaitGroup
	errs := make(chan error, 5)
	r := rand.New(rand.NewPCG(12, 13))
	for i := range 5 {
		snaps = append(snaps, m.clone())
		cs := s.capture()
		dir := snapshot.CheckpointDir("conformance", int64(i+1))
		dirs = append(dirs, dir)
		wg.Go(func() {
			if err := cs.write(s.cluster, store, dir, int64(i+1)); err != nil {
				errs <- err
			}
		})
		if err := mutate(s, m, r, 1500, keys, testNamespaces); err != nil {
			t.Fatal(err)
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for i := range dirs {
		must(t, s.notifyComplete(int64(i+1)))
	}
	for i, dir := range dirs {
		withStates(t, mustRestore(t, f, store, dir, 1, 128)).verify(t, snaps[i], testNamespaces)
	}
}

// testCorruptFiles flips bytes of, and truncates, every file of a
// checkpoint: the restore must fail with ErrCorrupt naming the file.
func testCorruptFiles(t *testing.T, f Factory) {
	root := t.TempDir()
	store, err := file.New(root)
	must(t, err)
	s := withStates(t, newCluster(t, f, 2, 128))
	fill(t, s, 21, 400, keyNames(60))
	for i, o := range s.operator {
		l, err := state.GetListOperatorState(o, "offsets", serializer.Int64{})
		must(t, err)
		l.Add(int64(i))
	}
	dir := s.checkpoint(store, 1)
	files := checkpointFiles(t, root, dir)
	if len(files) < 3 {
		t.Fatalf("checkpoint has %d files, want keyed, operator and _metadata files", len(files))
	}
	restore := func() error {
		c, err := restoreCluster(t, f, store, dir, 2, 128)
		if err == nil {
			for _, b := range c.keyed {
				openStates(t, b) // decode everything
			}
		}
		return err
	}
	for _, file := range files {
		t.Run(file.name, func(t *testing.T) {
			orig := file.read(t)
			defer file.write(t, orig)
			expectCorrupt := func(what string) {
				t.Helper()
				err := restore()
				if !errors.Is(err, snapshot.ErrCorrupt) {
					t.Fatalf("%s: restore gave %v, want ErrCorrupt", what, err)
				}
				if !strings.Contains(err.Error(), file.name) {
					t.Fatalf("%s: error %q does not name %s", what, err, file.name)
				}
			}
			for _, pos := range positions(len(orig)) {
				b := slices.Clone(orig)
				b[pos] ^= 0x01 << (pos % 8)
				file.write(t, b)
				expectCorrupt(fmt.Sprintf("byte %d of %d flipped", pos, len(orig)))
			}
			for _, n := range slices.Compact([]int{0, 1, len(orig) / 2, len(orig) - 1}) {
				if n < 0 || n >= len(orig) {
					continue
				}
				file.write(t, orig[:n])
				expectCorrupt(fmt.Sprintf("truncated to %d of %d bytes", n, len(orig)))
			}
			file.write(t, append(slices.Clone(orig), 0))
			expectCorrupt("one byte appended")
			file.write(t, orig)
			if err := restore(); err != nil {
				t.Fatalf("restore of the repaired checkpoint: %v", err)
			}
		})
	}
	if errs := snapshot.Verify(context.Background(), store, dir, mustMetadata(t, store, dir)); len(errs) > 0 {
		t.Fatalf("Verify of the intact checkpoint: %v", errs)
	}
}

// positions returns every byte position of small files, and for larger
// ones the first and last 128 bytes plus 256 random ones. (A CRC32C
// detects every single-byte change, so sampling large files loses no
// case the check could miss.)
func positions(n int) []int {
	if n <= 1024 {
		ps := make([]int, n)
		for i := range ps {
			ps[i] = i
		}
		return ps
	}
	var ps []int
	for i := range 128 {
		ps = append(ps, i, n-1-i)
	}
	r := rand.New(rand.NewPCG(uint64(n), 3))
	for range 256 {
		ps = append(ps, r.IntN(n))
	}
	return ps
}

func mustMetadata(t testing.TB, store snapshot.Storage, dir string) *snapshot.Metadata {
	t.Helper()
	md, err := snapshot.ReadMetadata(context.Background(), store, dir)
	must(t, err)
	return md
}

func testSerializerMigration(t *testing.T, f Factory) {
	store := newStore(t)
	c := newCluster(t, f, 2, 128)
	old := state.ValueDescriptor[int32]{Name: "count", Serializer: serializer.Int32{}}
	keys := keyNames(100)
	for _, k := range keys {
		i, b := c.owner(k)
		st, err := state.GetValueState(b, old)
		must(t, err)
		_ = i
		must(t, st.Update(int32(len(k))*1000))
	}
	dir := c.checkpoint(store, 1)
	r := mustRestore(t, f, store, dir, 3, 128)
	newDesc := state.ValueDescriptor[int64]{Name: "count", Serializer: serializer.Int64{}}
	sts := make([]state.ValueState[int64], len(r.keyed))
	for i, b := range r.keyed {
		st, err := state.GetValueState(b, newDesc)
		if err != nil {
			t.Fatalf("int64 serializer over int32 data (a migration): %v", err)
		}
		sts[i] = st
	}
	for _, k := range keys {
		i, _ := r.owner(k)
		if v, ok, err := sts[i].Value(); err != nil || !ok || v != int64(len(k))*1000 {
			t.Fatalf("migrated value of %q: got (%d, %v, %v), want %d", k, v, ok, err, len(k)*1000)
		}
	}
	// The next snapshot is written by the new serializer.
	dir2 := r.checkpoint(store, 2)
	md := mustMetadata(t, store, dir2)
	for _, st := range md.Operators[0].Subtasks {
		for _, h := range st.Keyed {
			for _, sm := range h.States {
				if sm.Name == "count" && sm.Serializers[0].Name != "int64" {
					t.Fatalf("state after migration is written by %q, want int64", sm.Serializers[0].Name)
				}
			}
		}
	}
}

func testIncompatibleSerializer(t *testing.T, f Factory) {
	store := newStore(t)
	s := withStates(t, newCluster(t, f, 1, 128))
	fill(t, s, 31, 200, keyNames(20))
	dir := s.checkpoint(store, 1)
	r := mustRestore(t, f, store, dir, 1, 128)
	_, err := state.GetValueState(r.keyed[0], state.ValueDescriptor[string]{Name: valueDesc.Name, Serializer: serializer.String{}})
	if !errors.Is(err, backend.ErrIncompatibleSerializer) {
		t.Fatalf("string serializer over int64 data: got %v, want ErrIncompatibleSerializer", err)
	}
	for _, want := range []string{testUID, valueDesc.Name, "int64", "string"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %q", err, want)
		}
	}
	// Keys are never migrated: a restore with another key serializer fails.
	md := mustMetadata(t, store, dir)
	b, err := f(backend.KeyedOptions[string]{OperatorUID: testUID, MaxParallelism: 128,
		KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: otherKeySerializer{}})
	must(t, err)
	defer b.Close()
	err = b.Restore(context.Background(), backend.KeyedRestoreSource(store, dir, &md.Operators[0]))
	if !errors.Is(err, backend.ErrIncompatibleSerializer) {
		t.Fatalf("restore with another key serializer: got %v, want ErrIncompatibleSerializer", err)
	}
}

// otherKeySerializer writes strings like StringSerializer but claims
// another identity.
type otherKeySerializer struct{ serializer.String }

func (otherKeySerializer) Snapshot() serializer.Snapshot {
	return serializer.Snapshot{Name: "other-string", Version: 1}
}
func (s otherKeySerializer) Compatibility(old serializer.Snapshot) serializer.Compatibility[string] {
	return serializer.Same[string](s.Snapshot(), old)
}

func testMaxParallelismChange(t *testing.T, f Factory) {
	store := newStore(t)
	s := withStates(t, newCluster(t, f, 2, 128))
	fill(t, s, 41, 100, keyNames(20))
	dir := s.checkpoint(store, 1)
	_, err := restoreCluster(t, f, store, dir, 2, 256)
	if !errors.Is(err, backend.ErrMaxParallelismMismatch) {
		t.Fatalf("restore with maxParallelism 256 of a 128 snapshot: got %v, want ErrMaxParallelismMismatch", err)
	}
	for _, want := range []string{"128", "256"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not name %s", err, want)
		}
	}
}

// testRandomized runs thousands of random operations against the model,
// with checkpoints restored at random parallelism along the way.
func testRandomized(t *testing.T, f Factory) {
	store := newStore(t)
	r := rand.New(rand.NewPCG(2026, 11))
	keys := keyNames(300)
	p := 2
	s := withStates(t, newCluster(t, f, p, 128))
	m := model{}
	steps := 0
	for round := range 12 {
		n := 500 + r.IntN(1000)
		if err := mutate(s, m, r, n, keys, testNamespaces); err != nil {
			t.Fatalf("round %d: %v", round, err)
		}
		steps += n
		s.verify(t, m, testNamespaces)
		dir := s.checkpoint(store, int64(round+1))
		p = 1 + r.IntN(6)
		s = withStates(t, mustRestore(t, f, store, dir, p, 128))
		s.verify(t, m, testNamespaces)
	}
	if steps < 5000 {
		t.Fatalf("only %d random steps", steps)
	}
}
