package engine

import (
	"errors"
	"fmt"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/state"
)

// KeyedProcessFunction processes the records of a keyed stream one key at
// a time, with keyed state. A function that registers timers also
// implements TimerHandler.
type KeyedProcessFunction[K comparable, IN, OUT any] interface {
	// Open is called once per subtask before any record, after the state
	// is restored: create the states here with state.GetValueState and
	// its siblings on rc.Backend.
	Open(rc *RuntimeContext[K]) error
	// ProcessElement handles one record; the backend's current key is the
	// record's key.
	ProcessElement(ctx *Context[K, OUT], in IN) error
}

// TimerHandler is the optional interface of a KeyedProcessFunction that
// registers timers; the engine finds it by type assertion. A function
// without it cannot register a timer (the Context's Register methods fail
// with ErrNoTimerHandler), and a timer restored for it fails the job with
// that error when it fires, rather than being dropped.
type TimerHandler[K comparable, OUT any] interface {
	// OnTimer handles a timer of the current key that fired.
	OnTimer(ctx *Context[K, OUT], timestamp int64, domain TimeDomain) error
}

// ErrNoTimerHandler: a keyed function that does not implement
// TimerHandler registered a timer, or one of its restored timers fired.
var ErrNoTimerHandler = errors.New("keyed function without OnTimer (engine.TimerHandler)")

// TimeDomain says which clock a timer follows.
type TimeDomain uint8

const (
	// EventTime timers fire when the watermark passes them.
	EventTime TimeDomain = iota
	// ProcessingTime timers fire when the processing-time clock does.
	ProcessingTime
)

// RuntimeContext is what a keyed function is opened with.
type RuntimeContext[K comparable] struct {
	// Backend holds the keyed state of this subtask.
	Backend backend.KeyedBackend[K]
	// Subtask and Parallelism locate this subtask.
	Subtask, Parallelism int
}

// Context is the context of one call of a keyed function. It is valid
// only during the call.
type Context[K comparable, OUT any] struct {
	key       K
	timestamp int64
	timers    *state.TimerService[K]
	noTimers  bool // the function is no TimerHandler
	now       func() int64
	out       output
	err       error
}

// Key returns the current key.
func (c *Context[K, OUT]) Key() K { return c.key }

// Timestamp returns the event timestamp of the record (or of the timer)
// being processed, or NoTimestamp.
func (c *Context[K, OUT]) Timestamp() int64 { return c.timestamp }

// CurrentWatermark returns the current event time.
func (c *Context[K, OUT]) CurrentWatermark() int64 { return c.timers.CurrentWatermark() }

// CurrentProcessingTime returns the processing time in milliseconds.
func (c *Context[K, OUT]) CurrentProcessingTime() int64 { return c.now() }

// Emit sends v downstream with the current timestamp. A failure
// downstream fails the call that emitted.
func (c *Context[K, OUT]) Emit(v OUT) {
	if c.err == nil {
		c.err = c.out.collect(record{value: v, ts: c.timestamp})
	}
}

// RegisterEventTimeTimer registers a timer of the current key at ts; it
// fires once the watermark reaches ts. Registering it twice is a no-op.
func (c *Context[K, OUT]) RegisterEventTimeTimer(ts int64) error {
	if c.noTimers {
		return ErrNoTimerHandler
	}
	return c.timers.RegisterEventTimeTimer("", ts)
}

// RegisterProcessingTimeTimer registers a processing-time timer of the
// current key at ts (milliseconds).
func (c *Context[K, OUT]) RegisterProcessingTimeTimer(ts int64) error {
	if c.noTimers {
		return ErrNoTimerHandler
	}
	return c.timers.RegisterProcessingTimeTimer("", ts)
}

// DeleteEventTimeTimer deletes an event-time timer of the current key.
func (c *Context[K, OUT]) DeleteEventTimeTimer(ts int64) error {
	return c.timers.DeleteEventTimeTimer("", ts)
}

// DeleteProcessingTimeTimer deletes a processing-time timer of the
// current key.
func (c *Context[K, OUT]) DeleteProcessingTimeTimer(ts int64) error {
	return c.timers.DeleteProcessingTimeTimer("", ts)
}

// Process adds a keyed operator that runs a function made by newFn; its
// state is stored under uid. newFn is called once per subtask, so every
// subtask has a function (and state handles) of its own.
func Process[K comparable, IN, OUT any](ks KeyedStream[K, IN], uid string, newFn func() KeyedProcessFunction[K, IN, OUT]) Stream[OUT] {
	n := addKeyed(ks, uid, uid, func(env *opEnv) (operator, error) {
		base, err := openKeyedBase(env, ks.keySer)
		if err != nil {
			return nil, err
		}
		fn := newFn()
		onTimer, _ := fn.(TimerHandler[K, OUT])
		op := &processOp[K, IN, OUT]{keyedBase: base, fn: fn, onTimer: onTimer}
		op.ctx = Context[K, OUT]{timers: base.timers, noTimers: onTimer == nil, out: env.out, now: env.rt.nowMillis}
		if err := fn.Open(&RuntimeContext[K]{Backend: base.backend, Subtask: env.subtask, Parallelism: env.parallelism}); err != nil {
			base.close()
			return nil, openError(uid, err)
		}
		return op, nil
	})
	return Stream[OUT]{ks.stream.job, n}
}

// openError adds the operator uid to the error of its function's Open,
// unless the error is the backend's refusal of restored state, which names
// the operator already.
func openError(uid string, err error) error {
	if ise := (*backend.IncompatibleStateError)(nil); errors.As(err, &ise) && ise.Operator == uid {
		return fmt.Errorf("open: %w", err)
	}
	return fmt.Errorf("operator %q: open: %w", uid, err)
}

type processOp[K comparable, IN, OUT any] struct {
	*keyedBase[K]
	fn      KeyedProcessFunction[K, IN, OUT]
	onTimer TimerHandler[K, OUT] // nil: fn registers no timers
	ctx     Context[K, OUT]
}

func (p *processOp[K, IN, OUT]) processRecord(r record) error {
	if err := p.setKey(r); err != nil {
		return err
	}
	p.ctx.key, p.ctx.timestamp, p.ctx.err = r.key.(K), r.ts, nil
	if err := p.fn.ProcessElement(&p.ctx, r.value.(IN)); err != nil {
		return fmt.Errorf("operator %q: %w", p.uid, err)
	}
	return p.ctx.err
}

func (p *processOp[K, IN, OUT]) fire(domain TimeDomain) func(backend.Timer[K]) error {
	return func(t backend.Timer[K]) error {
		p.ctx.key, p.ctx.timestamp, p.ctx.err = t.Key, t.Timestamp, nil
		if domain == ProcessingTime {
			p.ctx.timestamp = NoTimestamp
		}
		if p.onTimer == nil {
			return fmt.Errorf("operator %q: a restored timer of key %v fired: %w", p.uid, t.Key, ErrNoTimerHandler)
		}
		if err := p.onTimer.OnTimer(&p.ctx, t.Timestamp, domain); err != nil {
			return fmt.Errorf("operator %q: timer: %w", p.uid, err)
		}
		return p.ctx.err
	}
}

func (p *processOp[K, IN, OUT]) processWatermark(wm int64) error {
	if err := p.timers.AdvanceWatermark(wm, p.fire(EventTime)); err != nil {
		return err
	}
	return p.out.emitWatermark(wm)
}

func (p *processOp[K, IN, OUT]) onProcessingTime(now int64) error {
	return p.timers.AdvanceProcessingTime(now, p.fire(ProcessingTime))
}
