package lsm

import (
	"errors"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/snapshot"
)

// table is the backend.ByteTable of one state. Its writes hold the
// backend's write lock, which sweeps take to verify and rewrite rows
// atomically with respect to them; its reads do not.
type table[K comparable] struct {
	b    *Backend[K]
	sid  uint16
	kind snapshot.StateKind
	key  []byte // scratch: the row key being built
	val  []byte // the value returned last
}

// row builds the row key of the current key in ns into t.key.
func (t *table[K]) row(ns string) []byte {
	t.key = appendRowPrefix(t.key[:0], t.b.current.KeyGroup(), t.sid, t.b.current.Bytes(), ns)
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

func (t *table[K]) Put(ns string, value []byte) error {
	if err := t.b.unusable(); err != nil {
		return err
	}
	k := t.row(ns)
	t.b.writeMu.Lock()
	defer t.b.writeMu.Unlock()
	return t.b.db.Set(k, value, pebble.NoSync)
}

func (t *table[K]) Append(ns string, elements []byte) error {
	if err := t.b.unusable(); err != nil {
		return err
	}
	k := t.row(ns)
	t.b.writeMu.Lock()
	defer t.b.writeMu.Unlock()
	return t.b.db.Merge(k, elements, pebble.NoSync)
}

func (t *table[K]) Delete(ns string) error {
	if err := t.b.unusable(); err != nil {
		return err
	}
	k := t.row(ns)
	t.b.writeMu.Lock()
	defer t.b.writeMu.Unlock()
	if t.kind == snapshot.StateMap {
		return t.b.db.DeleteRange(k, prefixEnd(k), pebble.NoSync)
	}
	return t.b.db.Delete(k, pebble.NoSync)
}

func (t *table[K]) GetEntry(ns string, userKey []byte) ([]byte, bool, error) {
	return t.get(t.entry(ns, userKey))
}

func (t *table[K]) PutEntry(ns string, userKey, value []byte) error {
	if err := t.b.unusable(); err != nil {
		return err
	}
	k := t.entry(ns, userKey)
	t.b.writeMu.Lock()
	defer t.b.writeMu.Unlock()
	return t.b.db.Set(k, value, pebble.NoSync)
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
	it, err := t.b.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: prefixEnd(prefix)})
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
