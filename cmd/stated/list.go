package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/stated-io/stated/snapshot"
)

// checkpointRow is one line of `stated checkpoints list`.
type checkpointRow struct {
	Job       string     `json:"job"`
	ID        int64      `json:"id"`
	Valid     bool       `json:"valid"`
	Error     string     `json:"error,omitempty"`
	Kind      string     `json:"kind,omitempty"`
	Completed *time.Time `json:"completed,omitempty"`
	// FullBytes is what a restore reads: every file the checkpoint
	// references.
	FullBytes int64 `json:"full_bytes"`
	// IncrementalBytes is what the checkpoint added: the files it
	// references that the job's previous valid checkpoint did not.
	IncrementalBytes int64 `json:"incremental_bytes"`
	Files            int   `json:"files"`
}

func listCommand(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("checkpoints list")
	asJSON := f.fs.Bool("json", false, "print JSON")
	pos, err := f.parse(args, "DIR")
	if err != nil {
		return err
	}
	opts, err := f.storageOptions()
	if err != nil {
		return err
	}
	rows, err := listCheckpoints(ctx, pos[0], opts)
	if err != nil {
		return err
	}
	if *asJSON {
		if rows == nil {
			rows = []checkpointRow{}
		}
		enc := json.NewEncoder(stdout)
		enc.SetIndent("", "  ")
		return enc.Encode(rows)
	}
	if len(rows) == 0 {
		fmt.Fprintf(stdout, "no checkpoints under %s\n", pos[0])
		return nil
	}
	tw := tabwriter.NewWriter(stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "JOB\tID\tCOMPLETED\tFULL\tINCREMENTAL\tFILES\tSTATUS")
	for _, r := range rows {
		status, completed := "ok", "-"
		if !r.Valid {
			status = "invalid: " + r.Error
		}
		if r.Completed != nil {
			completed = r.Completed.UTC().Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%s\t%d\t%s\t%s\t%s\t%d\t%s\n", r.Job, r.ID, completed, bytesString(r.FullBytes), bytesString(r.IncrementalBytes), r.Files, status)
	}
	return tw.Flush()
}

// listCheckpoints lists the checkpoints of every job under dir, or of the
// job dir is.
func listCheckpoints(ctx context.Context, dir string, opts snapshot.StorageOptions) ([]checkpointRow, error) {
	store, jobs, err := openJobs(ctx, dir, opts)
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

// jobsIn returns the directories of store's root that hold chk-<n>
// directories.
func jobsIn(ctx context.Context, store snapshot.Storage) ([]string, error) {
	names, err := store.List(ctx, "")
	if err != nil {
		return nil, err
	}
	var jobs []string
	for _, n := range names {
		job, ok := strings.CutSuffix(n, "/")
		if !ok {
			continue
		}
		infos, err := snapshot.ListCheckpoints(ctx, store, job)
		if err != nil {
			return nil, err
		}
		if len(infos) > 0 {
			jobs = append(jobs, job)
		}
	}
	return jobs, nil
}

func jobRows(ctx context.Context, store snapshot.Storage, job string) ([]checkpointRow, error) {
	infos, err := snapshot.ListCheckpoints(ctx, store, job)
	if err != nil {
		return nil, err
	}
	var rows []checkpointRow
	var previous map[string]bool
	for _, in := range infos {
		row := checkpointRow{Job: job, ID: in.ID}
		if in.Err != nil {
			row.Error = in.Err.Error()
			rows = append(rows, row)
			continue
		}
		md := in.Metadata
		completed := md.Completed
		row.Valid, row.Kind, row.Completed = true, md.Kind.String(), &completed
		files := referencedFiles(in.Dir, md)
		for p, size := range files {
			row.FullBytes += size
			if !previous[p] {
				row.IncrementalBytes += size
			}
		}
		row.Files = len(files)
		previous = map[string]bool{}
		for p := range files {
			previous[p] = true
		}
		rows = append(rows, row)
	}
	return rows, nil
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

// isCheckpointDir reports whether a listed name is a chk-<n> directory.
func isCheckpointDir(name string) bool {
	return strings.HasPrefix(name, "chk-") && strings.HasSuffix(name, "/")
}

func bytesString(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.1f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}
