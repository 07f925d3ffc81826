package incremental

import (
	"errors"
	"fmt"
	"log/slog"
	"time"
)

// DefaultGracePeriod is the default Options.GracePeriod.
const DefaultGracePeriod = 10 * time.Minute

// Options configures a Registry. Zero values take the defaults documented
// on each field.
type Options struct {
	// NumRetained is how many of its own completed checkpoints a run keeps
	// (execution.checkpointing.num-retained). Default 1; at least 1, so
	// the newest completed checkpoint is never deleted.
	NumRetained int
	// GracePeriod is how old an orphan file must be before SweepOrphans
	// deletes it. It must exceed the longest checkpoint duration: a shared
	// file uploaded by a checkpoint in flight is referenced by no
	// _metadata until that checkpoint completes, and only its age (or its
	// report through CheckpointUploaded) protects it. Default
	// DefaultGracePeriod.
	GracePeriod time.Duration
	// Now is the clock the grace period is measured with; it must be
	// comparable with the modification times the storage reports. Default
	// time.Now.
	Now func() time.Time
	// Logger receives the registry's logs. Default: discard.
	Logger *slog.Logger

	// faultDeleteReferenced is a test hook (a deliberate bug): SweepOrphans
	// also deletes one shared file that a valid checkpoint references. The
	// model test sets it to prove that it detects such a bug.
	faultDeleteReferenced bool
}

// EnsureDefaults fills in the defaults of unset optional fields.
func (o *Options) EnsureDefaults() {
	if o.NumRetained == 0 {
		o.NumRetained = 1
	}
	if o.GracePeriod == 0 {
		o.GracePeriod = DefaultGracePeriod
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem of o at once. Call it after
// EnsureDefaults (Open does both).
func (o *Options) Validate() error {
	var errs []error
	if o.NumRetained < 1 {
		errs = append(errs, fmt.Errorf("invalid NumRetained %d: below 1", o.NumRetained))
	}
	if o.GracePeriod < 0 {
		errs = append(errs, fmt.Errorf("invalid GracePeriod %v: negative", o.GracePeriod))
	}
	if o.Now == nil {
		errs = append(errs, errors.New("missing Now"))
	}
	if o.Logger == nil {
		errs = append(errs, errors.New("missing Logger"))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("incremental options: %w", err)
	}
	return nil
}
