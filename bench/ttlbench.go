package main

import (
	"path/filepath"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/ttl"
)

// The TTL benchmarks: reads of a value state with TTL against the same
// reads without, on the same backend instance, and the blocks an LSM
// background sweep reads.

// benchTTL is the TTL of the get benchmarks: long enough that nothing
// expires during a run, with the default update type, visibility and
// cleanup (incremental cleanup on the heap).
var benchTTL = &ttl.Config{TTL: time.Hour}

// ttlValueDescriptors are the two value states the get benchmarks compare:
// the same serializer, one with benchTTL.
func ttlValueDescriptors() (plain, withTTL backend.ValueDescriptor[[]byte]) {
	plain = backend.ValueDescriptor[[]byte]{Name: "value", Serializer: backend.BytesSerializer{}}
	withTTL = backend.ValueDescriptor[[]byte]{Name: "value.ttl", Serializer: backend.BytesSerializer{}, TTL: benchTTL}
	return plain, withTTL
}

// loadTTLPair registers both states of ttlValueDescriptors on b and loads
// the first n dataset keys into each, alternating, so that neither state
// sits apart in memory or on disk.
func loadTTLPair(e *env, b backend.KeyedBackend[string], n int) (plain, withTTL backend.ValueState[[]byte], err error) {
	pd, td := ttlValueDescriptors()
	if plain, err = backend.GetValueState(b, pd); err != nil {
		return nil, nil, err
	}
	if withTTL, err = backend.GetValueState(b, td); err != nil {
		return nil, nil, err
	}
	d := e.dataset()
	for i, k := range d.keys[:n] {
		if err := b.SetCurrentKey(k); err != nil {
			return nil, nil, err
		}
		if err := plain.Update(d.values[i]); err != nil {
			return nil, nil, err
		}
		if err := withTTL.Update(d.values[i]); err != nil {
			return nil, nil, err
		}
	}
	return plain, withTTL, nil
}

// benchHeapTTLGet: SetCurrentKey + ValueState.Value on a state with TTL
// (system clock, incremental cleanup of 5 entries per access) against the
// same on a state without, both in one heap backend, over the same random
// permutation of all keys.
func benchHeapTTLGet(e *env) ([]Result, error) {
	b, err := newHeap()
	if err != nil {
		return nil, err
	}
	defer b.Close()
	n := e.cfg.keys
	e.logf("ttl: loading two heap value states (with and without ttl) with %d keys each", n)
	plain, withTTL, err := loadTTLPair(e, b, n)
	if err != nil {
		return nil, err
	}
	d := e.dataset()
	order := permutation(n, e.cfg.seed, 31)
	params := withParams(e.cfg.baseParams(), map[string]any{"ttl": benchTTL.TTL.String(), "incremental_entries": ttl.DefaultIncrementalEntries})
	r, err := perOpResult(e, "heap.value.get.ttl", "heap.value.get", n, params,
		valueGets(b, withTTL, d.keys, order), valueGets(b, plain, d.keys, order))
	return []Result{r}, err
}

// benchLSMTTLGet: the same on one LSM backend holding both states.
func benchLSMTTLGet(e *env) ([]Result, error) {
	c := e.cfg.lsm
	b, err := newLSM(c, filepath.Join(e.tmp, "lsm-ttl-get"), 1, 0)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	n := c.ttlKeys
	e.logf("ttl: loading two LSM value states (with and without ttl) with %d keys each", n)
	plain, withTTL, err := loadTTLPair(e, b, n)
	if err != nil {
		return nil, err
	}
	waitIdle(idleLimit)
	d := e.dataset()
	order := permutation(n, e.cfg.seed, 32)[:min(n, c.ops)]
	params := withParams(e.cfg.lsmParams(n), map[string]any{"ops": len(order), "ttl": benchTTL.TTL.String()})
	r, err := perOpResult(e, "lsm.value.get.ttl", "lsm.value.get", len(order), params,
		settled(valueGets(b, withTTL, d.keys, order)), settled(valueGets(b, plain, d.keys, order)))
	return []Result{r}, err
}
