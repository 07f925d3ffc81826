package backendtest

import (
	"context"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
)

// The cases below check who owns the files of a checkpoint: the
// bookkeeping that lets incremental backends reference files of earlier
// checkpoints must reference only files that stay. They delete files the
// way the shared-file registry does (incremental/): the files only an
// aborted checkpoint wrote at once, and a restored checkpoint's files when
// nothing that is kept references them.

// subtaskFiles returns the storage names of every file the subtask states
// of a snapshot in dir reference.
func subtaskFiles(t testing.TB, dir string, subtasks []snapshot.SubtaskState) map[string]bool {
	t.Helper()
	files := map[string]bool{}
	for i := range subtasks {
		err := subtasks[i].EachFile(func(ref snapshot.FileRef) error {
			p, err := snapshot.ResolvePath(dir, ref.Path)
			files[p] = true
			return err
		})
		must(t, err)
	}
	return files
}

// checkpointFileSet returns the storage names of the _metadata of the
// checkpoint in dir and of every file it references.
func checkpointFileSet(t testing.TB, store snapshot.Storage, dir string) map[string]bool {
	t.Helper()
	files := subtaskFiles(t, dir, mustMetadata(t, store, dir).Operators[0].Subtasks)
	files[dir+"/"+snapshot.MetadataName] = true
	return files
}

// deleteFiles deletes every file of files that keep lacks.
func deleteFiles(t testing.TB, store snapshot.Storage, files, keep map[string]bool) {
	t.Helper()
	for p := range files {
		if !keep[p] {
			must(t, store.Delete(context.Background(), p))
		}
	}
}

// checkpointed returns a cluster of 2 subtasks filled from seed, its model
// and keys, and the directory of its checkpoint 1 in store.
func checkpointed(t *testing.T, f Factory, store snapshot.Storage, seed uint64) (*stateful, model, []string, string) {
	t.Helper()
	s := withStates(t, newCluster(t, f, 2, 128))
	keys := keyNames(200)
	m := fill(t, s, seed, 2000, keys)
	return s, m, keys, s.checkpoint(store, 1)
}

// testAbortedCheckpoint: a checkpoint written and then aborted is removed
// with every file only it wrote; the checkpoints after it must not
// reference any of them (an incremental backend may build only on
// checkpoints that completed).
func testAbortedCheckpoint(t *testing.T, f Factory) {
	store := newStore(t)
	s, m, keys, dir1 := checkpointed(t, f, store, 51)
	m1 := m.clone()
	r := newRand(52)
	for id := int64(2); id <= 3; id++ { // two in a row: the second must not build on the first
		if err := mutate(s, m, r, 1500, keys, testNamespaces); err != nil {
			t.Fatal(err)
		}
		dir := snapshot.CheckpointDir("conformance", id)
		op, err := s.capture().writeHandles(s.cluster, store, dir, id, snapshot.KindCheckpoint)
		must(t, err)
		must(t, s.notifyAborted(id))
		deleteFiles(t, store, subtaskFiles(t, dir, op.Subtasks), checkpointFileSet(t, store, dir1))
	}
	if err := mutate(s, m, r, 300, keys, testNamespaces); err != nil {
		t.Fatal(err)
	}
	dir4 := s.checkpoint(store, 4)
	withStates(t, mustRestore(t, f, store, dir4, 3, 128)).verify(t, m, testNamespaces)
	withStates(t, mustRestore(t, f, store, dir1, 2, 128)).verify(t, m1, testNamespaces)
}

// testClaimModes: after a restore in NO_CLAIM mode the restored checkpoint
// stays its owner's: no later checkpoint references a file of it, so
// deleting it loses nothing. After a restore in CLAIM mode later
// checkpoints may reference its files; once a later one completes, the
// restored checkpoint ages out like any other, and only the files it alone
// references are deleted. The restores keep the key groups, so that an
// incremental backend can reference everything.
func testClaimModes(t *testing.T, f Factory) {
	for _, tc := range []struct {
		name string
		mode backend.ClaimMode
	}{{"NoClaim", backend.NoClaim}, {"Claim", backend.Claim}} {
		t.Run(tc.name, func(t *testing.T) {
			store := newStore(t)
			_, m, keys, dir1 := checkpointed(t, f, store, 61+uint64(tc.mode))
			c, err := restoreClusterWith(t, f, store, dir1, 2, 128, settings{}, tc.mode)
			if err != nil {
				t.Fatalf("restore %s: %v", dir1, err)
			}
			r := withStates(t, c)
			if err := mutate(r, m, newRand(62), 200, keys, testNamespaces); err != nil {
				t.Fatal(err)
			}
			dir2 := r.checkpoint(store, 2)
			restored, kept := checkpointFileSet(t, store, dir1), checkpointFileSet(t, store, dir2)
			for p := range kept {
				if restored[p] && tc.mode == backend.NoClaim {
					t.Fatalf("checkpoint 2, taken after a NO_CLAIM restore of checkpoint 1, references %s of checkpoint 1", p)
				}
			}
			deleteFiles(t, store, restored, kept)
			withStates(t, mustRestore(t, f, store, dir2, 3, 128)).verify(t, m, testNamespaces)
		})
	}
}
