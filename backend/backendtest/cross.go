package backendtest

import "testing"

// RunCrossRestore checkpoints state written by one backend and restores it
// into another at a different parallelism: a snapshot in the key-group
// stream format (heap snapshots, canonical savepoints) restores into any
// backend.
func RunCrossRestore(t *testing.T, writer, reader Factory) {
	store := newStore(t)
	s := withStates(t, newCluster(t, writer, 2, 128))
	m := fill(t, s, 99, 3000, keyNames(300))
	dir := s.checkpoint(store, 1)
	withStates(t, mustRestore(t, reader, store, dir, 3, 128)).verify(t, m, testNamespaces)
}
