package snapshot

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// A job's restore points are its complete checkpoints and the savepoints
// it took when it stopped (stop-with-savepoint), as in Flink, where a stop
// savepoint enters the completed-checkpoint store. A stop savepoint lives
// in the savepoint directory, owned by the user; the job registers it in
// its checkpoint directory with a pointer file, savepoint-<id>.pointer,
// whose id is the checkpoint id the savepoint took from the job's id
// sequence. `latest` is the restore point with the highest id.

const (
	pointerMagic   = "STSP"
	pointerVersion = 1
	// pointerFixed is the size of the fields before the location.
	pointerFixed   = 26
	pointerTrailer = 4
	// MaxPointerLocation bounds the location a savepoint pointer holds.
	MaxPointerLocation = 4096

	pointerPrefix = "savepoint-"
	pointerSuffix = ".pointer"
)

// SavepointPointer registers a stop savepoint in its job's checkpoint
// directory. Its encoding is FORMAT.md section 6.
type SavepointPointer struct {
	// CheckpointID is the id the savepoint took from the job's checkpoint
	// id sequence: its _metadata's CheckpointID. ≥ 0.
	CheckpointID int64
	// Completed is when the savepoint completed (millisecond precision).
	Completed time.Time
	// Location is the savepoint's directory as an absolute path or a URL
	// (s3://bucket/prefix/savepoint-...): what an Opener opens.
	// Non-empty, valid UTF-8, at most MaxPointerLocation bytes.
	Location string
}

// SavepointPointerName returns the storage name of the pointer of the stop
// savepoint id of a job: "<job>/savepoint-<id>.pointer".
func SavepointPointerName(jobID string, id int64) string {
	return jobID + "/" + pointerPrefix + strconv.FormatInt(id, 10) + pointerSuffix
}

// EncodeSavepointPointer encodes p; an invalid pointer is refused.
func EncodeSavepointPointer(p SavepointPointer) ([]byte, error) {
	if err := p.validate(); err != nil {
		return nil, fmt.Errorf("encode savepoint pointer: %w", err)
	}
	b := make([]byte, 0, pointerFixed+len(p.Location)+pointerTrailer)
	b = append(b, pointerMagic...)
	b = append(b, pointerVersion, 0, 0, 0)
	b = binary.BigEndian.AppendUint64(b, uint64(p.CheckpointID))
	b = binary.BigEndian.AppendUint64(b, uint64(p.Completed.UnixMilli()))
	b = binary.BigEndian.AppendUint16(b, uint16(len(p.Location)))
	b = append(b, p.Location...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli)), nil
}

func (p SavepointPointer) validate() error {
	switch {
	case p.CheckpointID < 0:
		return fmt.Errorf("negative checkpoint id %d", p.CheckpointID)
	case p.Location == "" || len(p.Location) > MaxPointerLocation || !utf8.ValidString(p.Location):
		return fmt.Errorf("location of %d bytes: want 1 to %d bytes of UTF-8", len(p.Location), MaxPointerLocation)
	}
	return nil
}

