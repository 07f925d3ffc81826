package engine

import (
	"context"
	"fmt"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
)

// tickInterval is how often a subtask advances processing time: it fires
// processing-time timers and emits periodic watermarks.
const tickInterval = 50 * time.Millisecond

// controlKind is a message from the coordinator to a subtask.
type controlKind uint8

const (
	ctlTrigger  controlKind = iota // a source starts a checkpoint
	ctlComplete                    // a checkpoint completed
	ctlAbort                       // a checkpoint was aborted
	ctlEnd                         // a source ends the stream
)

type controlMsg struct {
	kind controlKind
	run  *checkpointRun
	// done, if set, receives the result of handling the message.
	done chan<- error
}

// task is one subtask of a stage: a chain of operator instances run by one
// goroutine.
type task struct {
	rt    *runtime
	stage *stage
	index int // subtask index
	seq   int // position in runtime.tasks

	ops     []operator // in graph order, head first
	uids    []string   // uid of ops[i] or ""
	head    operator
	source  sourceOperator
	outputs []*partitioner

	inbox   chan envelope
	control chan controlMsg

	// inputs, for a keyed stage
	numInputs int
	inputWM   []int64
	watermark int64
	eos       int

	// barrier alignment
	blocked     []bool
	pending     [][]envelope
	aligning    int64 // id of the checkpoint being aligned, 0 if none
	arrived     int
	lastBarrier int64 // highest checkpoint id handled or abandoned

	exhausted bool // a source read all its splits
	stopped   bool // a source stopped for stop-with-savepoint
	ended     bool
}

func (t *task) name() string {
	return fmt.Sprintf("%s (%d/%d)", t.stage.head.name, t.index+1, t.rt.parallelism)
}

// run is the goroutine of the subtask.
func (t *task) run(ctx context.Context) error {
	ticker := time.NewTicker(tickInterval)
	defer ticker.Stop()
	if t.source != nil {
		return t.runSource(ctx, ticker)
	}
	return t.runInputs(ctx, ticker)
}

