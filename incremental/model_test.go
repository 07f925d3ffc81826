package incremental

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"math/rand/v2"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
)

var (
	modelSeed  = flag.Uint64("seed", 0, "seed of the model tests (0: a new one, logged)")
	modelSteps = flag.Int("steps", 0, "steps of each model configuration (0: the default)")
)

const testJob = "job"

// violation is a broken invariant found by the model.
type violation struct {
	inv int
	msg string
}

func (v *violation) Error() string { return fmt.Sprintf("invariant %d violated: %s", v.inv, v.msg) }

func violated(inv int, format string, args ...any) error {
	return &violation{inv: inv, msg: fmt.Sprintf(format, args...)}
}

// The invariants checked after every step.
const (
	invReferencedExist = 1 // every file referenced by a valid _metadata exists, with its size
	invNoOldOrphans    = 2 // after a GC, no unreferenced file older than the grace period remains
	invProtected       = 3 // savepoints, NO_CLAIM restored checkpoints and taskowned files stay
	invNewestExists    = 4 // the newest completed checkpoint exists
	invOwnBounded      = 5 // the run's own retained checkpoints are at most NumRetained
	invModel           = 6 // the registry and the storage agree with the model of the policy
)

type modelConfig struct {
	numRetained int
	steps       int
	fault       bool // Options.faultDeleteReferenced
	fileStorage bool // file.Storage instead of memStore
}

// ref is a file written by the model.
type ref struct {
	name string // storage name
	size int64
	crc  uint32
}

// mckpt is a checkpoint the model expects to be valid.
type mckpt struct {
	id     int64
	dir    string
	run    int
	md     *snapshot.Metadata
	files  []ref // every file, _metadata included
	shared []ref // the shared files it references
}

// mflight is a checkpoint in flight in the current run.
type mflight struct {
	id         int64
	started    time.Time
	reportsAll bool  // reports every upload with CheckpointUploaded
	refs       []ref // shared files of earlier checkpoints it references
	uploaded   []ref // shared files it uploaded
	excl       []ref // files of its directory
	taskOwned  []ref
	// mayUse are the shared files referenced by a retained checkpoint at
	// some time during its flight: it may reference any of them, so the
	// registry keeps them until it ends.
	mayUse map[string]struct{}
}

// msavepoint is a savepoint, kept for restores.
type msavepoint struct {
	dir string
	md  *snapshot.Metadata
}

type model struct {
	cfg   modelConfig
	ctx   context.Context
	rng   *rand.Rand
	store snapshot.Storage
	mem   *memStore // nil with a FileStorage
	root  string    // FileStorage root
	clock time.Time
	grace time.Duration
	opts  Options

	r     *Registry
	run   int
	seq   int
	valid map[int64]*mckpt
	// required counts, per file, the valid checkpoints that reference it.
	required  map[string]int
	own       []int64
	newest    int64
	inflight  map[int64]*mflight
	confirmed []ref // the backend's last confirmed shared files
	// confirmedID is the id of the confirmed checkpoint: like the lsm
	// backend, the model ignores a confirmation of an older one.
	confirmedID int64
	// protected files must never go: savepoints and taskowned files by
	// name, NO_CLAIM restored checkpoints by id until a run claims them.
	protected  map[string]ref
	noClaim    map[int64]*mckpt
	savepoints []msavepoint

	ops     map[string]int
	history []string
	gcs     int
	swept   int
}

func newModel(t testing.TB, cfg modelConfig, seed uint64) *model {
	m := &model{
		cfg:       cfg,
		ctx:       context.Background(),
		rng:       rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)),
		clock:     time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC),
		grace:     10 * time.Minute,
		valid:     map[int64]*mckpt{},
		required:  map[string]int{},
		inflight:  map[int64]*mflight{},
		protected: map[string]ref{},
		noClaim:   map[int64]*mckpt{},
		ops:       map[string]int{},
	}
	if cfg.fileStorage {
		m.root = t.TempDir()
		fs, err := file.New(m.root)
		if err != nil {
			t.Fatal(err)
		}
		m.store = fs
	} else {
		m.mem = newMemStore(m.now)
		m.store = m.mem
	}
	m.opts = Options{NumRetained: cfg.numRetained, GracePeriod: m.grace, Now: m.now, faultDeleteReferenced: cfg.fault}
	return m
}