// DecodeSavepointPointer decodes a pointer file read from name. A damaged
// file gives a *CorruptError naming name; a newer version an error
// wrapping ErrUnsupported.
func DecodeSavepointPointer(name string, b []byte) (SavepointPointer, error) {
	n := min(len(b), len(pointerMagic))
	if string(b[:n]) != pointerMagic[:n] {
		return SavepointPointer{}, corrupt(name, 0, "bad magic, not a savepoint pointer", nil)
	}
	if len(b) < pointerFixed+pointerTrailer {
		return SavepointPointer{}, corrupt(name, int64(len(b)), fmt.Sprintf("truncated: %d bytes, want at least %d", len(b), pointerFixed+pointerTrailer), nil)
	}
	locLen := int(binary.BigEndian.Uint16(b[24:26]))
	if want := pointerFixed + locLen + pointerTrailer; len(b) != want {
		return SavepointPointer{}, corrupt(name, int64(min(len(b), want)), fmt.Sprintf("%d bytes, but its location length says %d", len(b), want), nil)
	}
	crcOff := pointerFixed + locLen
	if got, stored := crc32.Checksum(b[:crcOff], castagnoli), binary.BigEndian.Uint32(b[crcOff:]); got != stored {
		return SavepointPointer{}, corrupt(name, int64(crcOff), fmt.Sprintf("crc32c mismatch: computed %08x, stored %08x", got, stored), nil)
	}
	switch v := b[4]; {
	case v == 0:
		return SavepointPointer{}, corrupt(name, 4, "format version 0", nil)
	case v > pointerVersion:
		return SavepointPointer{}, fmt.Errorf("%s: savepoint pointer version %d (this build reads up to %d): %w", name, v, pointerVersion, ErrUnsupported)
	}
	if b[5] != 0 || b[6] != 0 || b[7] != 0 {
		return SavepointPointer{}, corrupt(name, 5, "reserved bytes are not zero", nil)
	}
	p := SavepointPointer{
		CheckpointID: int64(binary.BigEndian.Uint64(b[8:16])),
		Completed:    time.UnixMilli(int64(binary.BigEndian.Uint64(b[16:24]))).UTC(),
		Location:     string(b[pointerFixed:crcOff]),
	}
	if err := p.validate(); err != nil {
		return SavepointPointer{}, corrupt(name, 8, "invalid pointer", err)
	}
	return p, nil
}

// RegisterStopSavepoint writes the pointer p of a stop savepoint of jobID
// into the job's checkpoint storage, with NoOverwrite (an existing pointer
// of that id gives an error wrapping ErrExist and is left intact). The
// savepoint's _metadata must be committed first, and the pointer before
// anything acts on the savepoint having completed (a sink commit), so that
// `latest` never restores an older point than the output holds.
func RegisterStopSavepoint(ctx context.Context, store Storage, jobID string, p SavepointPointer) error {
	b, err := EncodeSavepointPointer(p)
	if err != nil {
		return err
	}
	if err := createNoOverwrite(ctx, store, SavepointPointerName(jobID, p.CheckpointID), b); err != nil {
		return fmt.Errorf("register stop savepoint: %w", err)
	}
	return nil
}

// RestorePoint is one restore point of a job as ListRestorePoints finds it
// in the job's checkpoint storage.
type RestorePoint struct {
	ID int64
	// Kind is KindCheckpoint for a chk-<n> directory and KindSavepoint for
	// a registered stop savepoint.
	Kind Kind
	// Name is the storage name of the chk-<n> directory or of the
	// savepoint's pointer file.
	Name string
	// Metadata is a checkpoint's decoded _metadata; nil for savepoints
	// (their _metadata is in another storage: see OpenLatestRestorePoint)
	// and when Err is set.
	Metadata *Metadata
	// Pointer is a savepoint's decoded pointer.
	Pointer SavepointPointer
	// Err says why the point cannot be used: it wraps ErrNotExist (a
	// checkpoint without _metadata: incomplete), ErrCorrupt or
	// ErrUnsupported.
	Err error
}

// Status classifies the point by its Err.
func (p *RestorePoint) Status() CheckpointStatus { return statusOf(p.Err) }

// File is the storage name of the file that makes the point exist: a
// checkpoint's _metadata or a savepoint's pointer.
func (p *RestorePoint) File() string {
	if p.Kind == KindSavepoint {
		return p.Name
	}
	return path.Join(p.Name, MetadataName)
}

