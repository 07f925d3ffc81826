package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"strings"
	"sync"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/incremental"
	"github.com/stated-io/stated/providers"
	"github.com/stated-io/stated/snapshot"
)

// ErrConfig is wrapped by the errors of a configuration the job cannot
// run with (a command line maps it to exit code 2).
var ErrConfig = errors.New("invalid configuration")

// Result describes a finished run.
type Result struct {
	// Restored is the location of the snapshot the job restored from; ""
	// for a fresh start.
	Restored string
	// Savepoint is the location of the final savepoint of
	// StopWithSavepoint; "" otherwise.
	Savepoint string
	// LastCheckpoint is the location of the last checkpoint completed by
	// this run; "" if none.
	LastCheckpoint string
	// Completed and Failed count this run's checkpoints and savepoints.
	Completed, Failed int
}

// runtime is the state of one Run.
type runtime struct {
	job    *Job
	cfg    *config.Job
	logger *slog.Logger
	now    func() time.Time
	runID  string
	jobID  string

	parallelism, maxParallelism int

	ckptStore snapshot.Storage
	// lease is the run's lease on the job's checkpoint directory.
	lease snapshot.Lease
	// outputs are the locks of the sinks' output directories.
	outputs  outputLocks
	registry *incremental.Registry
	grace    time.Duration // of the registry's orphan sweeper
	ckptRoot string        // execution.checkpointing.dir as given
	spStore  snapshot.Storage

	tasks    []*task
	sources  []*task
	limiters map[*node]*rateLimiter
	coord    *coordinator

	async sync.WaitGroup
}

func (r *runtime) nowMillis() int64 { return r.now().UnixMilli() }

// goAsync runs fn on a goroutine that Run waits for.
func (r *runtime) goAsync(fn func()) {
	r.async.Add(1)
	go func() {
		defer r.async.Done()
		fn()
	}()
}

func (r *runtime) ckptLocation(dir string) string {
	return strings.TrimSuffix(r.ckptRoot, "/") + "/" + dir
}

// savepointTarget opens execution.checkpointing.savepoint-dir and names a
// new savepoint directory in it.
func (r *runtime) savepointTarget(ctx context.Context) (snapshot.Storage, string, string, error) {
	root := r.cfg.SavepointDir
	if root == "" {
		return nil, "", "", fmt.Errorf("%w: execution.checkpointing.savepoint-dir is not set", ErrConfig)
	}
	if r.spStore == nil {
		s, err := providers.Open(ctx, root, r.cfg.StorageOptions())
		if err != nil {
			return nil, "", "", err
		}
		r.spStore = s
	}
	job6 := r.jobID
	if len(job6) > 6 {
		job6 = job6[:6]
	}
	dir := "savepoint-" + job6 + "-" + randomSuffix(12)
	if loc, err := providers.ParseLocation(root); err == nil && loc.Scheme == "file" {
		root = loc.Path // absolute: the location goes into a savepoint pointer
	}
	return r.spStore, dir, strings.TrimSuffix(root, "/") + "/" + dir, nil
}

