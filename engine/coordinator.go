package engine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"path"
	"time"

	"github.com/stated-io/stated/snapshot"
)

// checkpointRun is one checkpoint or savepoint in flight. Its fields are
// set when it is triggered and read-only afterwards, except those the
// coordinator goroutine owns.
type checkpointRun struct {
	id   int64
	kind snapshot.Kind
	// stop ends the job after this savepoint (stop-with-savepoint).
	stop bool
	// final ends the job after this checkpoint (end of input).
	final bool
	store snapshot.Storage
	// written is store as the state files are written through it: it
	// knows the files this run created, which an abort deletes.
	written *writtenFiles
	// runID makes the names of the files this run writes its own.
	runID string
	dir   string // storage name of the directory
	// location names the directory for users: a path or URL.
	location string
	ctx      context.Context
	cancel   context.CancelFunc
	started  time.Time

	// owned by the coordinator goroutine
	acked  int
	states []map[string]snapshot.SubtaskState // by runtime.tasks index
	// ownMetadata is set when the _metadata in dir is the one this run
	// committed (an abort after the commit deletes it; after a lost commit
	// race the _metadata there is another writer's).
	ownMetadata bool
}

// ack is a subtask's answer to a checkpoint: its handles or why it failed.
type ack struct {
	run    *checkpointRun
	task   *task
	states map[string]snapshot.SubtaskState
	err    error
}

// coordinator triggers checkpoints, collects the subtasks' handles,
// commits _metadata and notifies the subtasks. Its run method owns all of
// its fields; subtasks talk to it through channels.
type coordinator struct {
	rt       *runtime
	acks     chan ack
	finished chan struct{}
	done     chan struct{} // closed when run returns

	nextID  int64
	pending *checkpointRun
	timeout *time.Timer
	// lastSweep is when the orphan sweeper last ran.
	lastSweep     time.Time
	sourcesDone   int
	stopping      bool
	finalFailures int

	completed, failed int
	lastCompleted     string
	savepoint         string
	// over is set once the job's last snapshot completed and the sources
	// were told to end.
	over bool
}

// maxFinalAttempts bounds the attempts at the final checkpoint at the end
// of input before the job fails.
const maxFinalAttempts = 3

func newCoordinator(rt *runtime, nextID int64) *coordinator {
	return &coordinator{
		rt:        rt,
		acks:      make(chan ack, len(rt.tasks)),
		finished:  make(chan struct{}, len(rt.tasks)),
		done:      make(chan struct{}),
		nextID:    nextID,
		lastSweep: time.Now(),
	}
}

// sourceFinished is called by a source subtask that read all its splits.
func (c *coordinator) sourceFinished(ctx context.Context) {
	select {
	case c.finished <- struct{}{}:
	case <-ctx.Done():
	}
}

// decline reports a failed synchronous phase.
func (c *coordinator) decline(run *checkpointRun, t *task, err error) {
	c.send(ack{run: run, task: t, err: err})
}

func (c *coordinator) send(a ack) {
	select {
	case c.acks <- a:
	case <-c.done:
	}
}

// write runs the asynchronous phase of one subtask's part of run and
// reports it to the coordinator.
func (c *coordinator) write(run *checkpointRun, t *task, caps []*operatorCapture) {
	states := make(map[string]snapshot.SubtaskState, len(caps))
	var err error
	for i, cp := range caps {
		if err = c.writeOne(run, t, cp, states); err != nil {
			for _, rest := range caps[i+1:] {
				rest.release()
			}
			err = fmt.Errorf("%s: %w", t.name(), err)
			break
		}
	}
	c.send(ack{run: run, task: t, states: states, err: err})
}