// ListRestorePoints lists the restore points of a job in its checkpoint
// storage, ascending by id (a checkpoint before a savepoint of the same
// id): every chk-<n> directory with its metadata, and every registered
// stop savepoint with its pointer, each with the error that makes it
// unusable. The savepoints themselves are not read. Other names in the job
// directory (shared/, taskowned/, _lease) are ignored. Only storage
// failures and cancellation fail the call.
func ListRestorePoints(ctx context.Context, store Storage, jobID string) ([]RestorePoint, error) {
	names, err := store.List(ctx, jobID)
	if err != nil {
		return nil, fmt.Errorf("list restore points of %q: %w", jobID, err)
	}
	var out []RestorePoint
	for _, n := range names {
		if id, ok := checkpointDirID(n); ok {
			info, err := readCheckpoint(ctx, store, jobID, id)
			if err != nil {
				return nil, err
			}
			out = append(out, RestorePoint{ID: id, Kind: KindCheckpoint, Name: info.Dir, Metadata: info.Metadata, Err: info.Err})
			continue
		}
		num, ok := strings.CutPrefix(n, pointerPrefix)
		if !ok {
			continue
		}
		if num, ok = strings.CutSuffix(num, pointerSuffix); !ok {
			continue
		}
		id, ok := canonicalID(num)
		if !ok {
			continue
		}
		p, err := readPointer(ctx, store, jobID, id)
		if err != nil {
			return nil, err
		}
		out = append(out, p)
	}
	slices.SortFunc(out, func(a, b RestorePoint) int {
		if c := compareInt(a.ID, b.ID); c != 0 {
			return c
		}
		return compareInt(int64(a.Kind), int64(b.Kind))
	})
	return out, nil
}

func compareInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// readPointer reads the pointer of savepoint id. As readCheckpoint, the
// error is for failures that stop a listing; a damaged pointer goes into
// the point's Err.
func readPointer(ctx context.Context, store Storage, jobID string, id int64) (RestorePoint, error) {
	name := SavepointPointerName(jobID, id)
	p := RestorePoint{ID: id, Kind: KindSavepoint, Name: name}
	b, err := readAll(ctx, store, name)
	if err != nil {
		if errors.Is(err, ErrNotExist) {
			p.Err = err // deleted since the listing
			return p, nil
		}
		return p, err
	}
	ptr, err := DecodeSavepointPointer(name, b)
	switch {
	case err == nil && ptr.CheckpointID != id:
		p.Err = corrupt(name, 8, fmt.Sprintf("holds savepoint id %d, not %d", ptr.CheckpointID, id), nil)
	case err == nil:
		p.Pointer = ptr
	default:
		p.Err = err
	}
	return p, nil
}

func readAll(ctx context.Context, store Storage, name string) ([]byte, error) {
	rc, err := store.Open(ctx, name)
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", name, err)
	}
	return b, nil
}

// Opener opens the storage that holds the checkpoint or savepoint at
// location, a path or URL of its directory or of its _metadata, and
// returns it with the storage name of that directory in it; the caller
// closes the storage. The storage is rooted two directories above the
// checkpoint or savepoint, so that references into its job's shared
// directory ("../shared/...") resolve, and nothing is created. An error
// wrapping ErrInvalidName means location names no such directory, one
// wrapping ErrNotExist that it does not exist. This package opens no
// storage itself: providers.SnapshotOpener returns the Opener of the
// locations stated supports.
type Opener func(ctx context.Context, location string) (Storage, string, error)

// OpenedRestorePoint is a restore point ready to restore from.
type OpenedRestorePoint struct {
	RestorePoint
	// Store holds the point's files: the job's checkpoint storage for a
	// checkpoint, a storage opened on the savepoint's location for a
	// savepoint (Owned: the caller closes it).
	Store Storage
	Owned bool
	// Dir is the storage name in Store of the directory of the _metadata.
	Dir string
	// Metadata is the point's decoded _metadata.
	Metadata *Metadata
}

// Close closes Store if the point owns it.
func (p *OpenedRestorePoint) Close() error {
	if p.Owned {
		return p.Store.Close()
	}
	return nil
}

// UnreadableRestorePointError is the error of OpenLatestRestorePoint when
// the newest restore point of a job exists but cannot be read: restoring
// an older one instead would duplicate the output committed after it, so
// the choice is left to the user. errors.Is finds the cause (ErrCorrupt,
// ErrUnsupported, or ErrNotExist for a registered savepoint that is gone).
type UnreadableRestorePointError struct {
	// Point is the newest restore point.
	Point RestorePoint
	// File names what cannot be read: a storage name of the job's
	// checkpoint storage (a checkpoint's _metadata, a savepoint's pointer),
	// or the location of a registered savepoint's _metadata.
	File string
	// Older is the next older restore point that is complete (for a
	// savepoint: its _metadata was read and checked), nil if none.
	Older *RestorePoint
	Err   error
}

