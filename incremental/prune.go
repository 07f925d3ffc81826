package incremental

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"

	"github.com/stated-io/stated/snapshot"
)

// PruneOptions tune Registry.Prune.
type PruneOptions struct {
	// Keep is how many of the job's newest retained checkpoints stay,
	// whichever run completed them. Required: at least 1, so the newest
	// checkpoint is never pruned.
	Keep int
	// DryRun decides and reports without deleting anything.
	DryRun bool
}

// PruneReport says what Prune did or, in a dry run, would do.
type PruneReport struct {
	// DryRun is set when nothing was deleted on purpose.
	DryRun bool
	// Kept are the ids of the retained checkpoints that stay, ascending.
	Kept []int64
	// Pruned are the ids of the checkpoints deleted (with DryRun: that
	// would be), ascending.
	Pruned []int64
	// Deleted are the storage names of the files deleted (with DryRun:
	// that would be): per pruned checkpoint its _metadata first, then the
	// files of its directory, then the shared files no kept checkpoint
	// references. After an error it may name files that remain.
	Deleted []string
	// SharedKept counts the shared files the pruned checkpoints reference
	// that stay because a kept checkpoint references them too.
	SharedKept int
	// Unreadable are the chk-<n> directories whose _metadata exists but
	// cannot be read. They are never pruned and, since what they reference
	// is unknown, no shared file is deleted while one exists.
	Unreadable []string
}

// Prune deletes the retained checkpoints of the job but the newest
// opts.Keep, whichever run completed them: the checkpoints of earlier runs
// that restarts in NO_CLAIM mode leave behind, which no run ever deletes
// (see the package documentation). It is the registry's subsumption applied
// to checkpoints it does not own, and follows the same rules:
//
//   - the newest checkpoint is never pruned (Keep is at least 1);
//   - what a kept checkpoint needs stays: a checkpoint references only
//     files of its own directory, of shared/ and of taskowned/ (the
//     _metadata format allows no other), so the files it needs from older
//     checkpoints are shared files, and those stay;
//   - a pruned checkpoint loses its _metadata first, so it stops existing
//     at once, then the files of its directory, then the shared files no
//     kept checkpoint references; shared files a kept checkpoint
//     references stay, and none is deleted while a checkpoint with an
//     unreadable _metadata exists, or while a checkpoint in flight of this
//     run may use it;
//   - directories without a valid _metadata (unfinished checkpoints, for
//     SweepOrphans and its grace period), corrupt ones (for a human),
//     savepoints, stop-savepoint records, taskowned/ and anything else
//     outside the chk-<n> directories and shared/ are never touched.
//
// With opts.DryRun nothing is deleted and the report lists what would be.
// Prune rereads the _metadata of the job's checkpoints, so that one damaged
// since Open is left alone and blocks the deletion of shared files too; a
// storage failure there fails it before anything is deleted. Deletion
// failures are returned with what was deleted so far; the checkpoint whose
// _metadata could not be deleted stays retained, and so do the older ones.
// Prune is meant for a stopped job (the stated tool's `checkpoints prune`);
// on a running job's registry it is safe too, since it never prunes the
// newest checkpoint, which is the only one an incremental checkpoint in
// flight builds on.
func (r *Registry) Prune(ctx context.Context, opts PruneOptions) (PruneReport, error) {
	rep := PruneReport{DryRun: opts.DryRun}
	if opts.Keep < 1 {
		return rep, fmt.Errorf("prune checkpoints of job %q: keep %d: want at least 1", r.job, opts.Keep)
	}
	infos, err := snapshot.ListCheckpoints(ctx, r.store, r.job)
	if err != nil {
		return rep, fmt.Errorf("prune checkpoints of job %q: %w", r.job, err)
	}

	r.mu.Lock()
	defer r.mu.Unlock()
	for _, info := range infos {
		if s := info.Status(); (s == snapshot.StatusCorrupt || s == snapshot.StatusUnsupported) && !slices.Contains(r.unreadable, info.Dir) {
			// Damaged since Open: from now on it blocks the deletion of
			// shared files like the ones Open found.
			r.unreadable = append(r.unreadable, info.Dir)
		}
	}
	rep.Unreadable = slices.Sorted(slices.Values(r.unreadable))
	ids := make([]int64, 0, len(r.ckpts))
	for id, c := range r.ckpts {
		if !slices.Contains(r.unreadable, c.dir) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	cut := max(len(ids)-opts.Keep, 0)
	rep.Kept, rep.Pruned = slices.Clone(ids[cut:]), slices.Clone(ids[:cut])
	rep.SharedKept = r.sharedKept(rep.Pruned, rep.Kept)
	if opts.DryRun {
		d, err := r.prunePlan(ctx, rep.Pruned)
		rep.Deleted = d
		if err != nil {
			return rep, fmt.Errorf("prune checkpoints of job %q: %w", r.job, err)
		}
		return rep, nil
	}
	var errs []error
	for i, id := range rep.Pruned {
		c := r.ckpts[id]
		d, err := r.deleteCheckpoint(ctx, c)
		rep.Deleted = append(rep.Deleted, d...)
		if err != nil {
			errs = append(errs, err)
			if r.ckpts[id] == c {
				// Its _metadata is still there: it stays retained, and
				// so do the older ones, as subsumption would leave them.
				rep.Kept = append(rep.Kept, rep.Pruned[i:]...)
				slices.Sort(rep.Kept)
				rep.Pruned = rep.Pruned[:i]
				break
			}
		}
	}
	r.log.Info("checkpoints pruned", "job", r.job, "kept", len(rep.Kept), "pruned", len(rep.Pruned), "files", len(rep.Deleted),
		"sharedKept", rep.SharedKept, "unreadable", len(rep.Unreadable))
	if err := errors.Join(errs...); err != nil {
		return rep, fmt.Errorf("prune checkpoints of job %q: %w", r.job, err)
	}
	return rep, nil
}

// prunePlan returns what deleting the checkpoints ids would delete, in the
// order deleteCheckpoint deletes it, without deleting anything.
func (r *Registry) prunePlan(ctx context.Context, ids []int64) ([]string, error) {
	refs := map[string]int{}
	var out []string
	for _, id := range ids {
		c := r.ckpts[id]
		out = append(out, path.Join(c.dir, snapshot.MetadataName))
		names, err := snapshot.ListFiles(ctx, r.store, c.dir)
		if err != nil {
			return out, fmt.Errorf("list %s: %w", c.dir, err)
		}
		for _, n := range names {
			if path.Base(n) != snapshot.MetadataName || path.Dir(n) != c.dir {
				out = append(out, n)
			}
		}
		if len(r.unreadable) > 0 {
			continue
		}
		blocked := len(r.inflight) > 0
		for _, n := range c.shared {
			if _, ok := refs[n]; !ok {
				refs[n] = r.files[n].refs
			}
			if refs[n]--; refs[n] == 0 && !blocked {
				out = append(out, n)
			}
		}
	}
	return out, nil
}

// sharedKept counts the shared files that the checkpoints pruned reference
// and one of kept references too.
func (r *Registry) sharedKept(pruned, kept []int64) int {
	inKept := map[string]bool{}
	for _, id := range kept {
		for _, n := range r.ckpts[id].shared {
			inKept[n] = true
		}
	}
	counted := map[string]bool{}
	for _, id := range pruned {
		for _, n := range r.ckpts[id].shared {
			if inKept[n] {
				counted[n] = true
			}
		}
	}
	return len(counted)
}
