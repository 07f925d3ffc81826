package engine

import "math"

// NoTimestamp marks a record without an event timestamp.
const NoTimestamp int64 = math.MinInt64

// MaxWatermark is the watermark that ends event time: every event-time
// timer fires. Sources emit it when their input ends.
const MaxWatermark int64 = math.MaxInt64

// record is one element flowing between operators. Values are boxed so
// the runtime is not generic; the typed API unboxes them.
type record struct {
	value any
	// key is the key extracted by the KeyBy that routed the record; nil
	// before the first KeyBy.
	key any
	// ts is the event timestamp or NoTimestamp.
	ts int64
}

// elementKind is what an envelope carries.
type elementKind uint8

const (
	elemRecords elementKind = iota
	elemWatermark
	elemBarrier
	elemEndOfStream
)

// envelope is what travels on a channel between subtasks: a batch of
// records or one control element, stamped with the sending subtask.
type envelope struct {
	kind      elementKind
	from      int
	records   []record
	watermark int64
	barrier   barrier
}

// barrier separates the records before a checkpoint from those after it.
type barrier struct {
	run *checkpointRun
}

func (b barrier) id() int64 { return b.run.id }
