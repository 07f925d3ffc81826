package lsm

import (
	"errors"
	"fmt"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/internal/rowkey"
	"github.com/stated-io/stated/internal/ttlunit"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

// table is the backend.ByteTable of one state. Its writes hold the
// backend's write lock, which sweeps take to verify and rewrite rows
// atomically with respect to them; its reads do not.
//
// For an indexed state (with TTL and background cleanup), every write that
// stores units (Put, Append, PutEntry) also sets the index row of the
// earliest expiry among them (ttlindex.go), in the same batch. Deletions
// leave index rows behind for sweeps to delete; reads cost nothing extra.
type table[K comparable] struct {
	b    *Backend[K]
	name string
	sid  uint16
	kind snapshot.StateKind
	ttl  *ttl.Config // the TTL of an indexed state; nil: no index rows
	key  []byte      // scratch: the row key being built
	idx  []byte      // scratch: the index key being built
	val  []byte      // the value returned last
}

// row builds the row key of the current key in ns into t.key.
func (t *table[K]) row(ns string) []byte {
	t.key = rowkey.AppendRowPrefix(t.key[:0], t.b.current.KeyGroup(), t.sid, t.b.current.Bytes(), ns)
	return t.key
}

func (t *table[K]) entry(ns string, userKey []byte) []byte {
	return append(t.row(ns), userKey...)
}

func (t *table[K]) get(k []byte) ([]byte, bool, error) {
	if err := t.b.unusable(); err != nil {
		return nil, false, err
	}
	v, closer, err := t.b.db.Get(k)
	if errors.Is(err, pebble.ErrNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	t.val = append(t.val[:0], v...)
	return t.val, true, closer.Close()
}

func (t *table[K]) Get(ns string) ([]byte, bool, error) { return t.get(t.row(ns)) }

// write sets (or with merge, merges) the row k to value and, for an
// indexed state, the index row of the earliest expiry among the units of
// value (for a list, its elements), holding the write lock. The index row
// goes in the same batch, so no checkpoint and no sweep sees one without
// the other. A value of an indexed state whose units are not stamped fails
// the write (nothing is written).
func (t *table[K]) write(k, value []byte, merge bool) error {
	if err := t.b.unusable(); err != nil {
		return err
	}
	var (
		first int64
		index bool
	)
	if t.ttl != nil {
		var err error
		if first, _, index, err = ttlunit.RowExpiry(t.kind, value, t.ttl.TTL); err != nil {
			return fmt.Errorf("lsm: state %q: %w", t.name, err)
		}
	}
	t.b.writeMu.Lock()
	defer t.b.writeMu.Unlock()
	if !index {
		if merge {
			return t.b.db.Merge(k, value, pebble.NoSync)
		}
		return t.b.db.Set(k, value, pebble.NoSync)
	}
	t.idx = appendIndexKey(t.idx[:0], k, indexBucket(first, t.ttl.TTL))
	batch := t.b.db.NewBatch()
	defer batch.Close()
	var err error
	if merge {
		err = batch.Merge(k, value, nil)
	} else {
		err = batch.Set(k, value, nil)
	}
	if err != nil {
		return err
	}
	if err := batch.Set(t.idx, nil, nil); err != nil {
		return err
	}
	return batch.Commit(pebble.NoSync)
}

func (t *table[K]) Put(ns string, value []byte) error { return t.write(t.row(ns), value, false) }

func (t *table[K]) Append(ns string, elements []byte) error {
	return t.write(t.row(ns), elements, true)
}

func (t *table[K]) Delete(ns string) error {
	if err := t.b.unusable(); err != nil {
		return err
	}
	k := t.row(ns)
	t.b.writeMu.Lock()
	defer t.b.writeMu.Unlock()
	if t.kind == snapshot.StateMap {
		return t.b.db.DeleteRange(k, rowkey.PrefixEnd(k), pebble.NoSync)
	}
	return t.b.db.Delete(k, pebble.NoSync)
}

func (t *table[K]) GetEntry(ns string, userKey []byte) ([]byte, bool, error) {
	return t.get(t.entry(ns, userKey))
}

func (t *table[K]) PutEntry(ns string, userKey, value []byte) error {
	return t.write(t.entry(ns, userKey), value, false)
}

func (t *table[K]) DeleteEntry(ns string, userKey []byte) error {
	if err := t.b.unusable(); err != nil {
		return err
	}
	k := t.entry(ns, userKey)
	t.b.writeMu.Lock()
	defer t.b.writeMu.Unlock()
	return t.b.db.Delete(k, pebble.NoSync)
}

func (t *table[K]) Entries(ns string, fn func(userKey, value []byte) bool) error {
	if err := t.b.unusable(); err != nil {
		return err
	}
	prefix := t.row(ns)
	it, err := t.b.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: rowkey.PrefixEnd(prefix)})
	if err != nil {
		return err
	}
	n := len(prefix)
	for valid := it.First(); valid; valid = it.Next() {
		if !fn(it.Key()[n:], it.Value()) {
			break
		}
	}
	return errors.Join(it.Error(), it.Close())
}
