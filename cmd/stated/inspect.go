package main

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/spf13/cobra"

	"github.com/stated-io/stated/snapshot"
)

func newInspectCommand(g *globalFlags) *cobra.Command {
	var asJSON, verify bool
	cmd := &cobra.Command{
		Use:   "inspect PATH",
		Short: "Show what a checkpoint or savepoint holds; --verify reads every file",
		Long: `Show what a checkpoint or savepoint holds: its job, id and completion time,
and per operator its parallelism and maxParallelism, and per subtask the
key groups, states, compression and files of its handles.

PATH is a chk-<n> directory, its _metadata, or a savepoint directory.
With --verify every file the checkpoint references is read and its size
and CRC32C checked; every missing, truncated or corrupt file is named.

Exit code 1 when the _metadata cannot be read or --verify finds a bad
file.`,
		Example: `  stated checkpoint inspect /var/lib/jobs/checkpoints/wordcount/chk-42 --verify
  stated checkpoint inspect s3://bucket/savepoints/savepoint-a1b2c3-0123456789ab --json --set s3.endpoint=http://127.0.0.1:9000`,
		Args: exactArgs("PATH"),
		RunE: action(func(cmd *cobra.Command, args []string) error {
			return g.inspect(cmd.Context(), cmd.OutOrStdout(), args[0], asJSON, verify)
		}),
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print JSON")
	cmd.Flags().BoolVar(&verify, "verify", false, "read every file and check its size and CRC32C")
	return cmd
}

func (g *globalFlags) inspect(ctx context.Context, w io.Writer, location string, asJSON, verify bool) error {
	store, name, err := g.openAbove(ctx, location, 2)
	if err != nil {
		return err
	}
	defer store.Close()
	dir, md, err := snapshot.ResolveRestorePath(ctx, store, name)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", location, wholeError(store, err))
	}
	var bad []error
	if verify {
		for _, e := range snapshot.Verify(ctx, store, dir, md) {
			bad = append(bad, wholeError(store, e))
		}
	}
	files := len(referencedFiles(dir, md))
	if asJSON {
		out := newInspection(store, dir, md)
		if verify {
			out.Verify = &verification{Passed: len(bad) == 0, Files: files, Bad: []badFile{}}
			for _, e := range bad {
				out.Verify.Bad = append(out.Verify.Bad, badFile{Error: e.Error()})
			}
		}
		if err := writeJSON(w, out); err != nil {
			return err
		}
	} else {
		printInspection(w, store, dir, md)
		if verify {
			if len(bad) == 0 {
				fmt.Fprintf(w, "verify: all %d files intact\n", files)
			}
			for _, e := range bad {
				fmt.Fprintf(w, "verify: BAD %v\n", e)
			}
		}
	}
	if len(bad) > 0 {
		return errFound
	}
	return nil
}

func printInspection(w io.Writer, store snapshot.Storage, dir string, md *snapshot.Metadata) {
	fmt.Fprintf(w, "%s %d of job %s at %s\n", md.Kind, md.CheckpointID, md.JobID, locate(store, dir))
	fmt.Fprintf(w, "completed %s\n", md.Completed.UTC().Format(time.RFC3339Nano))
	for _, op := range md.Operators {
		fmt.Fprintf(w, "operator %s: parallelism %d, maxParallelism %d\n", op.UID, op.Parallelism, op.MaxParallelism)
		for i, st := range op.Subtasks {
			fmt.Fprintf(w, "  subtask %d\n", i)
			for _, h := range st.Keyed {
				fmt.Fprintf(w, "    keyed %s: key groups [%d, %d], compression %s", h.Format, h.KeyGroupStart, h.KeyGroupEnd, h.Compression)
				if h.BackendID != "" {
					fmt.Fprintf(w, ", backend %s", h.BackendID)
				}
				fmt.Fprintln(w)
				for _, s := range h.States {
					fmt.Fprintf(w, "      state %s (%s)\n", s.Name, s.Kind)
				}
				for _, f := range h.Files {
					printFile(w, store, dir, f)
				}
			}
			for _, h := range st.Operator {
				fmt.Fprintf(w, "    operator state, compression %s\n", h.Compression)
				for _, s := range h.States {
					fmt.Fprintf(w, "      state %s (%s, %d elements)\n", s.Name, s.Mode, s.Elements)
				}
				printFile(w, store, dir, h.File)
			}
		}
	}
}

func printFile(w io.Writer, store snapshot.Storage, dir string, f snapshot.FileRef) {
	fmt.Fprintf(w, "      file %s  %s  %d bytes  crc32c %08x\n", filePath(store, dir, f), scopeName(f.Scope), f.Size, f.CRC32C)
}

// filePath is the whole location of the file f of the checkpoint in dir;
// a path that leaves the storage is shown as recorded.
func filePath(store snapshot.Storage, dir string, f snapshot.FileRef) string {
	name, err := snapshot.ResolvePath(dir, f.Path)
	if err != nil {
		return f.Path
	}
	return locate(store, name)
}

func scopeName(s snapshot.Scope) string {
	switch s {
	case snapshot.ScopeShared:
		return "shared"
	case snapshot.ScopeTaskOwned:
		return "taskowned"
	}
	return "exclusive"
}