// Run runs the job until its input ends, StopWithSavepoint is called, an
// operator fails or ctx is cancelled. Cancelling ctx cancels the job: the
// checkpoints it completed are kept or deleted as
// execution.checkpointing.externalized-checkpoint-retention says, and Run
// returns ctx's error.
//
// Before it restores or writes anything, Run takes the job's lease on its
// checkpoint directory (one writer per job) and holds it until it returns.
// Errors worth telling apart (errors.Is): snapshot.ErrLeaseHeld (another
// instance runs; the error names it), ErrConfig (including a checkpoint
// storage that cannot hold a lease), ErrUnreadableRestorePoint (--restore
// latest found a newest restore point it cannot read), ErrUncoveredOutput
// (a file sink's output holds commits the restored state does not cover)
// and snapshot.ErrLeaseLost (the lease was lost while running: nothing was
// committed after it, and no checkpoint was deleted).
func (j *Job) Run(ctx context.Context) (*Result, error) {
	if j.ran {
		return nil, fmt.Errorf("%w: Run was called before", ErrInvalidJob)
	}
	j.ran = true
	if j.err != nil {
		return nil, j.err
	}
	cfg := j.opts.Config
	if cfg == nil {
		return nil, fmt.Errorf("%w: Options.Config is nil", ErrConfig)
	}
	stages, err := j.stages()
	if err != nil {
		return nil, err
	}
	if err := checkRunnable(cfg); err != nil {
		return nil, err
	}
	rt := &runtime{job: j, cfg: cfg, logger: j.opts.Logger, now: j.opts.Now, runID: randomSuffix(8), jobID: cfg.Name,
		parallelism: cfg.Parallelism, maxParallelism: cfg.MaxParallelism, ckptRoot: cfg.CheckpointDir, limiters: map[*node]*rateLimiter{}}
	if !cfg.MaxParallelismSet {
		// The default of backend/FORMAT.md ("Key groups"); a restore adopts
		// the stored value instead.
		rt.maxParallelism = backend.DefaultMaxParallelism(cfg.Parallelism)
	}
	if rt.ckptStore, err = providers.Open(ctx, cfg.CheckpointDir, cfg.StorageOptions()); err != nil {
		return nil, fmt.Errorf("execution.checkpointing.dir: %w", err)
	}
	defer rt.ckptStore.Close()
	if j.wrapStorage != nil {
		rt.ckptStore = j.wrapStorage(rt.ckptStore)
	}
	defer func() {
		if rt.spStore != nil {
			rt.spStore.Close()
		}
	}()
	if rt.lease, err = rt.acquireLease(ctx); err != nil {
		return nil, err
	}
	defer func() {
		if err := rt.lease.Release(context.WithoutCancel(ctx)); err != nil {
			rt.logger.Warn("cannot release the lease", "error", err)
		}
	}()
	defer func() {
		if err := rt.outputs.releaseAll(context.WithoutCancel(ctx)); err != nil {
			rt.logger.Warn("cannot release the lock of an output directory", "error", err)
		}
	}()

	rs, err := rt.resolveRestore(ctx)
	if err != nil {
		return nil, err
	}
	if rs != nil {
		defer rs.close()
	}
	if err := rt.openRegistry(ctx, rs); err != nil {
		return nil, err
	}
	if err := backend.CheckParallelism(rt.parallelism, rt.maxParallelism); err != nil {
		return nil, fmt.Errorf("%w: parallelism.default %d with pipeline.max-parallelism %d: %w", ErrConfig, rt.parallelism, rt.maxParallelism, err)
	}

	runCtx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	if err := rt.build(runCtx, stages, rs); err != nil {
		rt.closeAll()
		return nil, err
	}
	rt.coord = newCoordinator(rt, rt.registry.NextID())
	rt.goAsync(func() { rt.sweep(ctx) })
	res := &Result{}
	if rs != nil {
		res.Restored = rs.location
	}
	rt.logger.Info("job started", "job", rt.jobID, "parallelism", rt.parallelism, "maxParallelism", rt.maxParallelism,
		"backend", cfg.Backend, "checkpoints", cfg.CheckpointDir, "restored", res.Restored)

	var (
		wg       sync.WaitGroup
		failOnce sync.Once
		failure  error
	)
	fail := func(err error) {
		failOnce.Do(func() { failure = err; cancel(err) })
	}
	for _, t := range rt.tasks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := t.run(runCtx); err != nil && runCtx.Err() == nil {
				fail(err)
			}
		}()
	}
	wg.Add(1)
	go func() {
		defer wg.Done()
		if err := rt.coord.run(runCtx); err != nil {
			fail(err)
		}
	}()
	wg.Wait()
	cancel(errors.New("job ended"))
	rt.async.Wait()
	closeErr := rt.closeAll()

	c := rt.coord
	res.Savepoint, res.LastCheckpoint, res.Completed, res.Failed = c.savepoint, c.lastCompleted, c.completed, c.failed
	switch {
	case rt.lease.Err() != nil:
		// Another instance may own the job's checkpoints now: keep them.
		return res, failure
	case failure != nil:
		if cfg.Retention == config.NoExternalizedCheckpoints {
			rt.discard()
		}
		return res, failure
	case !c.over:
		// Cancelled by the caller.
		if cfg.Retention != config.RetainOnCancellation {
			rt.discard()
		}
		if err := ctx.Err(); err != nil {
			return res, err
		}
		return res, errors.New("job cancelled")
	}
	if cfg.Retention != config.RetainOnCancellation {
		rt.discard()
	}
	return res, closeErr
}

