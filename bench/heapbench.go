package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// errMissing is returned when a benchmark reads a key it loaded and finds
// nothing: the numbers would be meaningless.
var errMissing = errors.New("loaded key not found")

// perOpResult measures a and b (both returning a duration of ops
// operations) interleaved and turns the medians into a us/op result.
func perOpResult(e *env, metric, baseline string, ops int, params map[string]any, a, b func() (time.Duration, error)) (Result, error) {
	asUs := func(f func() (time.Duration, error)) side {
		return func() (float64, error) {
			d, err := f()
			return usPerOp(d, ops), err
		}
	}
	as, bs, err := interleave(e.cfg.rounds, asUs(a), asUs(b))
	if err != nil {
		return Result{}, fmt.Errorf("%s: %w", metric, err)
	}
	e.logf("%s: %.3g us/op, %s: %.3g us/op (medians of %d)", metric, median(as), baseline, median(bs), len(as))
	return newResult(metric, unitUsPerOp, baseline, median(as), median(bs), params), nil
}

// benchValueGet: SetCurrentKey + ValueState.Value against m[k], over a
// random permutation of all keys.
func benchValueGet(e *env) ([]Result, error) {
	f, err := e.valueFixture()
	if err != nil {
		return nil, err
	}
	d := e.dataset()
	order := permutation(len(d.keys), e.cfg.seed, 1)
	heapGet := valueGets(f.b, f.st, d.keys, order)
	mapGet := func() (time.Duration, error) {
		n := 0
		dur, err := timed(func() error {
			for _, i := range order {
				v, ok := f.m[d.keys[i]]
				if !ok {
					return errMissing
				}
				n += len(v)
			}
			return nil
		})
		sink.Add(int64(n))
		return dur, err
	}
	r, err := perOpResult(e, "heap.value.get", "gomap.get", len(order), e.cfg.baseParams(), heapGet, mapGet)
	return []Result{r}, err
}

// benchValuePut: SetCurrentKey + ValueState.Update against m[k] = v,
// overwriting every key in a random order with another key's value.
func benchValuePut(e *env) ([]Result, error) {
	f, err := e.valueFixture()
	if err != nil {
		return nil, err
	}
	d := e.dataset()
	n := len(d.keys)
	order := permutation(n, e.cfg.seed, 2)
	heapPut := func() (time.Duration, error) {
		return timed(func() error {
			for j, i := range order {
				if err := f.b.SetCurrentKey(d.keys[i]); err != nil {
					return err
				}
				if err := f.st.Update(d.values[order[(j+1)%n]]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	mapPut := func() (time.Duration, error) {
		return timed(func() error {
			for j, i := range order {
				f.m[d.keys[i]] = d.values[order[(j+1)%n]]
			}
			return nil
		})
	}
	r, err := perOpResult(e, "heap.value.put", "gomap.put", n, e.cfg.baseParams(), heapPut, mapPut)
	return []Result{r}, err
}

// benchMapGet: SetCurrentKey + MapState.Get against a nested Go map, over
// a random permutation of all (key, user key) entries.
func benchMapGet(e *env) ([]Result, error) {
	d := e.dataset()
	c := e.cfg
	outer := d.keys[:c.mapKeys]
	users := make([]string, c.mapUserKeys)
	for j := range users {
		users[j] = fmt.Sprintf("u%015d", j)
	}
	e.logf("loading the map state: %d keys × %d user keys", len(outer), len(users))
	b, err := newHeap()
	if err != nil {
		return nil, err
	}
	defer b.Close()
	st, err := state.GetMapState(b, state.MapDescriptor[string, []byte]{Name: "map",
		KeySerializer: serializer.String{}, ValueSerializer: serializer.Bytes{}})
	if err != nil {
		return nil, err
	}
	m := map[string]map[string][]byte{}
	for i, k := range outer {
		if err := b.SetCurrentKey(k); err != nil {
			return nil, err
		}
		inner := map[string][]byte{}
		for j, u := range users {
			v := d.values[i*len(users)+j]
			if err := st.Put(u, v); err != nil {
				return nil, err
			}
			inner[u] = v
		}
		m[k] = inner
	}
	nu := len(users)
	order := permutation(len(outer)*nu, c.seed, 3)
	heapGet := mapGets(b, st, outer, users, order)
	mapGet := func() (time.Duration, error) {
		n := 0
		dur, err := timed(func() error {
			for _, x := range order {
				v, ok := m[outer[x/nu]][users[x%nu]]
				if !ok {
					return errMissing
				}
				n += len(v)
			}
			return nil
		})
		sink.Add(int64(n))
		return dur, err
	}
	params := withParams(c.baseParams(), map[string]any{"keys": len(outer), "user_keys": nu, "entries": len(order)})
	r, err := perOpResult(e, "heap.map.get", "gomap.nested.get", len(order), params, heapGet, mapGet)
	return []Result{r}, err
}

// benchListAdd: SetCurrentKey + ListState.Add against m[k] = append(m[k],
// v), round-robin over the keys in a random order, each round from empty
// state.
func benchListAdd(e *env) ([]Result, error) {
	d := e.dataset()
	c := e.cfg
	keys := d.keys[:c.listKeys]
	order := permutation(len(keys), c.seed, 4)
	nv := len(d.values)
	heapAdd := func() (time.Duration, error) {
		b, err := newHeap()
		if err != nil {
			return 0, err
		}
		defer b.Close()
		st, err := state.GetListState(b, state.ListDescriptor[[]byte]{Name: "list", Serializer: serializer.Bytes{}})
		if err != nil {
			return 0, err
		}
		return timed(func() error {
			for j := range c.listOps {
				if err := b.SetCurrentKey(keys[order[j%len(order)]]); err != nil {
					return err
				}
				if err := st.Add(d.values[j%nv]); err != nil {
					return err
				}
			}
			return nil
		})
	}
	sliceAppend := func() (time.Duration, error) {
		m := map[string][][]byte{}
		dur, err := timed(func() error {
			for j := range c.listOps {
				k := keys[order[j%len(order)]]
				m[k] = append(m[k], d.values[j%nv])
			}
			return nil
		})
		sink.Add(int64(len(m)))
		return dur, err
	}
	params := withParams(c.baseParams(), map[string]any{"keys": len(keys), "adds": c.listOps})
	r, err := perOpResult(e, "heap.list.add", "goslice.append", c.listOps, params, heapAdd, sliceAppend)
	return []Result{r}, err
}
