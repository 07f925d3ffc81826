package backend

import (
	"container/heap"
	"encoding/binary"
	"fmt"
)

// Names of the internal states that hold timers. Names starting with "_"
// are reserved for stated.
const (
	EventTimersState      = "_timers_event"
	ProcessingTimersState = "_timers_processing"
)

// Timer is a registered timer of a key and namespace.
type Timer[K comparable] struct {
	Key       K
	Namespace string
	Timestamp int64
}

// TimerService keeps event-time and processing-time timers per key and
// namespace. Timers are keyed state of the backend (one map state per time
// domain), so they are snapshotted, restored and redistributed on rescale
// with the rest of the state; an in-memory queue orders them for firing and
// is rebuilt from the state when the service is created.
//
// It is not safe for concurrent use and belongs to the goroutine of its
// backend. Registering a timer that exists is a no-op.
type TimerService[K comparable] struct {
	b          KeyedBackend[K]
	event      *timerDomain[K]
	processing *timerDomain[K]
	watermark  int64
}

// NewTimerService creates the timer service of b, loading restored timers.
// Create it after b.Restore.
func NewTimerService[K comparable](b KeyedBackend[K]) (*TimerService[K], error) {
	ev, err := newTimerDomain(b, EventTimersState)
	if err != nil {
		return nil, err
	}
	pt, err := newTimerDomain(b, ProcessingTimersState)
	if err != nil {
		return nil, err
	}
	return &TimerService[K]{b: b, event: ev, processing: pt, watermark: minTimestamp}, nil
}

const minTimestamp = -1 << 63

// CurrentWatermark returns the last watermark passed to AdvanceWatermark.
func (s *TimerService[K]) CurrentWatermark() int64 { return s.watermark }

// RegisterEventTimeTimer registers a timer for the current key in ns.
func (s *TimerService[K]) RegisterEventTimeTimer(ns string, ts int64) error {
	return s.event.register(ns, ts)
}

// DeleteEventTimeTimer deletes a timer of the current key in ns.
func (s *TimerService[K]) DeleteEventTimeTimer(ns string, ts int64) error {
	return s.event.remove(ns, ts)
}

// RegisterProcessingTimeTimer registers a timer for the current key in ns.
func (s *TimerService[K]) RegisterProcessingTimeTimer(ns string, ts int64) error {
	return s.processing.register(ns, ts)
}

// DeleteProcessingTimeTimer deletes a timer of the current key in ns.
func (s *TimerService[K]) DeleteProcessingTimeTimer(ns string, ts int64) error {
	return s.processing.remove(ns, ts)
}

// AdvanceWatermark fires, in timestamp order, every event-time timer at or
// before wm. Before each call of fire the backend's current key is the
// timer's key; the timer is removed before fire runs, and fire may
// register new timers (those at or before wm fire in the same call).
func (s *TimerService[K]) AdvanceWatermark(wm int64, fire func(Timer[K]) error) error {
	s.watermark = max(s.watermark, wm)
	return s.event.fire(wm, fire)
}

// AdvanceProcessingTime fires every processing-time timer at or before now,
// like AdvanceWatermark.
func (s *TimerService[K]) AdvanceProcessingTime(now int64, fire func(Timer[K]) error) error {
	return s.processing.fire(now, fire)
}

// NextEventTime returns the earliest registered event-time timestamp.
func (s *TimerService[K]) NextEventTime() (int64, bool) { return s.event.next() }

// NextProcessingTime returns the earliest registered processing-time
// timestamp.
func (s *TimerService[K]) NextProcessingTime() (int64, bool) { return s.processing.next() }

// timerKey is a timer of the current key: the user key of the timer map
// state, whose namespace is always the default.
type timerKey struct {
	ns string
	ts int64
}

// timerKeySerializer writes the timestamp in 8 bytes big-endian, then the
// namespace bytes.
type timerKeySerializer struct{}

func (timerKeySerializer) Append(dst []byte, k timerKey) ([]byte, error) {
	dst = binary.BigEndian.AppendUint64(dst, uint64(k.ts))
	return append(dst, k.ns...), nil
}