// checkRunnable refuses configurations the engine cannot run.
func checkRunnable(cfg *config.Job) error {
	var errs []error
	switch cfg.Backend {
	case config.BackendHashMap, config.BackendLSM:
	default:
		errs = append(errs, fmt.Errorf("%w: state.backend.type %q is not available yet: use hashmap or lsm", ErrConfig, cfg.Backend))
	}
	if cfg.CheckpointDir == "" {
		errs = append(errs, fmt.Errorf("%w: execution.checkpointing.dir is not set", ErrConfig))
	}
	if cfg.Name == "" {
		errs = append(errs, fmt.Errorf("%w: pipeline.name is not set", ErrConfig))
	}
	for _, l := range []struct{ key, value string }{
		{config.KeyCheckpointDir, cfg.CheckpointDir}, {config.KeySavepointDir, cfg.SavepointDir}, {config.KeyRecoveryPath, cfg.RecoveryPath},
	} {
		if loc, err := providers.ParseLocation(l.value); err == nil && loc.Scheme == "stated" {
			errs = append(errs, fmt.Errorf("%w: %s %q: stated:// locations need the stated service, which does not exist yet (the next release adds it): use a path, file:// or s3:// for now", ErrConfig, l.key, l.value))
		}
	}
	return errors.Join(errs...)
}

// discard deletes the checkpoints this run owns (externalized
// retention).
func (r *runtime) discard() {
	if err := r.registry.Discard(context.Background()); err != nil {
		r.logger.Warn("cannot delete the job's checkpoints", "error", err)
	}
}

// build creates the subtasks and opens (and restores) every operator.
// Operators are opened one at a time, before any subtask runs.
func (r *runtime) build(ctx context.Context, stages []*stage, rs *restoredSnapshot) error {
	p := r.parallelism
	byHead := map[*node][]*task{}
	for _, s := range stages {
		for i := range p {
			t := &task{rt: r, stage: s, index: i, seq: len(r.tasks), control: make(chan controlMsg, 16), watermark: NoTimestamp}
			if s.head.role == roleKeyed {
				t.inbox = make(chan envelope, inboxCapacity)
				t.numInputs = p
				t.inputWM = make([]int64, p)
				for k := range t.inputWM {
					t.inputWM[k] = NoTimestamp
				}
			}
			t.blocked = make([]bool, max(t.numInputs, 1))
			t.pending = make([][]envelope, max(t.numInputs, 1))
			r.tasks = append(r.tasks, t)
			byHead[s.head] = append(byHead[s.head], t)
			if s.head.role == roleSource {
				r.sources = append(r.sources, t)
			}
		}
		if s.head.role == roleSource && s.head.rate > 0 {
			r.limiters[s.head] = newRateLimiter(s.head.rate)
		}
	}
	for _, s := range stages {
		for _, t := range byHead[s.head] {
			if err := r.buildChain(ctx, t, byHead, rs); err != nil {
				return err
			}
		}
	}
	return nil
}

