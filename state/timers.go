package state

import (
	"fmt"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/indexheap"
	"github.com/stated-io/stated/serializer"
)

// TimerService keeps event-time and processing-time timers per key and
// namespace. Timers are keyed state of the backend (one map state per time
// domain), so they are snapshotted, restored and redistributed on rescale
// with the rest of the state. A TimerQueue per domain orders them for
// firing: the backend's own if it is a backend.TimerBackend, else an in-memory
// queue of every timer, rebuilt from the state when the service is
// created. Either queue forgets a deleted timer at once.
//
// It is not safe for concurrent use and belongs to the goroutine of its
// backend. Registering a timer that exists is a no-op.
type TimerService[K comparable] struct {
	b          backend.KeyedBackend[K]
	event      backend.TimerQueue[K]
	processing backend.TimerQueue[K]
	watermark  int64
}

// NewTimerService creates the timer service of b, loading restored timers.
// Create it after b.Restore.
func NewTimerService[K comparable](b backend.KeyedBackend[K]) (*TimerService[K], error) {
	ev, err := openTimerQueue(b, backend.EventTimersState)
	if err != nil {
		return nil, err
	}
	pt, err := openTimerQueue(b, backend.ProcessingTimersState)
	if err != nil {
		return nil, err
	}
	return &TimerService[K]{b: b, event: ev, processing: pt, watermark: minTimestamp}, nil
}

const minTimestamp = -1 << 63

// openTimerQueue registers the timer state named name in b and returns the
// queue of its timers.
func openTimerQueue[K comparable](b backend.KeyedBackend[K], name string) (backend.TimerQueue[K], error) {
	st, err := GetMapState(b, MapDescriptor[timerKey, struct{}]{Name: name, KeySerializer: timerKeySerializer{}, ValueSerializer: serializer.Empty{}})
	if err != nil {
		return nil, fmt.Errorf("timer service: %w", err)
	}
	var q backend.TimerQueue[K]
	if tb, ok := b.(backend.TimerBackend[K]); ok {
		q, err = tb.TimerQueue(name)
	} else {
		q, err = newMemoryTimers(b, name, st)
	}
	if err != nil {
		return nil, fmt.Errorf("timer service: %w", err)
	}
	return q, nil
}

// CurrentWatermark returns the last watermark passed to AdvanceWatermark.
func (s *TimerService[K]) CurrentWatermark() int64 { return s.watermark }

// RegisterEventTimeTimer registers a timer for the current key in ns.
func (s *TimerService[K]) RegisterEventTimeTimer(ns string, ts int64) error {
	return s.event.Add(ns, ts)
}

// DeleteEventTimeTimer deletes a timer of the current key in ns.
func (s *TimerService[K]) DeleteEventTimeTimer(ns string, ts int64) error {
	return s.event.Remove(ns, ts)
}

// RegisterProcessingTimeTimer registers a timer for the current key in ns.
func (s *TimerService[K]) RegisterProcessingTimeTimer(ns string, ts int64) error {
	return s.processing.Add(ns, ts)
}

// DeleteProcessingTimeTimer deletes a timer of the current key in ns.
func (s *TimerService[K]) DeleteProcessingTimeTimer(ns string, ts int64) error {
	return s.processing.Remove(ns, ts)
}

// AdvanceWatermark fires, in timestamp order, every event-time timer at or
// before wm. Before each call of fire the backend's current key is the
// timer's key; the timer is removed before fire runs, and fire may
// register new timers (those at or before wm fire in the same call).
func (s *TimerService[K]) AdvanceWatermark(wm int64, fire func(backend.Timer[K]) error) error {
	s.watermark = max(s.watermark, wm)
	return s.fire(s.event, wm, fire)
}

// AdvanceProcessingTime fires every processing-time timer at or before now,
// like AdvanceWatermark.
func (s *TimerService[K]) AdvanceProcessingTime(now int64, fire func(backend.Timer[K]) error) error {
	return s.fire(s.processing, now, fire)
}

// NextEventTime returns the earliest registered event-time timestamp.
func (s *TimerService[K]) NextEventTime() (int64, bool) { return nextTimestamp(s.event) }

// NextProcessingTime returns the earliest registered processing-time
// timestamp.
func (s *TimerService[K]) NextProcessingTime() (int64, bool) { return nextTimestamp(s.processing) }

func nextTimestamp[K comparable](q backend.TimerQueue[K]) (int64, bool) {
	t, ok := q.Peek()
	return t.Timestamp, ok
}

