// Package heap is the in-memory keyed state backend: state lives as typed
// objects in per-key-group Go maps and is never serialized on the
// read/write path.
//
// The typed maps are the copy-on-write stores of the object states
// (backend.ObjectStore, made by internal/cowstore); this package registers
// them, takes captures, writes full snapshots in the
// key-group stream format (snapshot.FormatKeyGroups, which restores read
// per key group) and restores them. A capture freezes the maps of every key
// group in O(states × key groups); writes during the asynchronous phase go
// to small overlay maps, so nothing is copied on either side.
package heap

import (
	"bytes"
	"context"
	"errors"
	"fmt"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
)

// Backend is the heap keyed backend of one subtask. It implements
// backend.KeyedBackend with the capability backend.Objects. It is not safe
// for concurrent use, except for the captures that Snapshot returns.
type Backend[K comparable] struct {
	opts    backend.KeyedOptions[K]
	groups  backend.KeyGroupRange
	keySer  serializer.Serializer[K]
	current backend.KeyContext[K]
	pins    backend.Pins

	stores   map[string]backend.ObjectStore[K]
	order    []string // registration order: the state index in snapshots
	restored map[string]*restoredState[K]

	epoch  uint64 // epoch of the next capture
	failed error  // a Restore failed: the restored state is partial
	closed bool
}

var (
	_ backend.KeyedBackend[string]     = (*Backend[string])(nil)
	_ backend.ObjectCapability[string] = (*Backend[string])(nil)
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
		stores:   map[string]backend.ObjectStore[K]{},
		restored: map[string]*restoredState[K]{},
		epoch:    1,
	}
	return b, nil
}

// unusable returns why the backend cannot be used, or nil.
func (b *Backend[K]) unusable() error {
	if b.closed {
		return backend.ErrClosed
	}
	return b.failed
}

// Capability implements backend.KeyedBackend: the heap keeps objects.
func (b *Backend[K]) Capability() backend.Capability[K] { return backend.Objects[K](b) }

// SetCurrentKey implements backend.KeyedBackend.
func (b *Backend[K]) SetCurrentKey(key K) error {
	if err := b.unusable(); err != nil {
		return err
	}
	return b.current.Set(key)
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
	if err := b.unusable(); err != nil {
		return err
	}
	if st, ok := b.stores[state]; ok {
		st.Keys(namespace, fn)
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

// ObjectContext implements backend.ObjectCapability.
func (b *Backend[K]) ObjectContext() backend.ObjectContext[K] {
	return backend.ObjectContext[K]{Key: &b.current, Pins: &b.pins}
}

// RegisterObjectStore implements backend.ObjectCapability.
func (b *Backend[K]) RegisterObjectStore(reg backend.ObjectRegistration[K]) (backend.ObjectStore[K], error) {
	if err := b.unusable(); err != nil {
		return nil, err
	}
	if st, ok := b.stores[reg.Name]; ok {
		if st.Kind() != reg.Kind {
			return nil, b.conflict(reg.Name, st.Kind(), reg.Kind)
		}
		return st, nil
	}
	rs := b.restored[reg.Name]
	var old []serializer.Snapshot
	if rs != nil {
		if rs.meta.Kind != reg.Kind {
			return nil, b.conflict(reg.Name, rs.meta.Kind, reg.Kind)
		}
		old = append([]serializer.Snapshot{}, rs.meta.Serializers...)
	}
	st, err := reg.NewStore(old)
	if err != nil {
		var ie *backend.IncompatibleStateError
		if errors.As(err, &ie) {
			ie.Operator, ie.State = b.opts.OperatorUID, reg.Name
		}
		return nil, err
	}
	if rs != nil {
		for i, entries := range rs.groups {
			for _, e := range entries {
				if err := st.Restore(i, e.key, e.ns, e.value); err != nil {
					return nil, fmt.Errorf("operator %q state %q: restore key %v: %w", b.opts.OperatorUID, reg.Name, e.key, err)
				}
			}
		}
		delete(b.restored, reg.Name)
	}
	b.stores[reg.Name] = st
	b.order = append(b.order, reg.Name)
	return st, nil
}

func (b *Backend[K]) conflict(name string, had, want snapshot.StateKind) error {
	return fmt.Errorf("%w: operator %q state %q is a %s state, not a %s state",
		backend.ErrStateConflict, b.opts.OperatorUID, name, had, want)
}

// Close implements backend.KeyedBackend. Captures taken before Close stay
// writable.
func (b *Backend[K]) Close() error {
	b.closed = true
	b.current.CloseClock()
	b.stores, b.order, b.restored = nil, nil, nil
	return nil
}

// Restore implements backend.KeyedBackend. Restored state stays encoded
// until its state is registered; then the new serializers judge it and it
// is decoded (or migrated) into objects.
func (b *Backend[K]) Restore(ctx context.Context, src backend.RestoreSource) error {
	if err := b.unusable(); err != nil {
		return err
	}
	if len(b.stores) > 0 {
		return fmt.Errorf("operator %q: %w", b.opts.OperatorUID, backend.ErrRestoreAfterUse)
	}
	if err := backend.CheckRestoreMaxParallelism(b.opts.OperatorUID, src.MaxParallelism, b.opts.MaxParallelism); err != nil {
		return err
	}
	var handles []*snapshot.KeyedStateHandle
	for i := range src.Handles {
		if h := &src.Handles[i]; !backend.HandleKeyGroups(h).Intersect(b.groups).Empty() {
			handles = append(handles, h)
		}
	}
	keySer, err := backend.RestoreKeySerializer(b.opts.OperatorUID, b.keySer, handles)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	b.keySer = keySer
	b.current.SetSerializer(keySer)
	for _, h := range handles {
		if err := b.restoreHandle(ctx, src, h, backend.HandleKeyGroups(h).Intersect(b.groups)); err != nil {
			err = fmt.Errorf("operator %q: restore: %w", b.opts.OperatorUID, err)
			b.failed = fmt.Errorf("backend unusable after a failed restore: %w", err)
			return err
		}
	}
	return nil
}

func (b *Backend[K]) restoreHandle(ctx context.Context, src backend.RestoreSource, h *snapshot.KeyedStateHandle, r backend.KeyGroupRange) error {
	if h.Format != snapshot.FormatKeyGroups {
		return fmt.Errorf("%w: the heap backend cannot read keyed state of format %q", snapshot.ErrUnsupported, h.Format)
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
