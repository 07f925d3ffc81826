package lsm_test

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/backendtest"
	"github.com/stated-io/stated/backend/lsm"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

// TestRestoreHeapSnapshot restores a heap snapshot (key-group stream
// format) into lsm at another parallelism.
func TestRestoreHeapSnapshot(t *testing.T) {
	backendtest.RunCrossRestore(t, heapFactory, factory(t))
}

// job is one lsm subtask checkpointing into a file store.
type job struct {
	t     *testing.T
	store snapshot.Storage
	b     *lsm.Backend[string]
	value state.ValueState[[]byte]
}

func newJob(t *testing.T, store snapshot.Storage, dir string) *job {
	b, err := lsm.New(lsm.Options[string]{Dir: dir, MemTableSize: 1 << 20, KeyedOptions: backend.KeyedOptions[string]{
		OperatorUID: "op", MaxParallelism: 128, KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: serializer.String{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	v, err := state.GetValueState(b, state.ValueDescriptor[[]byte]{Name: "v", Serializer: serializer.Bytes{}})
	if err != nil {
		t.Fatal(err)
	}
	return &job{t: t, store: store, b: b, value: v}
}

// value is tag followed by 100 incompressible bytes.
func value(tag string, i int) []byte {
	r := rand.New(rand.NewPCG(uint64(i), uint64(len(tag))))
	v := []byte(tag)
	for range 100 {
		v = append(v, byte(r.Uint32()))
	}
	return v
}

func (j *job) put(from, to int, tag string) {
	for i := from; i < to; i++ {
		if err := j.b.SetCurrentKey(fmt.Sprintf("key-%06d", i)); err != nil {
			j.t.Fatal(err)
		}
		if err := j.value.Update(value(tag, i)); err != nil {
			j.t.Fatal(err)
		}
	}
}

// checkpoint writes and commits checkpoint id and returns its metadata.
func (j *job) checkpoint(id int64) (string, *snapshot.Metadata) {
	ctx := context.Background()
	c, err := j.b.Snapshot()
	if err != nil {
		j.t.Fatal(err)
	}
	dir := snapshot.CheckpointDir("job", id)
	hs, err := c.Write(ctx, backend.SnapshotTarget{Store: j.store, Dir: dir, FilePrefix: "op-0", CheckpointID: id,
		Kind: snapshot.KindCheckpoint, SharedDir: "../shared"})
	if err != nil {
		j.t.Fatal(err)
	}
	md := &snapshot.Metadata{JobID: "job", CheckpointID: id, Kind: snapshot.KindCheckpoint, Completed: time.Now(),
		Operators: []snapshot.OperatorState{{UID: "op", Parallelism: 1, MaxParallelism: 128, Subtasks: []snapshot.SubtaskState{{Keyed: hs}}}}}
	if err := snapshot.CommitMetadata(ctx, j.store, dir, md); err != nil {
		j.t.Fatal(err)
	}
	if err := j.b.NotifyCheckpointComplete(id); err != nil {
		j.t.Fatal(err)
	}
	return dir, md
}

func sharedFiles(md *snapshot.Metadata) map[string]int64 {
	out := map[string]int64{}
	for _, f := range md.Operators[0].Subtasks[0].Keyed[0].Files {
		if f.Scope == snapshot.ScopeShared {
			out[f.Path] = f.Size
		}
	}
	return out
}

// TestIncrementalUploadsOnlyNewFiles: after a small update, a checkpoint
// references the SST files of the previous one and uploads only new ones.
func TestIncrementalUploadsOnlyNewFiles(t *testing.T) {
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j := newJob(t, store, t.TempDir())
	j.put(0, 100000, "a")
	if err := j.b.Compact(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, md1 := j.checkpoint(1)
	j.put(0, 1000, "b") // 1% of the keys
	dir2, md2 := j.checkpoint(2)
	first, second := sharedFiles(md1), sharedFiles(md2)
	var reused, fresh int64
	for p, size := range second {
		if _, ok := first[p]; ok {
			reused += size
		} else {
			fresh += size
		}
	}
	t.Logf("checkpoint 2 after a 1%% update: %d bytes of new SST files, %d bytes referenced from checkpoint 1", fresh, reused)
	if reused == 0 || fresh*10 > reused {
		t.Fatalf("checkpoint 2 uploads %d bytes of new SST files and reuses %d: want at most 10%% new", fresh, reused)
	}
	// Checkpoint 2 restores to its own state, incremental or not.
	r := newRestored(t, store, dir2, backend.Claim)
	for _, k := range []int{0, 999, 1000, 99999} {
		want := "a"
		if k < 1000 {
			want = "b"
		}
		if err := r.b.SetCurrentKey(fmt.Sprintf("key-%06d", k)); err != nil {
			t.Fatal(err)
		}
		v, ok, err := r.value.Value()
		if err != nil || !ok || string(v) != string(value(want, k)) {
			t.Fatalf("key %d after restore: (%.10q, %v, %v), want %q…", k, v, ok, err, want)
		}
	}
	// After a same-range restore in CLAIM mode the history is kept: the
	// next checkpoint references the restored files.
	r.put(500, 510, "c")
	_, md3 := r.checkpoint(3)
	if n := common(sharedFiles(md3), second); n == 0 {
		t.Fatal("the first checkpoint after a CLAIM restore references none of the restored files")
	}
	// In NO_CLAIM mode the first checkpoint after the restore is full.
	nc := newRestored(t, store, dir2, backend.NoClaim)
	nc.put(500, 510, "d")
	_, md4 := nc.checkpoint(4)
	if n := common(sharedFiles(md4), second); n != 0 {
		t.Fatalf("the first checkpoint after a NO_CLAIM restore references %d restored files, want none", n)
	}
}

// common counts the paths in both a and b.
func common(a, b map[string]int64) int {
	n := 0
	for p := range a {
		if _, ok := b[p]; ok {
			n++
		}
	}
	return n
}

func newRestored(t *testing.T, store snapshot.Storage, dir string, mode backend.ClaimMode) *job {
	md, err := snapshot.ReadMetadata(context.Background(), store, dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := lsm.New(lsm.Options[string]{Dir: t.TempDir(), KeyedOptions: backend.KeyedOptions[string]{
		OperatorUID: "op", MaxParallelism: 128, KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: serializer.String{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	src := backend.KeyedRestoreSource(store, dir, &md.Operators[0])
	src.Mode = mode
	if err := b.Restore(context.Background(), src); err != nil {
		t.Fatal(err)
	}
	v, err := state.GetValueState(b, state.ValueDescriptor[[]byte]{Name: "v", Serializer: serializer.Bytes{}})
	if err != nil {
		t.Fatal(err)
	}
	return &job{t: t, store: store, b: b, value: v}
}

// TestDeletedSharedFile: a shared file deleted by hand behind a retained
// checkpoint makes its restore fail with an error naming the file.
func TestDeletedSharedFile(t *testing.T) {
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j := newJob(t, store, t.TempDir())
	j.put(0, 5000, "a")
	j.checkpoint(1)
	j.put(0, 10, "b")
	dir, md := j.checkpoint(2)
	var victim string
	for p := range sharedFiles(md) {
		victim = p
		break
	}
	if victim == "" {
		t.Fatal("checkpoint 2 has no shared file")
	}
	stored, err := snapshot.ResolvePath(dir, victim)
	if err != nil {
		t.Fatal(err)
	}
	if err := store.Delete(context.Background(), stored); err != nil {
		t.Fatal(err)
	}
	b, err := lsm.New(lsm.Options[string]{Dir: t.TempDir(), KeyedOptions: backend.KeyedOptions[string]{
		OperatorUID: "op", MaxParallelism: 128, KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: serializer.String{}}})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	err = b.Restore(context.Background(), backend.KeyedRestoreSource(store, dir, &md.Operators[0]))
	if !errors.Is(err, snapshot.ErrNotExist) || !strings.Contains(err.Error(), stored) {
		t.Fatalf("restore with %s deleted: got %v, want ErrNotExist naming the file", stored, err)
	}
}

// TestSavepointAndFullCheckpoints: a native savepoint and a checkpoint with
// incremental off hold every file themselves; nothing is shared and no
// path leaves the directory.
func TestSavepointAndFullCheckpoints(t *testing.T) {
	ctx := context.Background()
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	off := false
	for _, tc := range []struct {
		name        string
		kind        snapshot.Kind
		incremental *bool
	}{{"savepoint", snapshot.KindSavepoint, nil}, {"non-incremental", snapshot.KindCheckpoint, &off}} {
		t.Run(tc.name, func(t *testing.T) {
			b, err := lsm.New(lsm.Options[string]{Dir: t.TempDir(), Incremental: tc.incremental, KeyedOptions: backend.KeyedOptions[string]{
				OperatorUID: "op", MaxParallelism: 128, KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: serializer.String{}}})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			j := &job{t: t, store: store, b: b}
			if j.value, err = state.GetValueState(b, state.ValueDescriptor[[]byte]{Name: "v", Serializer: serializer.Bytes{}}); err != nil {
				t.Fatal(err)
			}
			for id := int64(1); id <= 2; id++ {
				j.put(0, 2000, fmt.Sprint(id))
				c, err := b.Snapshot()
				if err != nil {
					t.Fatal(err)
				}
				dir := fmt.Sprintf("%s-%d", tc.name, id)
				hs, err := c.Write(ctx, backend.SnapshotTarget{Store: store, Dir: dir, FilePrefix: "op-0", CheckpointID: id, Kind: tc.kind, SharedDir: "../shared"})
				if err != nil {
					t.Fatal(err)
				}
				if err := b.NotifyCheckpointComplete(id); err != nil {
					t.Fatal(err)
				}
				for _, f := range hs[0].Files {
					if f.Scope != snapshot.ScopeExclusive || strings.HasPrefix(f.Path, "..") {
						t.Fatalf("%s %d holds %+v: want every file exclusive inside its directory", tc.name, id, f)
					}
				}
			}
		})
	}
}

// failingStore fails the creation of files whose name contains fail.
type failingStore struct {
	snapshot.Storage
	fail string
}

func (s failingStore) Create(ctx context.Context, name string, o snapshot.CreateOptions) (snapshot.FileWriter, error) {
	if strings.Contains(name, s.fail) {
		return nil, fmt.Errorf("injected failure creating %s", name)
	}
	return s.Storage.Create(ctx, name, o)
}

// TestFailedCheckpointKeepsCommittedOnes: a checkpoint that started before
// the previous one was confirmed uploads that one's new files again; when
// it then fails, its cleanup must not remove the committed checkpoint's
// files.
func TestFailedCheckpointKeepsCommittedOnes(t *testing.T) {
	ctx := context.Background()
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	j := newJob(t, store, t.TempDir())
	j.put(0, 3000, "a")
	c1, err := j.b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	c2, err := j.b.Snapshot() // before checkpoint 1 is confirmed
	if err != nil {
		t.Fatal(err)
	}
	target := func(s snapshot.Storage, id int64) backend.SnapshotTarget {
		return backend.SnapshotTarget{Store: s, Dir: snapshot.CheckpointDir("job", id), FilePrefix: "op-0", CheckpointID: id,
			Kind: snapshot.KindCheckpoint, SharedDir: "../shared"}
	}
	hs, err := c1.Write(ctx, target(store, 1))
	if err != nil {
		t.Fatal(err)
	}
	md := &snapshot.Metadata{JobID: "job", CheckpointID: 1, Kind: snapshot.KindCheckpoint, Completed: time.Now(),
		Operators: []snapshot.OperatorState{{UID: "op", Parallelism: 1, MaxParallelism: 128, Subtasks: []snapshot.SubtaskState{{Keyed: hs}}}}}
	if err := snapshot.CommitMetadata(ctx, store, snapshot.CheckpointDir("job", 1), md); err != nil {
		t.Fatal(err)
	}
	if _, err := c2.Write(ctx, target(failingStore{store, "MANIFEST"}, 2)); err == nil {
		t.Fatal("checkpoint 2 did not fail")
	}
	if errs := snapshot.Verify(ctx, store, snapshot.CheckpointDir("job", 1), md); len(errs) > 0 {
		t.Fatalf("checkpoint 1 damaged by the failure of checkpoint 2: %v", errs)
	}
}
