package snapshot

import (
	"errors"
	"fmt"
)

// Sentinel errors of this package. Test for them with errors.Is: the errors
// returned by this package wrap them with context (and, for corruption, in a
// *CorruptError that names the file and the offset).
var (
	// ErrCorrupt: stored data failed a check (bad magic, bad CRC, size
	// mismatch, truncation, undecodable or structurally invalid content).
	ErrCorrupt = errors.New("snapshot: corrupt data")
	// ErrNotExist: a file or a checkpoint is missing.
	ErrNotExist = errors.New("snapshot: does not exist")
	// ErrExist: a no-overwrite create found the file already there.
	ErrExist = errors.New("snapshot: already exists")
	// ErrNoCheckpoint: no complete checkpoint was found.
	ErrNoCheckpoint = errors.New("snapshot: no complete checkpoint")
	// ErrUnsupported: an unknown format version, compression or URL scheme.
	ErrUnsupported = errors.New("snapshot: unsupported")
	// ErrInvalidName: a storage name or a FileRef path is malformed
	// (absolute, unclean, escaping its root, or using the reserved
	// temporary-file prefix).
	ErrInvalidName = errors.New("snapshot: invalid name")
	// ErrClosed: the Storage was closed.
	ErrClosed = errors.New("snapshot: storage closed")
)

// CorruptError reports data that failed a check. errors.Is(err, ErrCorrupt)
// holds for every *CorruptError; Unwrap returns Err, the underlying cause
// (which may be nil).
type CorruptError struct {
	// Path names the file as resolved by the reader (a storage name).
	Path string
	// Offset is the byte offset in the file where the problem was found,
	// or -1 if unknown.
	Offset int64
	// Reason says what check failed.
	Reason string
	// Err is the underlying cause, if any.
	Err error
}

func (e *CorruptError) Error() string {
	msg := "corrupt " + e.Path
	if e.Offset >= 0 {
		msg += fmt.Sprintf(" at offset %d", e.Offset)
	}
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Is reports whether target is ErrCorrupt.
func (e *CorruptError) Is(target error) bool { return target == ErrCorrupt }

// Unwrap returns the underlying cause.
func (e *CorruptError) Unwrap() error { return e.Err }

// corrupt builds a *CorruptError.
func corrupt(path string, off int64, reason string, err error) *CorruptError {
	return &CorruptError{Path: path, Offset: off, Reason: reason, Err: err}
}
