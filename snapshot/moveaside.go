package snapshot

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
)

// movedAsidePrefix starts the name of the directory a checkpoint is moved
// aside to: "<job>/moved-aside-chk-<n>-<UTC time>". It sits beside the
// job's chk-<n> directories, so that the checkpoint's references into
// ../shared/ still resolve, and it is no chk-<n> directory: discovery
// (LatestCheckpoint, ListCheckpoints), the registry and the orphan
// sweeper ignore it.
const movedAsidePrefix = "moved-aside-" + checkpointPrefix

// movedAsideTimeLayout is the time in a moved-aside directory's name.
const movedAsideTimeLayout = "20060102T150405Z"

// ErrCheckpointComplete is returned by MoveCheckpointAside for a
// checkpoint whose _metadata is valid, unless MoveAsideOptions.Force: it is
// a restore point, and `latest` would restore an older one (or none)
// without it.
var ErrCheckpointComplete = errors.New("snapshot: the checkpoint is complete")

// MoveAsideOptions tune MoveCheckpointAside.
type MoveAsideOptions struct {
	// Force moves a complete checkpoint too. Default false: a complete
	// checkpoint is refused with ErrCheckpointComplete.
	Force bool
	// Now stamps the new directory's name. Default time.Now.
	Now func() time.Time
	// OpenSavepoint opens the savepoint a registered stop savepoint's
	// pointer names, to judge whether it is a valid restore point
	// (providers.SnapshotOpener makes one). Required to move a pointer
	// aside; nil refuses it.
	OpenSavepoint Opener
}

// MovedAside describes a checkpoint moved aside.
type MovedAside struct {
	// CheckpointInfo describes the checkpoint: ID is its id, Dir the
	// storage name of the directory it is in now, and Metadata or Err what
	// its _metadata holds (Status tells complete, incomplete, corrupt or
	// unsupported).
	CheckpointInfo
	// From is the chk-<n> directory it was moved from.
	From string
	// Moved is when it was moved, to the second.
	Moved time.Time
	// Files is how many files were moved (MoveCheckpointAside only).
	Files int
}

// DirRenamer is the optional capability of storages that move a whole
// directory in one atomic step.
type DirRenamer interface {
	// RenameDir gives every file under dir the same name under newDir, at
	// once. newDir must not exist (an error wrapping ErrExist); a missing
	// dir gives an error wrapping ErrNotExist.
	RenameDir(ctx context.Context, dir, newDir string) error
}

// MoveCheckpointAside moves the checkpoint directory dir ("<job>/chk-<n>")
// out of the way, to "<job>/moved-aside-chk-<n>-<UTC time>", so that
// `--restore latest` goes on with the newest checkpoint that remains. It is
// the way out of a newest checkpoint that is corrupt or of a newer format:
// a restore refuses such a one rather than silently falling back to an
// older one. The moved directory keeps every file, _metadata included,
// for a human to look at or to restore by its path; it is no restore
// point any more, and nothing of the system deletes it.
//
// A complete checkpoint (valid _metadata) is refused with an error
// wrapping ErrCheckpointComplete unless opts.Force; incomplete ones (no
// _metadata), corrupt and unsupported ones are moved. A storage that is a
// DirRenamer (the file provider's) renames the directory in one step. Any
// other copies every file, _metadata last, checks that the copy holds the
// bytes read (size and CRC32C), and only then deletes the originals,
// _metadata first: nothing is deleted that was not copied. A failure before the
// deletions leaves the checkpoint where it was (and maybe a partial copy
// beside it); one during them leaves a chk-<n> directory without
// _metadata, which the orphan sweeper removes.
//
// The shared files the checkpoint references stay in shared/ and are
// protected only while a checkpoint there references them: once a corrupt
// checkpoint is moved aside, the registry and the sweeper no longer hold
// back the shared files it may reference. Move a checkpoint aside while
// its job is stopped.
//
// dir may also name the pointer of a registered stop savepoint
// ("<job>/savepoint-<n>.pointer", FORMAT.md section 6) whose pointer or
// savepoint cannot be read: the pointer is then moved to
// "<job>/moved-aside-savepoint-<n>-<UTC time>.pointer" (copied, checked,
// then deleted), and the savepoint itself, which belongs to the user, is
// left where it is.
func MoveCheckpointAside(ctx context.Context, store Storage, dir string, opts MoveAsideOptions) (MovedAside, error) {
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if job, id, ok := parsePointerName(dir); ok {
		return movePointerAside(ctx, store, job, id, opts)
	}
	job, id, err := parseCheckpointDir(dir)
	if err != nil {
		return MovedAside{}, fmt.Errorf("move checkpoint aside: %w", err)
	}
	info, err := readCheckpoint(ctx, store, job, id)
	if err != nil {
		return MovedAside{}, fmt.Errorf("move checkpoint %s aside: %w", dir, err)
	}
	files, err := ListFiles(ctx, store, info.Dir)
	if err != nil {
		return MovedAside{}, fmt.Errorf("move checkpoint %s aside: %w", dir, err)
	}
	if len(files) == 0 {
		return MovedAside{}, fmt.Errorf("move checkpoint %s aside: no such checkpoint directory: %w", dir, ErrNotExist)
	}
	if info.Err == nil && !opts.Force {
		return MovedAside{}, fmt.Errorf("move checkpoint %s aside: it is a valid restore point (force it to move it all the same): %w", dir, ErrCheckpointComplete)
	}
	moved := opts.Now().UTC().Truncate(time.Second)
	to := path.Join(job, movedAsidePrefix+strconv.FormatInt(id, 10)+"-"+moved.Format(movedAsideTimeLayout))
	out := MovedAside{CheckpointInfo: info, From: info.Dir, Moved: moved, Files: len(files)}
	out.Dir = to
	if r, ok := store.(DirRenamer); ok {
		if err := r.RenameDir(ctx, info.Dir, to); err != nil {
			return MovedAside{}, fmt.Errorf("move checkpoint %s aside: %w", dir, err)
		}
		return out, nil
	}
	if err := copyThenDelete(ctx, store, info.Dir, to, files); err != nil {
		return MovedAside{}, fmt.Errorf("move checkpoint %s aside: %w", dir, err)
	}
	return out, nil
}