// buildChain opens the operators of one subtask, children first so each
// operator's output exists when it is created.
func (r *runtime) buildChain(ctx context.Context, t *task, byHead map[*node][]*task, rs *restoredSnapshot) error {
	ops := map[*node]operator{}
	nodes := t.stage.nodes
	t.ops = make([]operator, len(nodes))
	t.uids = make([]string, len(nodes))
	for i := len(nodes) - 1; i >= 0; i-- {
		n := nodes[i]
		var outs fanOut
		for _, c := range n.children {
			switch c.role {
			case roleChained:
				outs = append(outs, chained{ops[c]})
			case roleKeyed:
				var inboxes []chan envelope
				for _, d := range byHead[c] {
					inboxes = append(inboxes, d.inbox)
				}
				p := newPartitioner(ctx, t.index, c.partition, r.maxParallelism, inboxes)
				t.outputs = append(t.outputs, p)
				outs = append(outs, p)
			}
		}
		var out output = discard{}
		switch len(outs) {
		case 0:
		case 1:
			out = outs[0]
		default:
			out = outs
		}
		env := &opEnv{ctx: ctx, rt: r, node: n, subtask: t.index, parallelism: r.parallelism, maxParallelism: r.maxParallelism, out: out}
		if rs != nil && n.uid != "" {
			env.restore = rs.forOperator(n.uid)
		}
		var (
			op  operator
			err error
		)
		if n.role == roleSource {
			var src sourceOperator
			src, err = n.newSource(env)
			if err == nil {
				op, t.source = src, src
			}
		} else {
			op, err = n.newOperator(env)
		}
		if err != nil {
			return err
		}
		ops[n] = op
		t.ops[i], t.uids[i] = op, n.uid
	}
	t.head = t.ops[0]
	return nil
}

// closeAll closes every operator that was opened.
func (r *runtime) closeAll() error {
	var errs []error
	for _, t := range r.tasks {
		for _, op := range t.ops {
			if op != nil {
				if err := op.close(); err != nil {
					errs = append(errs, fmt.Errorf("%s: close: %w", t.name(), err))
				}
			}
		}
	}
	return errors.Join(errs...)
}

// openRegistry rebuilds the shared-file registry of the job from its
// checkpoint storage and records the restored checkpoint: claimed in CLAIM
// mode when it is one of this job's checkpoints in this storage.
func (r *runtime) openRegistry(ctx context.Context, rs *restoredSnapshot) error {
	// The grace period must exceed any checkpoint's duration.
	r.grace = max(incremental.DefaultGracePeriod, 2*r.cfg.Timeout)
	reg, err := incremental.Open(ctx, r.ckptStore, r.jobID, incremental.Options{
		NumRetained: r.cfg.NumRetained,
		GracePeriod: r.grace,
		Logger:      r.logger,
	})
	if err != nil {
		return fmt.Errorf("execution.checkpointing.dir: %w", err)
	}
	r.registry = reg
	if rs == nil || rs.ownDir == "" {
		return nil
	}
	if err := reg.Restored(rs.ownDir, rs.md, rs.mode); err != nil {
		r.logger.Warn("the restored checkpoint is left in place", "restored", rs.location, "reason", err)
	}
	return nil
}

// sweep removes orphan files of earlier runs (uploads of checkpoints that
// never completed) older than the grace period.
func (r *runtime) sweep(ctx context.Context) {
	rep, err := r.registry.SweepOrphans(ctx, false)
	if err != nil && ctx.Err() == nil {
		r.logger.Warn("orphan sweep", "error", err)
	}
	if len(rep.Deleted) > 0 {
		r.logger.Info("orphan sweep removed files", "files", len(rep.Deleted), "bytes", rep.Bytes)
	}
}

// restoredSnapshot is the snapshot a run restores from.
type restoredSnapshot struct {
	store    snapshot.Storage
	owned    bool // store is closed with the snapshot
	dir      string
	md       *snapshot.Metadata
	location string
	mode     backend.ClaimMode
	// ownDir is the checkpoint's directory in the job's checkpoint
	// storage when it is one of this job's checkpoints.
	ownDir string
	byUID  map[string]*snapshot.OperatorState
}

