package backendtest

import (
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"testing"
)

// RunDifferential runs the same random operations against a reference
// backend (the heap backend is the reference model) and a candidate, and
// fails at the first read whose result differs. Every few hundred
// operations both are checkpointed and restored at a new random
// parallelism, and their whole content is compared.
func RunDifferential(t *testing.T, reference, candidate Factory) {
	refStore, candStore := newStore(t), newStore(t)
	r := rand.New(rand.NewPCG(4242, 7))
	keys := keyNames(250)
	p := 2
	ref := withStates(t, newCluster(t, reference, p, 128))
	cand := withStates(t, newCluster(t, candidate, p, 128))
	refModel, candModel := model{}, model{}
	steps := 0
	for round := range 10 {
		for range 400 + r.IntN(400) {
			key, ns := keys[r.IntN(len(keys))], testNamespaces[r.IntN(len(testNamespaces))]
			o := randomOps[r.IntN(len(randomOps))]
			seed := r.Uint64()
			for _, side := range []struct {
				s *stateful
				m model
			}{{ref, refModel}, {cand, candModel}} {
				st := side.s.at(key)
				st.setNamespace(ns)
				if err := o.do(rand.New(rand.NewPCG(seed, 1)), st, side.m.at(key, ns)); err != nil {
					t.Fatalf("step %d: %s on %q/%q: %v", steps, o.name, key, ns, err)
				}
			}
			steps++
			want, err := read(ref.at(key), ns)
			if err != nil {
				t.Fatalf("step %d: reference read: %v", steps, err)
			}
			got, err := read(cand.at(key), ns)
			if err != nil {
				t.Fatalf("step %d: candidate read: %v", steps, err)
			}
			if diff := want.diff(got); diff != "" {
				t.Fatalf("step %d: after %s on key %q namespace %q the candidate differs from the reference: %s", steps, o.name, key, ns, diff)
			}
		}
		p = 1 + r.IntN(5)
		refDir := ref.checkpoint(refStore, int64(round+1))
		candDir := cand.checkpoint(candStore, int64(round+1))
		ref = withStates(t, mustRestore(t, reference, refStore, refDir, p, 128))
		cand = withStates(t, mustRestore(t, candidate, candStore, candDir, p, 128))
		for _, k := range keys {
			for _, ns := range testNamespaces {
				want, err1 := read(ref.at(k), ns)
				got, err2 := read(cand.at(k), ns)
				if err1 != nil || err2 != nil {
					t.Fatalf("round %d: read after restore: %v, %v", round, err1, err2)
				}
				if diff := want.diff(got); diff != "" {
					t.Fatalf("round %d: after restore at parallelism %d, key %q namespace %q differs: %s", round, p, k, ns, diff)
				}
			}
		}
		ref.verify(t, refModel, testNamespaces)
		cand.verify(t, candModel, testNamespaces)
	}
}

// observed is what a backend returns for every state of one key and
// namespace.
type observed struct {
	value    string
	list     []string
	m        map[string]int64
	digits   string
	avg      string
	mapEmpty bool
}

func read(st *states, ns string) (observed, error) {
	st.setNamespace(ns)
	var o observed
	v, ok, err := st.value.Value()
	if err != nil {
		return o, err
	}
	o.value = fmt.Sprint(v, ok)
	if o.list, err = st.list.Get(); err != nil {
		return o, err
	}
	o.m = map[string]int64{}
	if err := st.mapS.Range(func(k string, v int64) bool { o.m[k] = v; return true }); err != nil {
		return o, err
	}
	if o.mapEmpty, err = st.mapS.IsEmpty(); err != nil {
		return o, err
	}
	s, ok, err := st.digits.Get()
	if err != nil {
		return o, err
	}
	o.digits = fmt.Sprint(s, ok)
	a, ok, err := st.avg.Get()
	if err != nil {
		return o, err
	}
	o.avg = fmt.Sprint(a, ok)
	return o, nil
}

func (o observed) diff(c observed) string {
	switch {
	case o.value != c.value:
		return fmt.Sprintf("value: reference %s, candidate %s", o.value, c.value)
	case !slices.Equal(o.list, c.list):
		return fmt.Sprintf("list: reference %q, candidate %q", o.list, c.list)
	case !maps.Equal(o.m, c.m):
		return fmt.Sprintf("map: reference %v, candidate %v", o.m, c.m)
	case o.mapEmpty != c.mapEmpty:
		return fmt.Sprintf("map IsEmpty: reference %v, candidate %v", o.mapEmpty, c.mapEmpty)
	case o.digits != c.digits:
		return fmt.Sprintf("reducing: reference %s, candidate %s", o.digits, c.digits)
	case o.avg != c.avg:
		return fmt.Sprintf("aggregating: reference %s, candidate %s", o.avg, c.avg)
	}
	return ""
}
