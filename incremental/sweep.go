package incremental

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	"github.com/stated-io/stated/snapshot"
)

// ErrNoModTime is returned by SweepOrphans on a storage that does not
// implement snapshot.InfoLister: without modification times no file can be
// proven older than the grace period, so nothing is swept. It wraps
// snapshot.ErrUnsupported.
var ErrNoModTime = fmt.Errorf("incremental: the storage lists no modification times, so orphans cannot be aged: %w", snapshot.ErrUnsupported)

// SweepReport says what SweepOrphans did or, in a dry run, would do.
type SweepReport struct {
	// Time is the clock reading the ages were measured against: only files
	// last modified more than GracePeriod before Time are deleted.
	Time time.Time
	// DryRun is set when nothing was deleted on purpose.
	DryRun bool
	// Deleted are the storage names of the orphans deleted (with DryRun:
	// that would be), sorted. After a deletion error it may name files
	// that remain.
	Deleted []string
	// Bytes is the total size of Deleted.
	Bytes int64
	// Young counts the orphans kept because they are not older than the
	// grace period, or because the storage gave no modification time.
	Young int
	// InFlight counts the files kept because a checkpoint in flight may
	// use them, or because a checkpoint completed while the sweep ran.
	InFlight int
	// Unreadable are the chk-<n> directories whose _metadata exists but
	// cannot be read, found by this sweep or when the registry was opened.
	// They are left alone and, since what they reference is unknown, so is
	// the shared directory.
	Unreadable []string
}

// orphan is a file SweepOrphans may delete.
type orphan struct {
	name string
	size int64
	mod  time.Time
	// ckpt is the id of the chk-<n> directory holding it, -1 for a shared
	// file.
	ckpt int64
}

// SweepOrphans deletes the orphan files of the job that are older than the
// grace period:
//
//   - files under <job>/shared/ that no valid checkpoint of the job
//     references (whichever run wrote them), and
//   - every file of a chk-<n> directory without a _metadata file (a
//     checkpoint that never completed, or whose deletion was interrupted),
//
// except files a checkpoint in flight may use (its directory, the files
// reported with CheckpointUploaded, shared files kept for it) and files no
// retained checkpoint references only because a checkpoint completed during
// the sweep. A chk-<n> directory whose _metadata exists but is corrupt or of
// a newer format is never swept (a human should look), and while one exists
// neither is the shared directory. <job>/taskowned/ and everything outside
// the job's chk-<n>/ and shared/ directories (savepoints) are never
// touched. With dryRun nothing is deleted and the report lists what would
// be.
//
// The grace period is what protects the shared files a checkpoint in
// flight uploaded and did not report: it must exceed the longest checkpoint
// duration. On a storage without snapshot.InfoLister nothing is swept and
// the error wraps ErrNoModTime. The storage is listed without holding the
// registry's lock, so the sweep may run alongside checkpoints.
func (r *Registry) SweepOrphans(ctx context.Context, dryRun bool) (SweepReport, error) {
	rep := SweepReport{DryRun: dryRun}
	il, ok := r.store.(snapshot.InfoLister)
	if !ok {
		r.log.Warn("orphan files not swept: the storage lists no modification times", "job", r.job)
		return rep, fmt.Errorf("sweep orphans of job %q: %w", r.job, ErrNoModTime)
	}
	rep.Time = r.opts.Now()
	infos, err := snapshot.ListCheckpoints(ctx, r.store, r.job)
	if err != nil {
		return rep, fmt.Errorf("sweep orphans of job %q: %w", r.job, err)
	}
	referenced := map[string]struct{}{}
	var cands []orphan
	for _, info := range infos {
		switch {
		case info.Err == nil:
			names, err := r.sharedNames(info.Dir, info.Metadata)
			if err != nil {
				rep.Unreadable = append(rep.Unreadable, info.Dir)
				continue
			}
			for _, n := range names {
				referenced[n] = struct{}{}
			}
		case errors.Is(info.Err, snapshot.ErrNotExist):
			files, err := listTreeInfo(ctx, il, info.Dir, info.ID)
			if err != nil {
				return rep, fmt.Errorf("sweep orphans of job %q: %w", r.job, err)
			}
			cands = append(cands, files...)
		default:
			rep.Unreadable = append(rep.Unreadable, info.Dir)
		}
	}
	r.mu.Lock()
	for _, d := range r.unreadable {
		if !slices.Contains(rep.Unreadable, d) {
			rep.Unreadable = append(rep.Unreadable, d)
		}
	}
	r.mu.Unlock()
	slices.Sort(rep.Unreadable)
	var fault []orphan
	if len(rep.Unreadable) == 0 {
		files, err := listTreeInfo(ctx, il, snapshot.SharedDir(r.job), -1)
		if err != nil {
			return rep, fmt.Errorf("sweep orphans of job %q: %w", r.job, err)
		}
		for _, f := range files {
			if _, ok := referenced[f.name]; !ok {
				cands = append(cands, f)
			} else if r.opts.faultDeleteReferenced && fault == nil {
				fault = append(fault, f)
			}
		}
	} else {
		r.log.Warn("shared files not swept: the job has checkpoints whose _metadata cannot be read", "job", r.job, "unreadable", rep.Unreadable)
	}

	// Decide against what the registry knows now: checkpoints may have
	// started, completed or aborted since the listing.
	r.mu.Lock()
	del := fault
	for _, c := range cands {
		switch {
		case c.ckpt >= 0 && r.inflight[c.ckpt] != nil, c.ckpt >= 0 && r.ckpts[c.ckpt] != nil:
			rep.InFlight++
		case c.ckpt < 0 && !r.unused(c.name):
			rep.InFlight++
		case c.mod.IsZero() || rep.Time.Sub(c.mod) <= r.opts.GracePeriod:
			rep.Young++
		default:
			del = append(del, c)
		}
	}
	r.mu.Unlock()

	slices.SortFunc(del, func(a, b orphan) int { return strings.Compare(a.name, b.name) })
	for _, c := range del {
		rep.Deleted = append(rep.Deleted, c.name)
		rep.Bytes += c.size
	}
	if !dryRun && len(rep.Deleted) > 0 {
		if err := snapshot.DeleteAll(ctx, r.store, rep.Deleted); err != nil {
			r.log.Warn("cannot delete orphan files", "job", r.job, "files", len(rep.Deleted), "error", err)
			return rep, fmt.Errorf("sweep orphans of job %q: %w", r.job, err)
		}
	}
	r.log.Info("orphan files swept", "job", r.job, "dryRun", dryRun, "deleted", len(rep.Deleted), "bytes", rep.Bytes,
		"young", rep.Young, "inFlight", rep.InFlight, "unreadable", len(rep.Unreadable))
	return rep, nil
}

// listTreeInfo lists every file under dir, recursively, as orphans of
// checkpoint ckpt.
func listTreeInfo(ctx context.Context, il snapshot.InfoLister, dir string, ckpt int64) ([]orphan, error) {
	entries, err := il.ListInfo(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("list %s: %w", dir, err)
	}
	var out []orphan
	for _, e := range entries {
		p := path.Join(dir, e.Name)
		if strings.HasSuffix(e.Name, "/") {
			sub, err := listTreeInfo(ctx, il, p, ckpt)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, orphan{name: p, size: e.Size, mod: e.ModTime, ckpt: ckpt})
	}
	return out, nil
}