// movedAsidePointerPrefix starts the name a stop savepoint's pointer is
// moved aside to: "<job>/moved-aside-savepoint-<n>-<UTC time>.pointer",
// which discovery does not take for a pointer.
const movedAsidePointerPrefix = "moved-aside-" + pointerPrefix

// movePointerAside moves the pointer of registered stop savepoint id of job
// aside unless it is a valid restore point (or opts.Force).
func movePointerAside(ctx context.Context, store Storage, job string, id int64, opts MoveAsideOptions) (MovedAside, error) {
	name := SavepointPointerName(job, id)
	p, err := readPointer(ctx, store, job, id)
	if err != nil {
		return MovedAside{}, fmt.Errorf("move savepoint pointer %s aside: %w", name, err)
	}
	if errors.Is(p.Err, ErrNotExist) && !errors.Is(p.Err, ErrCorrupt) {
		return MovedAside{}, fmt.Errorf("move savepoint pointer %s aside: %w", name, p.Err)
	}
	info := CheckpointInfo{ID: id, Dir: name, Err: p.Err}
	if p.Err == nil {
		o, file, err := openPoint(ctx, store, job, p, opts.OpenSavepoint)
		switch {
		case err == nil:
			info.Metadata = o.Metadata
			o.Close()
		case file == "":
			return MovedAside{}, fmt.Errorf("move savepoint pointer %s aside: %w", name, err)
		default:
			info.Err = err
		}
	}
	if info.Err == nil && !opts.Force {
		return MovedAside{}, fmt.Errorf("move savepoint pointer %s aside: it registers a valid restore point (force it to move it all the same): %w", name, ErrCheckpointComplete)
	}
	moved := opts.Now().UTC().Truncate(time.Second)
	to := path.Join(job, movedAsidePointerPrefix+strconv.FormatInt(id, 10)+"-"+moved.Format(movedAsideTimeLayout)+pointerSuffix)
	if err := copyFile(ctx, store, name, to); err != nil {
		return MovedAside{}, fmt.Errorf("move savepoint pointer %s aside: %w", name, err)
	}
	if err := store.Delete(ctx, name); err != nil {
		return MovedAside{}, fmt.Errorf("move savepoint pointer %s aside: copied to %s, but: %w", name, to, err)
	}
	out := MovedAside{CheckpointInfo: info, From: name, Moved: moved, Files: 1}
	out.Dir = to
	return out, nil
}

// parsePointerName parses "<job>/savepoint-<n>.pointer".
func parsePointerName(name string) (string, int64, bool) {
	job, base := path.Split(name)
	job = strings.TrimSuffix(job, "/")
	num, ok := strings.CutPrefix(base, pointerPrefix)
	if !ok || job == "" || CheckName(name) != nil {
		return "", 0, false
	}
	if num, ok = strings.CutSuffix(num, pointerSuffix); !ok {
		return "", 0, false
	}
	id, ok := canonicalID(num)
	return job, id, ok
}

