package main

import (
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// lsmParams are the params shared by the LSM metrics.
func (c config) lsmParams(keys int) map[string]any {
	return map[string]any{"keys": keys, "value_bytes": c.valueBytes,
		"cache_mib": c.lsm.cacheBytes >> 20, "memtable_mib": c.lsm.memTableBytes >> 20}
}

// settled returns f run after the background work of Pebble (flushes,
// compactions) has settled, so that neither side of a comparison pays for
// the other's.
func settled(f func() (time.Duration, error)) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		waitIdle(idleLimit)
		return f()
	}
}

// benchLSMValueGet: SetCurrentKey + ValueState.Value on the LSM backend
// against db.Get + Close on a raw Pebble DB with the same rows, over the
// same random keys.
func benchLSMValueGet(e *env) ([]Result, error) {
	f, err := e.lsmFixture()
	if err != nil {
		return nil, err
	}
	c := e.cfg
	d := e.dataset()
	order := permutation(c.lsm.keys, c.seed, 11)[:c.lsm.ops]
	lsmGet := valueGets(f.b, f.st, d.keys, order)
	pebbleGet := func() (time.Duration, error) {
		n := 0
		dur, err := timed(func() error {
			for _, i := range order {
				v, closer, err := f.raw.db.Get(f.rows[i])
				if err != nil {
					return fmt.Errorf("%w: %w", errMissing, err)
				}
				n += len(v)
				if err := closer.Close(); err != nil {
					return err
				}
			}
			return nil
		})
		sink.Add(int64(n))
		return dur, err
	}
	params := withParams(c.lsmParams(c.lsm.keys), map[string]any{"ops": len(order)})
	r, err := perOpResult(e, "lsm.value.get", "pebble.get", len(order), params, settled(lsmGet), settled(pebbleGet))
	return []Result{r}, err
}

// benchLSMValuePut: SetCurrentKey + ValueState.Update against db.Set
// (NoSync) with the same row key, overwriting random existing keys with
// another key's value; background work settles before every round.
func benchLSMValuePut(e *env) ([]Result, error) {
	f, err := e.lsmFixture()
	if err != nil {
		return nil, err
	}
	c := e.cfg
	d := e.dataset()
	n := c.lsm.keys
	order := permutation(n, c.seed, 12)[:c.lsm.ops]
	value := func(j int) []byte { return d.values[order[(j+1)%len(order)]] }
	lsmPut := func() (time.Duration, error) {
		return timed(func() error {
			for j, i := range order {
				if err := f.b.SetCurrentKey(d.keys[i]); err != nil {
					return err
				}
				if err := f.st.Update(value(j)); err != nil {
					return err
				}
			}
			return nil
		})
	}
	pebbleSet := func() (time.Duration, error) {
		return timed(func() error {
			for j, i := range order {
				if err := f.raw.db.Set(f.rows[i], value(j), pebble.NoSync); err != nil {
					return err
				}
			}
			return nil
		})
	}
	params := withParams(c.lsmParams(n), map[string]any{"ops": len(order)})
	r, err := perOpResult(e, "lsm.value.put", "pebble.set", len(order), params, settled(lsmPut), settled(pebbleSet))
	return []Result{r}, err
}

