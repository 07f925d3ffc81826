package backendtest

import (
	"context"
	"slices"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
)

// registrationOrders are the orders in which the subtasks of the cases
// below register the states (indexes into stateNames): a backend that
// numbers states by registration gives them other numbers on every
// subtask, and a restore that merges or splits their snapshots must match
// states by name.
var registrationOrders = [][]int{{4, 2, 0, 3, 1}, {1, 3, 4, 0, 2}, {2, 0, 1, 4, 3}, {3, 4, 2, 1, 0}, {0, 1, 2, 3, 4}}

// withStatesShuffled opens the states on every subtask of c, subtask i in
// registrationOrders[i+shift].
func withStatesShuffled(t testing.TB, c *cluster, shift int) *stateful {
	t.Helper()
	s := &stateful{cluster: c}
	for i, b := range c.keyed {
		s.states = append(s.states, openStatesOrdered(t, b, nil, registrationOrders[(i+shift)%len(registrationOrders)]))
	}
	return s
}

// testShuffledRegistration restores, at other parallelisms, the snapshots
// of subtasks that registered their states in different orders, and
// registers them in other orders again.
func testShuffledRegistration(t *testing.T, f Factory) {
	store := newStore(t)
	s := withStatesShuffled(t, newCluster(t, f, 3, 128), 0)
	keys := keyNames(300)
	m := fill(t, s, 5, 3000, keys)
	dir := s.checkpoint(store, 1)
	for _, p := range []int{1, 2, 4} {
		r := withStatesShuffled(t, mustRestore(t, f, store, dir, p, 128), p)
		r.verify(t, m, testNamespaces)
	}
	// Once more through a restored backend, whose numbering comes from
	// the snapshot it restored.
	r := withStatesShuffled(t, mustRestore(t, f, store, dir, 2, 128), 1)
	m2 := m.clone()
	if err := mutate(r, m2, newRand(6), 1000, keys, testNamespaces); err != nil {
		t.Fatal(err)
	}
	dir2 := r.checkpoint(store, 2)
	withStatesShuffled(t, mustRestore(t, f, store, dir2, 3, 128), 3).verify(t, m2, testNamespaces)
}

// testRestoredStatesSurvive: state restored but not registered again is
// part of every later snapshot, through restores that merge and split
// snapshots, and Keys enumerates it by state and namespace all along.
func testRestoredStatesSurvive(t *testing.T, f Factory) {
	store := newStore(t)
	s := withStatesShuffled(t, newCluster(t, f, 2, 128), 0)
	m := fill(t, s, 3, 2000, keyNames(150))
	dir := s.checkpoint(store, 1)
	for i, p := range []int{1, 3} { // merges two snapshots, then splits one
		bare := mustRestore(t, f, store, dir, p, 128)
		bare.verifyKeys(t, m, testNamespaces)
		dir = bare.checkpoint(store, int64(i+2))
		wantStatesNamed(t, store, dir)
	}
	withStatesShuffled(t, mustRestore(t, f, store, dir, 2, 128), 2).verify(t, m, testNamespaces)
}

// wantStatesNamed fails unless every keyed handle of the checkpoint in dir
// lists every conformance state.
func wantStatesNamed(t testing.TB, store snapshot.Storage, dir string) {
	t.Helper()
	md, err := snapshot.ReadMetadata(context.Background(), store, dir)
	must(t, err)
	for i, st := range md.Operators[0].Subtasks {
		for _, h := range st.Keyed {
			var names []string
			for _, m := range h.States {
				names = append(names, m.Name)
			}
			for _, want := range stateNames {
				if !slices.Contains(names, want) {
					t.Fatalf("%s: the handle of subtask %d (key groups %v) lists states %q: %q, restored but not registered, is missing",
						dir, i, backend.HandleKeyGroups(&h), names, want)
				}
			}
		}
	}
}
