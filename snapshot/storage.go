package snapshot

import (
	"context"
	"errors"
	"io"
	"path"
	"strings"
	"time"
)

// TempPrefix starts the base names of the files a store is writing. Such
// names are reserved: stores never list them, and CheckName refuses them,
// so no caller can create or open one.
const TempPrefix = ".tmp-"

// Storage is a flat namespace of immutable files addressed by clean,
// slash-separated relative names ("job/chk-3/_metadata"). A "directory" is
// only a name prefix ending in "/". Implementations are safe for concurrent
// use.
//
// Errors: a missing file gives an error wrapping ErrNotExist; a name that is
// absolute, escapes the root or uses the reserved ".tmp-" prefix gives one
// wrapping ErrInvalidName; any call after Close gives one wrapping
// ErrClosed.
type Storage interface {
	// Create starts a new file; nothing is visible at name until Commit.
	Create(ctx context.Context, name string, opts CreateOptions) (FileWriter, error)
	// Open reads a whole file.
	Open(ctx context.Context, name string) (io.ReadCloser, error)
	// OpenRange reads length bytes from offset off (length < 0: to the
	// end). A range past the end of the file gives a short read ending in
	// io.EOF, not an error; callers that need the bytes use io.ReadFull.
	OpenRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error)
	// Size returns the size of a file.
	Size(ctx context.Context, name string) (int64, error)
	// List returns the direct children of dir ("" is the root): files by
	// base name and directories by base name with a trailing "/", sorted.
	// A missing dir lists as empty. Files being written are not listed.
	List(ctx context.Context, dir string) ([]string, error)
	// Delete removes a file; a missing file is not an error.
	Delete(ctx context.Context, name string) error
	// Close releases the storage; it is idempotent.
	Close() error
}

// CreateOptions tune Storage.Create.
type CreateOptions struct {
	// NoOverwrite makes Commit fail with ErrExist if name already exists;
	// the existing file is left intact. The check and the publish are one
	// atomic step. A store may accept the commit when the existing file
	// has the same size and CRC32C as the new one, since that is how a
	// retried request whose first try succeeded looks (the S3 provider does).
	NoOverwrite bool
}

// FileWriter writes one new file. It computes the size and CRC32C of what
// is written. It is not safe for concurrent use. The buffers passed to Write
// are not retained.
type FileWriter interface {
	io.Writer
	// Commit makes the file durable and publishes it atomically at its
	// name; afterwards readers see either nothing or the whole file. On
	// error nothing is published (with NoOverwrite and an existing file,
	// the error wraps ErrExist).
	Commit() (Written, error)
	// Abort discards the file. It is safe after Commit (a no-op) and when
	// called twice.
	Abort() error
}

// Written describes a committed file.
type Written struct {
	Size   int64
	CRC32C uint32
}

// FileInfo describes an entry of a listing.
type FileInfo struct {
	// Name is the base name; directories end in "/".
	Name string
	// Size of a file in bytes; 0 for a directory.
	Size int64
	// ModTime is when the file was committed (the zero time for a
	// directory).
	ModTime time.Time
}

// InfoLister is the optional capability of storages that list with sizes
// and modification times, which the garbage collection of orphan files
// needs to honour its grace period.
type InfoLister interface {
	// ListInfo is List with a FileInfo per entry, in the same order.
	ListInfo(ctx context.Context, dir string) ([]FileInfo, error)
}

// BatchDeleter is the optional capability of storages that delete many
// files in few requests.
type BatchDeleter interface {
	// DeleteAll removes the named files; missing files are not errors. It
	// tries every name and reports every failure, naming the files.
	DeleteAll(ctx context.Context, names []string) error
}

// DeleteAll removes names from store, in batches where the store can.
func DeleteAll(ctx context.Context, store Storage, names []string) error {
	if bd, ok := store.(BatchDeleter); ok {
		return bd.DeleteAll(ctx, names)
	}
	var errs []error
	for _, n := range names {
		if err := store.Delete(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ListFiles returns the storage names of every file under dir of store,
// recursively, in listing order.
func ListFiles(ctx context.Context, store Storage, dir string) ([]string, error) {
	entries, err := store.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, e := range entries {
		p := path.Join(dir, e)
		if strings.HasSuffix(e, "/") {
			sub, err := ListFiles(ctx, store, p)
			if err != nil {
				return nil, err
			}
			out = append(out, sub...)
			continue
		}
		out = append(out, p)
	}
	return out, nil
}
