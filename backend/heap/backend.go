// Package heap is the in-memory keyed state backend: state lives as typed
// objects in per-key-group Go maps and is never serialized on the
// read/write path.
//
// Snapshots are copy-on-write. The synchronous phase records, for every
// state, the map of every key group (O(states × key groups), independent of
// the state size) and starts a new write epoch. A write to a key group whose
// map an unfinished capture still holds first clones that map; an in-place
// modification of a list, map or accumulator object that a capture holds
// first clones the object. So the capture never changes and writes never
// wait for the asynchronous phase, which encodes the captured maps into a
// key-group stream (snapshot.FormatKeyGroups) that restores read per key
// group.
package heap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
)

// Backend is the heap keyed backend of one subtask. It implements
// backend.KeyedBackend and backend.ObjectBackend. It is not safe for
// concurrent use, except for the captures that Snapshot returns.
type Backend[K comparable] struct {
	opts    backend.KeyedOptions[K]
	groups  backend.KeyGroupRange
	keySer  backend.Serializer[K]
	current backend.KeyContext[K]
	kgIndex int // current key group - groups.Start

	tables   map[string]*table[K]
	order    []*table[K] // registration order: the state index in snapshots
	restored map[string]*restoredState[K]

	epoch  uint64 // write epoch; each capture starts a new one
	pinned *pins
	closed bool
}

var (
	_ backend.ObjectBackend[string] = (*Backend[string])(nil)
	_ backend.ObjectTable[string]   = (*table[string])(nil)
)

// New returns an empty heap backend.
func New[K comparable](opts backend.KeyedOptions[K]) (*Backend[K], error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	b := &Backend[K]{
		opts:     opts,
		groups:   opts.KeyGroups,
		keySer:   opts.KeySerializer,
		current:  backend.NewKeyContext(&opts),
		tables:   map[string]*table[K]{},
		restored: map[string]*restoredState[K]{},
		epoch:    1,
		pinned:   &pins{active: map[uint64]int{}},
	}
	return b, nil
}

// SetCurrentKey implements backend.KeyedBackend.
func (b *Backend[K]) SetCurrentKey(key K) error {
	if b.closed {
		return backend.ErrClosed
	}
	if err := b.current.Set(key); err != nil {
		return err
	}
	b.kgIndex = b.current.KeyGroup() - b.groups.Start
	return nil
}

// CurrentKey implements backend.KeyedBackend.
func (b *Backend[K]) CurrentKey() K { return b.current.Key() }

// CurrentKeyGroup implements backend.KeyedBackend.
func (b *Backend[K]) CurrentKeyGroup() int { return b.current.KeyGroup() }

// KeyGroups implements backend.KeyedBackend.
func (b *Backend[K]) KeyGroups() backend.KeyGroupRange { return b.groups }

// MaxParallelism implements backend.KeyedBackend.
func (b *Backend[K]) MaxParallelism() int { return b.opts.MaxParallelism }

// Keys implements backend.KeyedBackend. States restored but not registered
// yet are enumerated too.
func (b *Backend[K]) Keys(state, namespace string, fn func(K) bool) error {
	if b.closed {
		return backend.ErrClosed
	}
	if t, ok := b.tables[state]; ok {
		for i := range t.groups {
			for k := range t.groups[i].m {
				if k.ns == namespace && !fn(k.key) {
					return nil
				}
			}
		}
		return nil
	}
	if rs, ok := b.restored[state]; ok {
		for _, g := range rs.groups {
			for _, e := range g {
				if e.ns == namespace && !fn(e.key) {
					return nil
				}
			}
		}
	}
	return nil
}

// ObjectTable implements backend.ObjectBackend.
func (b *Backend[K]) ObjectTable(reg backend.ObjectRegistration) (backend.ObjectTable[K], error) {
	if b.closed {
		return nil, backend.ErrClosed
	}
	if t, ok := b.tables[reg.Name]; ok {
		if t.kind != reg.Kind {
			return nil, b.conflict(reg.Name, t.kind, reg.Kind)
		}
		return t, nil
	}
	rs := b.restored[reg.Name]
	var old []backend.SerializerSnapshot
	if rs != nil {
		if rs.meta.Kind != reg.Kind {
			return nil, b.conflict(reg.Name, rs.meta.Kind, reg.Kind)
		}
		old = append([]backend.SerializerSnapshot{}, rs.meta.Serializers...)
	}
	codec, err := reg.Codec(old)
	if err != nil {
		var ie *backend.IncompatibleStateError
		if errors.As(err, &ie) {
			ie.Operator, ie.State = b.opts.OperatorUID, reg.Name
		}
		return nil, err
	}
	t := &table[K]{b: b, name: reg.Name, kind: reg.Kind, codec: codec, groups: make([]group[K], b.groups.Len())}
	if rs != nil {
		for i, entries := range rs.groups {
			if len(entries) == 0 {
				continue
			}
			m := make(map[entryKey[K]]entry, len(entries))
			for _, e := range entries {
				obj, err := codec.Decode(e.value)
				if err != nil {
					return nil, fmt.Errorf("operator %q state %q: restore key %v: %w", b.opts.OperatorUID, reg.Name, e.key, err)
				}
				m[entryKey[K]{key: e.key, ns: e.ns}] = entry{obj: obj, epoch: b.epoch}
			}
			t.groups[i] = group[K]{m: m, epoch: b.epoch}
		}
		delete(b.restored, reg.Name)
	}
	b.tables[reg.Name] = t
	b.order = append(b.order, t)
	return t, nil
}

