package engine

import (
	"cmp"
	"encoding/binary"
	"fmt"
	"slices"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// Window is an event-time interval [Start, End) in milliseconds.
type Window struct {
	Start, End int64
}

// MaxTimestamp is the last timestamp in the window: its timer fires when
// the watermark reaches it.
func (w Window) MaxTimestamp() int64 { return w.End - 1 }

// namespace is the window's state namespace: 16 bytes, big-endian.
func (w Window) namespace() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], uint64(w.Start))
	binary.BigEndian.PutUint64(b[8:], uint64(w.End))
	return string(b[:])
}

func windowOfNamespace(ns string) (Window, error) {
	if len(ns) != 16 {
		return Window{}, fmt.Errorf("window namespace of %d bytes, want 16: %w", len(ns), serializer.ErrDecode)
	}
	return Window{int64(binary.BigEndian.Uint64([]byte(ns[:8]))), int64(binary.BigEndian.Uint64([]byte(ns[8:])))}, nil
}

// WindowAssigner assigns event timestamps to windows.
type WindowAssigner interface {
	// Assign returns the windows a record with timestamp ts belongs to.
	Assign(ts int64) []Window
	// merging reports whether windows that overlap merge (sessions).
	merging() bool
}

// TumblingWindows are fixed-size, non-overlapping windows aligned to the
// epoch: [k*size, (k+1)*size).
func TumblingWindows(size time.Duration) WindowAssigner {
	return slidingWindows{size: size.Milliseconds(), slide: size.Milliseconds()}
}

// SlidingWindows are windows of size starting every slide; a record
// belongs to size/slide windows.
func SlidingWindows(size, slide time.Duration) WindowAssigner {
	return slidingWindows{size: size.Milliseconds(), slide: slide.Milliseconds()}
}

type slidingWindows struct{ size, slide int64 }

func (s slidingWindows) Assign(ts int64) []Window {
	last := ts - mod(ts, s.slide)
	var ws []Window
	for start := last; start > ts-s.size; start -= s.slide {
		ws = append(ws, Window{start, start + s.size})
	}
	return ws
}

func (slidingWindows) merging() bool { return false }

func mod(a, b int64) int64 {
	m := a % b
	if m < 0 {
		m += b
	}
	return m
}

// SessionWindows group the records of a key into sessions separated by
// at least gap without records: each record opens [ts, ts+gap) and
// windows that overlap merge.
func SessionWindows(gap time.Duration) WindowAssigner { return sessionWindows{gap.Milliseconds()} }

type sessionWindows struct{ gap int64 }

func (s sessionWindows) Assign(ts int64) []Window { return []Window{{ts, ts + s.gap}} }
func (sessionWindows) merging() bool              { return true }

// WindowResult is the aggregate of one key's window.
type WindowResult[K comparable, OUT any] struct {
	Key    K
	Window Window
	Value  OUT
}

// WindowAggregate adds a keyed event-time window operator under uid:
// records are assigned to windows by assigner and folded into one
// accumulator per key and window with agg; when the watermark passes a
// window's end, the window emits agg.Result and its state is cleared.
// Records for windows that have already fired are dropped (and counted).
// accSer serializes accumulators for the state backend. agg.Add and
// agg.Merge may modify the accumulator they are given (Merge its first):
// on backends that share stored objects with checkpoints in flight (heap)
// they are given copies (serializer.Cloner), so a checkpoint holds exactly
// the records before its barrier.
func WindowAggregate[K comparable, IN, ACC, OUT any](ks KeyedStream[K, IN], uid string, assigner WindowAssigner, agg state.AggregateFunction[IN, ACC, OUT], accSer serializer.Serializer[ACC]) Stream[WindowResult[K, OUT]] {
	j := ks.stream.job
	if assigner == nil {
		j.fail(fmt.Errorf("%w: window %q has no assigner", ErrInvalidJob, uid))
	}
	switch a := assigner.(type) {
	case slidingWindows:
		if a.size <= 0 || a.slide <= 0 {
			j.fail(fmt.Errorf("%w: window %q: size and slide must be at least 1ms", ErrInvalidJob, uid))
		}
	case sessionWindows:
		if a.gap <= 0 {
			j.fail(fmt.Errorf("%w: window %q: the session gap must be at least 1ms", ErrInvalidJob, uid))
		}
	}
	n := addKeyed(ks, uid, uid, func(env *opEnv) (operator, error) {
		base, err := openKeyedBase(env, ks.keySer)
		if err != nil {
			return nil, err
		}
		op, err := newWindowOp(base, assigner, agg, accSer)
		if err != nil {
			base.close()
			return nil, err
		}
		return op, nil
	})
	return Stream[WindowResult[K, OUT]]{j, n}
}

