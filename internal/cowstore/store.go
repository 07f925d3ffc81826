// Package cowstore is the copy-on-write store of the object states: the
// backend.ObjectStore that the typed states of an object backend (heap)
// keep their objects in, and that the backend captures, snapshots and
// restores. A capture costs O(key groups) and copies no entry.
package cowstore

import (
	"fmt"
	"math/rand/v2"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/ttlpolicy"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
)

// Store is the typed storage of one object state: for every key group, a
// stack of layers of Go maps from (key, namespace) to V.
//
// Copy-on-write works per layer. A capture freezes the layers a group has
// (O(1) per group); later writes to the group go to a new top layer, the
// overlay, which also holds tombstones for entries deleted below it. An
// object found in a frozen layer is cloned into the overlay before it is
// modified in place. Once no capture is pinned any more, the first write to
// a group folds its overlays into the base layer. So a snapshot costs
// writes nothing but the overlay, and reads one extra lookup of a small map
// while a capture is in flight.
//
// The default namespace has a map keyed by K alone, so the common case
// hashes like a plain map of K.
//
// A Store belongs to the goroutine of its backend, except for the
// captures it returns (backend.ObjectCapture).
type Store[K comparable, V any] struct {
	ctx    backend.ObjectContext[K]
	first  int
	kind   snapshot.StateKind
	codec  Codec[V]
	groups []objectGroup[K, V]

	// expiry is set for a state with TTL.
	expiry *Expiry[V]
	// cleanupEntries is how many entries incremental cleanup checks per
	// access; 0 when it is off. Accesses add them to cleanupOwed, and a
	// step runs once cleanupBatch entries are owed.
	cleanupEntries int
	cleanupOwed    int
	cleanupGroup   int           // the key-group index the next step checks
	cleanupDue     []entryKey[K] // scratch of a step
}

var (
	_ backend.ObjectStore[string]   = (*Store[string, int])(nil)
	_ backend.ObjectCapture[string] = (*objectCapture[string, int])(nil)
)

// cleanupBatch is how many entries a step of incremental cleanup checks at
// least. Checking entries is cheap once a step has found its place in a
// map (the slots it walks are contiguous in memory) and finding the place
// is not, so accesses owe their entries and a step pays them in bulk:
// with Flink's default of 5 entries per access, one step every 13 accesses
// checks 65 entries.
const cleanupBatch = 64

// Expiry is what the store of a state with TTL knows of the units in its
// values. Every field is required.
type Expiry[V any] struct {
	Policy *ttlpolicy.Policy
	// Alive reports whether v holds a unit that has not expired at now.
	Alive func(v V, now int64) bool
	// Oldest returns the earliest timestamp of the units of v, ok=false if
	// v has none.
	Oldest func(v V) (ts int64, ok bool)
	// Stale reports whether v holds a unit that has expired at now.
	Stale func(v V, now int64) bool
	// Prune returns v without the units expired at now, whether any unit is
	// left (keep) and whether any was dropped (changed). It never modifies
	// v: a changed value is a new one.
	Prune func(v V, now int64) (out V, keep, changed bool)
}

type entryKey[K comparable] struct {
	key K
	ns  string
}

type objectLayer[K comparable, V any] struct {
	def   map[K]V
	other map[entryKey[K]]V
	gone  map[entryKey[K]]struct{} // tombstones hiding lower layers; unused in the base
}

type objectGroup[K comparable, V any] struct {
	layers []*objectLayer[K, V] // layers[0] is the base
	frozen int                  // layers[:frozen] belong to captures and are immutable
	// floor (if hasFloor) is at most the timestamp of every unit in the
	// group (states with TTL): until it expires, nothing in the group can
	// have expired and incremental cleanup skips it.
	floor    int64
	hasFloor bool
}

// noteStamp lowers the floor of g to ts if needed.
func (g *objectGroup[K, V]) noteStamp(ts int64) {
	if !g.hasFloor || ts < g.floor {
		g.floor, g.hasFloor = ts, true
	}
}

// Codec encodes, decodes and clones the stored values of one state. Its
// methods may run on any goroutine (captures encode on another).
type Codec[V any] interface {
	// Serializers describes the encoding Encode writes.
	Serializers() []serializer.Snapshot
	// Encode appends the canonical encoding of v (backend/FORMAT.md).
	Encode(dst []byte, v V) ([]byte, error)
	// Decode decodes a restored value, migrating it where the serializers
	// say so.
	Decode(b []byte) (V, error)
	// Clone returns a copy that can be modified without changing v.
	Clone(v V) (V, error)
}

