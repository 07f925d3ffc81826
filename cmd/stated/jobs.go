package main

import (
	"context"
	"slices"
	"strings"

	"github.com/stated-io/stated/snapshot"
)

// openJobs opens the existing directory dir and returns the jobs with
// checkpoints in it; if dir is itself a job's directory, the storage is
// opened one level up.
func (g *globalFlags) openJobs(ctx context.Context, dir string) (snapshot.Storage, []string, error) {
	store, err := g.openDir(ctx, dir)
	if err != nil {
		return nil, nil, err
	}
	names, err := store.List(ctx, "")
	if err != nil {
		store.Close()
		return nil, nil, err
	}
	var jobs []string
	for _, n := range names {
		job, ok := strings.CutSuffix(n, "/")
		if !ok {
			continue
		}
		isJob, err := isJobDir(ctx, store, job)
		if err != nil {
			store.Close()
			return nil, nil, err
		}
		if isJob {
			jobs = append(jobs, job)
		}
	}
	if len(jobs) > 0 {
		return store, jobs, nil
	}
	isJob, err := isJobDir(ctx, store, "")
	if err != nil || !isJob {
		if err != nil {
			store.Close()
			return nil, nil, err
		}
		return store, nil, nil
	}
	store.Close()
	parent, job, err := g.openAbove(ctx, dir, 1)
	if err != nil {
		return nil, nil, err
	}
	return parent, []string{job}, nil
}

// isJobDir reports whether dir of store is a job's directory: one with
// chk-<n> directories or checkpoints moved aside.
func isJobDir(ctx context.Context, store snapshot.Storage, dir string) (bool, error) {
	names, err := store.List(ctx, dir)
	if err != nil {
		return false, err
	}
	if slices.ContainsFunc(names, isCheckpointDir) {
		return true, nil
	}
	moved, err := snapshot.ListMovedAside(ctx, store, dir)
	return len(moved) > 0, err
}

// isCheckpointDir reports whether a listed name is a chk-<n> directory.
func isCheckpointDir(name string) bool {
	return strings.HasPrefix(name, "chk-") && strings.HasSuffix(name, "/")
}

// referencedFiles maps the storage name of every file md references
// (resolved against dir) to its size.
func referencedFiles(dir string, md *snapshot.Metadata) map[string]int64 {
	files := map[string]int64{}
	md.EachFile(func(f snapshot.FileRef) error {
		if p, err := snapshot.ResolvePath(dir, f.Path); err == nil {
			files[p] = f.Size
		}
		return nil
	})
	return files
}
