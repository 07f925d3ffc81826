package backend

import (
	"encoding/binary"
	"fmt"

	"github.com/stated-io/stated/backend/internal/indexheap"
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

// TimerQueue holds the timers of one time domain of a keyed backend,
// ordered by timestamp. Like the keyed states it acts on the backend's
// current key, and it belongs to the backend's goroutine.
type TimerQueue[K comparable] interface {
	// Add registers the timer of the current key at ts in namespace ns.
	// Adding a timer that exists does nothing.
	Add(ns string, ts int64) error
	// Remove deletes the timer of the current key at ts in namespace ns, if
	// there is one; the next Peek does not see it.
	Remove(ns string, ts int64) error
	// Peek returns the earliest timer, ok=false if there is none; timers
	// of one timestamp come in an order of the queue's choosing. Peek
	// reads nothing from storage and cannot fail.
	Peek() (t Timer[K], ok bool)
}

// TimerBackend is the optional capability of a keyed backend that keeps
// timers itself, ordered by time in its own storage, so that memory holds
// only what it caches of them (the lsm backend). Without it the
// TimerService keeps every timer of the backend in memory as well.
//
// Either way the timers of a domain are the rows of a map state (FORMAT.md:
// named EventTimersState or ProcessingTimersState, user key the timestamp
// and namespace, user value empty), which is what snapshots hold.
type TimerBackend[K comparable] interface {
	// TimerQueue returns the queue of the timers held in the map state
	// named state, which the caller registered before. Calls with one name
	// return queues of the same timers.
	TimerQueue(state string) (TimerQueue[K], error)
}

// TimerService keeps event-time and processing-time timers per key and
// namespace. Timers are keyed state of the backend (one map state per time
// domain), so they are snapshotted, restored and redistributed on rescale
// with the rest of the state. A TimerQueue per domain orders them for
// firing: the backend's own if it is a TimerBackend, else an in-memory
// queue of every timer, rebuilt from the state when the service is
// created. Either queue forgets a deleted timer at once.
//
// It is not safe for concurrent use and belongs to the goroutine of its
// backend. Registering a timer that exists is a no-op.
type TimerService[K comparable] struct {
	b          KeyedBackend[K]
	event      TimerQueue[K]
	processing TimerQueue[K]
	watermark  int64
}

// NewTimerService creates the timer service of b, loading restored timers.
// Create it after b.Restore.
func NewTimerService[K comparable](b KeyedBackend[K]) (*TimerService[K], error) {
	ev, err := openTimerQueue(b, EventTimersState)
	if err != nil {
		return nil, err
	}
	pt, err := openTimerQueue(b, ProcessingTimersState)
	if err != nil {
		return nil, err
	}
	return &TimerService[K]{b: b, event: ev, processing: pt, watermark: minTimestamp}, nil
}

const minTimestamp = -1 << 63

// openTimerQueue registers the timer state named name in b and returns the
// queue of its timers.
func openTimerQueue[K comparable](b KeyedBackend[K], name string) (TimerQueue[K], error) {
	st, err := GetMapState(b, MapDescriptor[timerKey, struct{}]{Name: name, KeySerializer: timerKeySerializer{}, ValueSerializer: EmptySerializer{}})
	if err != nil {
		return nil, fmt.Errorf("timer service: %w", err)
	}
	var q TimerQueue[K]
	if tb, ok := b.(TimerBackend[K]); ok {
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
func (s *TimerService[K]) AdvanceWatermark(wm int64, fire func(Timer[K]) error) error {
	s.watermark = max(s.watermark, wm)
	return s.fire(s.event, wm, fire)
}

// AdvanceProcessingTime fires every processing-time timer at or before now,
// like AdvanceWatermark.
func (s *TimerService[K]) AdvanceProcessingTime(now int64, fire func(Timer[K]) error) error {
	return s.fire(s.processing, now, fire)
}

// NextEventTime returns the earliest registered event-time timestamp.
func (s *TimerService[K]) NextEventTime() (int64, bool) { return nextTimestamp(s.event) }

// NextProcessingTime returns the earliest registered processing-time
// timestamp.
func (s *TimerService[K]) NextProcessingTime() (int64, bool) { return nextTimestamp(s.processing) }

func nextTimestamp[K comparable](q TimerQueue[K]) (int64, bool) {
	t, ok := q.Peek()
	return t.Timestamp, ok
}

func (s *TimerService[K]) fire(q TimerQueue[K], upTo int64, fire func(Timer[K]) error) error {
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
	return AppendTimerUserKey(dst, k.ns, k.ts), nil
}

func (timerKeySerializer) Decode(b []byte) (timerKey, error) {
	ns, ts, err := ParseTimerUserKey(b)
	return timerKey{ns: ns, ts: ts}, err
}

func (timerKeySerializer) Snapshot() SerializerSnapshot {
	return SerializerSnapshot{Name: "timer", Version: 1}
}

func (s timerKeySerializer) Compatibility(old SerializerSnapshot) Compatibility[timerKey] {
	return SameSerializer[timerKey](s.Snapshot(), old)
}

// AppendTimerUserKey appends the user key of the timer at ts in namespace
// ns in the timer map states (FORMAT.md): ts in 8 bytes big-endian, then
// the namespace bytes. Byte backends that implement TimerBackend write
// their timer rows with it.
func AppendTimerUserKey(dst []byte, ns string, ts int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	return append(dst, ns...)
}

// ParseTimerUserKey parses a user key of a timer map state; it fails with
// ErrDecode on fewer than 8 bytes.
func ParseTimerUserKey(b []byte) (ns string, ts int64, err error) {
	if len(b) < 8 {
		return "", 0, fmt.Errorf("%w: timer of %d bytes, want at least 8", ErrDecode, len(b))
	}
	return string(b[8:]), int64(binary.BigEndian.Uint64(b)), nil
}

// memoryTimers is the TimerQueue of backends without one of their own:
// the map state holds the timers, and an indexed min-heap in memory orders
// every one of them. A removed timer leaves the heap at once, so memory
// follows the live timers.
type memoryTimers[K comparable] struct {
	b     KeyedBackend[K]
	state MapState[timerKey, struct{}]
	queue *indexheap.Heap[queuedTimer[K]] // by timestamp, then registration
	byID  map[Timer[K]]*queuedTimer[K]
	seq   uint64
}

var _ TimerQueue[string] = (*memoryTimers[string])(nil)

func newMemoryTimers[K comparable](b KeyedBackend[K], name string, st MapState[timerKey, struct{}]) (*memoryTimers[K], error) {
	q := &memoryTimers[K]{b: b, state: st, byID: map[Timer[K]]*queuedTimer[K]{},
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
			q.queue.Append(q.track(Timer[K]{Key: k, Namespace: tk.ns, Timestamp: tk.ts}))
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
func (q *memoryTimers[K]) track(t Timer[K]) *queuedTimer[K] {
	q.seq++
	qt := &queuedTimer[K]{timer: t, seq: q.seq, pos: -1}
	q.byID[t] = qt
	return qt
}

// Add implements TimerQueue.
func (q *memoryTimers[K]) Add(ns string, ts int64) error {
	t := Timer[K]{Key: q.b.CurrentKey(), Namespace: ns, Timestamp: ts}
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
	t := Timer[K]{Key: q.b.CurrentKey(), Namespace: ns, Timestamp: ts}
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
func (q *memoryTimers[K]) Peek() (Timer[K], bool) {
	if qt := q.queue.Min(); qt != nil {
		return qt.timer, true
	}
	return Timer[K]{}, false
}

type queuedTimer[K comparable] struct {
	timer Timer[K]
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
