package lsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"slices"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/indexheap"
	"github.com/stated-io/stated/internal/rowkey"
	"github.com/stated-io/stated/snapshot"
)

// Timers live in the database (backend.TimerBackend), so that they are
// bounded by disk and not by memory, as Flink's RocksDB timer service
// keeps them in RocksDB. The rows of the timer map states
// (backend/FORMAT.md) hold them; the timer index, under the reserved state
// id timerIndexSID, orders them by time within each key group (FORMAT.md):
//
//	keyGroup (2 bytes BE) | 0xFFFE | stateID of the timer state (2 bytes BE) |
//	timestamp (8 bytes BE, sign bit flipped) | uvarint len | key | namespace
//
// with an empty value. A timer's row and its index row are set and deleted
// in one batch. In memory each key group caches its earliest timers (at
// most timerCacheSize), and a heap orders the key groups by the earliest
// of theirs, so Peek reads nothing from disk.

// timerCacheSize is how many of its earliest timers a key group keeps in
// memory.
const timerCacheSize = 16

// timerIndexHeaderBytes is the length of a timer index key up to the
// timestamp: key group, timerIndexSID and the timer state's id.
const timerIndexHeaderBytes = rowkey.HeaderBytes + rowkey.StateIDBytes

// isTimerState reports whether name is one of the timer map states.
func isTimerState(name string) bool {
	return name == backend.EventTimersState || name == backend.ProcessingTimersState
}

// appendTimerIndexPrefix appends the first key of the timer index of state
// sid in key group kg.
func appendTimerIndexPrefix(dst []byte, kg int, sid uint16) []byte {
	dst = rowkey.AppendStatePrefix(dst, kg, rowkey.TimerIndexSID)
	return binary.BigEndian.AppendUint16(dst, sid)
}

// appendTimerIndexKey appends the timer index key of the timer at ts in
// namespace ns of the key whose bytes are key.
func appendTimerIndexKey(dst []byte, kg int, sid uint16, ts int64, key []byte, ns string) []byte {
	dst = appendTimerIndexPrefix(dst, kg, sid)
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts)^1<<63)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	return append(dst, ns...)
}

// parseTimerIndexKey returns what the part of a timer index key after its
// header holds. Slices alias k.
func parseTimerIndexKey(k []byte) (ts int64, key []byte, ns []byte, err error) {
	if len(k) < 8 {
		return 0, nil, nil, fmt.Errorf("timer index key of %d bytes past its header, want at least 8", len(k))
	}
	ts = int64(binary.BigEndian.Uint64(k) ^ 1<<63)
	n, w := binary.Uvarint(k[8:])
	if w <= 0 || n > uint64(len(k)-8-w) {
		return 0, nil, nil, errors.New("timer index key: bad key length")
	}
	key = k[8+w : 8+w+int(n)]
	return ts, key, k[8+w+int(n):], nil
}

// timerRow appends the row key of the timer map state sid for the timer
// at ts in namespace ns of the key whose bytes are key.
func appendTimerRow(dst []byte, kg int, sid uint16, key []byte, ns string, ts int64) []byte {
	return backend.AppendTimerUserKey(rowkey.AppendRowPrefix(dst, kg, sid, key, ""), ns, ts)
}

// TimerQueue implements backend.TimerBackend: the queue of the timers of
// the map state named state, which must be registered. Calls with one name
// return the same queue.
func (b *Backend[K]) TimerQueue(state string) (backend.TimerQueue[K], error) {
	if err := b.unusable(); err != nil {
		return nil, err
	}
	if q := b.timerQueues[state]; q != nil {
		return q, nil
	}
	st := b.states[state]
	if st == nil || !st.registered || st.kind != snapshot.StateMap || !isTimerState(state) {
		return nil, fmt.Errorf("lsm: operator %q: %q is not a registered timer state", b.opts.OperatorUID, state)
	}
	q := &timerQueue[K]{b: b, sid: st.sid, groups: make([]timerGroup[K], b.groups.Len()),
		heads: indexheap.New(earlierGroup[K], func(g *timerGroup[K]) *int { return &g.pos })}
	for i := range q.groups {
		q.groups[i] = timerGroup[K]{kg: b.groups.Start + i, pos: -1}
	}
	if err := q.load(); err != nil {
		return nil, fmt.Errorf("lsm: operator %q: timers of %q: %w", b.opts.OperatorUID, state, err)
	}
	if b.timerQueues == nil {
		b.timerQueues = map[string]*timerQueue[K]{}
	}
	b.timerQueues[state] = q
	return q, nil
}

