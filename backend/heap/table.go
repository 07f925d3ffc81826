package heap

import (
	"maps"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
)

// table is the backend.ObjectTable of one state: one map per key group.
type table[K comparable] struct {
	b      *Backend[K]
	name   string
	kind   snapshot.StateKind
	codec  backend.ObjectCodec
	groups []group[K] // by key-group index
}

type group[K comparable] struct {
	m     map[entryKey[K]]entry
	epoch uint64 // write epoch in which m was made
}

type entryKey[K comparable] struct {
	key K
	ns  string
}

type entry struct {
	obj   any
	epoch uint64 // write epoch in which obj was stored
}

func (t *table[K]) current(ns string) (*group[K], entryKey[K]) {
	return &t.groups[t.b.kgIndex], entryKey[K]{key: t.b.current.Key(), ns: ns}
}

// writable returns the current key group's map, cloning it first if a
// capture may hold it.
func (t *table[K]) writable(g *group[K]) map[entryKey[K]]entry {
	switch {
	case g.m == nil:
		g.m, g.epoch = map[entryKey[K]]entry{}, t.b.epoch
	case g.epoch <= t.b.pinned.max.Load():
		g.m, g.epoch = maps.Clone(g.m), t.b.epoch
	}
	return g.m
}

func (t *table[K]) Get(ns string) (any, bool) {
	g, k := t.current(ns)
	e, ok := g.m[k]
	return e.obj, ok
}

func (t *table[K]) Mutable(ns string) (any, bool, error) {
	g, k := t.current(ns)
	e, ok := g.m[k]
	if !ok || e.epoch > t.b.pinned.max.Load() {
		return e.obj, ok, nil
	}
	obj, err := t.codec.Clone(e.obj)
	if err != nil {
		return nil, false, err
	}
	t.writable(g)[k] = entry{obj: obj, epoch: t.b.epoch}
	return obj, true, nil
}

func (t *table[K]) Put(ns string, obj any) {
	g, k := t.current(ns)
	t.writable(g)[k] = entry{obj: obj, epoch: t.b.epoch}
}

func (t *table[K]) Delete(ns string) {
	g, k := t.current(ns)
	if _, ok := g.m[k]; ok {
		delete(t.writable(g), k)
	}
}
