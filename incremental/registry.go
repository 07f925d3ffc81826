package incremental

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path"
	"slices"
	"strings"
	"sync"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
)

// Registry is the shared-file registry of one run of one job: it knows the
// retained checkpoints of the job in one storage, counts the references to
// every shared file, and deletes checkpoints and files by the rules of the
// package documentation. Safe for concurrent use; calls that delete block
// until the storage answered.
type Registry struct {
	store snapshot.Storage
	job   string
	// sharedPrefix is SharedDir(job) + "/": the shared files are the
	// storage names that start with it.
	sharedPrefix string
	opts         Options
	log          *slog.Logger

	mu sync.Mutex
	// ckpts are the retained checkpoints: valid on Open or completed by
	// this run, and not deleted since.
	ckpts map[int64]*checkpoint
	// own are the ids of the retained checkpoints this run may delete,
	// ascending: its completed ones and a checkpoint claimed on restore.
	own []int64
	// files counts, per shared file, the retained checkpoints that
	// reference it; a file with no reference is not in the map.
	files map[string]*sharedFile
	// inflight maps the checkpoints started and not yet completed or
	// aborted to the shared files reported as uploaded by them.
	inflight map[int64]map[string]struct{}
	// deferred holds shared files no retained checkpoint references any
	// more but that a checkpoint in flight when they lost their last
	// reference may reference: each waits until no checkpoint with an id
	// up to its value is in flight.
	deferred map[string]int64
	// unreadable are the chk-<n> directories whose _metadata exists but
	// cannot be read (corrupt or of a newer format). What they reference is
	// unknown, so no shared file is deleted while there are any.
	unreadable []string
	nextID     int64
}

// checkpoint is a retained checkpoint.
type checkpoint struct {
	id  int64
	dir string
	// shared are the storage names of the shared files it references,
	// sorted and without duplicates.
	shared []string
	// owned is set when this run may delete it.
	owned bool
}

// sharedFile is the registry entry of one physical shared file.
type sharedFile struct {
	refs        int
	first, last int64
}

// SharedFile describes a shared file referenced by retained checkpoints.
type SharedFile struct {
	// Name is the storage name of the file.
	Name string
	// Refs is the number of retained checkpoints that reference it.
	Refs int
	// First and Last are the lowest and the highest id of the checkpoints
	// that referenced it while this registry knew them: the checkpoint that
	// (most likely) uploaded it and the last one that used it.
	First, Last int64
}

// Open builds the registry of jobID's checkpoints in store for a new run: it
// reads the _metadata of every chk-<n> directory of the job and counts the
// references of the valid ones to shared files. Those checkpoints belong
// to earlier runs: this run never deletes them, unless it claims one with
// Restored. A directory without _metadata is an unfinished checkpoint
// whose files SweepOrphans may collect; one whose _metadata is corrupt or
// of a newer format is logged and left alone, and while it exists no
// shared file is deleted.
//
// jobID must be a valid storage name ("<job>", usually one path element).
// Only storage failures, cancellation and invalid arguments fail Open.
func Open(ctx context.Context, store snapshot.Storage, jobID string, opts Options) (*Registry, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if store == nil {
		return nil, errors.New("open registry: nil storage")
	}
	if err := checkJobID(jobID); err != nil {
		return nil, fmt.Errorf("open registry: %w", err)
	}
	points, err := snapshot.ListRestorePoints(ctx, store, jobID)
	if err != nil {
		return nil, fmt.Errorf("open registry of job %q: %w", jobID, err)
	}
	r := &Registry{
		store:        store,
		job:          jobID,
		sharedPrefix: snapshot.SharedDir(jobID) + "/",
		opts:         opts,
		log:          opts.Logger,
		ckpts:        map[int64]*checkpoint{},
		files:        map[string]*sharedFile{},
		inflight:     map[int64]map[string]struct{}{},
		deferred:     map[string]int64{},
		nextID:       1,
	}
	for _, p := range points {
		// Stop savepoints took their ids from the job's sequence too.
		r.nextID = max(r.nextID, p.ID+1)
		switch {
		case p.Kind == snapshot.KindSavepoint:
		case p.Err == nil:
			if err := r.register(p.ID, p.Name, p.Metadata, false); err != nil {
				r.unreadable = append(r.unreadable, p.Name)
				r.log.Warn("checkpoint with an unusable _metadata left alone; no shared file is deleted while it exists", "job", jobID, "dir", p.Name, "error", err)
			}
		case p.Status() == snapshot.StatusIncomplete:
			// An unfinished checkpoint: its files are orphans.
		default:
			r.unreadable = append(r.unreadable, p.Name)
			r.log.Warn("checkpoint with an unreadable _metadata left alone; no shared file is deleted while it exists", "job", jobID, "dir", p.Name, "error", p.Err)
		}
	}
	r.log.Debug("checkpoint registry opened", "job", jobID, "retained", len(r.ckpts), "sharedFiles", len(r.files), "nextID", r.nextID)
	return r, nil
}