func (s *TimerService[K]) fire(q backend.TimerQueue[K], upTo int64, fire func(backend.Timer[K]) error) error {
	for {
		t, ok := q.Peek()
		if !ok || t.Timestamp > upTo {
			return nil
		}
		if err := s.b.SetCurrentKey(t.Key); err != nil {
			return err
		}
		if err := q.Remove(t.Namespace, t.Timestamp); err != nil {
			return err
		}
		if err := fire(t); err != nil {
			return err
		}
	}
}

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
	return backend.AppendTimerUserKey(dst, k.ns, k.ts), nil
}

func (timerKeySerializer) Decode(b []byte) (timerKey, error) {
	ns, ts, err := backend.ParseTimerUserKey(b)
	return timerKey{ns: ns, ts: ts}, err
}

func (timerKeySerializer) Snapshot() serializer.Snapshot {
	return serializer.Snapshot{Name: "timer", Version: 1}
}

func (s timerKeySerializer) Compatibility(old serializer.Snapshot) serializer.Compatibility[timerKey] {
	return serializer.Same[timerKey](s.Snapshot(), old)
}

// memoryTimers is the TimerQueue of backends without one of their own:
// the map state holds the timers, and an indexed min-heap in memory orders
// every one of them. A removed timer leaves the heap at once, so memory
// follows the live timers.
type memoryTimers[K comparable] struct {
	b     backend.KeyedBackend[K]
	state MapState[timerKey, struct{}]
	queue *indexheap.Heap[queuedTimer[K]] // by timestamp, then registration
	byID  map[backend.Timer[K]]*queuedTimer[K]
	seq   uint64
}

var _ backend.TimerQueue[string] = (*memoryTimers[string])(nil)

func newMemoryTimers[K comparable](b backend.KeyedBackend[K], name string, st MapState[timerKey, struct{}]) (*memoryTimers[K], error) {
	q := &memoryTimers[K]{b: b, state: st, byID: map[backend.Timer[K]]*queuedTimer[K]{},
		queue: indexheap.New(queuedBefore[K], func(qt *queuedTimer[K]) *int { return &qt.pos })}
	var keys []K
	if err := b.Keys(name, "", func(k K) bool { keys = append(keys, k); return true }); err != nil {
		return nil, err
	}
	for _, k := range keys {
		if err := b.SetCurrentKey(k); err != nil {
			return nil, err
		}
		err := st.Range(func(tk timerKey, _ struct{}) bool {
			q.queue.Append(q.track(backend.Timer[K]{Key: k, Namespace: tk.ns, Timestamp: tk.ts}))
			return true
		})
		if err != nil {
			return nil, err
		}
	}
	q.queue.Init()
	return q, nil
}

// track adds t to the index and returns its queue entry.
func (q *memoryTimers[K]) track(t backend.Timer[K]) *queuedTimer[K] {
	q.seq++
	qt := &queuedTimer[K]{timer: t, seq: q.seq, pos: -1}
	q.byID[t] = qt
	return qt
}

// Add implements TimerQueue.
func (q *memoryTimers[K]) Add(ns string, ts int64) error {
	t := backend.Timer[K]{Key: q.b.CurrentKey(), Namespace: ns, Timestamp: ts}
	if _, ok := q.byID[t]; ok {
		return nil
	}
	if err := q.state.Put(timerKey{ns: ns, ts: ts}, struct{}{}); err != nil {
		return err
	}
	q.queue.Push(q.track(t))
	return nil
}

// Remove implements TimerQueue.
func (q *memoryTimers[K]) Remove(ns string, ts int64) error {
	t := backend.Timer[K]{Key: q.b.CurrentKey(), Namespace: ns, Timestamp: ts}
	qt, ok := q.byID[t]
	if !ok {
		return nil
	}
	if err := q.state.Remove(timerKey{ns: ns, ts: ts}); err != nil {
		return err
	}
	q.queue.Remove(qt)
	delete(q.byID, t)
	return nil
}

// Peek implements TimerQueue.
func (q *memoryTimers[K]) Peek() (backend.Timer[K], bool) {
	if qt := q.queue.Min(); qt != nil {
		return qt.timer, true
	}
	return backend.Timer[K]{}, false
}

type queuedTimer[K comparable] struct {
	timer backend.Timer[K]
	seq   uint64 // registration order, among timers of one timestamp
	pos   int    // index in the heap
}

// queuedBefore orders timers by timestamp, then registration.
func queuedBefore[K comparable](a, b *queuedTimer[K]) bool {
	if a.timer.Timestamp != b.timer.Timestamp {
		return a.timer.Timestamp < b.timer.Timestamp
	}
	return a.seq < b.seq
}
