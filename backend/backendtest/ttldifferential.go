package backendtest

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/stated-io/stated/ttl"
)

// RunTTLDifferential is RunDifferential for states with TTL: the same
// random operations and reads run against the reference (heap) and the
// candidate while a fake clock moves on by random steps, so that values,
// list elements and map entries keep expiring, under both update types.
// Every read, the keys of every state after each round, and the whole
// content after each checkpoint and restore at a new random parallelism
// must agree. Visibility is ttl.NeverReturnExpired: what a read returns
// does not depend on how much each backend has cleaned up.
func RunTTLDifferential(t *testing.T, reference, candidate Factory) {
	for _, update := range []ttl.UpdateType{ttl.OnCreateAndWrite, ttl.OnReadAndWrite} {
		t.Run(update.String(), func(t *testing.T) { ttlDifferential(t, reference, candidate, update) })
	}
}

func ttlDifferential(t *testing.T, reference, candidate Factory, update ttl.UpdateType) {
	cfg := &ttl.Config{TTL: 2 * time.Second, Update: update}
	refStore, candStore := newStore(t), newStore(t)
	r := rand.New(rand.NewPCG(777, uint64(update)))
	keys := keyNames(120)
	refClock, candClock := ttl.NewManualClock(t0), ttl.NewManualClock(t0)
	p := 2
	ref := newTTLCluster(t, reference, p, refClock, cfg)
	cand := newTTLCluster(t, candidate, p, candClock, cfg)
	now := t0
	steps := 0
	compare := func(what, key, ns string) {
		t.Helper()
		want, err := read(ref.at(key), ns)
		if err != nil {
			t.Fatalf("step %d: reference read: %v", steps, err)
		}
		got, err := read(cand.at(key), ns)
		if err != nil {
			t.Fatalf("step %d: candidate read: %v", steps, err)
		}
		if diff := want.diff(got); diff != "" {
			t.Fatalf("step %d at %+dms: %s on key %q namespace %q: the candidate differs from the reference: %s",
				steps, now-t0, what, key, ns, diff)
		}
	}
	for round := range 6 {
		for range 300 + r.IntN(300) {
			now += r.Int64N(120)
			refClock.Set(now)
			candClock.Set(now)
			key, ns := keys[r.IntN(len(keys))], testNamespaces[r.IntN(len(testNamespaces))]
			o := randomOps[r.IntN(len(randomOps))]
			seed := r.Uint64()
			for _, s := range []*ttlCluster{ref, cand} {
				st := s.at(key)
				st.setNamespace(ns)
				if err := o.do(rand.New(rand.NewPCG(seed, 1)), st, &entry{}); err != nil {
					t.Fatalf("step %d: %s on %q/%q: %v", steps, o.name, key, ns, err)
				}
			}
			steps++
			if r.IntN(3) == 0 { // reads change state too (cleanup, re-stamping)
				compare(o.name, key, ns)
			}
		}
		for _, ns := range testNamespaces {
			for _, name := range stateNames {
				want, got := keysOf(t, ref.cluster, name, ns), keysOf(t, cand.cluster, name, ns)
				if !slices.Equal(want, got) {
					t.Fatalf("round %d: Keys(%q, %q): reference %v, candidate %v", round, name, ns, head(want), head(got))
				}
			}
		}
		p = 1 + r.IntN(4)
		refDir := ref.checkpoint(refStore, int64(round+1))
		candDir := cand.checkpoint(candStore, int64(round+1))
		ref = restoreTTLCluster(t, reference, refStore, refDir, p, refClock, cfg)
		cand = restoreTTLCluster(t, candidate, candStore, candDir, p, candClock, cfg)
		for _, k := range keys {
			for _, ns := range testNamespaces {
				compare("restore", k, ns)
			}
		}
	}
}
