package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/stated-io/stated/snapshot"
)

func inspectCommand(ctx context.Context, args []string, stdout io.Writer) error {
	f := newFlags("checkpoint inspect")
	asJSON := f.fs.Bool("json", false, "print JSON")
	verify := f.fs.Bool("verify", false, "read every file and check its size and CRC32C")
	pos, err := f.parse(args, "PATH")
	if err != nil {
		return err
	}
	opts, err := f.storageOptions()
	if err != nil {
		return err
	}
	store, name, err := openSnapshotPath(ctx, pos[0], opts)
	if err != nil {
		return err
	}
	defer store.Close()
	dir, md, err := snapshot.ResolveRestorePath(ctx, store, name)
	if err != nil {
		return fmt.Errorf("inspect %s: %w", pos[0], err)
	}
	var bad []error
	if *verify {
		bad = snapshot.Verify(ctx, store, dir, md)
	}
	if *asJSON {
		if err := printJSON(stdout, pos[0], md, *verify, bad); err != nil {
			return err
		}
	} else {
		printText(stdout, pos[0], md)
		if *verify {
			if len(bad) == 0 {
				fmt.Fprintf(stdout, "verify: all %d files intact\n", len(referencedFiles(dir, md)))
			}
			for _, e := range bad {
				fmt.Fprintf(stdout, "verify: BAD %v\n", e)
			}
		}
	}
	if len(bad) > 0 {
		return errFound
	}
	return nil
}

func printText(w io.Writer, location string, md *snapshot.Metadata) {
	fmt.Fprintf(w, "%s %d of job %s at %s\n", md.Kind, md.CheckpointID, md.JobID, location)
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
					printFile(w, f)
				}
			}
			for _, h := range st.Operator {
				fmt.Fprintf(w, "    operator state, compression %s\n", h.Compression)
				for _, s := range h.States {
					fmt.Fprintf(w, "      state %s (%s, %d elements)\n", s.Name, s.Mode, s.Elements)
				}
				printFile(w, h.File)
			}
		}
	}
}

func printFile(w io.Writer, f snapshot.FileRef) {
	fmt.Fprintf(w, "      file %s  %s  %d bytes  crc32c %08x\n", f.Path, scopeName(f.Scope), f.Size, f.CRC32C)
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

// inspection is the JSON form of `stated checkpoint inspect`: the metadata
// as decoded, and the result of --verify.
type inspection struct {
	Location string             `json:"location"`
	Metadata *snapshot.Metadata `json:"metadata"`
	Verified bool               `json:"verified"`
	Bad      []string           `json:"bad,omitempty"`
}

func printJSON(w io.Writer, location string, md *snapshot.Metadata, verified bool, bad []error) error {
	out := inspection{Location: location, Metadata: md, Verified: verified}
	for _, e := range bad {
		out.Bad = append(out.Bad, e.Error())
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(out)
}