// checkJobID accepts job ids that are clean relative storage names.
func checkJobID(job string) error {
	switch {
	case job == "" || job == ".":
		return errors.New("empty job id")
	case strings.HasPrefix(job, "/") || job == ".." || strings.HasPrefix(job, "../"):
		return fmt.Errorf("job id %q escapes the storage root", job)
	case path.Clean(job) != job:
		return fmt.Errorf("job id %q is not a clean name", job)
	}
	return nil
}

// Restored records the snapshot this run restored from: dir is the
// storage name of its directory, md its metadata. It moves NextID past
// md.CheckpointID.
//
// In backend.Claim mode, a checkpoint of this job in the registry's
// storage (dir is CheckpointDir(job, md.CheckpointID) and Open found it
// valid) becomes the run's own, its oldest: it ages out like the run's own
// checkpoints. Anything else cannot be claimed: it is left in place and an
// error says why (the caller logs it and goes on). In backend.NoClaim mode
// and for savepoints Restored changes nothing else: the restored files stay
// referenced and are never deleted by this run. Call it before the run's
// first checkpoint completes; the caller must not pass a dir of another
// storage that happens to have the same name.
func (r *Registry) Restored(dir string, md *snapshot.Metadata, mode backend.ClaimMode) error {
	if md == nil {
		return errors.New("restored: nil metadata")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.nextID = max(r.nextID, md.CheckpointID+1)
	if mode != backend.Claim || md.Kind != snapshot.KindCheckpoint {
		return nil
	}
	c := r.ckpts[md.CheckpointID]
	if dir != snapshot.CheckpointDir(r.job, md.CheckpointID) || c == nil || c.dir != dir {
		return fmt.Errorf("claim %s: not a retained checkpoint of job %q in this storage; left in place", dir, r.job)
	}
	if !c.owned {
		c.owned = true
		r.own = insertSorted(r.own, c.id)
		r.log.Info("restored checkpoint claimed: it ages out with this run's checkpoints", "job", r.job, "checkpoint", c.id)
	}
	return nil
}

// NextID returns one more than the highest checkpoint id the registry saw:
// the chk-<n> directories found on Open (complete or not), the restored
// snapshot, and the checkpoints started since. The caller numbers its next
// checkpoint with it (or higher) so that no directory is reused.
func (r *Registry) NextID() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.nextID
}

// CheckpointStarted records that checkpoint id is in flight. Call it before
// any subtask snapshots for it. While id is in flight, its directory is
// never swept, the shared files reported for it with CheckpointUploaded are
// never deleted, and a shared file that loses its last reference is kept
// until id completes or aborts (id may reference it: it was retained when
// id started). Contract: a checkpoint references only shared files of
// checkpoints that were retained when it started, or files it uploaded.
func (r *Registry) CheckpointStarted(id int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.ckpts[id]; ok {
		r.log.Warn("checkpoint started with the id of a retained checkpoint; ignored", "job", r.job, "checkpoint", id)
		return
	}
	if r.inflight[id] == nil {
		r.inflight[id] = map[string]struct{}{}
	}
	r.nextID = max(r.nextID, id+1)
}

// CheckpointUploaded reports shared files (storage names) that the
// checkpoint in flight id uploaded or references. They are protected from
// every deletion until id completes or aborts, and CheckpointAborted
// deletes those that are then unreferenced. Names of checkpoints not in
// flight are ignored.
func (r *Registry) CheckpointUploaded(id int64, names []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	up := r.inflight[id]
	if up == nil {
		r.log.Debug("uploads reported for a checkpoint not in flight; ignored", "job", r.job, "checkpoint", id, "files", len(names))
		return
	}
	for _, n := range names {
		up[n] = struct{}{}
	}
}

