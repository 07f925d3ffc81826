package main

import (
	"errors"
	"fmt"
	"path"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/stated-io/stated/providers"
	"github.com/stated-io/stated/snapshot"
)

// moveAsideResult is the JSON of `stated checkpoint move-aside`.
type moveAsideResult struct {
	Job  string `json:"job"`
	ID   int64  `json:"id"`
	From string `json:"from"`
	To   string `json:"to"`
	// Status is what the checkpoint was: complete (with --force),
	// incomplete, corrupt or unsupported.
	Status string    `json:"status"`
	Error  string    `json:"error,omitempty"`
	Moved  time.Time `json:"moved"`
	Files  int       `json:"files"`
	// Latest is what --restore latest restores now: the job's newest
	// restore point (a checkpoint, or a stop savepoint's location), "" if
	// none is left or it cannot be read.
	Latest string `json:"latest"`
}

func newMoveAsideCommand(g *globalFlags) *cobra.Command {
	var force, asJSON bool
	cmd := &cobra.Command{
		Use:   "move-aside PATH",
		Short: "Move a broken checkpoint out of the way of --restore latest",
		Long: `Move the checkpoint PATH (a chk-<n> directory or its _metadata) aside, to
moved-aside-chk-<n>-<UTC time> in its job's directory, so that
--restore latest goes on with the newest restore point that remains. PATH
may also be the pointer of a stop savepoint (<job>/savepoint-<n>.pointer)
whose savepoint is broken or gone: the pointer is moved to
moved-aside-savepoint-<n>-<UTC time>.pointer and the savepoint, which is
yours, stays where it is. A
restore refuses a newest checkpoint whose _metadata is corrupt or of a
newer format rather than silently restoring an older one (whose output
may already be committed over); this is the way out once you have looked
at it.

Every file is kept: on a file system the directory is renamed; elsewhere
every file is copied and checked before the originals are deleted. The
moved checkpoint is listed by 'stated checkpoints list' as moved-aside and
can still be inspected or restored by its new path (shared files it
references stay protected only while a remaining checkpoint references
them). A complete checkpoint is refused unless --force. Run it while the
job is stopped: it takes the job's lease, so it refuses to run beside
the job.`,
		Example: `  stated checkpoint move-aside /var/lib/jobs/checkpoints/wordcount/chk-42`,
		Args:    exactArgs("PATH"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx, w := cmd.Context(), cmd.OutOrStdout()
			store, name, err := g.openAbove(ctx, args[0], 2)
			if err != nil {
				return err
			}
			defer store.Close()
			opts, err := g.storageOptions()
			if err != nil {
				return err
			}
			release, err := holdJobLease(ctx, store, path.Dir(strings.TrimSuffix(strings.TrimSuffix(name, "/"+snapshot.MetadataName), "/")), "checkpoint move-aside")
			if err != nil {
				return err
			}
			defer release()
			moved, err := snapshot.MoveCheckpointAside(ctx, store, name, snapshot.MoveAsideOptions{Force: force, OpenSavepoint: providers.SnapshotOpener(opts)})
			if errors.Is(err, snapshot.ErrInvalidName) {
				return usagef("checkpoint move-aside: %s: want a chk-<n> directory, its _metadata or a savepoint-<n>.pointer", args[0])
			}
			if errors.Is(err, snapshot.ErrCheckpointComplete) {
				return fmt.Errorf("%s is a valid restore point: --restore latest would restore an older one without it; add --force to move it aside all the same", locate(store, name))
			}
			if err != nil {
				return err
			}
			job := path.Dir(moved.From)
			res := moveAsideResult{Job: job, ID: moved.ID, From: locate(store, moved.From), To: locate(store, moved.Dir),
				Status: moved.Status().String(), Moved: moved.Moved.UTC(), Files: moved.Files}
			if moved.Err != nil && moved.Status() != snapshot.StatusIncomplete {
				res.Error = wholeError(store, moved.Err).Error()
			}
			latest, _, latestErr := snapshot.OpenLatestRestorePoint(ctx, store, job, providers.SnapshotOpener(opts))
			if latestErr == nil {
				res.Latest = locate(store, latest.Name)
				if latest.Kind == snapshot.KindSavepoint {
					res.Latest = latest.Pointer.Location
				}
				latest.Close()
			}
			if asJSON {
				return writeJSON(w, res)
			}
			fmt.Fprintf(w, "moved %s (%s, %d files) aside to %s\n", res.From, res.Status, res.Files, res.To)
			switch {
			case latestErr == nil:
				fmt.Fprintf(w, "--restore latest now restores %s\n", res.Latest)
			case errors.Is(latestErr, snapshot.ErrNoCheckpoint):
				fmt.Fprintf(w, "job %s has no restore point left: --restore latest starts from the beginning\n", job)
			default:
				fmt.Fprintf(w, "--restore latest: %v\n", wholeError(store, latestErr))
			}
			return nil
		}),
	}
	cmd.Flags().BoolVar(&force, "force", false, "move a complete checkpoint too")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	return cmd
}