func (c *coordinator) writeOne(run *checkpointRun, t *task, cp *operatorCapture, states map[string]snapshot.SubtaskState) error {
	if cp.prepare != nil {
		if err := cp.prepare(); err != nil {
			cp.release()
			return err
		}
	}
	target := run.target(cp.uid, t.index)
	var (
		keyed []snapshot.KeyedStateHandle
		op    *snapshot.OperatorStateHandle
		err   error
	)
	if cp.keyed != nil {
		if keyed, err = cp.keyed.Write(run.ctx, target); err != nil {
			return err
		}
	}
	if cp.operator != nil {
		if op, err = cp.operator.Write(run.ctx, target); err != nil {
			return err
		}
	}
	states[cp.uid] = subtaskState(keyed, op)
	return nil
}

// run is the coordinator's goroutine. It returns when the job's last
// checkpoint or savepoint completed and the sources were told to end, or
// when ctx is done.
func (c *coordinator) run(ctx context.Context) error {
	defer close(c.done)
	defer func() {
		if c.pending != nil {
			c.pending.cancel()
		}
	}()
	var tick <-chan time.Time
	if iv := c.rt.cfg.Interval; iv > 0 {
		t := time.NewTicker(iv)
		defer t.Stop()
		tick = t.C
	}
	stop := c.rt.job.stop
	for {
		var timeout <-chan time.Time
		if c.pending != nil {
			timeout = c.timeout.C
		}
		var err error
		select {
		case <-tick:
			if c.pending == nil && !c.ending() {
				err = c.trigger(ctx, snapshot.KindCheckpoint, false)
			}
		case a := <-c.acks:
			err = c.onAck(ctx, a)
		case <-timeout:
			c.abort(ctx, c.pending, fmt.Errorf("checkpoint %d timed out after %v (execution.checkpointing.timeout)", c.pending.id, c.rt.cfg.Timeout))
		case <-c.finished:
			c.sourcesDone++
		case <-stop:
			stop = nil
			c.stopping = true
		case <-c.rt.lease.Lost():
			return c.rt.checkLease()
		case <-ctx.Done():
			return nil
		}
		if err != nil {
			return err
		}
		if c.over {
			return nil
		}
		if c.pending == nil && c.ending() {
			if err := c.trigger(ctx, c.finalKind(), true); err != nil {
				return err
			}
		}
	}
}

func (c *coordinator) ending() bool { return c.stopping || c.sourcesDone == len(c.rt.sources) }

func (c *coordinator) finalKind() snapshot.Kind {
	if c.stopping {
		return snapshot.KindSavepoint
	}
	return snapshot.KindCheckpoint
}

// trigger starts a checkpoint or savepoint at the sources.
func (c *coordinator) trigger(ctx context.Context, kind snapshot.Kind, last bool) error {
	run := &checkpointRun{id: c.nextID, kind: kind, runID: c.rt.runID, started: time.Now(), states: make([]map[string]snapshot.SubtaskState, len(c.rt.tasks))}
	c.nextID++
	if kind == snapshot.KindSavepoint {
		store, dir, location, err := c.rt.savepointTarget(ctx)
		if err != nil {
			return fmt.Errorf("stop with savepoint: %w", err)
		}
		run.store, run.dir, run.location, run.stop = store, dir, location, true
	} else {
		run.store, run.dir = c.rt.ckptStore, snapshot.CheckpointDir(c.rt.jobID, run.id)
		run.location = c.rt.ckptLocation(run.dir)
		run.final = last
		c.rt.registry.CheckpointStarted(run.id)
	}
	run.written = &writtenFiles{Storage: run.store}
	run.ctx, run.cancel = context.WithCancel(ctx)
	c.pending = run
	if c.timeout == nil {
		c.timeout = time.NewTimer(c.rt.cfg.Timeout)
	} else {
		c.timeout.Reset(c.rt.cfg.Timeout)
	}
	c.rt.logger.Debug("checkpoint triggered", "id", run.id, "kind", kind)
	for _, t := range c.rt.sources {
		if err := c.tell(ctx, t, controlMsg{kind: ctlTrigger, run: run}); err != nil {
			return err
		}
	}
	return nil
}