// CheckpointCompleted registers checkpoint id, whose _metadata md the
// caller has committed in CheckpointDir(job, id), as the run's own, and
// deletes the run's own checkpoints beyond NumRetained, lowest ids first
// (so id itself if it completed after NumRetained higher ones):
// for each, its _metadata first (so that it stops existing at once), then
// the files of its directory, then the shared files no retained checkpoint
// references any more (unless a checkpoint in flight may use them). It
// returns the storage names of the files deleted.
//
// A checkpoint whose _metadata cannot be deleted stays retained and is
// retried on the next completion; files that cannot be deleted are logged
// and left to SweepOrphans. Either is reported in err, with the
// checkpoint registered all the same. md of a savepoint only ends the
// flight of id: savepoints are never registered. md must be the metadata of
// id (md.CheckpointID == id) and id must not be retained already.
func (r *Registry) CheckpointCompleted(ctx context.Context, id int64, md *snapshot.Metadata) (deleted []string, err error) {
	if md == nil {
		return nil, fmt.Errorf("checkpoint %d completed: nil metadata", id)
	}
	if md.CheckpointID != id {
		return nil, fmt.Errorf("checkpoint %d completed: metadata of checkpoint %d", id, md.CheckpointID)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.ckpts[id]; dup && md.Kind == snapshot.KindCheckpoint {
		return nil, fmt.Errorf("checkpoint %d completed: already retained", id)
	}
	delete(r.inflight, id)
	r.nextID = max(r.nextID, id+1)
	var errs []error
	if md.Kind == snapshot.KindCheckpoint {
		dir := snapshot.CheckpointDir(r.job, id)
		if err := r.register(id, dir, md, true); err != nil {
			// Committed but not understood: what it references is unknown.
			r.unreadable = append(r.unreadable, dir)
			errs = append(errs, fmt.Errorf("checkpoint %d completed: %w", id, err))
		}
		for len(r.own) > r.opts.NumRetained {
			c := r.ckpts[r.own[0]]
			d, err := r.deleteCheckpoint(ctx, c)
			deleted = append(deleted, d...)
			if err != nil {
				errs = append(errs, err)
				if c.owned && r.ckpts[c.id] == c {
					break // its _metadata is still there: retry next time
				}
			}
		}
	}
	d, err := r.flushDeferred(ctx)
	deleted = append(deleted, d...)
	if err != nil {
		errs = append(errs, err)
	}
	return deleted, errors.Join(errs...)
}

// CheckpointAborted records that checkpoint id will never complete and
// deletes what this run wrote for it: written are the storage names of the
// files the run created for it (names unique to the run, so that they are
// its own whoever else wrote into the directory). Of these, the files of
// its directory chk-<n>/ are deleted (a _metadata only when written names
// it: the caller passes it only when the _metadata there is the one it
// committed, never after losing the commit race with ErrExist), and the
// shared files that nothing else uses (no retained checkpoint, deferred
// deletion or other checkpoint in flight). Names elsewhere are ignored, and
// the directory is never listed: files another writer put there stay.
// Files of the run that written misses are orphans for SweepOrphans.
// Deletion is best effort: failures are logged and returned, the files
// left to the sweeper. A retained checkpoint cannot be aborted.
func (r *Registry) CheckpointAborted(ctx context.Context, id int64, written []string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	dir := snapshot.CheckpointDir(r.job, id)
	if _, ok := r.ckpts[id]; ok || slices.Contains(r.unreadable, dir) {
		return fmt.Errorf("abort checkpoint %d: it is retained", id)
	}
	delete(r.inflight, id)
	meta := path.Join(dir, snapshot.MetadataName)
	var own, orphans []string
	for _, n := range slices.Sorted(slices.Values(written)) {
		switch {
		case n == meta:
			own = append([]string{n}, own...) // first: the checkpoint stops existing at once
		case strings.HasPrefix(n, dir+"/"):
			own = append(own, n)
		case r.unused(n):
			orphans = append(orphans, n)
		}
	}
	orphans = slices.Compact(orphans)
	var errs []error
	if _, err := r.deleteFiles(ctx, slices.Compact(own)); err != nil {
		errs = append(errs, fmt.Errorf("abort checkpoint %d: %w", id, err))
	}
	if _, err := r.deleteShared(ctx, orphans, false); err != nil {
		errs = append(errs, fmt.Errorf("abort checkpoint %d: %w", id, err))
	}
	if _, err := r.flushDeferred(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Discard deletes every checkpoint of the run's own, oldest first, as
// subsumption does (for DELETE_ON_CANCELLATION and
// NO_EXTERNALIZED_CHECKPOINTS; the caller decides when), including the
// newest one and a claimed restored one. Checkpoints of earlier runs and
// those restored in NO_CLAIM mode stay. Abort the checkpoints in flight
// first: shared files they may use are kept until they end. The registry
// stays usable. Failures are returned; a checkpoint whose _metadata
// could not be deleted stays retained.
func (r *Registry) Discard(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	var errs []error
	for _, id := range slices.Clone(r.own) {
		if _, err := r.deleteCheckpoint(ctx, r.ckpts[id]); err != nil {
			errs = append(errs, err)
		}
	}
	if _, err := r.flushDeferred(ctx); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// Retained returns the ids of the retained checkpoints, ascending: those
// found valid on Open and those completed since, minus those deleted.
func (r *Registry) Retained() []int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	ids := make([]int64, 0, len(r.ckpts))
	for id := range r.ckpts {
		ids = append(ids, id)
	}
	slices.Sort(ids)
	return ids
}

// Shared returns the shared files referenced by retained checkpoints,
// sorted by name.
func (r *Registry) Shared() []SharedFile {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := make([]SharedFile, 0, len(r.files))
	for n, f := range r.files {
		out = append(out, SharedFile{Name: n, Refs: f.refs, First: f.first, Last: f.last})
	}
	slices.SortFunc(out, func(a, b SharedFile) int { return strings.Compare(a.Name, b.Name) })
	return out
}

// register adds checkpoint id, whose _metadata in dir is md, to the
// retained ones and counts its references.
func (r *Registry) register(id int64, dir string, md *snapshot.Metadata, owned bool) error {
	names, err := r.sharedNames(dir, md)
	if err != nil {
		return err
	}
	c := &checkpoint{id: id, dir: dir, shared: names, owned: owned}
	r.ckpts[id] = c
	for _, n := range names {
		f := r.files[n]
		if f == nil {
			f = &sharedFile{first: id, last: id}
			r.files[n] = f
		}
		f.refs++
		f.first, f.last = min(f.first, id), max(f.last, id)
		delete(r.deferred, n)
	}
	if owned {
		r.own = insertSorted(r.own, id)
	}
	return nil
}

// sharedNames returns the storage names of the shared files md references,
// resolved against dir, sorted and without duplicates. A file is shared by
// where it lives (under the job's shared directory), whatever its Scope
// says: that is what makes other checkpoints able to reference it.
func (r *Registry) sharedNames(dir string, md *snapshot.Metadata) ([]string, error) {
	var names []string
	add := func(f snapshot.FileRef) error {
		n, err := snapshot.ResolvePath(dir, f.Path)
		if err != nil {
			return err
		}
		if strings.HasPrefix(n, r.sharedPrefix) {
			names = append(names, n)
		}
		return nil
	}
	if err := md.EachFile(add); err != nil {
		return nil, err
	}
	slices.Sort(names)
	return slices.Compact(names), nil
}

// deleteCheckpoint deletes retained checkpoint c: its _metadata, then its
// directory, then the shared files that lost their last reference. If the
// _metadata cannot be deleted, c stays retained and nothing else is done.
func (r *Registry) deleteCheckpoint(ctx context.Context, c *checkpoint) ([]string, error) {
	meta := path.Join(c.dir, snapshot.MetadataName)
	if err := r.store.Delete(ctx, meta); err != nil {
		r.log.Warn("cannot delete checkpoint; it stays retained", "job", r.job, "checkpoint", c.id, "error", err)
		return nil, fmt.Errorf("delete checkpoint %d: %w", c.id, err)
	}
	deleted := []string{meta}
	delete(r.ckpts, c.id)
	if i, ok := slices.BinarySearch(r.own, c.id); ok {
		r.own = slices.Delete(r.own, i, i+1)
	}
	var unreferenced []string
	for _, n := range c.shared {
		f := r.files[n]
		if f.refs--; f.refs == 0 {
			delete(r.files, n)
			unreferenced = append(unreferenced, n)
		}
	}
	var errs []error
	d, err := r.deleteTree(ctx, c.dir)
	deleted = append(deleted, d...)
	if err != nil {
		errs = append(errs, err)
	}
	d, err = r.deleteShared(ctx, unreferenced, true)
	deleted = append(deleted, d...)
	if err != nil {
		errs = append(errs, err)
	}
	r.log.Debug("checkpoint deleted", "job", r.job, "checkpoint", c.id, "files", len(deleted))
	if err := errors.Join(errs...); err != nil {
		return deleted, fmt.Errorf("delete checkpoint %d: %w", c.id, err)
	}
	return deleted, nil
}

// unused reports whether n is a shared file of the job that no retained
// checkpoint references, no deferred deletion waits for and no checkpoint in
// flight reported.
func (r *Registry) unused(n string) bool {
	if !strings.HasPrefix(n, r.sharedPrefix) || r.files[n] != nil {
		return false
	}
	if _, ok := r.deferred[n]; ok {
		return false
	}
	for _, up := range r.inflight {
		if _, ok := up[n]; ok {
			return false
		}
	}
	return true
}

// deleteShared deletes the unreferenced shared files names, except all of
// them while an unreadable checkpoint exists. With lostRef (the files have
// just lost their last reference), those a checkpoint in flight may use
// are deferred instead.
func (r *Registry) deleteShared(ctx context.Context, names []string, lostRef bool) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if len(r.unreadable) > 0 {
		r.log.Warn("unreferenced shared files kept: the job has checkpoints whose _metadata cannot be read", "job", r.job, "files", len(names), "unreadable", r.unreadable)
		return nil, nil
	}
	var now []string
	blocker, busy := r.maxInflight()
	for _, n := range names {
		if busy && lostRef {
			r.deferred[n] = blocker
		} else {
			now = append(now, n)
		}
	}
	return r.deleteFiles(ctx, now)
}

// flushDeferred deletes the deferred shared files no checkpoint in flight
// may use any more.
func (r *Registry) flushDeferred(ctx context.Context) ([]string, error) {
	var now []string
	for n, blocker := range r.deferred {
		if !r.inflightUpTo(blocker) {
			now = append(now, n)
			delete(r.deferred, n)
		}
	}
	slices.Sort(now)
	return r.deleteFiles(ctx, now)
}

// maxInflight returns the highest id in flight.
func (r *Registry) maxInflight() (int64, bool) {
	var m int64
	busy := false
	for id := range r.inflight {
		if !busy || id > m {
			m, busy = id, true
		}
	}
	return m, busy
}

// inflightUpTo reports whether a checkpoint with an id up to b is in
// flight.
func (r *Registry) inflightUpTo(b int64) bool {
	for id := range r.inflight {
		if id <= b {
			return true
		}
	}
	return false
}

// deleteTree deletes every file under dir.
func (r *Registry) deleteTree(ctx context.Context, dir string) ([]string, error) {
	names, err := snapshot.ListFiles(ctx, r.store, dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	return r.deleteFiles(ctx, names)
}

// deleteFiles deletes names; on failure it logs and returns the error,
// and the names returned may include files that remain.
func (r *Registry) deleteFiles(ctx context.Context, names []string) ([]string, error) {
	if len(names) == 0 {
		return nil, nil
	}
	if err := snapshot.DeleteAll(ctx, r.store, names); err != nil {
		r.log.Warn("cannot delete files; the orphan sweeper will retry", "job", r.job, "files", len(names), "error", err)
		return names, err
	}
	return names, nil
}

// insertSorted inserts id into the ascending ids.
func insertSorted(ids []int64, id int64) []int64 {
	i, found := slices.BinarySearch(ids, id)
	if found {
		return ids
	}
	return slices.Insert(ids, i, id)
}
