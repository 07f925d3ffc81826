package snapshot

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path"
	"sort"
	"strconv"
	"strings"
)

// MetadataName is the name of the metadata file inside a checkpoint or
// savepoint directory. Its presence (and validity) is what makes the
// checkpoint exist.
const MetadataName = "_metadata"

const (
	sharedDirName    = "shared"
	taskOwnedDirName = "taskowned"
	checkpointPrefix = "chk-"
)

// CheckpointDir returns the storage name of the directory of checkpoint id
// of a job: "<job>/chk-<id>".
func CheckpointDir(jobID string, id int64) string {
	return jobID + "/" + checkpointPrefix + strconv.FormatInt(id, 10)
}

// SharedDir returns "<job>/shared", where files shared by several
// checkpoints live.
func SharedDir(jobID string) string { return jobID + "/" + sharedDirName }

// TaskOwnedDir returns "<job>/taskowned", whose files the system never
// deletes.
func TaskOwnedDir(jobID string) string { return jobID + "/" + taskOwnedDirName }

// CommitMetadata encodes md and writes it as dir/_metadata with
// NoOverwrite: the commit point of a checkpoint, called after every data
// file is committed. An already committed checkpoint gives an error
// wrapping ErrExist and is left intact; invalid metadata is refused before
// anything is written.
func CommitMetadata(ctx context.Context, store Storage, dir string, md *Metadata) error {
	b, err := EncodeMetadata(md)
	if err != nil {
		return err
	}
	if err := createNoOverwrite(ctx, store, path.Join(dir, MetadataName), b); err != nil {
		return fmt.Errorf("commit metadata: %w", err)
	}
	return nil
}

// createNoOverwrite writes b as the new file name with NoOverwrite.
func createNoOverwrite(ctx context.Context, store Storage, name string, b []byte) error {
	w, err := store.Create(ctx, name, CreateOptions{NoOverwrite: true})
	if err != nil {
		return err
	}
	if _, err := w.Write(b); err != nil {
		w.Abort()
		return err
	}
	_, err = w.Commit()
	return err
}

