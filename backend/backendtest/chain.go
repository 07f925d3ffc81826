package backendtest

import (
	"math/rand/v2"
	"testing"
)

// testCheckpointChain takes 10 checkpoints of one running cluster, with
// writes between them, and restores every one of them to exactly its
// state: incremental backends must keep every checkpoint whole while they
// share files between them.
func testCheckpointChain(t *testing.T, f Factory) {
	store := newStore(t)
	s := withStates(t, newCluster(t, f, 2, 128))
	keys := keyNames(300)
	m := model{}
	r := rand.New(rand.NewPCG(77, 78))
	var snaps []model
	var dirs []string
	for i := range 10 {
		n := 1500
		if i > 0 {
			n = 150 // small updates: most files stay shared
		}
		if err := mutate(s, m, r, n, keys, testNamespaces); err != nil {
			t.Fatal(err)
		}
		dirs = append(dirs, s.checkpoint(store, int64(i+1)))
		snaps = append(snaps, m.clone())
	}
	for i, dir := range dirs {
		withStates(t, mustRestore(t, f, store, dir, 2, 128)).verify(t, snaps[i], testNamespaces)
	}
}
