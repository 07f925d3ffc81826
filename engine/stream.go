package engine

import (
	"fmt"
	"time"

	"github.com/stated-io/stated/serializer"
)

// Stream is a stream of T in a job.
type Stream[T any] struct {
	job  *Job
	node *node
}

// Map applies fn to every record. A returned error fails the job.
func Map[T, U any](s Stream[T], name string, fn func(T) (U, error)) Stream[U] {
	n := s.job.add(s.node, &node{name: name, role: roleChained})
	n.newOperator = func(env *opEnv) (operator, error) {
		return &mapOp[T, U]{baseOperator{env.out}, name, fn}, nil
	}
	return Stream[U]{s.job, n}
}

type mapOp[T, U any] struct {
	baseOperator
	name string
	fn   func(T) (U, error)
}

func (m *mapOp[T, U]) processRecord(r record) error {
	v, err := m.fn(r.value.(T))
	if err != nil {
		return fmt.Errorf("map %q: %w", m.name, err)
	}
	r.value = v
	return m.out.collect(r)
}

// Filter keeps the records for which keep returns true.
func Filter[T any](s Stream[T], name string, keep func(T) bool) Stream[T] {
	n := s.job.add(s.node, &node{name: name, role: roleChained})
	n.newOperator = func(env *opEnv) (operator, error) {
		return &filterOp[T]{baseOperator{env.out}, keep}, nil
	}
	return Stream[T]{s.job, n}
}

type filterOp[T any] struct {
	baseOperator
	keep func(T) bool
}

func (f *filterOp[T]) processRecord(r record) error {
	if !f.keep(r.value.(T)) {
		return nil
	}
	return f.out.collect(r)
}

// FlatMap calls fn for every record; fn emits any number of records with
// emit, which must not be retained after fn returns. A returned error
// fails the job.
func FlatMap[T, U any](s Stream[T], name string, fn func(in T, emit func(U)) error) Stream[U] {
	n := s.job.add(s.node, &node{name: name, role: roleChained})
	n.newOperator = func(env *opEnv) (operator, error) {
		op := &flatMapOp[T, U]{baseOperator: baseOperator{env.out}, name: name, fn: fn}
		op.emit = func(v U) {
			if op.err == nil {
				op.cur.value = v
				op.err = op.out.collect(op.cur)
			}
		}
		return op, nil
	}
	return Stream[U]{s.job, n}
}

type flatMapOp[T, U any] struct {
	baseOperator
	name string
	fn   func(T, func(U)) error
	emit func(U)
	cur  record
	err  error
}

func (f *flatMapOp[T, U]) processRecord(r record) error {
	f.cur, f.err = r, nil
	if err := f.fn(r.value.(T), f.emit); err != nil {
		return fmt.Errorf("flatMap %q: %w", f.name, err)
	}
	return f.err
}

// AssignTimestamps gives every record the event timestamp ts returns
// (milliseconds) and generates watermarks that trail the highest timestamp
// seen by maxOutOfOrderness: a record more than that late behind the
// newest one may be dropped by event-time windows. Watermarks are emitted
// periodically and when the input ends.
func AssignTimestamps[T any](s Stream[T], name string, ts func(T) int64, maxOutOfOrderness time.Duration) Stream[T] {
	n := s.job.add(s.node, &node{name: name, role: roleChained})
	n.newOperator = func(env *opEnv) (operator, error) {
		return &timestampOp[T]{baseOperator: baseOperator{env.out}, ts: ts, bound: maxOutOfOrderness.Milliseconds(), max: NoTimestamp, emitted: NoTimestamp}, nil
	}
	return Stream[T]{s.job, n}
}

type timestampOp[T any] struct {
	baseOperator
	ts           func(T) int64
	bound        int64
	max, emitted int64
}

func (o *timestampOp[T]) processRecord(r record) error {
	r.ts = o.ts(r.value.(T))
	o.max = max(o.max, r.ts)
	return o.out.collect(r)
}

// processWatermark ignores the watermarks of the source but the final one.
func (o *timestampOp[T]) processWatermark(wm int64) error {
	if wm == MaxWatermark {
		o.emitted = MaxWatermark
		return o.out.emitWatermark(wm)
	}
	return nil
}

func (o *timestampOp[T]) onProcessingTime(int64) error {
	if o.max == NoTimestamp {
		return nil
	}
	wm := o.max - o.bound - 1
	if wm <= o.emitted {
		return nil
	}
	o.emitted = wm
	return o.out.emitWatermark(wm)
}

// KeyedStream is a stream partitioned by key: every record of a key is
// processed by the subtask that owns the key's key group.
type KeyedStream[K comparable, T any] struct {
	stream Stream[T]
	sel    *keySelector
	keySer serializer.Serializer[K]
}

// KeyBy partitions s by the key that key returns; ks serializes keys for
// hashing to key groups and for snapshots, so it must be deterministic
// and must not change between a snapshot and its restore.
func KeyBy[T any, K comparable](s Stream[T], key func(T) K, ks serializer.Serializer[K]) KeyedStream[K, T] {
	sel := &keySelector{
		extract: func(v any) any { return key(v.(T)) },
		keyBytes: func(dst []byte, k any) ([]byte, error) {
			return ks.Append(dst, k.(K))
		},
	}
	return KeyedStream[K, T]{stream: s, sel: sel, keySer: ks}
}

// keySelector extracts and serializes the key of a boxed record.
type keySelector struct {
	extract  func(v any) any
	keyBytes func(dst []byte, key any) ([]byte, error)
}

// addKeyed adds a keyed operator fed by ks.
func addKeyed[K comparable, T any](ks KeyedStream[K, T], name, uid string, newOp func(env *opEnv) (operator, error)) *node {
	return ks.stream.job.add(ks.stream.node, &node{name: name, uid: uid, role: roleKeyed, partition: ks.sel, newOperator: newOp})
}