func (rs *restoredSnapshot) close() {
	if rs.owned {
		rs.store.Close()
	}
}

func (rs *restoredSnapshot) forOperator(uid string) *restoreState {
	return &restoreState{store: rs.store, dir: rs.dir, location: rs.location, kind: rs.md.Kind, mode: rs.mode, op: rs.byUID[uid]}
}

// resolveRestore finds the snapshot of execution.state-recovery.path
// ("latest": the job's newest restore point, see openLatest), checks that
// its state maps onto the job, and settles the max parallelism.
func (r *runtime) resolveRestore(ctx context.Context) (*restoredSnapshot, error) {
	p := r.cfg.RecoveryPath
	if p == "" {
		return nil, nil
	}
	rs := &restoredSnapshot{mode: r.cfg.ClaimMode}
	if p == "latest" {
		pt, err := r.openLatest(ctx)
		if pt == nil || err != nil {
			return nil, err
		}
		rs.store, rs.owned, rs.dir, rs.md = pt.Store, pt.Owned, pt.Dir, pt.Metadata
		if pt.Kind == snapshot.KindCheckpoint {
			rs.ownDir, rs.location = pt.Dir, r.ckptLocation(pt.Dir)
		} else {
			rs.location = pt.Pointer.Location
		}
	} else {
		if err := rs.open(ctx, p, r.cfg.StorageOptions()); err != nil {
			return nil, err
		}
		if rs.md.Kind == snapshot.KindCheckpoint && rs.md.JobID == r.jobID && sameCheckpoint(r.ckptRoot, r.jobID, rs) {
			rs.ownDir = snapshot.CheckpointDir(r.jobID, rs.md.CheckpointID)
		}
	}
	if err := r.mapOperators(rs); err != nil {
		rs.close()
		return nil, err
	}
	return rs, nil
}

// openLatest opens the job's newest restore point: the highest id among
// its complete checkpoints and the stop savepoints it registered. It
// returns nil (and says so) when there is none, and fails with
// ErrUnreadableRestorePoint, naming the file and the alternatives, when
// the newest exists but cannot be read: falling back to an older one
// would duplicate the output committed after it.
func (r *runtime) openLatest(ctx context.Context) (*snapshot.OpenedRestorePoint, error) {
	pt, incomplete, err := snapshot.OpenLatestRestorePoint(ctx, r.ckptStore, r.jobID, providers.SnapshotOpener(r.cfg.StorageOptions()))
	for _, in := range incomplete {
		r.logger.Info("skipping an incomplete checkpoint (no _metadata: the process stopped before it completed)", "checkpoint", r.ckptLocation(in.Name))
	}
	var ue *snapshot.UnreadableRestorePointError
	switch {
	case errors.Is(err, snapshot.ErrNoCheckpoint):
		r.logger.Warn("no complete checkpoint to restore; starting from the beginning", "job", r.jobID, "dir", r.ckptRoot)
		return nil, nil
	case errors.As(err, &ue):
		return nil, r.unreadableLatest(ue)
	case err != nil:
		return nil, fmt.Errorf("restore latest: %w", err)
	}
	return pt, nil
}

// ErrUnreadableRestorePoint is wrapped by the error of --restore latest
// when the job's newest restore point exists but cannot be read.
var ErrUnreadableRestorePoint = errors.New("the newest restore point cannot be read")

// unreadableLatest is the user's message for an unreadable newest restore
// point: the file, why, and what to do.
func (r *runtime) unreadableLatest(ue *snapshot.UnreadableRestorePointError) error {
	file := ue.File
	if ue.Point.Kind == snapshot.KindCheckpoint || ue.File == ue.Point.Name {
		file = r.ckptLocation(ue.File)
	}
	broken := r.ckptLocation(ue.Point.Name)
	older := "no older complete restore point exists"
	if o := ue.Older; o != nil {
		loc := r.ckptLocation(o.Name)
		if o.Kind == snapshot.KindSavepoint {
			loc = o.Pointer.Location
		}
		older = fmt.Sprintf("restore the next older one explicitly with --restore %s (execution.state-recovery.path), knowing that the output committed after it is then refused or moved aside", loc)
	}
	return fmt.Errorf("restore latest: %w: %s: %w; %s, or move the broken one aside with `stated checkpoint move-aside %s` and restore latest again",
		ErrUnreadableRestorePoint, file, ue.Err, older, broken)
}