func (e *UnreadableRestorePointError) Error() string {
	return fmt.Sprintf("the newest restore point %s cannot be read: %v", e.File, e.Err)
}

func (e *UnreadableRestorePointError) Unwrap() error { return e.Err }

// OpenLatestRestorePoint opens the newest restore point of jobID: the
// highest id among its complete checkpoints and registered stop
// savepoints (whose _metadata it reads through open, checking that it is
// the savepoint of that job and id). Checkpoints without _metadata (the
// process died before the commit) are skipped and returned, newest first,
// in incomplete. When the newest other point exists but cannot be read,
// it fails with an *UnreadableRestorePointError naming the next older
// complete point; it never falls back by itself. ErrNoCheckpoint when the
// job has no restore point. The caller closes the opened point.
func OpenLatestRestorePoint(ctx context.Context, store Storage, jobID string, open Opener) (opened *OpenedRestorePoint, incomplete []RestorePoint, err error) {
	points, err := ListRestorePoints(ctx, store, jobID)
	if err != nil {
		return nil, nil, err
	}
	var broken *UnreadableRestorePointError
	for i := len(points) - 1; i >= 0; i-- {
		p := points[i]
		if p.Kind == KindCheckpoint && errors.Is(p.Err, ErrNotExist) && !errors.Is(p.Err, ErrCorrupt) {
			if broken == nil {
				incomplete = append(incomplete, p)
			}
			continue
		}
		o, file, err := openPoint(ctx, store, jobID, p, open)
		if err != nil && file == "" {
			return nil, incomplete, err // a storage failure: not the point's fault
		}
		switch {
		case err == nil && broken == nil:
			return o, incomplete, nil
		case err == nil:
			o.Close()
			broken.Older = &o.RestorePoint
			return nil, incomplete, broken
		case broken == nil:
			broken = &UnreadableRestorePointError{Point: p, File: file, Err: err}
		}
	}
	if broken != nil {
		return nil, incomplete, broken
	}
	return nil, incomplete, fmt.Errorf("job %q: %w", jobID, ErrNoCheckpoint)
}

// openPoint opens p. When p cannot be read, file names what and err says
// why; file is "" when err is a failure of the storage instead.
func openPoint(ctx context.Context, store Storage, jobID string, p RestorePoint, open Opener) (*OpenedRestorePoint, string, error) {
	if p.Err != nil {
		return nil, p.File(), p.Err
	}
	if p.Kind == KindCheckpoint {
		return &OpenedRestorePoint{RestorePoint: p, Store: store, Dir: p.Name, Metadata: p.Metadata}, "", nil
	}
	loc := p.Pointer.Location
	file := strings.TrimSuffix(loc, "/") + "/" + MetadataName
	if open == nil {
		return nil, "", fmt.Errorf("open registered savepoint %s: no Opener for the locations of savepoints", loc)
	}
	sp, name, err := open(ctx, loc)
	if err != nil {
		if errors.Is(err, ErrInvalidName) {
			return nil, p.File(), corrupt(p.File(), pointerFixed, "names no savepoint directory", err)
		}
		return nil, "", fmt.Errorf("open registered savepoint %s: %w", loc, err)
	}
	dir, md, err := ResolveRestorePath(ctx, sp, name)
	if err == nil && (md.Kind != KindSavepoint || md.JobID != jobID || md.CheckpointID != p.ID) {
		err = corrupt(file, -1, fmt.Sprintf("holds %s %d of job %q; %s registers savepoint %d of job %q", md.Kind, md.CheckpointID, md.JobID, p.Name, p.ID, jobID), nil)
	}
	if err != nil {
		sp.Close()
		if errors.Is(err, ErrNotExist) || errors.Is(err, ErrCorrupt) || errors.Is(err, ErrUnsupported) {
			return nil, file, err
		}
		return nil, "", fmt.Errorf("open registered savepoint %s: %w", loc, err)
	}
	return &OpenedRestorePoint{RestorePoint: p, Store: sp, Owned: true, Dir: dir, Metadata: md}, "", nil
}