func (timerKeySerializer) Decode(b []byte) (timerKey, error) {
	if len(b) < 8 {
		return timerKey{}, fmt.Errorf("%w: timer of %d bytes, want at least 8", ErrDecode, len(b))
	}
	return timerKey{ts: int64(binary.BigEndian.Uint64(b)), ns: string(b[8:])}, nil
}

func (timerKeySerializer) Snapshot() SerializerSnapshot {
	return SerializerSnapshot{Name: "timer", Version: 1}
}

func (s timerKeySerializer) Compatibility(old SerializerSnapshot) Compatibility[timerKey] {
	return SameSerializer[timerKey](s.Snapshot(), old)
}

type timerDomain[K comparable] struct {
	b     KeyedBackend[K]
	state MapState[timerKey, struct{}]
	queue timerQueue[K]
	seq   uint64
}

func newTimerDomain[K comparable](b KeyedBackend[K], name string) (*timerDomain[K], error) {
	st, err := GetMapState(b, MapDescriptor[timerKey, struct{}]{Name: name, KeySerializer: timerKeySerializer{}, ValueSerializer: EmptySerializer{}})
	if err != nil {
		return nil, fmt.Errorf("timer service: %w", err)
	}
	d := &timerDomain[K]{b: b, state: st}
	var keys []K
	if err := b.Keys(name, "", func(k K) bool { keys = append(keys, k); return true }); err != nil {
		return nil, fmt.Errorf("timer service: %w", err)
	}
	for _, k := range keys {
		if err := b.SetCurrentKey(k); err != nil {
			return nil, fmt.Errorf("timer service: %w", err)
		}
		if err := st.Range(func(tk timerKey, _ struct{}) bool { d.push(k, tk); return true }); err != nil {
			return nil, fmt.Errorf("timer service: %w", err)
		}
	}
	return d, nil
}

func (d *timerDomain[K]) push(k K, tk timerKey) {
	d.seq++
	heap.Push(&d.queue, queuedTimer[K]{key: k, tk: tk, seq: d.seq})
}

func (d *timerDomain[K]) register(ns string, ts int64) error {
	tk := timerKey{ns: ns, ts: ts}
	if ok, err := d.state.Contains(tk); err != nil || ok {
		return err
	}
	if err := d.state.Put(tk, struct{}{}); err != nil {
		return err
	}
	d.push(d.b.CurrentKey(), tk)
	return nil
}

// remove deletes the timer from state; its queue entry is dropped lazily
// when it reaches the head.
func (d *timerDomain[K]) remove(ns string, ts int64) error {
	return d.state.Remove(timerKey{ns: ns, ts: ts})
}

func (d *timerDomain[K]) next() (int64, bool) {
	if len(d.queue) == 0 {
		return 0, false
	}
	return d.queue[0].tk.ts, true
}

func (d *timerDomain[K]) fire(upTo int64, fire func(Timer[K]) error) error {
	for len(d.queue) > 0 && d.queue[0].tk.ts <= upTo {
		t := heap.Pop(&d.queue).(queuedTimer[K])
		if err := d.b.SetCurrentKey(t.key); err != nil {
			return err
		}
		ok, err := d.state.Contains(t.tk)
		if err != nil {
			return err
		}
		if !ok {
			continue // deleted, or a duplicate entry already fired
		}
		if err := d.state.Remove(t.tk); err != nil {
			return err
		}
		if err := fire(Timer[K]{Key: t.key, Namespace: t.tk.ns, Timestamp: t.tk.ts}); err != nil {
			return err
		}
	}
	return nil
}

type queuedTimer[K comparable] struct {
	key K
	tk  timerKey
	seq uint64
}

// timerQueue is a min-heap by timestamp, then registration order.
type timerQueue[K comparable] []queuedTimer[K]

func (q timerQueue[K]) Len() int { return len(q) }
func (q timerQueue[K]) Less(i, j int) bool {
	if q[i].tk.ts != q[j].tk.ts {
		return q[i].tk.ts < q[j].tk.ts
	}
	return q[i].seq < q[j].seq
}
func (q timerQueue[K]) Swap(i, j int) { q[i], q[j] = q[j], q[i] }
func (q *timerQueue[K]) Push(x any)   { *q = append(*q, x.(queuedTimer[K])) }
func (q *timerQueue[K]) Pop() any {
	old := *q
	t := old[len(old)-1]
	*q = old[:len(old)-1]
	return t
}
