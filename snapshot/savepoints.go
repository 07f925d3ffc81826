package snapshot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
)

// savepointPrefix starts the names of the savepoint directories the engine
// writes into execution.checkpointing.savepoint-dir.
const savepointPrefix = "savepoint-"

// ListSavepoints lists the savepoints in the savepoint directory dir of
// store ("" is its root): every child directory named savepoint-* and
// every other child directory that holds a _metadata (a savepoint that was
// renamed). If dir holds a _metadata itself, it is the one savepoint
// listed. Each CheckpointInfo has Dir, and Metadata or Err as for
// ListCheckpoints (Status tells a savepoint whose writing never finished,
// one without _metadata, from a corrupt one); ID is the id in the
// _metadata, 0 when it cannot be read. Valid ones come first, by job and
// completion time, then the others by name. Only storage failures and
// cancellation fail the call.
func ListSavepoints(ctx context.Context, store Storage, dir string) ([]CheckpointInfo, error) {
	names, err := store.List(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("list savepoints in %q: %w", dir, err)
	}
	if slices.Contains(names, MetadataName) {
		info, err := readSnapshotDir(ctx, store, dir)
		if err != nil {
			return nil, err
		}
		return []CheckpointInfo{info}, nil
	}
	var out []CheckpointInfo
	for _, n := range names {
		base, ok := strings.CutSuffix(n, "/")
		if !ok {
			continue
		}
		info, err := readSnapshotDir(ctx, store, path.Join(dir, base))
		if err != nil {
			return nil, err
		}
		if strings.HasPrefix(base, savepointPrefix) || info.Status() != StatusIncomplete {
			out = append(out, info)
		}
	}
	slices.SortFunc(out, func(a, b CheckpointInfo) int {
		switch {
		case a.Metadata != nil && b.Metadata != nil:
			return cmp.Or(strings.Compare(a.Metadata.JobID, b.Metadata.JobID), a.Metadata.Completed.Compare(b.Metadata.Completed), strings.Compare(a.Dir, b.Dir))
		case a.Metadata != nil:
			return -1
		case b.Metadata != nil:
			return 1
		}
		return strings.Compare(a.Dir, b.Dir)
	})
	return out, nil
}

// readSnapshotDir reads the _metadata of the checkpoint or savepoint
// directory dir. The returned error is only for failures that should stop
// a listing (cancellation, I/O); a missing, corrupt or unsupported
// _metadata goes into info.Err.
func readSnapshotDir(ctx context.Context, store Storage, dir string) (CheckpointInfo, error) {
	info := CheckpointInfo{Dir: dir}
	md, err := ReadMetadata(ctx, store, dir)
	switch {
	case err == nil:
		info.ID, info.Metadata = md.CheckpointID, md
	case errors.Is(err, ErrNotExist), errors.Is(err, ErrCorrupt), errors.Is(err, ErrUnsupported):
		info.Err = err
	default:
		return info, err
	}
	return info, nil
}
