package main

import (
	"errors"
	"fmt"
	"time"

	"github.com/spf13/cobra"

	"github.com/stated-io/stated/incremental"
)

func newGCCommand(g *globalFlags) *cobra.Command {
	var dryRun bool
	var grace time.Duration
	cmd := &cobra.Command{
		Use:   "gc DIR",
		Short: "Delete the orphan files of the jobs under DIR",
		Long: `Delete the orphan files of every job under DIR, or of the job DIR is: the
files of chk-<n> directories without _metadata (checkpoints that never
completed because the process died) and the shared files no complete
checkpoint references, once they are older than the grace period.
Complete checkpoints, savepoints, checkpoints moved aside and taskowned
files are never touched; while a checkpoint's _metadata cannot be read,
no shared file of its job is deleted.

The grace period must exceed the longest checkpoint of a job still
running: a shared file uploaded by a checkpoint in flight is referenced by
no _metadata until that checkpoint completes.`,
		Args: exactArgs("DIR"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			if grace < 0 {
				return usagef("checkpoint gc: --grace %v: want 0 or more", grace)
			}
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			store, jobs, err := g.openJobs(ctx, args[0])
			if err != nil {
				return err
			}
			defer store.Close()
			if len(jobs) == 0 {
				fmt.Fprintf(w, "no checkpoints under %s\n", args[0])
				return nil
			}
			var errs []error
			for _, job := range jobs {
				reg, err := incremental.Open(ctx, store, job, incremental.Options{GracePeriod: grace})
				if err != nil {
					errs = append(errs, err)
					continue
				}
				rep, err := reg.SweepOrphans(ctx, dryRun)
				verb := "deleted"
				if dryRun {
					verb = "would delete"
				}
				for _, name := range rep.Deleted {
					fmt.Fprintf(w, "%s %s\n", verb, locate(store, name))
				}
				fmt.Fprintf(w, "job %s: %s %d files (%s); kept %d younger than %v and %d of checkpoints in flight\n",
					job, verb, len(rep.Deleted), bytesText(rep.Bytes), rep.Young, grace, rep.InFlight)
				for _, u := range rep.Unreadable {
					fmt.Fprintf(w, "job %s: %s has an unreadable _metadata: left alone, and shared files are not collected while it exists\n", job, locate(store, u))
				}
				if err != nil {
					errs = append(errs, err)
				}
			}
			return errors.Join(errs...)
		}),
	}
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted, delete nothing")
	cmd.Flags().DurationVar(&grace, "grace", incremental.DefaultGracePeriod, "delete only files older than this")
	return cmd
}
