package backendtest

import (
	"fmt"
	"slices"
	"testing"
)

// RunCrossRestore checkpoints state and timers written by one backend and
// restores them into another at a different parallelism: a snapshot in
// the key-group stream format (heap snapshots, canonical savepoints)
// restores into any backend.
func RunCrossRestore(t *testing.T, writer, reader Factory) {
	store := newStore(t)
	s := withStates(t, newCluster(t, writer, 2, 128))
	m := fill(t, s, 99, 3000, keyNames(300))
	var want []string
	for i, ts := range timerServices(t, s.cluster) {
		for k := range 200 {
			key := fmt.Sprint("timer-", k)
			if owner, _ := s.owner(key); owner != i {
				continue
			}
			for _, ns := range []string{"", "w"} {
				must(t, ts.RegisterEventTimeTimer(ns, int64(k)))
				must(t, ts.RegisterProcessingTimeTimer(ns, int64(1000+k)))
				want = append(want, fmt.Sprintf("%s/%s@%d", key, ns, 1000+k))
				if k >= 100 {
					want = append(want, fmt.Sprintf("%s/%s@%d", key, ns, k))
				}
			}
		}
		var fired []string
		must(t, ts.AdvanceWatermark(99, firedList(t, s.keyed[i], &fired)))
	}
	dir := s.checkpoint(store, 1)
	r := withStates(t, mustRestore(t, reader, store, dir, 3, 128))
	r.verify(t, m, testNamespaces)
	var got []string
	for i, ts := range timerServices(t, r.cluster) {
		must(t, ts.AdvanceWatermark(1<<40, firedList(t, r.keyed[i], &got)))
		must(t, ts.AdvanceProcessingTime(1<<40, firedList(t, r.keyed[i], &got)))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("timers after the restore: got %d %q..., want %d %q...", len(got), head(got), len(want), head(want))
	}
}
