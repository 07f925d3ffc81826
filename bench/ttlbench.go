package main

import (
	"context"
	"fmt"
	"path/filepath"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/lsm"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
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
func ttlValueDescriptors() (plain, withTTL state.ValueDescriptor[[]byte]) {
	plain = state.ValueDescriptor[[]byte]{Name: "value", Serializer: serializer.Bytes{}}
	withTTL = state.ValueDescriptor[[]byte]{Name: "value.ttl", Serializer: serializer.Bytes{}, TTL: benchTTL}
	return plain, withTTL
}

// loadTTLPair registers both states of ttlValueDescriptors on b and loads
// the first n dataset keys into each, alternating, so that neither state
// sits apart in memory or on disk.
func loadTTLPair(e *env, b backend.KeyedBackend[string], n int) (plain, withTTL state.ValueState[[]byte], err error) {
	pd, td := ttlValueDescriptors()
	if plain, err = state.GetValueState(b, pd); err != nil {
		return nil, nil, err
	}
	if withTTL, err = state.GetValueState(b, td); err != nil {
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
	n := e.cfg.ttlKeys
	e.logf("ttl: loading two heap value states (with and without ttl) with %d keys each", n)
	plain, withTTL, err := loadTTLPair(e, b, n)
	if err != nil {
		return nil, err
	}
	d := e.dataset()
	order := permutation(n, e.cfg.seed, 31)
	params := withParams(e.cfg.baseParams(), map[string]any{"keys": n, "ttl": benchTTL.TTL.String(), "incremental_entries": ttl.DefaultIncrementalEntries})
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

// benchLSMTTLSweep: an LSM value state with TTL whose keys grow with
// write time (a counter, so within each key group the oldest keys come
// first), the first 1% written 8 s before the rest, compacted into its
// final shape; at a time when exactly that first 1% has expired, one
// SweepExpired: the blocks it reads (index blocks of the due expiry
// buckets and the data blocks of the rows they point at) against the data
// blocks the database holds.
func benchLSMTTLSweep(e *env) ([]Result, error) {
	c := e.cfg.lsm
	n := c.sweepKeys
	clock := ttl.NewManualClock(1_700_000_000_000)
	start := clock.Now()
	b, err := lsm.New(lsm.Options[string]{
		KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "bench", MaxParallelism: benchMaxP,
			KeyGroups: backend.KeyGroupRange{Start: 0, End: benchMaxP - 1}, KeySerializer: serializer.String{}, Clock: clock},
		Dir: filepath.Join(e.tmp, "lsm-ttl-sweep"), CacheSize: c.cacheBytes, MemTableSize: c.memTableBytes,
	})
	if err != nil {
		return nil, err
	}
	defer b.Close()
	st, err := state.GetValueState(b, state.ValueDescriptor[[]byte]{Name: "session", Serializer: serializer.Bytes{},
		TTL: &ttl.Config{TTL: 10 * time.Second, Cleanup: ttl.Cleanup{Background: ttl.BackgroundCleanup{Interval: time.Hour}}}})
	if err != nil {
		return nil, err
	}
	expired := n / 100
	e.logf("ttl: loading %d keys into an LSM state with ttl, the first %d of them 8 s older", n, expired)
	d := e.dataset()
	for i := range n {
		if i == expired {
			clock.Set(start + 8000)
		}
		if err := b.SetCurrentKey(fmt.Sprintf("s%015d", i)); err != nil {
			return nil, err
		}
		if err := st.Update(d.values[i%len(d.values)]); err != nil {
			return nil, err
		}
	}
	if err := b.Compact(context.Background()); err != nil {
		return nil, err
	}
	waitIdle(idleLimit)
	clock.Set(start + 12_000) // the first 1% expired (at +10 s), the rest lives until +18 s
	began := time.Now()
	stats, err := b.SweepExpired(context.Background())
	if err != nil {
		return nil, err
	}
	took := time.Since(began)
	if stats.RowsDeleted != int64(expired) {
		return nil, fmt.Errorf("the sweep deleted %d rows, want the %d expired ones", stats.RowsDeleted, expired)
	}
	e.logf("ttl: sweep read %d of %d blocks and %d entries, deleted %d rows in %v",
		stats.BlocksRead, stats.TotalBlocks, stats.EntriesRead, stats.RowsDeleted, took.Round(time.Millisecond))
	params := withParams(e.cfg.lsmParams(n), map[string]any{"expired_percent": 1, "entries_read": stats.EntriesRead,
		"sweep_ms": took.Milliseconds()})
	return []Result{newResult("lsm.ttl.sweep.blocks_read", unitBlocks, "lsm.ttl.blocks_total",
		float64(stats.BlocksRead), float64(stats.TotalBlocks), params)}, nil
}
