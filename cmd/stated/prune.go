package main

import (
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stated-io/stated/incremental"
	"github.com/stated-io/stated/snapshot"
)

// pruneResult is the JSON of `stated checkpoints prune`, per job.
type pruneResult struct {
	Job    string  `json:"job"`
	DryRun bool    `json:"dry_run"`
	Kept   []int64 `json:"kept"`
	Pruned []int64 `json:"pruned"`
	// Deleted are the files deleted (with dry_run: that would be).
	Deleted []string `json:"deleted"`
	// SharedKept counts the shared files of pruned checkpoints that stay
	// because a kept checkpoint references them.
	SharedKept int `json:"shared_kept"`
	// Unreadable are the checkpoints whose _metadata cannot be read: never
	// pruned, and no shared file is deleted while one exists.
	Unreadable []string `json:"unreadable"`
	Error      string   `json:"error,omitempty"`
}

func newPruneCommand(g *globalFlags) *cobra.Command {
	var keep int
	var dryRun, asJSON bool
	cmd := &cobra.Command{
		Use:   "prune DIR --keep N",
		Short: "Delete the checkpoints of earlier runs but the newest N",
		Long: `Delete the complete checkpoints of every job under DIR, or of the job DIR
is, but the newest N (--keep). A run deletes only the checkpoints it
completed itself, so every restart in NO_CLAIM mode (the default) leaves
the checkpoints of the run before it behind; prune removes them.

The newest checkpoint is never pruned. A pruned checkpoint loses its
_metadata first, then the files of its directory, then the shared files
no kept checkpoint references: a shared file a kept checkpoint
references stays. Incomplete checkpoints (left to 'stated checkpoint gc'),
corrupt ones, checkpoints moved aside, savepoints and taskowned files are
never touched, and while a _metadata cannot be read no shared file of its
job is deleted. It takes the job's lease, so it refuses to run beside
the job (--dry-run does not need it).`,
		Example: `  stated checkpoints prune /var/lib/jobs/checkpoints --keep 3 --dry-run
  stated checkpoints prune /var/lib/jobs/checkpoints/wordcount --keep 1`,
		Args: exactArgs("DIR"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			if !cmd.Flags().Changed("keep") {
				return usagef("checkpoints prune: --keep N is required: how many of the newest checkpoints of each job stay (at least 1)")
			}
			if keep < 1 {
				return usagef("checkpoints prune: --keep %d: want at least 1 (the newest checkpoint is never pruned)", keep)
			}
			ctx := cmd.Context()
			store, jobs, err := g.openJobs(ctx, args[0])
			if err != nil {
				return err
			}
			defer store.Close()
			var results []pruneResult
			var errs []error
			for _, job := range jobs {
				res := pruneResult{Job: job, DryRun: dryRun}
				release, err := func() {}, error(nil)
				if !dryRun {
					if release, err = holdJobLease(ctx, store, job, "checkpoints prune"); err != nil {
						release = func() {}
					}
				}
				var reg *incremental.Registry
				if err == nil {
					reg, err = incremental.Open(ctx, store, job, incremental.Options{})
				}
				if err == nil {
					var rep incremental.PruneReport
					rep, err = reg.Prune(ctx, incremental.PruneOptions{Keep: keep, DryRun: dryRun})
					res.Kept, res.Pruned, res.SharedKept = nonNil(rep.Kept), nonNil(rep.Pruned), rep.SharedKept
					res.Deleted, res.Unreadable = locateAll(store, rep.Deleted), locateAll(store, rep.Unreadable)
				}
				release()
				if err != nil {
					res.Error = err.Error()
					errs = append(errs, err)
				}
				results = append(results, res)
			}
			if asJSON {
				if results == nil {
					results = []pruneResult{}
				}
				if err := writeJSON(cmd.OutOrStdout(), results); err != nil {
					return err
				}
			} else {
				printPrune(cmd.OutOrStdout(), args[0], results)
			}
			return errors.Join(errs...)
		}),
	}
	cmd.Flags().IntVar(&keep, "keep", 0, "how many of the newest checkpoints of each job stay (required, at least 1)")
	cmd.Flags().BoolVar(&dryRun, "dry-run", false, "list what would be deleted, delete nothing")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}

func printPrune(w io.Writer, dir string, results []pruneResult) {
	if len(results) == 0 {
		fmt.Fprintf(w, "no checkpoints under %s\n", dir)
		return
	}
	for _, r := range results {
		verb, pruned := "deleted", "pruned"
		if r.DryRun {
			verb, pruned = "would delete", "would prune"
		}
		for _, name := range r.Deleted {
			fmt.Fprintf(w, "%s %s\n", verb, name)
		}
		fmt.Fprintf(w, "job %s: %s checkpoints [%s] (%d files); kept [%s]", r.Job, pruned, ids(r.Pruned), len(r.Deleted), ids(r.Kept))
		if r.SharedKept > 0 {
			fmt.Fprintf(w, " and %d shared files of the pruned ones that kept checkpoints reference", r.SharedKept)
		}
		fmt.Fprintln(w)
		for _, u := range r.Unreadable {
			fmt.Fprintf(w, "job %s: %s has an unreadable _metadata: left alone, and no shared file is deleted while it exists\n", r.Job, u)
		}
	}
}

func ids(v []int64) string {
	s := make([]string, len(v))
	for i, id := range v {
		s[i] = strconv.FormatInt(id, 10)
	}
	return strings.Join(s, " ")
}

func nonNil[T any](v []T) []T {
	if v == nil {
		return []T{}
	}
	return v
}

// locateAll returns the whole locations of the storage names names.
func locateAll(store snapshot.Storage, names []string) []string {
	out := make([]string, len(names))
	for i, n := range names {
		out[i] = locate(store, n)
	}
	return out
}