func (m *model) now() time.Time { return m.clock }

// runModel runs the model for cfg.steps steps and returns the first
// violation or unexpected error.
func runModel(t testing.TB, cfg modelConfig, seed uint64) (*model, error) {
	m := newModel(t, cfg, seed)
	if err := m.newRun(); err != nil {
		return m, err
	}
	for i := 0; i < cfg.steps; i++ {
		op, err := m.step()
		m.history = append(m.history, fmt.Sprintf("%d:%s", i, op))
		if len(m.history) > 25 {
			m.history = m.history[1:]
		}
		if err == nil {
			err = m.check(i)
		}
		if err == nil && (i%200 == 199 || i == cfg.steps-1) {
			err = m.checkStore()
		}
		if err != nil {
			return m, fmt.Errorf("step %d (%s): %w\nlast steps: %s", i, op, err, strings.Join(m.history, " "))
		}
	}
	return m, nil
}

// step runs one random operation and returns its name.
func (m *model) step() (string, error) {
	type op struct {
		name   string
		weight int
		fn     func() error
	}
	ops := []op{
		{"start", 28, m.start},
		{"upload", 40, m.upload},
		{"complete", 28, m.complete},
		{"abort", 8, m.abortOne},
		{"crash", 1, m.crash},
		{"restore-noclaim", 1, func() error { return m.restore(backend.NoClaim) }},
		{"restore-claim", 2, func() error { return m.restore(backend.Claim) }},
		{"savepoint", 3, m.savepoint},
		{"discard", 1, m.discard},
		{"advance", 20, m.advance},
		{"gc", 6, m.gc},
	}
	total := 0
	for _, o := range ops {
		total += o.weight
	}
	n := m.rng.IntN(total)
	for _, o := range ops {
		if n -= o.weight; n < 0 {
			m.ops[o.name]++
			return o.name, o.fn()
		}
	}
	panic("unreachable")
}

// newRun drops the registry, as a crash or the end of a process does, and
// opens a new one: a new run.
func (m *model) newRun() error {
	m.r = nil
	m.run++
	m.own = nil
	m.inflight = map[int64]*mflight{}
	m.confirmed, m.confirmedID = nil, 0
	r, err := Open(m.ctx, m.store, testJob, m.opts)
	if err != nil {
		return fmt.Errorf("open: %w", err)
	}
	m.r = r
	return nil
}

// write stores a new file of random content.
func (m *model) write(name string, minSize int) (ref, error) {
	data := make([]byte, minSize+m.rng.IntN(64))
	for i := range data {
		data[i] = byte(m.rng.Uint32())
	}
	w, err := m.store.Create(m.ctx, name, snapshot.CreateOptions{})
	if err != nil {
		return ref{}, err
	}
	if _, err := w.Write(data); err != nil {
		return ref{}, err
	}
	wr, err := w.Commit()
	if err != nil {
		return ref{}, err
	}
	if m.root != "" {
		// The registry's clock is m.clock: date the file with it.
		if err := os.Chtimes(filepath.Join(m.root, filepath.FromSlash(name)), m.clock, m.clock); err != nil {
			return ref{}, err
		}
	}
	return ref{name: name, size: wr.Size, crc: wr.CRC32C}, nil
}

func (m *model) name(format string, args ...any) string {
	m.seq++
	return fmt.Sprintf(format, args...) + fmt.Sprintf("-%d", m.seq)
}