// newWindowOp registers the window states in the backend of base.
func newWindowOp[K comparable, IN, ACC, OUT any](base *keyedBase[K], assigner WindowAssigner, agg state.AggregateFunction[IN, ACC, OUT], accSer serializer.Serializer[ACC]) (*windowOp[K, IN, ACC, OUT], error) {
	acc, err := state.GetValueState(base.backend, state.ValueDescriptor[ACC]{Name: "window-contents", Serializer: accSer})
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", base.uid, err)
	}
	op := &windowOp[K, IN, ACC, OUT]{keyedBase: base, assigner: assigner, agg: agg, acc: acc,
		own: func(a ACC) (ACC, error) { return a, nil }}
	if _, shares := base.backend.Capability().Objects(); shares {
		op.own = serializer.Cloner(accSer)
	}
	if assigner.merging() {
		op.sessions, err = state.GetValueState(base.backend, state.ValueDescriptor[[]Window]{Name: "window-sessions", Serializer: windowsSerializer{}})
		if err != nil {
			return nil, fmt.Errorf("operator %q: %w", base.uid, err)
		}
	}
	return op, nil
}

type windowOp[K comparable, IN, ACC, OUT any] struct {
	*keyedBase[K]
	assigner WindowAssigner
	agg      state.AggregateFunction[IN, ACC, OUT]
	acc      state.ValueState[ACC]
	// own returns an accumulator read from acc that Add and Merge may
	// modify in place: a copy on backends that share stored objects with
	// their snapshots (heap), else the accumulator itself (it was decoded
	// for this read).
	own func(ACC) (ACC, error)
	// sessions holds, per key, the active session windows (merging
	// assigners only).
	sessions state.ValueState[[]Window]
	// late counts records dropped because their window had fired.
	late int64
}

func (w *windowOp[K, IN, ACC, OUT]) processRecord(r record) error {
	if r.ts == NoTimestamp {
		return fmt.Errorf("window %q: record without a timestamp: add AssignTimestamps before KeyBy", w.uid)
	}
	if err := w.setKey(r); err != nil {
		return err
	}
	in := r.value.(IN)
	wm := w.timers.CurrentWatermark()
	for _, win := range w.assigner.Assign(r.ts) {
		if w.sessions != nil {
			// A session is late only if the session it merges into is.
			var err error
			if win, err = w.mergeSession(win, wm); err != nil {
				return err
			}
		}
		if win.MaxTimestamp() <= wm {
			w.late++
			continue
		}
		if err := w.add(win, in); err != nil {
			return err
		}
	}
	return nil
}

// add folds in into the accumulator of win and makes sure its timer is set.
func (w *windowOp[K, IN, ACC, OUT]) add(win Window, in IN) error {
	ns := win.namespace()
	w.acc.SetNamespace(ns)
	acc, ok, err := w.acc.Value()
	if err != nil {
		return fmt.Errorf("window %q: %w", w.uid, err)
	}
	if ok {
		if acc, err = w.own(acc); err != nil {
			return fmt.Errorf("window %q: copy the accumulator: %w", w.uid, err)
		}
	} else {
		acc = w.agg.CreateAccumulator()
		if err := w.timers.RegisterEventTimeTimer(ns, win.MaxTimestamp()); err != nil {
			return err
		}
	}
	if err := w.acc.Update(w.agg.Add(in, acc)); err != nil {
		return fmt.Errorf("window %q: %w", w.uid, err)
	}
	return nil
}

