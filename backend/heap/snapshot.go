package heap

import (
	"context"
	"fmt"
	"sync"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
)

// Snapshot implements backend.KeyedBackend: it records the map of every
// key group of every state and starts a new write epoch. It copies no
// entry.
func (b *Backend[K]) Snapshot() (backend.SnapshotCapture, error) {
	if b.closed {
		return nil, backend.ErrClosed
	}
	c := &capture[K]{
		uid:         b.opts.OperatorUID,
		groups:      b.groups,
		maxP:        b.opts.MaxParallelism,
		keySer:      b.keySer,
		compression: b.opts.Compression,
		epoch:       b.epoch,
		pinned:      b.pinned,
	}
	for _, t := range b.order {
		maps := make([]map[entryKey[K]]entry, len(t.groups))
		for i := range t.groups {
			maps[i] = t.groups[i].m
		}
		c.tables = append(c.tables, capturedTable[K]{name: t.name, kind: t.kind, codec: t.codec, maps: maps})
	}
	for _, rs := range b.restored {
		c.restored = append(c.restored, rs) // immutable once read
	}
	b.pinned.pin(b.epoch)
	b.epoch++
	return c, nil
}

type capture[K comparable] struct {
	uid         string
	groups      backend.KeyGroupRange
	maxP        int
	keySer      backend.Serializer[K]
	compression snapshot.Compression
	tables      []capturedTable[K]
	restored    []*restoredState[K]

	epoch   uint64
	pinned  *pins
	release sync.Once
}

type capturedTable[K comparable] struct {
	name  string
	kind  snapshot.StateKind
	codec backend.ObjectCodec
	maps  []map[entryKey[K]]entry
}

// Release implements backend.SnapshotCapture.
func (c *capture[K]) Release() {
	c.release.Do(func() { c.pinned.unpin(c.epoch) })
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
	for _, t := range c.tables {
		h.States = append(h.States, snapshot.StateMeta{Name: t.name, Kind: t.kind, Serializers: t.codec.Serializers()})
	}
	for _, rs := range c.restored {
		h.States = append(h.States, rs.meta)
	}
	var keyBuf, valBuf []byte
	for i := range c.groups.Len() {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := w.BeginKeyGroup(c.groups.Start + i); err != nil {
			return nil, err
		}
		for si, t := range c.tables {
			for k, e := range t.maps[i] {
				if keyBuf, err = c.keySer.Append(keyBuf[:0], k.key); err != nil {
					return nil, fmt.Errorf("state %q: key %v: %w", t.name, k.key, err)
				}
				if valBuf, err = t.codec.Encode(valBuf[:0], e.obj); err != nil {
					return nil, fmt.Errorf("state %q: value of key %v: %w", t.name, k.key, err)
				}
				if err := w.WriteEntry(si, keyBuf, []byte(k.ns), valBuf); err != nil {
					return nil, err
				}
			}
		}
		for j, rs := range c.restored {
			for _, e := range rs.groups[i] {
				if keyBuf, err = c.keySer.Append(keyBuf[:0], e.key); err != nil {
					return nil, fmt.Errorf("state %q: key %v: %w", rs.meta.Name, e.key, err)
				}
				if err := w.WriteEntry(len(c.tables)+j, keyBuf, []byte(e.ns), e.value); err != nil {
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