func (c *coordinator) tell(ctx context.Context, t *task, m controlMsg) error {
	select {
	case t.control <- m:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

func (c *coordinator) onAck(ctx context.Context, a ack) error {
	run := a.run
	if run != c.pending {
		// The answer of a checkpoint aborted earlier: remove what it wrote.
		c.rt.goAsync(func() { c.rt.removeAborted(context.WithoutCancel(ctx), run) })
		return nil
	}
	if a.err != nil {
		return c.abort(ctx, run, a.err)
	}
	if run.kind == snapshot.KindCheckpoint {
		c.rt.registry.CheckpointUploaded(run.id, sharedFiles(run, a.states))
	}
	run.states[a.task.seq] = a.states
	run.acked++
	if run.acked < len(c.rt.tasks) {
		return nil
	}
	return c.complete(ctx, run)
}

// complete commits the metadata of run and notifies every subtask.
func (c *coordinator) complete(ctx context.Context, run *checkpointRun) error {
	md := &snapshot.Metadata{JobID: c.rt.jobID, CheckpointID: run.id, Kind: run.kind, Completed: c.rt.now().UTC()}
	for _, n := range c.rt.job.nodes {
		if n.uid == "" {
			continue
		}
		op := snapshot.OperatorState{UID: n.uid, Parallelism: c.rt.parallelism, MaxParallelism: c.rt.maxParallelism, Subtasks: make([]snapshot.SubtaskState, c.rt.parallelism)}
		for _, t := range c.rt.tasks {
			if st, ok := run.states[t.seq][n.uid]; ok {
				op.Subtasks[t.index] = st
			}
		}
		md.Operators = append(md.Operators, op)
	}
	// No commit after the lease is lost: another instance may own the job.
	if err := c.rt.checkLease(); err != nil {
		return err
	}
	if err := snapshot.CommitMetadata(run.ctx, run.store, run.dir, md); err != nil {
		if !errors.Is(err, snapshot.ErrExist) {
			// The commit may have landed all the same: then it is ours.
			ours, herr := snapshot.HoldsMetadata(context.WithoutCancel(ctx), run.store, run.dir, md)
			run.ownMetadata = herr == nil && ours
		}
		return c.abort(ctx, run, err)
	}
	run.ownMetadata = true
	if run.stop {
		// Registered before any sink commits what the savepoint covers, so
		// that --restore latest finds it.
		ptr := snapshot.SavepointPointer{CheckpointID: run.id, Completed: md.Completed, Location: run.location}
		if err := snapshot.RegisterStopSavepoint(run.ctx, c.rt.ckptStore, c.rt.jobID, ptr); err != nil {
			return c.abort(ctx, run, err)
		}
	}
	c.pending = nil
	c.timeout.Stop()
	c.completed++
	c.report(run, nil)
	last := run.final || run.stop
	var dones []chan error
	for _, t := range c.rt.tasks {
		m := controlMsg{kind: ctlComplete, run: run}
		if last {
			ch := make(chan error, 1)
			m.done = ch
			dones = append(dones, ch)
		}
		if err := c.tell(ctx, t, m); err != nil {
			return err
		}
	}
	if run.kind == snapshot.KindCheckpoint {
		c.lastCompleted = run.location
		// Subsumed checkpoints go now; the backends were told above which
		// checkpoint their next one builds on.
		if _, err := c.rt.registry.CheckpointCompleted(context.WithoutCancel(ctx), run.id, md); err != nil {
			c.rt.logger.Warn("cannot delete subsumed checkpoints; the orphan sweeper will retry", "error", err)
		}
		if time.Since(c.lastSweep) >= c.rt.grace {
			c.lastSweep = time.Now()
			c.rt.goAsync(func() { c.rt.sweep(ctx) })
		}
	}
	if !last {
		return nil
	}
	// The job's last snapshot: wait until every sink committed, then end
	// the stream at the sources.
	for _, ch := range dones {
		select {
		case err := <-ch:
			if err != nil {
				return err
			}
		case <-ctx.Done():
			return context.Cause(ctx)
		}
	}
	for _, t := range c.rt.sources {
		if err := c.tell(ctx, t, controlMsg{kind: ctlEnd}); err != nil {
			return err
		}
	}
	if run.stop {
		c.savepoint = run.location
	}
	c.over = true
	return nil
}

// report logs the fate of run and calls Options.OnCheckpoint.
func (c *coordinator) report(run *checkpointRun, err error) {
	d := time.Since(run.started)
	if err != nil {
		c.rt.logger.Warn(run.kind.String()+" failed", "id", run.id, "error", err)
	} else {
		c.rt.logger.Info(run.kind.String()+" completed", "id", run.id, "location", run.location, "duration", d.Round(time.Millisecond))
	}
	if fn := c.rt.job.opts.OnCheckpoint; fn != nil {
		fn(CheckpointStats{ID: run.id, Kind: run.kind, Location: run.location, Duration: d, Err: err})
	}
}

// abort gives up on run: the subtasks are told, its files are removed, and
// the job goes on. A failed stop-with-savepoint, or a final checkpoint
// failing maxFinalAttempts times, fails the job.
func (c *coordinator) abort(ctx context.Context, run *checkpointRun, cause error) error {
	run.cancel()
	c.pending = nil
	c.timeout.Stop()
	c.failed++
	c.report(run, cause)
	for _, t := range c.rt.tasks {
		if err := c.tell(ctx, t, controlMsg{kind: ctlAbort, run: run}); err != nil {
			return err
		}
	}
	c.rt.goAsync(func() { c.rt.removeAborted(context.WithoutCancel(ctx), run) })
	switch {
	case run.stop:
		return fmt.Errorf("stop with savepoint failed (the job was cancelled; its checkpoints are kept): %w", cause)
	case run.final:
		c.finalFailures++
		if c.finalFailures >= maxFinalAttempts {
			return fmt.Errorf("final checkpoint failed %d times: %w", c.finalFailures, cause)
		}
	}
	return nil
}

// randomSuffix returns n random hex digits.
func randomSuffix(n int) string {
	b := make([]byte, (n+1)/2)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return hex.EncodeToString(b)[:n]
}

// removeAborted removes what this run wrote for an aborted checkpoint or
// savepoint: the files it created (their names are unique to the run) and
// its _metadata if it committed one; never what another writer put in the
// directory. The registry deletes a checkpoint's files and those of its
// shared uploads that nothing references. It may run more than once for
// one run, as late answers of its subtasks arrive.
func (r *runtime) removeAborted(ctx context.Context, run *checkpointRun) {
	written := run.written.list()
	if run.ownMetadata {
		written = append(written, path.Join(run.dir, snapshot.MetadataName))
	}
	if run.kind == snapshot.KindCheckpoint {
		if err := r.registry.CheckpointAborted(ctx, run.id, written); err != nil {
			r.logger.Warn("cannot remove the files of an aborted checkpoint; the orphan sweeper will retry", "id", run.id, "error", err)
		}
		return
	}
	if err := snapshot.DeleteAll(ctx, run.store, written); err != nil {
		r.logger.Warn("cannot delete the files of an aborted savepoint", "location", run.location, "error", err)
	}
}

// sharedFiles returns the storage names of the shared files that the
// handles of one subtask's answer reference.
func sharedFiles(run *checkpointRun, states map[string]snapshot.SubtaskState) []string {
	var names []string
	for _, st := range states {
		st.EachFile(func(f snapshot.FileRef) error {
			if f.Scope == snapshot.ScopeShared {
				if p, err := snapshot.ResolvePath(run.dir, f.Path); err == nil {
					names = append(names, p)
				}
			}
			return nil
		})
	}
	return names
}