// flightIDs returns the ids in flight, ascending.
func (m *model) flightIDs() []int64 {
	ids := make([]int64, 0, len(m.inflight))
	for id := range m.inflight {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

func (m *model) randomFlight() *mflight {
	ids := m.flightIDs()
	if len(ids) == 0 {
		return nil
	}
	return m.inflight[ids[m.rng.IntN(len(ids))]]
}

func (m *model) validIDs() []int64 {
	ids := make([]int64, 0, len(m.valid))
	for id := range m.valid {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// start starts a checkpoint that references a random subset of the
// backend's confirmed shared files, as the lsm backend does.
func (m *model) start() error {
	if len(m.inflight) >= 2 {
		return m.upload()
	}
	id := m.r.NextID()
	dirs, err := m.store.List(m.ctx, testJob)
	if err != nil {
		return err
	}
	for _, d := range dirs {
		var n int64
		if _, err := fmt.Sscanf(d, "chk-%d/", &n); err == nil && n >= id {
			return violated(invModel, "NextID %d is not past the existing directory %s", id, d)
		}
	}
	m.r.CheckpointStarted(id)
	f := &mflight{id: id, started: m.clock, reportsAll: m.rng.IntN(2) == 0, mayUse: map[string]struct{}{}}
	for _, c := range m.confirmed {
		if m.rng.IntN(10) < 7 {
			f.refs = append(f.refs, c)
		}
	}
	// Only the run's own checkpoints may go during the flight: the
	// files of the others stay referenced.
	for _, id := range m.own {
		for _, s := range m.valid[id].shared {
			f.mayUse[s.name] = struct{}{}
		}
	}
	if f.reportsAll && len(f.refs) > 0 && m.rng.IntN(2) == 0 {
		m.r.CheckpointUploaded(id, names(f.refs))
	}
	m.inflight[id] = f
	return nil
}

func names(refs []ref) []string {
	out := make([]string, len(refs))
	for i, r := range refs {
		out[i] = r.name
	}
	return out
}

// upload writes new shared and exclusive files for a checkpoint in flight.
func (m *model) upload() error {
	f := m.randomFlight()
	if f == nil {
		return m.start()
	}
	var up []ref
	for range 1 + m.rng.IntN(3) {
		r, err := m.write(m.name("%s/r%d-c%d", snapshot.SharedDir(testJob), m.run, f.id), 0)
		if err != nil {
			return err
		}
		up = append(up, r)
	}
	f.uploaded = append(f.uploaded, up...)
	dir := snapshot.CheckpointDir(testJob, f.id)
	for range m.rng.IntN(3) {
		sub := ""
		if m.rng.IntN(3) == 0 {
			sub = "op/"
		}
		r, err := m.write(m.name("%s/%sx", dir, sub), 16)
		if err != nil {
			return err
		}
		f.excl = append(f.excl, r)
	}
	if m.rng.IntN(10) == 0 {
		r, err := m.write(m.name("%s/t", snapshot.TaskOwnedDir(testJob)), 0)
		if err != nil {
			return err
		}
		f.taskOwned = append(f.taskOwned, r)
		m.protected[r.name] = r
	}
	if f.reportsAll {
		m.r.CheckpointUploaded(f.id, names(up))
	}
	return nil
}

// metadata builds the _metadata of checkpoint id in dir referencing files:
// two subtasks, keyed handles with the files and an operator handle.
func metadata(id int64, kind snapshot.Kind, dir string, files []ref) (*snapshot.Metadata, error) {
	op := snapshot.OperatorState{UID: "op", Parallelism: 2, MaxParallelism: 128, Subtasks: make([]snapshot.SubtaskState, 2)}
	for i := range op.Subtasks {
		op.Subtasks[i].Keyed = []snapshot.KeyedStateHandle{{Format: "test", BackendID: "b", KeyGroupStart: i * 64, KeyGroupEnd: i*64 + 63}}
	}
	for i, f := range files {
		rel, err := relPath(dir, f.name)
		if err != nil {
			return nil, err
		}
		fr := snapshot.FileRef{Path: rel, Size: f.size, CRC32C: f.crc}
		switch {
		case strings.HasPrefix(rel, "../shared/"):
			fr.Scope = snapshot.ScopeShared
		case strings.HasPrefix(rel, "../taskowned/"):
			fr.Scope = snapshot.ScopeTaskOwned
		}
		st := &op.Subtasks[i%2]
		if fr.Scope == snapshot.ScopeExclusive && f.size >= 12 && len(st.Operator) == 0 {
			st.Operator = append(st.Operator, snapshot.OperatorStateHandle{File: fr})
			continue
		}
		st.Keyed[0].Files = append(st.Keyed[0].Files, fr)
	}
	return &snapshot.Metadata{JobID: testJob, CheckpointID: id, Kind: kind, Completed: time.Unix(1, 0), Operators: []snapshot.OperatorState{op}}, nil
}

// relPath returns name relative to dir, reaching the job's shared and
// taskowned directories through "../".
func relPath(dir, name string) (string, error) {
	if rest, ok := strings.CutPrefix(name, dir+"/"); ok {
		return rest, nil
	}
	if rest, ok := strings.CutPrefix(name, path.Dir(dir)+"/"); ok {
		return "../" + rest, nil
	}
	return "", fmt.Errorf("%s is not reachable from %s", name, dir)
}

// exists reports whether file r is stored with its size.
func (m *model) exists(r ref) error {
	size, err := m.store.Size(m.ctx, r.name)
	if err != nil {
		return fmt.Errorf("%s: %w", r.name, err)
	}
	if size != r.size {
		return fmt.Errorf("%s: size %d, want %d", r.name, size, r.size)
	}
	return nil
}

// complete commits a checkpoint in flight and applies the policy to the
// model: the run's own checkpoints beyond NumRetained go, oldest first.
func (m *model) complete() error {
	f := m.randomFlight()
	if f == nil {
		return m.start()
	}
	dir := snapshot.CheckpointDir(testJob, f.id)
	files := slices.Concat(f.refs, f.uploaded, f.excl, f.taskOwned)
	for _, r := range files {
		if err := m.exists(r); err != nil {
			return violated(invReferencedExist, "checkpoint %d in flight lost a file it references: %v", f.id, err)
		}
	}
	md, err := metadata(f.id, snapshot.KindCheckpoint, dir, files)
	if err != nil {
		return err
	}
	if err := snapshot.CommitMetadata(m.ctx, m.store, dir, md); err != nil {
		return err
	}
	metaSize, err := m.store.Size(m.ctx, path.Join(dir, snapshot.MetadataName))
	if err != nil {
		return err
	}
	if _, err := m.r.CheckpointCompleted(m.ctx, f.id, md); err != nil {
		return fmt.Errorf("checkpoint completed: %w", err)
	}
	delete(m.inflight, f.id)
	c := &mckpt{id: f.id, dir: dir, run: m.run, md: md,
		files:  append(files, ref{name: path.Join(dir, snapshot.MetadataName), size: metaSize}),
		shared: slices.Concat(f.refs, f.uploaded)}
	m.addValid(c)
	// Own checkpoints age by id, as LatestCheckpoint and the lsm backend
	// see them: one completing after a newer one is the oldest.
	m.own = insertSorted(m.own, f.id)
	m.newest = max(m.newest, f.id)
	if f.id > m.confirmedID {
		m.confirmed, m.confirmedID = c.shared, f.id
	}
	for _, o := range m.inflight {
		for _, s := range c.shared {
			o.mayUse[s.name] = struct{}{}
		}
	}
	var dropped []ref
	for len(m.own) > m.cfg.numRetained {
		dropped = append(dropped, m.valid[m.own[0]].files...)
		m.dropValid(m.own[0])
		m.own = m.own[1:]
	}
	return m.checkPrompt(dropped)
}

// checkPrompt checks that the files of the checkpoints just deleted are
// gone, but for the shared files still used.
func (m *model) checkPrompt(dropped []ref) error {
	for _, r := range dropped {
		if strings.HasPrefix(r.name, snapshot.TaskOwnedDir(testJob)+"/") || m.used(r.name) {
			continue
		}
		if _, err := m.store.Size(m.ctx, r.name); !errors.Is(err, snapshot.ErrNotExist) {
			return violated(invModel, "%s of a deleted checkpoint is still there (%v)", r.name, err)
		}
	}
	return nil
}

// addValid records c as valid.
func (m *model) addValid(c *mckpt) {
	m.valid[c.id] = c
	for _, r := range c.files {
		m.required[r.name]++
	}
}

// dropValid records that checkpoint id is deleted.
func (m *model) dropValid(id int64) {
	for _, r := range m.valid[id].files {
		if m.required[r.name]--; m.required[r.name] == 0 {
			delete(m.required, r.name)
		}
	}
	delete(m.valid, id)
}

// abortOne aborts a random checkpoint in flight.
func (m *model) abortOne() error {
	f := m.randomFlight()
	if f == nil {
		return m.start()
	}
	return m.abort(f)
}

// abort aborts f, telling the registry every file it wrote (as the
// engine does), and checks that its directory and its uploads nothing
// uses are gone.
func (m *model) abort(f *mflight) error {
	if err := m.r.CheckpointAborted(m.ctx, f.id, names(slices.Concat(f.excl, f.uploaded))); err != nil {
		return fmt.Errorf("checkpoint aborted: %w", err)
	}
	delete(m.inflight, f.id)
	dir := snapshot.CheckpointDir(testJob, f.id)
	left, err := snapshot.ListFiles(m.ctx, m.store, dir)
	if err != nil {
		return err
	}
	if len(left) > 0 {
		return violated(invModel, "aborted checkpoint %d left %v", f.id, left)
	}
	for _, r := range f.uploaded {
		if m.used(r.name) {
			continue
		}
		if _, err := m.store.Size(m.ctx, r.name); !errors.Is(err, snapshot.ErrNotExist) {
			return violated(invModel, "aborted checkpoint %d left its upload %s (%v)", f.id, r.name, err)
		}
	}
	return nil
}

// used reports whether the shared file name is referenced by a valid
// checkpoint, or uploaded or maybe used by a checkpoint in flight.
func (m *model) used(name string) bool {
	if m.required[name] > 0 {
		return true
	}
	for _, f := range m.inflight {
		if _, ok := f.mayUse[name]; ok {
			return true
		}
		for _, s := range slices.Concat(f.refs, f.uploaded) {
			if s.name == name {
				return true
			}
		}
	}
	return false
}

// crash ends the run without telling the registry anything.
func (m *model) crash() error { return m.newRun() }

// restore starts a new run restored from a random valid checkpoint or
// savepoint.
func (m *model) restore(mode backend.ClaimMode) error {
	ids := m.validIDs()
	n := len(ids) + len(m.savepoints)
	if n == 0 {
		return m.crash()
	}
	if err := m.newRun(); err != nil {
		return err
	}
	i := m.rng.IntN(n)
	if i >= len(ids) {
		sp := m.savepoints[i-len(ids)]
		if err := m.r.Restored(sp.dir, sp.md, mode); err != nil {
			return fmt.Errorf("restored from a savepoint: %w", err)
		}
		return nil
	}
	c := m.valid[ids[i]]
	if err := m.r.Restored(c.dir, c.md, mode); err != nil {
		return fmt.Errorf("restored: %w", err)
	}
	if mode == backend.Claim {
		m.own = []int64{c.id}
		delete(m.noClaim, c.id)
		m.confirmed, m.confirmedID = c.shared, c.id
	} else {
		m.noClaim[c.id] = c
	}
	return nil
}

// savepoint writes a self-contained savepoint outside the job's directory;
// sometimes it goes through the registry, which must ignore it.
func (m *model) savepoint() error {
	dir := fmt.Sprintf("savepoints/sp-%d", len(m.savepoints))
	var files []ref
	for range 1 + m.rng.IntN(3) {
		r, err := m.write(m.name("%s/f", dir), 16)
		if err != nil {
			return err
		}
		files = append(files, r)
	}
	id := m.r.NextID()
	md, err := metadata(id, snapshot.KindSavepoint, dir, files)
	if err != nil {
		return err
	}
	through := m.rng.IntN(3) == 0
	if through {
		m.r.CheckpointStarted(id)
	}
	if err := snapshot.CommitMetadata(m.ctx, m.store, dir, md); err != nil {
		return err
	}
	if through {
		deleted, err := m.r.CheckpointCompleted(m.ctx, id, md)
		if err != nil {
			return fmt.Errorf("savepoint completed: %w", err)
		}
		for _, d := range deleted {
			if _, ok := m.protected[d]; ok || strings.HasPrefix(d, dir+"/") {
				return violated(invProtected, "a savepoint completion deleted %s", d)
			}
		}
	}
	size, err := m.store.Size(m.ctx, path.Join(dir, snapshot.MetadataName))
	if err != nil {
		return err
	}
	files = append(files, ref{name: path.Join(dir, snapshot.MetadataName), size: size})
	for _, r := range files {
		m.protected[r.name] = r
	}
	m.savepoints = append(m.savepoints, msavepoint{dir: dir, md: md})
	return nil
}

// discard cancels the run: its checkpoints in flight abort, then all its
// own checkpoints go; the run goes on or ends.
func (m *model) discard() error {
	for _, id := range m.flightIDs() {
		if err := m.abort(m.inflight[id]); err != nil {
			return err
		}
	}
	if err := m.r.Discard(m.ctx); err != nil {
		return fmt.Errorf("discard: %w", err)
	}
	var dropped []ref
	for _, id := range m.own {
		dropped = append(dropped, m.valid[id].files...)
		m.dropValid(id)
	}
	m.own = nil
	if err := m.checkPrompt(dropped); err != nil {
		return err
	}
	if _, ok := m.valid[m.newest]; !ok {
		m.newest = 0
	}
	m.confirmed = nil // the backend's confirmed checkpoint is gone
	if m.rng.IntN(2) == 0 {
		return m.newRun()
	}
	return nil
}

// advance moves the clock, but never so far that an upload of a
// checkpoint in flight that reports nothing gets older than the grace
// period: the documented contract (GracePeriod exceeds every checkpoint's
// duration).
func (m *model) advance() error {
	limit := m.grace * 3 / 2
	if m.rng.IntN(3) > 0 {
		limit = 2 * time.Minute
	}
	for _, f := range m.inflight {
		if !f.reportsAll {
			limit = min(limit, m.grace-m.clock.Sub(f.started)-time.Second)
		}
	}
	if limit > 0 {
		m.clock = m.clock.Add(time.Duration(m.rng.Int64N(int64(limit))))
	}
	return nil
}

// allFiles lists every file of the job with its modification time.
func (m *model) allFiles() (map[string]orphan, error) {
	files, err := listTreeInfo(m.ctx, m.store.(snapshot.InfoLister), testJob, -1)
	if err != nil {
		return nil, err
	}
	out := make(map[string]orphan, len(files))
	for _, f := range files {
		out[f.name] = f
	}
	return out, nil
}

// gc sweeps orphans, sometimes as a dry run first.
func (m *model) gc() error {
	before, err := m.allFiles()
	if err != nil {
		return err
	}
	dry := m.rng.IntN(3) == 0
	rep, err := m.r.SweepOrphans(m.ctx, dry)
	if err != nil {
		return fmt.Errorf("sweep: %w", err)
	}
	if dry {
		after, err := m.allFiles()
		if err != nil {
			return err
		}
		if len(after) != len(before) {
			return violated(invModel, "a dry run deleted %d files", len(before)-len(after))
		}
		if m.rng.IntN(2) == 0 {
			return nil
		}
		real, err := m.r.SweepOrphans(m.ctx, false)
		if err != nil {
			return fmt.Errorf("sweep: %w", err)
		}
		if !slices.Equal(real.Deleted, rep.Deleted) {
			return violated(invModel, "the dry run listed %v, the sweep deleted %v", rep.Deleted, real.Deleted)
		}
		rep = real
	}
	m.gcs++
	m.swept += len(rep.Deleted)
	for _, d := range rep.Deleted {
		f, ok := before[d]
		if !ok {
			return violated(invModel, "the sweep deleted %s, which did not exist", d)
		}
		if rep.Time.Sub(f.mod) <= m.grace && !m.cfg.fault {
			return violated(invModel, "the sweep deleted %s, only %v old", d, rep.Time.Sub(f.mod))
		}
	}
	return m.checkNoOldOrphans(rep.Time)
}

// checkNoOldOrphans is invariant 2: no file under shared/ or in a chk-<n>
// directory without _metadata is both unreferenced and older than the
// grace period at t, except files a checkpoint in flight uploaded or may
// use.
func (m *model) checkNoOldOrphans(t time.Time) error {
	files, err := m.allFiles()
	if err != nil {
		return err
	}
	// The valid checkpoints are the model's (checkStore verifies that
	// against the storage).
	orphanDir := func(dir string) bool {
		_, err := m.store.Size(m.ctx, dir+snapshot.MetadataName)
		return errors.Is(err, snapshot.ErrNotExist)
	}
	for name, f := range files {
		if t.Sub(f.mod) <= m.grace {
			continue
		}
		if strings.HasPrefix(name, snapshot.SharedDir(testJob)+"/") {
			if !m.used(name) {
				return violated(invNoOldOrphans, "the unreferenced shared file %s, %v old, survived a sweep", name, t.Sub(f.mod))
			}
			continue
		}
		dir, _, ok := cutChkDir(name)
		if !ok || !orphanDir(dir) {
			continue
		}
		var id int64
		fmt.Sscanf(path.Base(dir), "chk-%d", &id)
		if _, ok := m.inflight[id]; ok {
			continue
		}
		return violated(invNoOldOrphans, "the orphan %s, %v old, survived a sweep", name, t.Sub(f.mod))
	}
	return nil
}

// cutChkDir splits "<job>/chk-<n>/rest" into "<job>/chk-<n>/" and rest.
func cutChkDir(name string) (string, string, bool) {
	rest, ok := strings.CutPrefix(name, testJob+"/chk-")
	if !ok {
		return "", "", false
	}
	i := strings.IndexByte(rest, '/')
	if i < 0 {
		return "", "", false
	}
	return name[:len(testJob)+len("/chk-")+i+1], rest[i+1:], true
}

// check verifies the invariants that hold after every step. Invariants 1
// and 3 are checked on the files deleted by the step (files are immutable
// and never reused, so only a deletion can break them), and on every file
// every 100 steps and with a FileStorage.
func (m *model) check(step int) error {
	if m.mem != nil && step%100 != 99 {
		for _, d := range m.mem.takeDeleted() {
			if m.required[d] > 0 {
				for _, id := range m.validIDs() {
					for _, r := range m.valid[id].files {
						if r.name == d {
							return violated(invReferencedExist, "checkpoint %d: %s was deleted", id, d)
						}
					}
				}
			}
			if _, ok := m.protected[d]; ok {
				return violated(invProtected, "%s was deleted", d)
			}
		}
	} else if err := m.checkAllFiles(); err != nil {
		return err
	}
	for id := range m.noClaim {
		if _, ok := m.valid[id]; !ok {
			return violated(invProtected, "the model dropped NO_CLAIM checkpoint %d", id)
		}
	}
	// 4: the newest completed checkpoint exists.
	if m.newest != 0 {
		c, ok := m.valid[m.newest]
		if !ok {
			return violated(invNewestExists, "the model dropped the newest checkpoint %d", m.newest)
		}
		if _, err := m.store.Size(m.ctx, path.Join(c.dir, snapshot.MetadataName)); err != nil {
			return violated(invNewestExists, "newest checkpoint %d: %v", m.newest, err)
		}
	}
	// 5: the run's own retained checkpoints are bounded.
	m.r.mu.Lock()
	own := slices.Clone(m.r.own)
	m.r.mu.Unlock()
	if len(own) > m.cfg.numRetained {
		return violated(invOwnBounded, "the run owns %v, more than %d", own, m.cfg.numRetained)
	}
	// 6: the registry follows the policy.
	if !slices.Equal(own, m.own) {
		return violated(invModel, "the run owns %v, want %v", own, m.own)
	}
	if got, want := m.r.Retained(), m.validIDs(); !slices.Equal(got, want) {
		return violated(invModel, "retained %v, want %v", got, want)
	}
	return nil
}

// checkAllFiles checks invariants 1 and 3 on every file the model
// expects.
func (m *model) checkAllFiles() error {
	if m.mem != nil {
		m.mem.takeDeleted()
	}
	for _, id := range m.validIDs() {
		for _, r := range m.valid[id].files {
			if err := m.exists(r); err != nil {
				return violated(invReferencedExist, "checkpoint %d: %v", id, err)
			}
		}
	}
	for _, r := range m.protected {
		if err := m.exists(r); err != nil {
			return violated(invProtected, "%v", err)
		}
	}
	return nil
}

// checkStore checks invariant 1 from the storage alone: every valid
// _metadata's files verify, and the valid checkpoints are the model's.
func (m *model) checkStore() error {
	infos, err := snapshot.ListCheckpoints(m.ctx, m.store, testJob)
	if err != nil {
		return err
	}
	var ids []int64
	for _, info := range infos {
		if info.Err != nil {
			if !errors.Is(info.Err, snapshot.ErrNotExist) {
				return violated(invModel, "%s: %v", info.Dir, info.Err)
			}
			continue
		}
		ids = append(ids, info.ID)
		if errs := snapshot.Verify(m.ctx, m.store, info.Dir, info.Metadata); len(errs) > 0 {
			return violated(invReferencedExist, "checkpoint %d: %v", info.ID, errors.Join(errs...))
		}
	}
	if want := m.validIDs(); !slices.Equal(ids, want) {
		return violated(invModel, "valid checkpoints in the storage %v, want %v", ids, want)
	}
	for _, sp := range m.savepoints {
		md, err := snapshot.ReadMetadata(m.ctx, m.store, sp.dir)
		if err != nil {
			return violated(invProtected, "savepoint %s: %v", sp.dir, err)
		}
		if errs := snapshot.Verify(m.ctx, m.store, sp.dir, md); len(errs) > 0 {
			return violated(invProtected, "savepoint %s: %v", sp.dir, errors.Join(errs...))
		}
	}
	return nil
}

// seed returns the -seed flag or a new seed.
func seed(t *testing.T) uint64 {
	s := *modelSeed
	if s == 0 {
		s = uint64(time.Now().UnixNano())
	}
	t.Logf("seed %d (rerun with -seed=%d)", s, s)
	return s
}

func steps(def int) int {
	if *modelSteps > 0 {
		return *modelSteps
	}
	return def
}

// TestModel runs the registry against a model of the policy: 3 × 3500
// random steps (NumRetained 1, 2 and 3, in parallel) over an in-memory
// storage, checking the invariants after every step.
func TestModel(t *testing.T) {
	s := seed(t)
	for _, n := range []int{1, 2, 3} {
		t.Run(fmt.Sprintf("retained-%d", n), func(t *testing.T) {
			t.Parallel()
			cfg := modelConfig{numRetained: n, steps: steps(3500)}
			m, err := runModel(t, cfg, s+uint64(n))
			if err != nil {
				t.Fatalf("seed %d, NumRetained %d: %v", s, n, err)
			}
			t.Logf("%d steps, %d runs, ops %v; %d sweeps deleted %d files; %d checkpoints retained, %d files stored",
				cfg.steps, m.run, m.ops, m.gcs, m.swept, len(m.valid), len(m.mem.names()))
		})
	}
}

// TestModelFileStorage runs the model on a file.Storage.
func TestModelFileStorage(t *testing.T) {
	s := seed(t)
	if _, err := runModel(t, modelConfig{numRetained: 2, steps: steps(300), fileStorage: true}, s); err != nil {
		t.Fatalf("seed %d: %v", s, err)
	}
}

// TestModelDetectsFault proves the model test can fail: with a GC that
// deletes one referenced shared file, it reports a violation of invariant 1.
func TestModelDetectsFault(t *testing.T) {
	s := seed(t)
	for _, n := range []int{1, 3} {
		_, err := runModel(t, modelConfig{numRetained: n, steps: steps(3500), fault: true}, s+uint64(n))
		var v *violation
		if !errors.As(err, &v) || v.inv != invReferencedExist {
			t.Fatalf("seed %d, NumRetained %d: the fault was not detected as a violation of invariant 1: %v", s, n, err)
		}
		t.Logf("NumRetained %d: detected: %v", n, firstLine(err.Error()))
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
