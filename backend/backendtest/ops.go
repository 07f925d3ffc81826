package backendtest

import (
	"fmt"
	"math/rand/v2"
)

// op is one random operation on all states of the current key and
// namespace: it acts on the backend and on the model entry alike.
type randomOp struct {
	name string
	do   func(r *rand.Rand, st *states, e *entry) error
}

var randomOps = []randomOp{
	{"value.update", func(r *rand.Rand, st *states, e *entry) error {
		v := r.Int64N(1000)
		e.value = ptr(v)
		return st.value.Update(v)
	}},
	{"value.clear", func(_ *rand.Rand, st *states, e *entry) error {
		e.value = nil
		return st.value.Clear()
	}},
	{"list.add", func(r *rand.Rand, st *states, e *entry) error {
		v := fmt.Sprint(r.IntN(100))
		e.list = append(e.list, v)
		return st.list.Add(v)
	}},
	{"list.addAll", func(r *rand.Rand, st *states, e *entry) error {
		vs := make([]string, r.IntN(4))
		for i := range vs {
			vs[i] = fmt.Sprint(r.IntN(100))
		}
		e.list = append(e.list, vs...)
		return st.list.AddAll(vs)
	}},
	{"list.update", func(r *rand.Rand, st *states, e *entry) error {
		vs := make([]string, r.IntN(3))
		for i := range vs {
			vs[i] = fmt.Sprint(r.IntN(100))
		}
		e.list = append([]string(nil), vs...)
		if len(vs) == 0 {
			e.list = nil
		}
		return st.list.Update(vs)
	}},
	{"list.clear", func(_ *rand.Rand, st *states, e *entry) error {
		e.list = nil
		return st.list.Clear()
	}},
	{"map.put", func(r *rand.Rand, st *states, e *entry) error {
		k, v := fmt.Sprint("k", r.IntN(8)), r.Int64N(1000)
		if e.m == nil {
			e.m = map[string]int64{}
		}
		e.m[k] = v
		return st.mapS.Put(k, v)
	}},
	{"map.putAll", func(r *rand.Rand, st *states, e *entry) error {
		kv := map[string]int64{}
		for range r.IntN(3) {
			kv[fmt.Sprint("k", r.IntN(8))] = r.Int64N(1000)
		}
		for k, v := range kv {
			if e.m == nil {
				e.m = map[string]int64{}
			}
			e.m[k] = v
		}
		return st.mapS.PutAll(kv)
	}},
	{"map.remove", func(r *rand.Rand, st *states, e *entry) error {
		k := fmt.Sprint("k", r.IntN(8))
		delete(e.m, k)
		if len(e.m) == 0 {
			e.m = nil
		}
		return st.mapS.Remove(k)
	}},
	{"map.clear", func(_ *rand.Rand, st *states, e *entry) error {
		e.m = nil
		return st.mapS.Clear()
	}},
	{"reducing.add", func(r *rand.Rand, st *states, e *entry) error {
		v := r.Int64N(10)
		if e.digits == nil {
			e.digits = ptr(v)
		} else {
			e.digits = ptr(appendDigit(*e.digits, v))
		}
		return st.digits.Add(v)
	}},
	{"reducing.clear", func(_ *rand.Rand, st *states, e *entry) error {
		e.digits = nil
		return st.digits.Clear()
	}},
	{"aggregating.add", func(r *rand.Rand, st *states, e *entry) error {
		v := r.Int64N(100)
		e.avgSum += v
		e.avgCount++
		return st.avg.Add(v)
	}},
	{"aggregating.clear", func(_ *rand.Rand, st *states, e *entry) error {
		e.avgSum, e.avgCount = 0, 0
		return st.avg.Clear()
	}},
}

// mutate applies n random operations to random keys and namespaces of s
// and m.
func mutate(s *stateful, m model, r *rand.Rand, n int, keys []string, namespaces []string) error {
	for range n {
		key, ns := keys[r.IntN(len(keys))], namespaces[r.IntN(len(namespaces))]
		o := randomOps[r.IntN(len(randomOps))]
		st := s.at(key)
		st.setNamespace(ns)
		if err := o.do(r, st, m.at(key, ns)); err != nil {
			return fmt.Errorf("%s on key %q namespace %q: %w", o.name, key, ns, err)
		}
	}
	return nil
}

// newRand is the random source of seed.
func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed+1)) }

func keyNames(n int) []string {
	ks := make([]string, n)
	for i := range ks {
		ks[i] = fmt.Sprintf("key-%d", i)
	}
	return ks
}