func (b *Backend[K]) conflict(name string, had, want snapshot.StateKind) error {
	return fmt.Errorf("%w: operator %q state %q is a %s state, not a %s state",
		backend.ErrStateConflict, b.opts.OperatorUID, name, had, want)
}

// Close implements backend.KeyedBackend. Captures taken before Close stay
// writable.
func (b *Backend[K]) Close() error {
	b.closed = true
	b.tables, b.order, b.restored = nil, nil, nil
	return nil
}

// pins tracks the write epochs of the captures not yet released. A map or
// object created in an epoch at or before the newest pinned epoch may be
// held by a capture and is cloned before it is modified.
type pins struct {
	mu     sync.Mutex
	active map[uint64]int
	max    atomic.Uint64
}

func (p *pins) pin(epoch uint64) {
	p.mu.Lock()
	p.active[epoch]++
	p.max.Store(max(p.max.Load(), epoch))
	p.mu.Unlock()
}

func (p *pins) unpin(epoch uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.active[epoch]--; p.active[epoch] <= 0 {
		delete(p.active, epoch)
	}
	var m uint64
	for e := range p.active {
		m = max(m, e)
	}
	p.max.Store(m)
}

// Restore implements backend.KeyedBackend. Restored state stays encoded
// until its state is registered; then the new serializers judge it and it
// is decoded (or migrated) into objects.
func (b *Backend[K]) Restore(ctx context.Context, src backend.RestoreSource) error {
	if b.closed {
		return backend.ErrClosed
	}
	if len(b.tables) > 0 {
		return fmt.Errorf("operator %q: %w", b.opts.OperatorUID, backend.ErrRestoreAfterUse)
	}
	if err := backend.CheckRestoreMaxParallelism(b.opts.OperatorUID, src.MaxParallelism, b.opts.MaxParallelism); err != nil {
		return err
	}
	for i := range src.Handles {
		h := &src.Handles[i]
		r := backend.HandleKeyGroups(h).Intersect(b.groups)
		if r.Empty() {
			continue
		}
		if err := b.restoreHandle(ctx, src, h, r); err != nil {
			return fmt.Errorf("operator %q: restore: %w", b.opts.OperatorUID, err)
		}
	}
	return nil
}

func (b *Backend[K]) restoreHandle(ctx context.Context, src backend.RestoreSource, h *snapshot.KeyedStateHandle, r backend.KeyGroupRange) error {
	if h.Format != snapshot.FormatKeyGroups {
		return fmt.Errorf("%w: the heap backend cannot read keyed state of format %q", snapshot.ErrUnsupported, h.Format)
	}
	if c := b.keySer.Compatibility(h.KeySerializer); c.Kind != backend.CompatibleAsIs {
		return &backend.IncompatibleStateError{Operator: b.opts.OperatorUID, State: "(keys)", Old: h.KeySerializer,
			New: b.keySer.Snapshot(), Reason: "keys are never migrated"}
	}
	states := make([]*restoredState[K], len(h.States))
	for i, meta := range h.States {
		rs := b.restored[meta.Name]
		if rs == nil {
			rs = &restoredState[K]{meta: meta, groups: make([][]rawEntry[K], b.groups.Len())}
			b.restored[meta.Name] = rs
		} else if rs.meta.Kind != meta.Kind {
			return b.conflict(meta.Name, rs.meta.Kind, meta.Kind)
		}
		states[i] = rs
	}
	path := h.Files[0].Path
	return snapshot.ReadKeyGroups(ctx, src.Store, src.Dir, h, r.Start, r.End, func(kg, si int, key, ns, value []byte) error {
		if si < 0 || si >= len(states) {
			return &snapshot.CorruptError{Path: path, Offset: -1, Reason: fmt.Sprintf("state index %d of key group %d is not among the %d states of the handle", si, kg, len(states))}
		}
		k, err := b.keySer.Decode(key)
		if err != nil {
			return &snapshot.CorruptError{Path: path, Offset: -1, Reason: fmt.Sprintf("key in key group %d", kg), Err: err}
		}
		if backend.KeyGroupForKey(key, b.opts.MaxParallelism) != kg {
			return &snapshot.CorruptError{Path: path, Offset: -1, Reason: fmt.Sprintf("key %v does not belong to key group %d", k, kg)}
		}
		g := &states[si].groups[kg-b.groups.Start]
		*g = append(*g, rawEntry[K]{key: k, ns: string(ns), value: bytes.Clone(value)})
		return nil
	})
}

// restoredState is a state read from a snapshot and not registered yet.
type restoredState[K comparable] struct {
	meta   snapshot.StateMeta
	groups [][]rawEntry[K] // by key-group index
}

type rawEntry[K comparable] struct {
	key   K
	ns    string
	value []byte
}