// mergeSession merges win with the current key's sessions it overlaps or
// touches and returns the merged window; the accumulators of the merged
// sessions are folded into the merged window's namespace and their timers
// replaced. A merged window that is late (at or before the watermark wm)
// is returned without changing any state.
func (w *windowOp[K, IN, ACC, OUT]) mergeSession(win Window, wm int64) (Window, error) {
	w.sessions.SetNamespace("")
	all, _, err := w.sessions.Value()
	if err != nil {
		return win, fmt.Errorf("window %q: %w", w.uid, err)
	}
	merged := win
	var keep, absorbed []Window
	for _, s := range all {
		if s.Start <= merged.End && merged.Start <= s.End {
			merged = Window{min(merged.Start, s.Start), max(merged.End, s.End)}
			absorbed = append(absorbed, s)
		} else {
			keep = append(keep, s)
		}
	}
	// A merged window may now reach sessions it did not overlap before.
	for changed := true; changed; {
		changed = false
		for i := 0; i < len(keep); i++ {
			s := keep[i]
			if s.Start <= merged.End && merged.Start <= s.End {
				merged = Window{min(merged.Start, s.Start), max(merged.End, s.End)}
				absorbed = append(absorbed, s)
				keep = slices.Delete(keep, i, i+1)
				changed = true
				i--
			}
		}
	}
	if len(absorbed) == 1 && absorbed[0] == merged || merged.MaxTimestamp() <= wm {
		return merged, nil // an existing session, or a late one
	}
	var acc ACC
	have := false
	for _, s := range absorbed {
		ns := s.namespace()
		w.acc.SetNamespace(ns)
		a, ok, err := w.acc.Value()
		if err != nil {
			return win, fmt.Errorf("window %q: %w", w.uid, err)
		}
		switch {
		case ok && have:
			acc = w.agg.Merge(acc, a)
		case ok:
			if acc, err = w.own(a); err != nil {
				return win, fmt.Errorf("window %q: copy the accumulator: %w", w.uid, err)
			}
			have = true
		}
		if err := w.acc.Clear(); err != nil {
			return win, err
		}
		if err := w.timers.DeleteEventTimeTimer(ns, s.MaxTimestamp()); err != nil {
			return win, err
		}
	}
	if have {
		ns := merged.namespace()
		w.acc.SetNamespace(ns)
		if err := w.acc.Update(acc); err != nil {
			return win, err
		}
		if err := w.timers.RegisterEventTimeTimer(ns, merged.MaxTimestamp()); err != nil {
			return win, err
		}
	}
	keep = append(keep, merged)
	slices.SortFunc(keep, func(a, b Window) int { return cmp.Compare(a.Start, b.Start) })
	w.sessions.SetNamespace("")
	return merged, w.sessions.Update(keep)
}

func (w *windowOp[K, IN, ACC, OUT]) processWatermark(wm int64) error {
	if err := w.timers.AdvanceWatermark(wm, w.fire); err != nil {
		return err
	}
	return w.out.emitWatermark(wm)
}

func (w *windowOp[K, IN, ACC, OUT]) fire(t backend.Timer[K]) error {
	win, err := windowOfNamespace(t.Namespace)
	if err != nil {
		return fmt.Errorf("window %q: %w", w.uid, err)
	}
	w.acc.SetNamespace(t.Namespace)
	acc, ok, err := w.acc.Value()
	if err != nil {
		return fmt.Errorf("window %q: %w", w.uid, err)
	}
	if !ok {
		return nil
	}
	if err := w.acc.Clear(); err != nil {
		return err
	}
	if w.sessions != nil {
		w.sessions.SetNamespace("")
		all, _, err := w.sessions.Value()
		if err != nil {
			return err
		}
		// The heap backend hands out the stored slice: never modify it.
		var rest []Window
		for _, s := range all {
			if s != win {
				rest = append(rest, s)
			}
		}
		if len(rest) == 0 {
			err = w.sessions.Clear()
		} else {
			err = w.sessions.Update(rest)
		}
		if err != nil {
			return err
		}
	}
	return w.out.collect(record{value: WindowResult[K, OUT]{Key: t.Key, Window: win, Value: w.agg.Result(acc)}, ts: win.MaxTimestamp()})
}

func (w *windowOp[K, IN, ACC, OUT]) close() error {
	if w.late > 0 {
		w.logger.Warn("window dropped late records: their windows had fired", "records", w.late)
	}
	return w.keyedBase.close()
}

// windowsSerializer stores a key's session windows: pairs of big-endian
// int64.
type windowsSerializer struct{}

func (windowsSerializer) Append(dst []byte, ws []Window) ([]byte, error) {
	for _, w := range ws {
		dst = binary.BigEndian.AppendUint64(dst, uint64(w.Start))
		dst = binary.BigEndian.AppendUint64(dst, uint64(w.End))
	}
	return dst, nil
}

func (windowsSerializer) Decode(b []byte) ([]Window, error) {
	if len(b)%16 != 0 {
		return nil, fmt.Errorf("session windows of %d bytes: %w", len(b), serializer.ErrDecode)
	}
	ws := make([]Window, len(b)/16)
	for i := range ws {
		ws[i] = Window{int64(binary.BigEndian.Uint64(b[i*16:])), int64(binary.BigEndian.Uint64(b[i*16+8:]))}
	}
	return ws, nil
}

func (windowsSerializer) Snapshot() serializer.Snapshot {
	return serializer.Snapshot{Name: "stated.engine.SessionWindows", Version: 1}
}

func (s windowsSerializer) Compatibility(old serializer.Snapshot) serializer.Compatibility[[]Window] {
	return serializer.Same[[]Window](s.Snapshot(), old)
}