// HoldsMetadata reports whether dir/_metadata holds exactly the encoding
// of md: after a CommitMetadata of md that failed with an error other than
// ErrExist (a timeout, a failed fsync of the directory), whether it was
// published after all and so is the caller's own. A missing _metadata is
// false, not an error.
func HoldsMetadata(ctx context.Context, store Storage, dir string, md *Metadata) (bool, error) {
	want, err := EncodeMetadata(md)
	if err != nil {
		return false, err
	}
	got, err := readAll(ctx, store, path.Join(dir, MetadataName))
	if errors.Is(err, ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return bytes.Equal(got, want), nil
}

// ReadMetadata reads and decodes dir/_metadata. A missing file gives an
// error wrapping ErrNotExist; a damaged one a *CorruptError naming the
// file.
func ReadMetadata(ctx context.Context, store Storage, dir string) (*Metadata, error) {
	name := path.Join(dir, MetadataName)
	b, err := readAll(ctx, store, name)
	if err != nil {
		return nil, fmt.Errorf("read metadata: %w", err)
	}
	return DecodeMetadata(name, b)
}

// CheckpointInfo describes one chk-<n> directory of a job.
type CheckpointInfo struct {
	ID  int64
	Dir string
	// Metadata is the decoded _metadata, nil if Err is set.
	Metadata *Metadata
	// Err says why the checkpoint is not valid: it wraps ErrNotExist
	// (no _metadata), ErrCorrupt or ErrUnsupported.
	Err error
}

// CheckpointStatus says whether a chk-<n> directory holds a checkpoint.
type CheckpointStatus uint8

const (
	// StatusComplete: _metadata is present and valid.
	StatusComplete CheckpointStatus = iota
	// StatusIncomplete: no _metadata. The process died (or the checkpoint
	// was aborted) before the commit; this is not an error, the directory
	// is left for the orphan sweeper.
	StatusIncomplete
	// StatusCorrupt: _metadata exists but cannot be read (truncated,
	// flipped bits, another checkpoint's id). A human must look.
	StatusCorrupt
	// StatusUnsupported: _metadata is of a format version this build does
	// not read.
	StatusUnsupported
)

func (s CheckpointStatus) String() string {
	switch s {
	case StatusComplete:
		return "complete"
	case StatusIncomplete:
		return "incomplete"
	case StatusCorrupt:
		return "corrupt"
	case StatusUnsupported:
		return "unsupported"
	}
	return fmt.Sprintf("CheckpointStatus(%d)", uint8(s))
}

// Status classifies the checkpoint by its Err.
func (c *CheckpointInfo) Status() CheckpointStatus { return statusOf(c.Err) }

// statusOf classifies a restore point by the error that makes it unusable.
func statusOf(err error) CheckpointStatus {
	switch {
	case err == nil:
		return StatusComplete
	case errors.Is(err, ErrCorrupt):
		return StatusCorrupt
	case errors.Is(err, ErrUnsupported):
		return StatusUnsupported
	}
	return StatusIncomplete
}

// ListCheckpoints lists the chk-<n> directories of a job in increasing id
// order, each with its metadata or the error that makes it invalid. Only
// storage failures and cancellation fail the whole call.
func ListCheckpoints(ctx context.Context, store Storage, jobID string) ([]CheckpointInfo, error) {
	ids, err := checkpointIDs(ctx, store, jobID)
	if err != nil {
		return nil, err
	}
	out := make([]CheckpointInfo, 0, len(ids))
	for _, id := range ids {
		info, err := readCheckpoint(ctx, store, jobID, id)
		if err != nil {
			return nil, err
		}
		out = append(out, info)
	}
	return out, nil
}

// LatestCheckpoint returns the directory and metadata of the checkpoint of
// jobID with the highest id that has a _metadata; directories without one
// (the process died before the commit) are skipped. A newest _metadata
// that exists but cannot be read (corrupt, or of a newer format version)
// stops the search with an error wrapping ErrCorrupt or ErrUnsupported
// rather than silently falling back to an older checkpoint.
// ErrNoCheckpoint if none is found. Stop savepoints are not considered:
// OpenLatestRestorePoint finds the job's newest restore point.
func LatestCheckpoint(ctx context.Context, store Storage, jobID string) (string, *Metadata, error) {
	ids, err := checkpointIDs(ctx, store, jobID)
	if err != nil {
		return "", nil, err
	}
	for i := len(ids) - 1; i >= 0; i-- {
		info, err := readCheckpoint(ctx, store, jobID, ids[i])
		if err != nil {
			return "", nil, err
		}
		switch info.Status() {
		case StatusComplete:
			return info.Dir, info.Metadata, nil
		case StatusCorrupt, StatusUnsupported:
			return "", nil, fmt.Errorf("latest checkpoint: %w", info.Err)
		}
	}
	return "", nil, fmt.Errorf("job %q: %w", jobID, ErrNoCheckpoint)
}

// checkpointIDs lists the ids of the chk-<n> directories of a job,
// ascending. Names that are not canonical decimal ids are ignored.
func checkpointIDs(ctx context.Context, store Storage, jobID string) ([]int64, error) {
	names, err := store.List(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("list checkpoints of %q: %w", jobID, err)
	}
	var ids []int64
	for _, n := range names {
		if id, ok := checkpointDirID(n); ok {
			ids = append(ids, id)
		}
	}
	sort.Slice(ids, func(i, j int) bool { return ids[i] < ids[j] })
	return ids, nil
}

// checkpointDirID parses an entry "chk-<n>/" of a job directory listing.
func checkpointDirID(entry string) (int64, bool) {
	d, ok := strings.CutSuffix(entry, "/")
	if !ok {
		return 0, false
	}
	num, ok := strings.CutPrefix(d, checkpointPrefix)
	if !ok {
		return 0, false
	}
	return canonicalID(num)
}

// canonicalID parses a checkpoint id in canonical decimal: no sign, no
// leading zeros.
func canonicalID(num string) (int64, bool) {
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != num {
		return 0, false
	}
	return id, true
}

// readCheckpoint reads one checkpoint's metadata. The returned error is
// only for failures that should stop a listing (cancellation, I/O); a
// missing, corrupt or unsupported _metadata goes into info.Err.
func readCheckpoint(ctx context.Context, store Storage, jobID string, id int64) (CheckpointInfo, error) {
	dir := CheckpointDir(jobID, id)
	info := CheckpointInfo{ID: id, Dir: dir}
	md, err := ReadMetadata(ctx, store, dir)
	switch {
	case err == nil:
		if md.CheckpointID != id {
			info.Err = corrupt(path.Join(dir, MetadataName), -1, fmt.Sprintf("holds checkpoint id %d, not %d", md.CheckpointID, id), nil)
			return info, nil
		}
		info.Metadata = md
	case errors.Is(err, ErrNotExist), errors.Is(err, ErrCorrupt), errors.Is(err, ErrUnsupported):
		info.Err = err
	default:
		return info, err
	}
	return info, nil
}

// ResolveRestorePath turns a restore path (execution.state-recovery.path)
// into the directory that holds the _metadata and the decoded metadata. It
// accepts the storage name of a chk-<n> directory, of a savepoint
// directory, or of a _metadata file, with or without a trailing slash.
// Errors are those of ReadMetadata. (Turning a URL or an absolute path into
// a Storage and a name is the caller's job: see providers.Open.)
func ResolveRestorePath(ctx context.Context, store Storage, p string) (string, *Metadata, error) {
	dir := path.Clean(strings.TrimSuffix(p, "/"))
	if path.Base(dir) == MetadataName {
		dir = path.Dir(dir)
	}
	md, err := ReadMetadata(ctx, store, dir)
	if err != nil {
		return "", nil, err
	}
	return dir, md, nil
}