// timerQueue is the backend.TimerQueue of one timer state. It belongs to
// the backend's goroutine.
type timerQueue[K comparable] struct {
	b      *Backend[K]
	sid    uint16
	groups []timerGroup[K]                // by key group, from b.groups.Start
	heads  *indexheap.Heap[timerGroup[K]] // the key groups with timers, earliest first
	row    []byte                         // scratch: a timer's row key
	idx    []byte                         // scratch: a timer's index key
}

var _ backend.TimerQueue[string] = (*timerQueue[string])(nil)

// timerGroup is what a key group's timers have in memory.
type timerGroup[K comparable] struct {
	kg int
	// cache holds the earliest timers of the key group in index order:
	// every timer that sorts before the last one cached is cached.
	cache []cachedTimer[K]
	// complete says cache holds every timer of the key group.
	complete bool
	pos      int // index in heads, -1 when not there
}

type cachedTimer[K comparable] struct {
	order []byte // the index key past its header: the order in the key group
	timer backend.Timer[K]
}

// search returns where order is, or belongs, in the cache.
func (g *timerGroup[K]) search(order []byte) (int, bool) {
	return slices.BinarySearchFunc(g.cache, order, func(c cachedTimer[K], o []byte) int { return bytes.Compare(c.order, o) })
}

// load fills the cache of every key group.
func (q *timerQueue[K]) load() error {
	lo, hi := rowkey.SpanOf(q.b.groups.Start, q.b.groups.End)
	it, err := q.b.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for i := range q.groups {
		g := &q.groups[i]
		if err := q.fill(g, it); err != nil {
			return errors.Join(err, it.Close())
		}
		q.reposition(g)
	}
	return it.Close()
}

// refill fills the cache of g, which is empty, from the database.
func (q *timerQueue[K]) refill(g *timerGroup[K]) error {
	prefix := appendTimerIndexPrefix(nil, g.kg, q.sid)
	it, err := q.b.db.NewIter(&pebble.IterOptions{LowerBound: prefix, UpperBound: rowkey.PrefixEnd(prefix)})
	if err != nil {
		return err
	}
	return errors.Join(q.fill(g, it), it.Close())
}

// fill reads the earliest timers of g into its cache with it.
func (q *timerQueue[K]) fill(g *timerGroup[K], it *pebble.Iterator) error {
	prefix := appendTimerIndexPrefix(nil, g.kg, q.sid)
	g.cache, g.complete = g.cache[:0], false
	for valid := it.SeekGE(prefix); valid && bytes.HasPrefix(it.Key(), prefix); valid = it.Next() {
		if len(g.cache) == timerCacheSize {
			return nil // there are more
		}
		order := bytes.Clone(it.Key()[timerIndexHeaderBytes:])
		ts, key, ns, err := parseTimerIndexKey(order)
		if err != nil {
			return &snapshot.CorruptError{Path: q.b.dbDir(), Offset: -1, Reason: fmt.Sprintf("timer index of key group %d", g.kg), Err: err}
		}
		k, err := q.b.keySer.Decode(key)
		if err != nil {
			return fmt.Errorf("decode the key of a timer: %w", err)
		}
		g.cache = append(g.cache, cachedTimer[K]{order: order, timer: backend.Timer[K]{Key: k, Namespace: string(ns), Timestamp: ts}})
	}
	g.complete = true
	return it.Error()
}

// keys builds the row and index keys of the current key's timer at ts in
// ns into q.row and q.idx, and returns its key group.
func (q *timerQueue[K]) keys(ns string, ts int64) *timerGroup[K] {
	kg, key := q.b.current.KeyGroup(), q.b.current.Bytes()
	q.row = appendTimerRow(q.row[:0], kg, q.sid, key, ns, ts)
	q.idx = appendTimerIndexKey(q.idx[:0], kg, q.sid, ts, key, ns)
	return &q.groups[kg-q.b.groups.Start]
}

// write sets (or with del, deletes) the row and the index row in q.row and
// q.idx, in one batch under the backend's write lock.
func (q *timerQueue[K]) write(del bool) error {
	batch := q.b.db.NewBatch()
	defer batch.Close()
	op := func(k []byte) error { return batch.Set(k, nil, nil) }
	if del {
		op = func(k []byte) error { return batch.Delete(k, nil) }
	}
	if err := errors.Join(op(q.row), op(q.idx)); err != nil {
		return err
	}
	q.b.writeMu.Lock()
	defer q.b.writeMu.Unlock()
	return batch.Commit(pebble.NoSync)
}