// New returns the store of a state; expiry is nil for a state without
// TTL.
func New[K comparable, V any](ctx backend.ObjectContext[K], kind snapshot.StateKind, c Codec[V], expiry *Expiry[V]) *Store[K, V] {
	r := ctx.Key.KeyGroups()
	s := &Store[K, V]{ctx: ctx, first: r.Start, kind: kind, codec: c, groups: make([]objectGroup[K, V], r.Len()), expiry: expiry}
	if expiry != nil {
		if inc := expiry.Policy.Config.Cleanup.Incremental; !inc.Disabled {
			s.cleanupEntries = inc.Entries
			if inc.PerRecord {
				ctx.Key.OnSet(s.owe)
			}
		}
	}
	return s
}

func (s *Store[K, V]) group() *objectGroup[K, V] {
	return &s.groups[s.ctx.Key.KeyGroup()-s.first]
}

func (g *objectGroup[K, V]) lookup(k K, ns string) (v V, ok bool, at int) {
	for i := len(g.layers) - 1; i >= 0; i-- {
		l := g.layers[i]
		if ns == "" {
			if v, ok = l.def[k]; ok {
				return v, true, i
			}
		} else if v, ok = l.other[entryKey[K]{k, ns}]; ok {
			return v, true, i
		}
		if l.gone != nil {
			if _, dead := l.gone[entryKey[K]{k, ns}]; dead {
				return v, false, i
			}
		}
	}
	return v, false, -1
}

// writable returns the layer the current group's writes go to, folding the
// overlays into the base first if no capture holds them any more.
func (s *Store[K, V]) writable(g *objectGroup[K, V]) *objectLayer[K, V] {
	if g.frozen > 0 && !s.ctx.Pins.Active() {
		g.fold()
	}
	if g.frozen == len(g.layers) {
		l := &objectLayer[K, V]{}
		if len(g.layers) > 0 {
			l.gone = map[entryKey[K]]struct{}{}
		}
		g.layers = append(g.layers, l)
	}
	return g.layers[len(g.layers)-1]
}

// fold merges every overlay into the base layer. Only when no capture holds
// any layer.
func (g *objectGroup[K, V]) fold() {
	base := g.layers[0]
	for _, l := range g.layers[1:] {
		for ek := range l.gone {
			if ek.ns == "" {
				delete(base.def, ek.key)
			} else {
				delete(base.other, ek)
			}
		}
		for k, v := range l.def {
			base.put(k, "", v)
		}
		for ek, v := range l.other {
			base.put(ek.key, ek.ns, v)
		}
	}
	clear(g.layers[1:])
	g.layers, g.frozen = g.layers[:1], 0
}

func (l *objectLayer[K, V]) put(k K, ns string, v V) {
	if ns == "" {
		if l.def == nil {
			l.def = map[K]V{}
		}
		l.def[k] = v
	} else {
		if l.other == nil {
			l.other = map[entryKey[K]]V{}
		}
		l.other[entryKey[K]{k, ns}] = v
	}
	if l.gone != nil {
		delete(l.gone, entryKey[K]{k, ns})
	}
}

// Get returns the value of the current key in ns.
func (s *Store[K, V]) Get(ns string) (V, bool) {
	g := s.group()
	k := s.ctx.Key.Key()
	if len(g.layers) == 1 {
		var v V
		var ok bool
		if ns == "" {
			v, ok = g.layers[0].def[k]
		} else {
			v, ok = g.layers[0].other[entryKey[K]{k, ns}]
		}
		return v, ok
	}
	v, ok, _ := g.lookup(k, ns)
	return v, ok
}

// Put stores v as the value of the current key in ns; the store keeps v.
func (s *Store[K, V]) Put(ns string, v V) {
	g := s.group()
	s.writable(g).put(s.ctx.Key.Key(), ns, v)
}

// Delete removes the value of the current key in ns.
func (s *Store[K, V]) Delete(ns string) { s.delAt(s.group(), s.ctx.Key.Key(), ns) }

// delAt removes the entry of key k in ns of group g.
func (s *Store[K, V]) delAt(g *objectGroup[K, V], k K, ns string) {
	if _, ok, _ := g.lookup(k, ns); !ok {
		return
	}
	l := s.writable(g)
	if ns == "" {
		delete(l.def, k)
	} else {
		delete(l.other, entryKey[K]{k, ns})
	}
	if l.gone != nil {
		l.gone[entryKey[K]{k, ns}] = struct{}{}
	}
}