func (t *task) runSource(ctx context.Context, ticker *time.Ticker) error {
	limiter := t.rt.limiters[t.stage.head]
	for !t.ended {
		if t.exhausted || t.stopped {
			if err := t.wait(ctx, ticker, nil); err != nil {
				return err
			}
			continue
		}
		select {
		case m := <-t.control:
			if err := t.handleControl(m); err != nil {
				return err
			}
			continue
		case <-ticker.C:
			if err := t.tick(); err != nil {
				return err
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		default:
		}
		n := batchSize
		if limiter != nil {
			var wait time.Duration
			if n, wait = limiter.take(time.Now(), batchSize); n == 0 {
				if err := t.flush(); err != nil {
					return err
				}
				timer := time.NewTimer(wait)
				err := t.wait(ctx, ticker, timer.C)
				timer.Stop()
				if err != nil {
					return err
				}
				continue
			}
		}
		more, err := t.source.emitNext(n)
		if err != nil {
			return err
		}
		if !more {
			t.exhausted = true
			if err := t.head.processWatermark(MaxWatermark); err != nil {
				return err
			}
			if err := t.flush(); err != nil {
				return err
			}
			t.rt.coord.sourceFinished(ctx)
		}
	}
	return nil
}

// wait blocks until a control message, a tick, wake or cancellation.
func (t *task) wait(ctx context.Context, ticker *time.Ticker, wake <-chan time.Time) error {
	select {
	case m := <-t.control:
		return t.handleControl(m)
	case <-ticker.C:
		return t.tick()
	case <-wake:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (t *task) runInputs(ctx context.Context, ticker *time.Ticker) error {
	for !t.ended {
		var err error
		select {
		case env := <-t.inbox:
			if err = t.deliver(env); err == nil {
				err = t.drainPending()
			}
			if err == nil && len(t.inbox) == 0 {
				err = t.flush()
			}
		case m := <-t.control:
			err = t.handleControl(m)
		case <-ticker.C:
			err = t.tick()
		case <-ctx.Done():
			return context.Cause(ctx)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (t *task) tick() error {
	now := t.rt.nowMillis()
	for _, op := range t.ops {
		if err := op.onProcessingTime(now); err != nil {
			return err
		}
	}
	return nil
}

func (t *task) flush() error {
	for _, o := range t.outputs {
		if err := o.flush(); err != nil {
			return err
		}
	}
	return nil
}

// deliver handles one envelope of input from, or holds it back while that
// input is blocked by barrier alignment.
func (t *task) deliver(env envelope) error {
	if t.blocked[env.from] {
		t.pending[env.from] = append(t.pending[env.from], env)
		return nil
	}
	switch env.kind {
	case elemRecords:
		for _, r := range env.records {
			if err := t.head.processRecord(r); err != nil {
				return err
			}
		}
	case elemWatermark:
		t.inputWM[env.from] = max(t.inputWM[env.from], env.watermark)
		wm := t.inputWM[0]
		for _, w := range t.inputWM[1:] {
			wm = min(wm, w)
		}
		if wm > t.watermark {
			t.watermark = wm
			return t.head.processWatermark(wm)
		}
	case elemBarrier:
		return t.onBarrier(env.from, env.barrier)
	case elemEndOfStream:
		t.eos++
		if t.eos == t.numInputs {
			return t.endStream()
		}
	}
	return nil
}

// drainPending delivers the envelopes held back by alignment once their
// inputs are unblocked.
func (t *task) drainPending() error {
	for progress := true; progress; {
		progress = false
		for j := range t.pending {
			for !t.blocked[j] && len(t.pending[j]) > 0 {
				env := t.pending[j][0]
				t.pending[j] = t.pending[j][1:]
				if len(t.pending[j]) == 0 {
					t.pending[j] = nil
				}
				if err := t.deliver(env); err != nil {
					return err
				}
				progress = true
			}
		}
	}
	return nil
}

// onBarrier aligns the barriers of all inputs: an input whose barrier has
// arrived is blocked until every input's has, so the snapshot holds the
// effect of exactly the records before the barrier.
func (t *task) onBarrier(from int, b barrier) error {
	id := b.id()
	if id <= t.lastBarrier {
		return nil // a barrier of a checkpoint abandoned here
	}
	if t.aligning != 0 && id > t.aligning {
		t.abandonAlignment() // a newer checkpoint overtook an aborted one
	}
	if t.aligning == 0 {
		t.aligning, t.arrived = id, 0
	}
	t.blocked[from] = true
	t.arrived++
	if t.arrived < t.numInputs {
		return nil
	}
	t.aligning, t.lastBarrier = 0, id
	clear(t.blocked)
	return t.checkpoint(b)
}

func (t *task) abandonAlignment() {
	t.lastBarrier = max(t.lastBarrier, t.aligning)
	t.aligning = 0
	clear(t.blocked)
}

// checkpoint forwards the barrier, runs the synchronous phase of every
// operator of the chain and hands the captures to an asynchronous writer.
func (t *task) checkpoint(b barrier) error {
	for _, o := range t.outputs {
		if err := o.broadcast(envelope{kind: elemBarrier, barrier: b}); err != nil {
			return err
		}
	}
	var caps []*operatorCapture
	var err error
	for _, op := range t.ops {
		var c *operatorCapture
		if c, err = op.snapshotState(b); err != nil {
			break
		}
		if c != nil {
			caps = append(caps, c)
		}
	}
	if t.source != nil && b.run.stop {
		t.stopped = true
	}
	if err != nil {
		for _, c := range caps {
			c.release()
		}
		t.rt.coord.decline(b.run, t, fmt.Errorf("%s: %w", t.name(), err))
		return nil
	}
	t.rt.goAsync(func() { t.rt.coord.write(b.run, t, caps) })
	return nil
}

func (t *task) handleControl(m controlMsg) error {
	err := t.control1(m)
	if m.done != nil {
		m.done <- err
		return nil // the coordinator decides
	}
	return err
}

func (t *task) control1(m controlMsg) error {
	switch m.kind {
	case ctlTrigger:
		t.lastBarrier = m.run.id
		return t.checkpoint(barrier{m.run})
	case ctlComplete:
		for _, op := range t.ops {
			if err := op.notifyComplete(m.run.id, m.run.kind); err != nil {
				return err
			}
		}
	case ctlAbort:
		if t.aligning == m.run.id {
			t.abandonAlignment()
			if err := t.drainPending(); err != nil {
				return err
			}
		}
		t.lastBarrier = max(t.lastBarrier, m.run.id)
		for _, op := range t.ops {
			if err := op.notifyAborted(m.run.id, m.run.kind); err != nil {
				return err
			}
		}
	case ctlEnd:
		return t.endStream()
	}
	return nil
}

// endStream ends the chain's input: every operator ends its input in
// order, and the end of the stream goes downstream.
func (t *task) endStream() error {
	for _, op := range t.ops {
		if err := op.endInput(); err != nil {
			return err
		}
	}
	for _, o := range t.outputs {
		if err := o.broadcast(envelope{kind: elemEndOfStream}); err != nil {
			return err
		}
	}
	t.ended = true
	return nil
}

// stateOf collects the handles an asynchronous write produced, per uid.
func subtaskState(keyed []snapshot.KeyedStateHandle, op *snapshot.OperatorStateHandle) snapshot.SubtaskState {
	st := snapshot.SubtaskState{Keyed: keyed}
	if op != nil {
		st.Operator = []snapshot.OperatorStateHandle{*op}
	}
	return st
}

// target is where the operator of uid in subtask writes its part of run:
// through run.written, under names unique to the run.
func (run *checkpointRun) target(uid string, subtask int) backend.SnapshotTarget {
	t := backend.SnapshotTarget{
		Store: run.written, Dir: run.dir, FilePrefix: fmt.Sprintf("%s-%d-%s", uid, subtask, run.runID),
		CheckpointID: run.id, Kind: run.kind,
	}
	if run.kind == snapshot.KindCheckpoint {
		t.SharedDir = "../shared"
	}
	return t
}
