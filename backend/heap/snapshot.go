package heap

import (
	"context"
	"fmt"
	"sync"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
)

// Snapshot implements backend.KeyedBackend: it freezes the maps of every
// key group of every state. It copies no entry.
func (b *Backend[K]) Snapshot() (backend.SnapshotCapture, error) {
	if err := b.unusable(); err != nil {
		return nil, err
	}
	c := &capture[K]{
		uid:         b.opts.OperatorUID,
		groups:      b.groups,
		keySer:      b.keySer,
		compression: b.opts.Compression,
		epoch:       b.epoch,
		pins:        &b.pins,
	}
	b.pins.Pin(b.epoch)
	for _, name := range b.order {
		st := b.stores[name]
		c.states = append(c.states, capturedState[K]{
			meta:    snapshot.StateMeta{Name: name, Kind: st.Kind(), Serializers: st.Serializers()},
			capture: st.Capture(b.epoch),
		})
	}
	for _, rs := range b.restored {
		c.restored = append(c.restored, rs) // immutable once read
	}
	b.epoch++
	return c, nil
}

type capture[K comparable] struct {
	uid         string
	groups      backend.KeyGroupRange
	keySer      serializer.Serializer[K]
	compression snapshot.Compression
	states      []capturedState[K]
	restored    []*restoredState[K]

	epoch   uint64
	pins    *backend.Pins
	release sync.Once
}

type capturedState[K comparable] struct {
	meta    snapshot.StateMeta
	capture backend.ObjectCapture[K]
}

// Release implements backend.SnapshotCapture.
func (c *capture[K]) Release() {
	c.release.Do(func() { c.pins.Release(c.epoch) })
}

// Write implements backend.SnapshotCapture: one file in the key-group
// stream format holding every state of every key group of the backend.
func (c *capture[K]) Write(ctx context.Context, target backend.SnapshotTarget) ([]snapshot.KeyedStateHandle, error) {
	defer c.Release()
	name := target.FilePrefix + ".kg"
	h, err := c.write(ctx, target, name)
	if err != nil {
		return nil, fmt.Errorf("operator %q: snapshot: %w", c.uid, err)
	}
	return []snapshot.KeyedStateHandle{*h}, nil
}

func (c *capture[K]) write(ctx context.Context, target backend.SnapshotTarget, name string) (_ *snapshot.KeyedStateHandle, err error) {
	fw, err := target.Store.Create(ctx, target.Dir+"/"+name, snapshot.CreateOptions{})
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			_ = fw.Abort()
		}
	}()
	w, err := snapshot.NewKeyGroupWriter(fw, c.groups.Start, c.groups.End, c.compression)
	if err != nil {
		return nil, err
	}
	h := &snapshot.KeyedStateHandle{
		Format:        snapshot.FormatKeyGroups,
		KeyGroupStart: c.groups.Start,
		KeyGroupEnd:   c.groups.End,
		KeySerializer: c.keySer.Snapshot(),
		Compression:   c.compression,
	}
	for _, st := range c.states {
		h.States = append(h.States, st.meta)
	}
	for _, rs := range c.restored {
		h.States = append(h.States, rs.meta)
	}
	var keyBuf []byte
	for i := range c.groups.Len() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := w.BeginKeyGroup(c.groups.Start + i); err != nil {
			return nil, err
		}
		for si, st := range c.states {
			err := st.capture.Encode(i, func(key K, ns string, value []byte) error {
				var err error
				if keyBuf, err = c.keySer.Append(keyBuf[:0], key); err != nil {
					return fmt.Errorf("state %q: key %v: %w", st.meta.Name, key, err)
				}
				return w.WriteEntry(si, keyBuf, []byte(ns), value)
			})
			if err != nil {
				return nil, err
			}
		}
		for j, rs := range c.restored {
			for _, e := range rs.groups[i] {
				if keyBuf, err = c.keySer.Append(keyBuf[:0], e.key); err != nil {
					return nil, fmt.Errorf("state %q: key %v: %w", rs.meta.Name, e.key, err)
				}
				if err := w.WriteEntry(len(c.states)+j, keyBuf, []byte(e.ns), e.value); err != nil {
					return nil, err
				}
			}
		}
	}
	if h.KeyGroupOffsets, h.KeyGroupCRCs, err = w.Finish(); err != nil {
		return nil, err
	}
	written, err := fw.Commit()
	if err != nil {
		return nil, err
	}
	h.Files = []snapshot.FileRef{{Path: name, Scope: snapshot.ScopeExclusive, Size: written.Size, CRC32C: written.CRC32C}}
	return h, nil
}
