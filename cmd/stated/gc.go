package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/stated-io/stated/incremental"
	"github.com/stated-io/stated/snapshot"
)

// gcCommand removes the orphan files of every job under DIR: shared files
// no valid checkpoint references and files of chk-<n> directories without
// _metadata, older than the grace period. Valid checkpoints, savepoints and
// taskowned files are never touched.
func gcCommand(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("checkpoint gc")
	dryRun := f.fs.Bool("dry-run", false, "list what would be deleted, delete nothing")
	grace := f.fs.Duration("grace", incremental.DefaultGracePeriod, "only files older than this are deleted; it must exceed the longest checkpoint of a job still running")
	pos, err := f.parse(args, "DIR")
	if err != nil {
		return err
	}
	if *grace < 0 {
		return usagef("checkpoint gc: --grace %v: want 0 or more", *grace)
	}
	opts, err := f.storageOptions()
	if err != nil {
		return err
	}
	store, jobs, err := openJobs(ctx, pos[0], opts)
	if err != nil {
		return err
	}
	defer store.Close()
	if len(jobs) == 0 {
		fmt.Fprintf(stdout, "no checkpoints under %s\n", pos[0])
		return nil
	}
	var errs []error
	for _, job := range jobs {
		reg, err := incremental.Open(ctx, store, job, incremental.Options{GracePeriod: *grace})
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", job, err))
			continue
		}
		rep, err := reg.SweepOrphans(ctx, *dryRun)
		verb := "deleted"
		if *dryRun {
			verb = "would delete"
		}
		for _, name := range rep.Deleted {
			fmt.Fprintf(stdout, "%s %s\n", verb, name)
		}
		fmt.Fprintf(stdout, "job %s: %s %d files (%s); kept %d younger than %v and %d of checkpoints in flight\n",
			job, verb, len(rep.Deleted), bytesString(rep.Bytes), rep.Young, *grace, rep.InFlight)
		for _, u := range rep.Unreadable {
			fmt.Fprintf(stdout, "job %s: %s has an unreadable _metadata: left alone, and shared files are not collected while it exists\n", job, u)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("job %s: %w", job, err))
		}
	}
	return errors.Join(errs...)
}

// openJobs opens dir and returns the jobs with checkpoints in it; if dir is
// itself a job's directory, the storage is opened one level up.
func openJobs(ctx context.Context, dir string, opts snapshot.StorageOptions) (snapshot.Storage, []string, error) {
	store, err := openAt(ctx, dir, opts)
	if err != nil {
		return nil, nil, err
	}
	jobs, err := jobsIn(ctx, store)
	if err != nil || len(jobs) > 0 {
		if err != nil {
			store.Close()
		}
		return store, jobs, err
	}
	names, err := store.List(ctx, "")
	if err != nil || !slices.ContainsFunc(names, isCheckpointDir) {
		return store, nil, err
	}
	store.Close()
	parent, job, err := snapshot.OpenAbove(ctx, dir, 1, opts)
	if err != nil {
		return nil, nil, err
	}
	return parent, []string{job}, nil
}