// Mutable returns the value of the current key in ns for modification in
// place, cloning it into the overlay first if a capture holds it. The
// caller stores the modified value with Put unless it changed it in place.
func (s *Store[K, V]) Mutable(ns string) (V, bool, error) {
	g := s.group()
	if g.frozen > 0 && !s.ctx.Pins.Active() {
		g.fold()
	}
	k := s.ctx.Key.Key()
	v, ok, at := g.lookup(k, ns)
	if !ok || at >= g.frozen {
		return v, ok, nil
	}
	c, err := s.codec.Clone(v)
	if err != nil {
		return v, false, fmt.Errorf("copy-on-write: %w", err)
	}
	s.writable(g).put(k, ns, c)
	return c, true, nil
}

// CopyOnWriteLayers returns the most layers a key group of s holds. It is
// a hook for tests of object backends (overlays must fold back once no
// capture holds them) and no part of the backend.ObjectStore contract.
func (s *Store[K, V]) CopyOnWriteLayers() int {
	n := 0
	for i := range s.groups {
		n = max(n, len(s.groups[i].layers))
	}
	return n
}

// Kind implements backend.ObjectStore.
func (s *Store[K, V]) Kind() snapshot.StateKind { return s.kind }

// Serializers implements backend.ObjectStore.
func (s *Store[K, V]) Serializers() []serializer.Snapshot { return s.codec.Serializers() }

// Restore implements backend.ObjectStore.
func (s *Store[K, V]) Restore(i int, key K, ns string, value []byte) error {
	v, err := s.codec.Decode(value)
	if err != nil {
		return err
	}
	g := &s.groups[i]
	if len(g.layers) == 0 {
		g.layers = []*objectLayer[K, V]{{}}
	}
	g.layers[len(g.layers)-1].put(key, ns, v)
	if s.expiry != nil {
		if ts, ok := s.expiry.Oldest(v); ok {
			g.noteStamp(ts)
		}
	}
	return nil
}

// Keys implements backend.ObjectStore. Under ttl.NeverReturnExpired, keys
// whose value holds no live unit are left out.
func (s *Store[K, V]) Keys(ns string, fn func(K) bool) {
	visible := func(V) bool { return true }
	if e := s.expiry; e != nil && !e.Policy.ReturnExpired() {
		now := e.Policy.Now()
		visible = func(v V) bool { return e.Alive(v, now) }
	}
	for i := range s.groups {
		if !eachEntry(s.groups[i].layers, func(k K, n string, v V) bool { return n != ns || !visible(v) || fn(k) }) {
			return
		}
	}
}

// Accessed runs a step of incremental cleanup if it is on. The typed
// states of a TTL state call it on every access.
func (s *Store[K, V]) Accessed() {
	if s.cleanupEntries > 0 {
		s.owe()
	}
}

// minStamp folds the oldest timestamp of v into (floor, has).
func minStamp[V any](e *Expiry[V], v V, floor int64, has bool) (int64, bool) {
	ts, ok := e.Oldest(v)
	if !ok {
		return floor, has
	}
	if !has || ts < floor {
		return ts, true
	}
	return floor, true
}

// Stamped records that a unit stamped at ts was written to the current
// key group (states with TTL).
func (s *Store[K, V]) Stamped(ts int64) { s.group().noteStamp(ts) }

// owe adds one access's entries to the cleanup owed and runs a step once a
// batch is owed.
func (s *Store[K, V]) owe() {
	if s.cleanupOwed += s.cleanupEntries; s.cleanupOwed >= cleanupBatch {
		s.cleanupStep()
	}
}

