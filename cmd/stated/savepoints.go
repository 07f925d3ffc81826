package main

import (
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stated-io/stated/snapshot"
)

// savepointRow is one line of `stated savepoints list`.
type savepointRow struct {
	Job string `json:"job,omitempty"`
	// ID is the checkpoint id the savepoint took, 0 when its _metadata
	// cannot be read.
	ID int64 `json:"id"`
	// Status is complete, incomplete (no _metadata: its writing never
	// finished), corrupt or unsupported.
	Status    string     `json:"status"`
	Error     string     `json:"error,omitempty"`
	Path      string     `json:"path"`
	Kind      string     `json:"kind,omitempty"`
	Completed *time.Time `json:"completed,omitempty"`
	// Bytes is the size of the files it references: what a restore reads.
	Bytes int64 `json:"bytes"`
	Files int   `json:"files"`
}

func newSavepointsListCommand(g *globalFlags) *cobra.Command {
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "list DIR",
		Short: "List the savepoints in a savepoint directory",
		Long: `List the savepoints in DIR (execution.checkpointing.savepoint-dir): job,
checkpoint id, kind, completion time, size, file count, status and
directory. Every savepoint-* directory is listed, and every other one
with a _metadata; DIR may also be one savepoint's directory.

The status is complete, incomplete (no _metadata: the writing of the
savepoint never finished), corrupt or unsupported (named below the
table). DIR must exist: nothing is created.`,
		Example: `  stated savepoints list out/_savepoints --json`,
		Args:    exactArgs("DIR"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			store, err := g.openDir(ctx, args[0])
			if err != nil {
				return err
			}
			defer store.Close()
			infos, err := snapshot.ListSavepoints(ctx, store, "")
			if err != nil {
				return err
			}
			rows := []savepointRow{}
			for _, in := range infos {
				sum := summarize(store, in)
				row := savepointRow{ID: in.ID, Status: in.Status().String(), Path: locate(store, in.Dir), Error: sum.err,
					Kind: sum.kind, Completed: sum.completed, Bytes: sum.bytes, Files: sum.files}
				if in.Metadata != nil {
					row.Job = in.Metadata.JobID
				}
				rows = append(rows, row)
			}
			return writeList(cmd.OutOrStdout(), asJSON, rows, "no savepoints in "+args[0], printSavepoints)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print a JSON array of savepoints")
	return cmd
}

func printSavepoints(w io.Writer, rows []savepointRow) error {
	var cells [][]string
	var notes []string
	for _, r := range rows {
		job, id, kind, size, files := "-", "-", "-", "-", "-"
		if r.Kind != "" {
			job, id, kind, size, files = r.Job, fmt.Sprint(r.ID), r.Kind, bytesText(r.Bytes), fmt.Sprint(r.Files)
		}
		cells = append(cells, []string{job, id, kind, timeText(r.Completed), size, files, r.Status, r.Path})
		if r.Error != "" {
			notes = append(notes, fmt.Sprintf("%s: %s", r.Path, r.Error))
		}
	}
	return writeTable(w, []string{"JOB", "ID", "KIND", "COMPLETED", "SIZE", "FILES", "STATUS", "PATH"}, cells, notes)
}
