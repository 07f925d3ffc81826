package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stated-io/stated/snapshot"
)

// statusMovedAside is the status of a checkpoint moved aside with
// `stated checkpoint move-aside`; the others are snapshot.CheckpointStatus
// names.
const statusMovedAside = "moved-aside"

// checkpointRow is one line of `stated checkpoints list`.
type checkpointRow struct {
	Job string `json:"job"`
	ID  int64  `json:"id"`
	// Status is complete, incomplete (no _metadata: the process died or
	// the checkpoint was aborted before its commit; not an error),
	// corrupt, unsupported (a newer format) or moved-aside.
	Status string `json:"status"`
	// Error says why the _metadata cannot be read (corrupt, unsupported,
	// and moved-aside ones that are either).
	Error string `json:"error,omitempty"`
	// Path is the checkpoint's directory.
	Path      string     `json:"path"`
	Kind      string     `json:"kind,omitempty"`
	Completed *time.Time `json:"completed,omitempty"`
	// MovedAside is when a moved-aside checkpoint was moved.
	MovedAside *time.Time `json:"moved_aside,omitempty"`
	// FullBytes is what a restore reads: every file the checkpoint
	// references.
	FullBytes int64 `json:"full_bytes"`
	// IncrementalBytes is what the checkpoint added: the files it
	// references that the job's previous complete checkpoint did not.
	IncrementalBytes int64 `json:"incremental_bytes"`
	Files            int   `json:"files"`
}

func newListCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list DIR",
		Short: "List the checkpoints of every job under DIR, or of the job DIR is",
		Long: `List the checkpoints of every job under DIR (execution.checkpointing.dir)
or of the one job whose directory DIR is: id, status, completion time,
full size (what a restore reads), incremental size (what it added to the
job's previous complete checkpoint), file count and directory.

The status is complete; incomplete (no _metadata: the process died or the
checkpoint was aborted before its commit; not an error: 'stated checkpoint
gc' removes its files); corrupt or unsupported (a _metadata that cannot be
read, named below the table; 'stated checkpoint move-aside' moves one out
of the way of --restore latest); or moved-aside.

DIR must exist: nothing is created. Exit code 0 whatever the statuses.`,
		Example: `  stated checkpoints list /var/lib/jobs/checkpoints
  stated checkpoints list s3://bucket/checkpoints/wordcount --set s3.endpoint=http://127.0.0.1:9000 --json`,
		Args: exactArgs("DIR"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			rows, err := g.listCheckpoints(cmd.Context(), args[0])
			if err != nil {
				return err
			}
			return writeList(cmd.OutOrStdout(), asJSON, rows, "no checkpoints under "+args[0], printCheckpoints)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of checkpoints")
	return cmd
}

func printCheckpoints(w io.Writer, rows []checkpointRow) error {
	var cells [][]string
	var notes []string
	for _, r := range rows {
		full, incr, files := "-", "-", "-"
		if r.Kind != "" {
			full, incr, files = bytesText(r.FullBytes), bytesText(r.IncrementalBytes), fmt.Sprint(r.Files)
		}
		cells = append(cells, []string{r.Job, fmt.Sprint(r.ID), r.Status, timeText(r.Completed), full, incr, files, r.Path})
		if r.Error != "" {
			notes = append(notes, fmt.Sprintf("%s %d: %s", r.Job, r.ID, r.Error))
		}
	}
	return writeTable(w, []string{"JOB", "ID", "STATUS", "COMPLETED", "FULL", "INCREMENTAL", "FILES", "PATH"}, cells, notes)
}

// listCheckpoints lists the checkpoints of every job under dir, or of the
// job dir is.
func (g *globalFlags) listCheckpoints(ctx context.Context, dir string) ([]checkpointRow, error) {
	store, jobs, err := g.openJobs(ctx, dir)
	if err != nil {
		return nil, err
	}
	defer store.Close()
	var rows []checkpointRow
	for _, job := range jobs {
		r, err := jobRows(ctx, store, job)
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// jobRows lists the checkpoints of a job, then those moved aside.
func jobRows(ctx context.Context, store snapshot.Storage, job string) ([]checkpointRow, error) {
	infos, err := snapshot.ListCheckpoints(ctx, store, job)
	if err != nil {
		return nil, err
	}
	var rows []checkpointRow
	var previous map[string]int64
	for _, in := range infos {
		row := infoRow(store, job, in)
		if in.Metadata != nil {
			files := referencedFiles(in.Dir, in.Metadata)
			for p, size := range files {
				if _, ok := previous[p]; !ok {
					row.IncrementalBytes += size
				}
			}
			previous = files
		}
		rows = append(rows, row)
	}
	moved, err := snapshot.ListMovedAside(ctx, store, job)
	if err != nil {
		return nil, err
	}
	for _, m := range moved {
		row := infoRow(store, job, m.CheckpointInfo)
		row.Status, row.MovedAside, row.IncrementalBytes = statusMovedAside, utc(m.Moved), row.FullBytes
		rows = append(rows, row)
	}
	return rows, nil
}

// infoRow is the row of a checkpoint, its incremental size left to the
// caller.
func infoRow(store snapshot.Storage, job string, in snapshot.CheckpointInfo) checkpointRow {
	sum := summarize(store, in)
	return checkpointRow{Job: job, ID: in.ID, Status: in.Status().String(), Path: locate(store, in.Dir), Error: sum.err,
		Kind: sum.kind, Completed: sum.completed, FullBytes: sum.bytes, Files: sum.files}
}

// summary is what a listing shows of a checkpoint or savepoint.
type summary struct {
	kind      string
	completed *time.Time
	// bytes and files count the files it references.
	bytes int64
	files int
	// err says why its _metadata cannot be read; "" for a complete or an
	// incomplete one.
	err string
}

func summarize(store snapshot.Storage, in snapshot.CheckpointInfo) summary {
	var s summary
	switch md := in.Metadata; {
	case md != nil:
		s.kind, s.completed = md.Kind.String(), utc(md.Completed)
		files := referencedFiles(in.Dir, md)
		for _, size := range files {
			s.bytes += size
		}
		s.files = len(files)
	case in.Status() != snapshot.StatusIncomplete:
		s.err = wholeError(store, in.Err).Error()
	}
	return s
}