// Add implements backend.TimerQueue.
func (q *timerQueue[K]) Add(ns string, ts int64) error {
	if err := q.b.unusable(); err != nil {
		return err
	}
	g := q.keys(ns, ts)
	order := q.idx[timerIndexHeaderBytes:]
	i, found := g.search(order)
	if found {
		return nil
	}
	// Writing a timer that exists beyond the cache rewrites the same rows.
	if err := q.write(false); err != nil {
		return err
	}
	if !g.complete && i == len(g.cache) {
		return nil // later than every cached timer: it waits on disk
	}
	t := backend.Timer[K]{Key: q.b.current.Key(), Namespace: ns, Timestamp: ts}
	g.cache = slices.Insert(g.cache, i, cachedTimer[K]{order: bytes.Clone(order), timer: t})
	if len(g.cache) > timerCacheSize {
		g.cache[len(g.cache)-1] = cachedTimer[K]{}
		g.cache, g.complete = g.cache[:len(g.cache)-1], false
	}
	q.reposition(g)
	return nil
}

// Remove implements backend.TimerQueue.
func (q *timerQueue[K]) Remove(ns string, ts int64) error {
	if err := q.b.unusable(); err != nil {
		return err
	}
	g := q.keys(ns, ts)
	i, found := g.search(q.idx[timerIndexHeaderBytes:])
	if !found && (g.complete || i < len(g.cache)) {
		return nil // no such timer
	}
	if err := q.write(true); err != nil {
		return err
	}
	if !found {
		return nil
	}
	g.cache = slices.Delete(g.cache, i, i+1)
	if len(g.cache) == 0 && !g.complete {
		if err := q.refill(g); err != nil {
			return fmt.Errorf("lsm: timers: %w", err)
		}
	}
	q.reposition(g)
	return nil
}

// Peek implements backend.TimerQueue.
func (q *timerQueue[K]) Peek() (backend.Timer[K], bool) {
	if g := q.heads.Min(); g != nil {
		return g.cache[0].timer, true
	}
	return backend.Timer[K]{}, false
}

// reposition puts g where its earliest timer belongs in heads.
func (q *timerQueue[K]) reposition(g *timerGroup[K]) {
	switch {
	case len(g.cache) == 0 && g.pos >= 0:
		q.heads.Remove(g)
	case len(g.cache) == 0:
	case g.pos < 0:
		q.heads.Push(g)
	default:
		q.heads.Fix(g)
	}
}

// earlierGroup orders key groups with timers by their earliest timer,
// then by key group.
func earlierGroup[K comparable](a, b *timerGroup[K]) bool {
	if x, y := a.cache[0].timer.Timestamp, b.cache[0].timer.Timestamp; x != y {
		return x < y
	}
	return a.kg < b.kg
}

// indexTimers rebuilds the timer index of the timer state st from its
// rows, in every key group of b: restores call it when the rows they
// loaded came without an index (key-group streams, handles of format
// lsm/v1).
func (b *Backend[K]) indexTimers(st *stateInfo) error {
	lo, hi := rowkey.SpanOf(b.groups.Start, b.groups.End)
	it, err := b.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	batch := b.db.NewBatch()
	var idx []byte
	werr := func() error {
		for kg := b.groups.Start; kg <= b.groups.End; kg++ {
			start := appendTimerIndexPrefix(nil, kg, st.sid)
			if err := batch.DeleteRange(start, rowkey.PrefixEnd(start), nil); err != nil {
				return err
			}
			prefix := rowkey.AppendStatePrefix(nil, kg, st.sid)
			for valid := it.SeekGE(prefix); valid && bytes.HasPrefix(it.Key(), prefix); valid = it.Next() {
				r, err := rowkey.Parse(it.Key())
				if err == nil && len(r.Namespace) != 0 {
					err = errors.New("a timer row in a namespace")
				}
				var ns string
				var ts int64
				if err == nil {
					ns, ts, err = backend.ParseTimerUserKey(r.UserKey)
				}
				if err != nil {
					return &snapshot.CorruptError{Path: b.dbDir(), Offset: -1, Reason: fmt.Sprintf("timer of state %q in key group %d", st.name, kg), Err: err}
				}
				idx = appendTimerIndexKey(idx[:0], kg, st.sid, ts, r.Key, ns)
				if err := setBounded(batch, idx, nil); err != nil {
					return err
				}
			}
		}
		return it.Error()
	}()
	if werr == nil {
		werr = batch.Commit(pebble.NoSync)
	}
	return errors.Join(werr, it.Close(), batch.Close())
}