// cleanupStep is one step of incremental cleanup: it checks the entries
// owed (cleanupOwed) of the base layer of one key group, walking its map
// from a random position (Go randomizes where a range over a map starts,
// so repeated steps sample the whole map), and removes their expired
// units. Key groups take turns.
func (s *Store[K, V]) cleanupStep() {
	if len(s.groups) == 0 {
		return
	}
	n := s.cleanupOwed
	s.cleanupOwed = 0
	g := &s.groups[s.cleanupGroup]
	if s.cleanupGroup++; s.cleanupGroup == len(s.groups) {
		s.cleanupGroup = 0
	}
	e := s.expiry
	now := e.Policy.Now()
	if len(g.layers) == 0 || !g.hasFloor || !e.Policy.Expired(g.floor, now) {
		return // nothing in the group can have expired yet
	}
	base := g.layers[0]
	due := s.cleanupDue[:0]
	total := len(base.def) + len(base.other)
	switch {
	case total == 0:
		return
	case total <= n && len(g.layers) == 1:
		// The whole group fits the step: check every entry and raise the
		// floor to the oldest unit that stays.
		floor, has := int64(0), false
		check := func(ek entryKey[K], v V) {
			if e.Stale(v, now) {
				due = append(due, ek)
				if v, keep, _ := e.Prune(v, now); keep {
					floor, has = minStamp(e, v, floor, has)
				}
				return
			}
			floor, has = minStamp(e, v, floor, has)
		}
		for k, v := range base.def {
			check(entryKey[K]{k, ""}, v)
		}
		for ek, v := range base.other {
			check(ek, v)
		}
		g.floor, g.hasFloor = floor, has
	case rand.IntN(total) < len(base.def):
		for k, v := range base.def {
			if n--; n < 0 {
				break
			}
			if e.Stale(v, now) {
				due = append(due, entryKey[K]{k, ""})
			}
		}
	default:
		for ek, v := range base.other {
			if n--; n < 0 {
				break
			}
			if e.Stale(v, now) {
				due = append(due, ek)
			}
		}
	}
	for _, ek := range due {
		v, ok, _ := g.lookup(ek.key, ek.ns) // an overlay may hold a newer value
		if !ok {
			continue
		}
		switch out, keep, changed := e.Prune(v, now); {
		case !keep:
			s.delAt(g, ek.key, ek.ns)
		case changed:
			s.writable(g).put(ek.key, ek.ns, out)
		}
	}
	clear(due)
	s.cleanupDue = due[:0]
}

// eachEntry calls fn for every visible entry of a stack of layers, until
// fn returns false; it reports whether it went through all of them.
func eachEntry[K comparable, V any](layers []*objectLayer[K, V], fn func(K, string, V) bool) bool {
	hidden := func(i int, k K, ns string) bool {
		for _, up := range layers[i+1:] {
			ek := entryKey[K]{k, ns}
			if _, ok := up.gone[ek]; ok {
				return true
			}
			if ns == "" {
				if _, ok := up.def[k]; ok {
					return true
				}
			} else if _, ok := up.other[ek]; ok {
				return true
			}
		}
		return false
	}
	for i := len(layers) - 1; i >= 0; i-- {
		l := layers[i]
		for k, v := range l.def {
			if !hidden(i, k, "") && !fn(k, "", v) {
				return false
			}
		}
		for ek, v := range l.other {
			if !hidden(i, ek.key, ek.ns) && !fn(ek.key, ek.ns, v) {
				return false
			}
		}
	}
	return true
}

// Capture implements backend.ObjectStore.
// A state with TTL whose config filters full snapshots leaves the units
// expired at the time of the capture out.
func (s *Store[K, V]) Capture(uint64) backend.ObjectCapture[K] {
	c := &objectCapture[K, V]{codec: s.codec, groups: make([][]*objectLayer[K, V], len(s.groups))}
	if e := s.expiry; e != nil && e.Policy.Config.Cleanup.FiltersFullSnapshots() {
		c.prune, c.now = e.Prune, e.Policy.Now()
	}
	for i := range s.groups {
		g := &s.groups[i]
		g.frozen = len(g.layers)
		c.groups[i] = g.layers[:g.frozen:g.frozen]
	}
	return c
}

type objectCapture[K comparable, V any] struct {
	codec  Codec[V]
	groups [][]*objectLayer[K, V]
	buf    []byte
	// prune, if set, drops the units expired at now (the full-snapshot
	// filter of TTL).
	prune func(v V, now int64) (out V, keep, changed bool)
	now   int64
}

// Encode implements backend.ObjectCapture.
func (c *objectCapture[K, V]) Encode(i int, fn func(K, string, []byte) error) error {
	var err error
	eachEntry(c.groups[i], func(k K, ns string, v V) bool {
		if c.prune != nil {
			var keep bool
			if v, keep, _ = c.prune(v, c.now); !keep {
				return true
			}
		}
		if c.buf, err = c.codec.Encode(c.buf[:0], v); err != nil {
			err = fmt.Errorf("key %v: %w", k, err)
			return false
		}
		err = fn(k, ns, c.buf)
		return err == nil
	})
	return err
}