// open reads the _metadata of a restore path given as a path or URL.
func (rs *restoredSnapshot) open(ctx context.Context, p string, opts providers.Options) error {
	if _, err := providers.ParseLocation(p); err != nil {
		return fmt.Errorf("%w: execution.state-recovery.path: %w", ErrConfig, err)
	}
	store, name, err := providers.OpenSnapshotPath(ctx, p, opts)
	if err != nil {
		return restorePathError(p, err)
	}
	dir, md, err := snapshot.ResolveRestorePath(ctx, store, name)
	if err != nil {
		store.Close()
		return restorePathError(p, err)
	}
	rs.store, rs.owned, rs.dir, rs.md, rs.location = store, true, dir, md, strings.TrimSuffix(strings.TrimSuffix(p, "/"+snapshot.MetadataName), "/")
	return nil
}

// restorePathError is the error of a restore path that cannot be opened:
// one that names no checkpoint or savepoint is a bad value (ErrConfig).
func restorePathError(p string, err error) error {
	if errors.Is(err, snapshot.ErrNotExist) || errors.Is(err, snapshot.ErrInvalidName) {
		return fmt.Errorf("%w: execution.state-recovery.path %s: %w", ErrConfig, p, err)
	}
	return fmt.Errorf("restore %s: %w", p, err)
}

// sameCheckpoint reports whether the restored directory is checkpoint
// md.CheckpointID of jobID under the checkpoint root.
func sameCheckpoint(ckptRoot, jobID string, rs *restoredSnapshot) bool {
	root, err := providers.ParseLocation(ckptRoot)
	if err != nil {
		return false
	}
	restored, err := providers.ParseLocation(rs.location)
	if err != nil {
		return false
	}
	return root.Scheme == restored.Scheme && root.Host == restored.Host &&
		path.Join("/", root.Path, snapshot.CheckpointDir(jobID, rs.md.CheckpointID)) == path.Join("/", restored.Path)
}

// mapOperators checks that every operator state of the snapshot has an
// operator in the job (or may be skipped) and settles maxParallelism.
func (r *runtime) mapOperators(rs *restoredSnapshot) error {
	rs.byUID = map[string]*snapshot.OperatorState{}
	var errs []error
	stored := 0
	for i := range rs.md.Operators {
		op := &rs.md.Operators[i]
		if _, ok := r.job.uids[op.UID]; !ok {
			if r.cfg.IgnoreUnclaimedState {
				r.logger.Warn("skipping state of an operator the job does not have", "uid", op.UID, "restored", rs.location)
				continue
			}
			errs = append(errs, fmt.Errorf("cannot map state for operator %q of %s: the job has no operator with that uid (set execution.state-recovery.ignore-unclaimed-state: true to skip it)", op.UID, rs.location))
			continue
		}
		rs.byUID[op.UID] = op
		if stored == 0 {
			stored = op.MaxParallelism
		}
	}
	if len(errs) > 0 {
		return errors.Join(errs...)
	}
	if stored == 0 {
		return nil
	}
	if !r.cfg.MaxParallelismSet {
		r.maxParallelism = stored
	}
	for uid, op := range rs.byUID {
		if err := backend.CheckRestoreMaxParallelism(uid, op.MaxParallelism, r.maxParallelism); err != nil {
			return err
		}
	}
	if err := backend.CheckParallelism(r.parallelism, r.maxParallelism); err != nil {
		return fmt.Errorf("restore %s at parallelism %d: %w", rs.location, r.parallelism, err)
	}
	return nil
}