// benchLSMMapGet: SetCurrentKey + MapState.Get against db.Get of the same
// entry row keys (row prefix + user key) on a raw Pebble DB opened on a
// copy of the map state's checkpoint, over random entries.
func benchLSMMapGet(e *env) ([]Result, error) {
	c := e.cfg
	d := e.dataset()
	outer := d.keys[:c.lsm.mapKeys]
	nu := c.lsm.mapUserKeys
	users := make([]string, nu)
	for j := range users {
		users[j] = fmt.Sprintf("u%015d", j)
	}
	entries := len(outer) * nu
	e.logf("lsm: loading the map state (%d keys × %d user keys), copying its checkpoint into a raw Pebble DB", len(outer), nu)
	b, err := newLSM(c.lsm, filepath.Join(e.tmp, "lsm-map"), 1, 0)
	if err != nil {
		return nil, err
	}
	defer b.Close()
	st, err := state.GetMapState(b, state.MapDescriptor[string, []byte]{Name: "map",
		KeySerializer: serializer.String{}, ValueSerializer: serializer.Bytes{}})
	if err != nil {
		return nil, err
	}
	for i, k := range outer {
		if err := b.SetCurrentKey(k); err != nil {
			return nil, err
		}
		for j, u := range users {
			if err := st.Put(u, d.values[i*nu+j]); err != nil {
				return nil, err
			}
		}
	}
	waitIdle(idleLimit)
	storeDir := filepath.Join(e.tmp, "map-store")
	defer os.RemoveAll(storeDir)
	store, err := file.New(storeDir)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	raw, _, err := cloneToRaw(c.lsm, b, store, "map/chk-1", 1, filepath.Join(e.tmp, "pebble-map"))
	if err != nil {
		return nil, err
	}
	defer raw.close()
	entryKeys := make([]string, entries)
	for x := range entryKeys {
		entryKeys[x] = outer[x/nu]
	}
	rows := rowKeys(entryKeys, 1, func(x int) string { return users[x%nu] })
	if n, err := scanRaw(raw); err != nil || n != entries {
		return nil, fmt.Errorf("lsm map: %d entries in Pebble (%v), want %d", n, err, entries)
	}
	// Warm the LSM's block cache as the scan warmed Pebble's.
	if _, err := scanLSM(b, "map"); err != nil {
		return nil, err
	}
	order := permutation(entries, c.seed, 13)[:min(c.lsm.ops, entries)]
	lsmGet := mapGets(b, st, outer, users, order)
	pebbleGet := func() (time.Duration, error) {
		n := 0
		dur, err := timed(func() error {
			for _, x := range order {
				v, closer, err := raw.db.Get(rows[x])
				if err != nil {
					return fmt.Errorf("%w: %w", errMissing, err)
				}
				n += len(v)
				if err := closer.Close(); err != nil {
					return err
				}
			}
			return nil
		})
		sink.Add(int64(n))
		return dur, err
	}
	params := withParams(c.lsmParams(len(outer)), map[string]any{"user_keys": nu, "entries": entries, "ops": len(order)})
	r, err := perOpResult(e, "lsm.map.get", "pebble.get", len(order), params, lsmGet, pebbleGet)
	return []Result{r}, err
}

// benchLSMListAdd: SetCurrentKey + ListState.Add against db.Merge of the
// same row key and the same bytes (uvarint length + element) on a raw
// Pebble DB with a concatenating merger, round-robin over the keys in a
// random order, each round on a new, empty backend or DB.
func benchLSMListAdd(e *env) ([]Result, error) {
	c := e.cfg
	d := e.dataset()
	keys := d.keys[:c.lsm.listKeys]
	order := permutation(len(keys), c.seed, 14)
	rows := rowKeys(keys, 1, nil)
	nv := len(d.values)
	round := 0
	lsmAdd := func() (time.Duration, error) {
		round++
		b, err := newLSM(c.lsm, filepath.Join(e.tmp, fmt.Sprintf("lsm-list-%d", round)), 1, 0)
		if err != nil {
			return 0, err
		}
		defer b.Close()
		st, err := state.GetListState(b, state.ListDescriptor[[]byte]{Name: "list", Serializer: serializer.Bytes{}})
		if err != nil {
			return 0, err
		}
		waitIdle(idleLimit)
		return timed(func() error {
			for j := range c.lsm.listOps {
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
	pebbleMerge := func() (time.Duration, error) {
		round++
		raw, err := openRawDB(c.lsm, filepath.Join(e.tmp, fmt.Sprintf("pebble-list-%d", round)))
		if err != nil {
			return 0, err
		}
		defer raw.close()
		var buf []byte
		waitIdle(idleLimit)
		return timed(func() error {
			for j := range c.lsm.listOps {
				v := d.values[j%nv]
				buf = binary.AppendUvarint(buf[:0], uint64(len(v)))
				buf = append(buf, v...)
				if err := raw.db.Merge(rows[order[j%len(order)]], buf, pebble.NoSync); err != nil {
					return err
				}
			}
			return nil
		})
	}
	params := withParams(c.lsmParams(len(keys)), map[string]any{"adds": c.lsm.listOps})
	r, err := perOpResult(e, "lsm.list.add", "pebble.merge", c.lsm.listOps, params, lsmAdd, pebbleMerge)
	return []Result{r}, err
}