// copyThenDelete copies files (storage names under from) to the same names
// under to, _metadata last, and then deletes them, _metadata first.
func copyThenDelete(ctx context.Context, store Storage, from, to string, files []string) error {
	meta := path.Join(from, MetadataName)
	var rest []string
	hasMeta := false
	for _, f := range files {
		if f == meta {
			hasMeta = true
		} else {
			rest = append(rest, f)
		}
	}
	order := rest
	if hasMeta {
		order = append(append([]string(nil), rest...), meta)
	}
	for _, f := range order {
		if err := copyFile(ctx, store, f, path.Join(to, strings.TrimPrefix(f, from+"/"))); err != nil {
			return err
		}
	}
	if hasMeta {
		if err := store.Delete(ctx, meta); err != nil {
			return fmt.Errorf("copied to %s, but: %w", to, err)
		}
	}
	if err := DeleteAll(ctx, store, rest); err != nil {
		return fmt.Errorf("copied to %s, but: %w", to, err)
	}
	return nil
}

// copyFile copies the file from to the new file to and checks that what
// was stored is what was read.
func copyFile(ctx context.Context, store Storage, from, to string) error {
	rc, err := store.Open(ctx, from)
	if err != nil {
		return fmt.Errorf("copy: %w", err)
	}
	defer rc.Close()
	w, err := store.Create(ctx, to, CreateOptions{NoOverwrite: true})
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	crc := crc32.New(castagnoli)
	n, err := io.Copy(w, io.TeeReader(rc, crc))
	if err != nil {
		w.Abort()
		return fmt.Errorf("copy %s: %w", from, err)
	}
	wr, err := w.Commit()
	if err != nil {
		return fmt.Errorf("copy %s: %w", from, err)
	}
	if wr.Size != n || wr.CRC32C != crc.Sum32() {
		return corrupt(to, -1, fmt.Sprintf("the copy of %s holds %d bytes with crc32c %08x, read %d bytes with crc32c %08x", from, wr.Size, wr.CRC32C, n, crc.Sum32()), nil)
	}
	return nil
}

// ListMovedAside lists the checkpoints of a job that were moved aside,
// ordered by id and then by when they were moved, each with what its
// _metadata holds now (Err wraps ErrNotExist, ErrCorrupt or
// ErrUnsupported when it is not valid). Only storage failures and
// cancellation fail the call.
func ListMovedAside(ctx context.Context, store Storage, jobID string) ([]MovedAside, error) {
	names, err := store.List(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("list checkpoints moved aside of %q: %w", jobID, err)
	}
	var out []MovedAside
	for _, n := range names {
		id, moved, ok := parseMovedAside(n)
		if !ok {
			continue
		}
		dir := path.Join(jobID, strings.TrimSuffix(n, "/"))
		info, err := readSnapshotDir(ctx, store, dir)
		if err != nil {
			return nil, err
		}
		if info.Err == nil && info.Metadata.CheckpointID != id {
			info.Metadata, info.Err = nil, corrupt(path.Join(dir, MetadataName), -1, fmt.Sprintf("holds checkpoint id %d, not %d", info.Metadata.CheckpointID, id), nil)
		}
		info.ID = id
		out = append(out, MovedAside{CheckpointInfo: info, From: CheckpointDir(jobID, id), Moved: moved})
	}
	slices.SortFunc(out, func(a, b MovedAside) int {
		return cmp.Or(cmp.Compare(a.ID, b.ID), a.Moved.Compare(b.Moved))
	})
	return out, nil
}

// parseMovedAside parses a listed name "moved-aside-chk-<n>-<time>/".
func parseMovedAside(name string) (int64, time.Time, bool) {
	rest, ok := strings.CutPrefix(name, movedAsidePrefix)
	if !ok {
		return 0, time.Time{}, false
	}
	rest, ok = strings.CutSuffix(rest, "/")
	if !ok {
		return 0, time.Time{}, false
	}
	num, stamp, ok := strings.Cut(rest, "-")
	if !ok {
		return 0, time.Time{}, false
	}
	id, err := strconv.ParseInt(num, 10, 64)
	if err != nil || id < 0 || strconv.FormatInt(id, 10) != num {
		return 0, time.Time{}, false
	}
	moved, err := time.Parse(movedAsideTimeLayout, stamp)
	if err != nil {
		return 0, time.Time{}, false
	}
	return id, moved, true
}

// parseCheckpointDir splits the storage name "<job>/chk-<n>".
func parseCheckpointDir(dir string) (string, int64, error) {
	dir = strings.TrimSuffix(dir, "/")
	job, base := path.Split(dir)
	job = strings.TrimSuffix(job, "/")
	num, ok := strings.CutPrefix(base, checkpointPrefix)
	id, err := strconv.ParseInt(num, 10, 64)
	if !ok || job == "" || err != nil || id < 0 || strconv.FormatInt(id, 10) != num || CheckName(dir) != nil {
		return "", 0, fmt.Errorf("%q is not a checkpoint directory <job>/chk-<n>: %w", dir, ErrInvalidName)
	}
	return job, id, nil
}
