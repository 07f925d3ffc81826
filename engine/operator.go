package engine

import (
	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

// operator is one operator instance of one subtask. Its methods are called
// on the subtask's goroutine only.
type operator interface {
	// processRecord handles one record.
	processRecord(r record) error
	// processWatermark handles a watermark of the operator's input and
	// forwards it (or its own) to the output.
	processWatermark(wm int64) error
	// onProcessingTime runs periodically with the processing time in
	// milliseconds since the epoch.
	onProcessingTime(now int64) error
	// snapshotState runs the synchronous phase of a checkpoint or
	// savepoint; nil for an operator without state.
	snapshotState(b barrier) (*operatorCapture, error)
	// notifyComplete and notifyAborted report the fate of a checkpoint the
	// operator took part in (and, for stop-with-savepoint, of the final
	// savepoint).
	notifyComplete(id int64, kind snapshot.Kind) error
	notifyAborted(id int64, kind snapshot.Kind) error
	// endInput is called once when the input has ended, after the final
	// watermark.
	endInput() error
	// close releases resources; it is called once, whether the job
	// succeeded or not.
	close() error
}

// operatorCapture is the synchronous part of one operator's snapshot; the
// asynchronous part (writing it) runs on another goroutine.
type operatorCapture struct {
	uid string
	// keyed is nil for operators without keyed state.
	keyed backend.SnapshotCapture
	// operator is nil for operators without operator state.
	operator *state.OperatorSnapshot
	// prepare, if set, runs first in the asynchronous phase (e.g. the file
	// sink makes its pending files durable).
	prepare func() error
}

func (c *operatorCapture) release() {
	if c.keyed != nil {
		c.keyed.Release()
	}
}

// output is where an operator sends what it produces.
type output interface {
	collect(r record) error
	emitWatermark(wm int64) error
}

// chained delivers to an operator of the same chain.
type chained struct{ op operator }

func (c chained) collect(r record) error       { return c.op.processRecord(r) }
func (c chained) emitWatermark(wm int64) error { return c.op.processWatermark(wm) }

// fanOut delivers to several outputs in order.
type fanOut []output

func (f fanOut) collect(r record) error {
	for _, o := range f {
		if err := o.collect(r); err != nil {
			return err
		}
	}
	return nil
}

func (f fanOut) emitWatermark(wm int64) error {
	for _, o := range f {
		if err := o.emitWatermark(wm); err != nil {
			return err
		}
	}
	return nil
}

// discard is the output of an operator nothing consumes.
type discard struct{}

func (discard) collect(record) error      { return nil }
func (discard) emitWatermark(int64) error { return nil }

// baseOperator gives the no-op defaults of an operator without state.
type baseOperator struct{ out output }

func (b *baseOperator) processWatermark(wm int64) error               { return b.out.emitWatermark(wm) }
func (*baseOperator) onProcessingTime(int64) error                    { return nil }
func (*baseOperator) snapshotState(barrier) (*operatorCapture, error) { return nil, nil }
func (*baseOperator) notifyComplete(int64, snapshot.Kind) error       { return nil }
func (*baseOperator) notifyAborted(int64, snapshot.Kind) error        { return nil }
func (*baseOperator) endInput() error                                 { return nil }
func (*baseOperator) close() error                                    { return nil }

// restoreState is what an operator restores from: the operator's part of
// the restored snapshot.
type restoreState struct {
	store snapshot.Storage
	dir   string
	// location names the snapshot for users; kind is its kind.
	location string
	kind     snapshot.Kind
	mode     backend.ClaimMode
	// op is the operator's state in the snapshot; nil when the snapshot
	// has none for its uid (a new operator).
	op *snapshot.OperatorState
}
