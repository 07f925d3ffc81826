package lsm

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/stated-io/stated/backend"
)

// Options configures the LSM backend of one subtask. Zero values take the
// defaults documented on each field.
type Options[K comparable] struct {
	backend.KeyedOptions[K]
	// Dir is the local working directory; the backend keeps its database
	// and local checkpoints in a directory of its own below it and removes
	// that directory on Close. New removes the directories that killed
	// processes left there for the same operator subtask. Required.
	Dir string
	// CacheSize is the block cache size in bytes. Default 64 MiB.
	CacheSize int64
	// MemTableSize is the size of one memtable in bytes. The synchronous
	// phase of a snapshot flushes the memtable, so a smaller memtable keeps
	// that pause short. Default 8 MiB.
	MemTableSize int64
	// Incremental makes checkpoints upload only SST files that the last
	// confirmed checkpoint does not have and reference the others. Default
	// (nil) true; set it to false (execution.checkpointing.incremental:
	// false) to upload every file with every checkpoint.
	Incremental *bool
	// TransferConcurrency bounds parallel uploads and downloads. Default 4.
	TransferConcurrency int
}

// EnsureDefaults fills in the defaults of unset optional fields.
func (o *Options[K]) EnsureDefaults() {
	o.KeyedOptions.EnsureDefaults()
	if o.CacheSize == 0 {
		o.CacheSize = 64 << 20
	}
	if o.MemTableSize == 0 {
		o.MemTableSize = 8 << 20
	}
	if o.Incremental == nil {
		t := true
		o.Incremental = &t
	}
	if o.TransferConcurrency == 0 {
		o.TransferConcurrency = 4
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem of o at once.
func (o *Options[K]) Validate() error {
	var errs []error
	if err := o.KeyedOptions.Validate(); err != nil {
		errs = append(errs, err)
	}
	if o.Dir == "" {
		errs = append(errs, errors.New("missing Dir (the local working directory)"))
	}
	if o.CacheSize < 0 {
		errs = append(errs, fmt.Errorf("invalid CacheSize %d: negative", o.CacheSize))
	}
	if o.MemTableSize < 0 || o.MemTableSize > 4<<30 {
		errs = append(errs, fmt.Errorf("invalid MemTableSize %d: outside [1, 4 GiB]", o.MemTableSize))
	}
	if o.TransferConcurrency < 0 {
		errs = append(errs, fmt.Errorf("invalid TransferConcurrency %d: negative", o.TransferConcurrency))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("lsm options: %w", err)
	}
	return nil
}
