package ttl

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// ErrInvalidConfig is wrapped by the error of Config.Validate.
var ErrInvalidConfig = errors.New("invalid ttl config")

// Defaults that EnsureDefaults fills in.
const (
	// DefaultIncrementalEntries is how many entries incremental cleanup
	// checks per state access (Flink's default).
	DefaultIncrementalEntries = 5
	// DefaultBackgroundRateLimit is how many entries a background sweep
	// reads per second at most.
	DefaultBackgroundRateLimit = 100_000
	// DefaultBackgroundInterval is the time between the starts of two
	// background sweeps.
	DefaultBackgroundInterval = time.Minute
	// MinTTL is the smallest TTL: timestamps count milliseconds.
	MinTTL = time.Millisecond
)

// UpdateType says which accesses refresh the timestamp of a value.
type UpdateType uint8

const (
	// OnCreateAndWrite (the default) stamps a value when it is created or
	// written (update, add, put, reduce, aggregate); reads leave the
	// timestamp alone.
	OnCreateAndWrite UpdateType = iota
	// OnReadAndWrite also stamps a live value when a read returns it, so
	// that state in use does not expire.
	OnReadAndWrite
)

func (u UpdateType) String() string {
	switch u {
	case OnCreateAndWrite:
		return "OnCreateAndWrite"
	case OnReadAndWrite:
		return "OnReadAndWrite"
	}
	return "UpdateType(" + strconv.Itoa(int(u)) + ")"
}

// Visibility says whether reads may return an expired value.
type Visibility uint8

const (
	// NeverReturnExpired (the default): reads, key enumeration and iteration
	// never show an expired value, whether or not it was cleaned up.
	NeverReturnExpired Visibility = iota
	// ReturnExpiredIfNotCleanedUp: a read may return an expired value that
	// no cleanup removed yet. The read removes it: the next read does not
	// see it.
	ReturnExpiredIfNotCleanedUp
)

func (v Visibility) String() string {
	switch v {
	case NeverReturnExpired:
		return "NeverReturnExpired"
	case ReturnExpiredIfNotCleanedUp:
		return "ReturnExpiredIfNotCleanedUp"
	}
	return "Visibility(" + strconv.Itoa(int(v)) + ")"
}

// Config is the TTL of one state. A nil *Config means the state has no TTL.
// The zero value of every field but TTL is its default; EnsureDefaults
// makes those defaults explicit.
//
// The config is not written into snapshots: a restore may change it freely
// (a shorter TTL expires restored values sooner; timestamps are absolute, so
// time spent stopped counts). Turning TTL on or off across a restore is a
// change of serializer (Serializer, PlainSerializer), which migrates.
type Config struct {
	// TTL is how long a value lives after its last stamp; at least MinTTL.
	// It is counted in whole milliseconds (a fraction is dropped).
	TTL time.Duration
	// Update says which accesses stamp a value; default OnCreateAndWrite.
	Update UpdateType
	// Visibility says whether reads may return expired values; default
	// NeverReturnExpired.
	Visibility Visibility
	// Cleanup says how expired values are removed besides on read.
	Cleanup Cleanup
}

// Cleanup selects how expired values leave storage. Reads always remove the
// expired values they meet, whatever this says.
type Cleanup struct {
	// KeepExpiredInFullSnapshots turns the full-snapshot filter off. By
	// default (false) expired entries are left out of full snapshots and of
	// savepoints, so that a restore does not bring them back; incremental
	// checkpoints share files as they are and are not filtered.
	KeepExpiredInFullSnapshots bool
	// Incremental is the heap backend's cleanup on state access.
	Incremental IncrementalCleanup
	// Background is the LSM backend's background sweep.
	Background BackgroundCleanup
}

// FiltersFullSnapshots reports whether expired entries are left out of full
// snapshots and savepoints (the default).
func (c Cleanup) FiltersFullSnapshots() bool { return !c.KeepExpiredInFullSnapshots }

// IncrementalCleanup checks a few entries of a state for expiry each time
// the state is accessed and removes the expired ones (heap backend). On by
// default, as in Flink.
type IncrementalCleanup struct {
	// Disabled turns incremental cleanup off.
	Disabled bool
	// Entries is how many entries are checked per state access; default
	// DefaultIncrementalEntries.
	Entries int
	// PerRecord also runs a cleanup step for every record processed (every
	// change of the backend's current key), not only on accesses of the
	// state. Default false.
	PerRecord bool
}

// BackgroundCleanup sweeps expired entries out of storage in the background
// (LSM backend). The sweep reads only the blocks whose recorded expiry
// times say they hold expired entries. On by default, as Flink's RocksDB
// compaction filter.
type BackgroundCleanup struct {
	// Disabled turns the background sweep off.
	Disabled bool
	// RateLimit is how many entries a sweep reads per second at most;
	// default DefaultBackgroundRateLimit.
	RateLimit int
	// Interval is the time between the starts of two sweeps; default
	// DefaultBackgroundInterval.
	Interval time.Duration
}

// EnsureDefaults fills in the defaults of the enabled cleanup strategies
// whose settings are zero. It does nothing on a nil *Config.
func (c *Config) EnsureDefaults() {
	if c == nil {
		return
	}
	if inc := &c.Cleanup.Incremental; !inc.Disabled && inc.Entries == 0 {
		inc.Entries = DefaultIncrementalEntries
	}
	if bg := &c.Cleanup.Background; !bg.Disabled {
		if bg.RateLimit == 0 {
			bg.RateLimit = DefaultBackgroundRateLimit
		}
		if bg.Interval == 0 {
			bg.Interval = DefaultBackgroundInterval
		}
	}
}

// Validate reports every problem of c at once, in an error that wraps
// ErrInvalidConfig; nil if c is valid. A nil *Config (no TTL) is valid.
// Zero settings stand for their defaults and are valid; settings of a
// disabled cleanup strategy are reported, as they would be ignored.
func (c *Config) Validate() error {
	if c == nil {
		return nil
	}
	var problems []string
	add := func(format string, args ...any) { problems = append(problems, fmt.Sprintf(format, args...)) }
	if c.TTL < MinTTL {
		add("ttl %v is below %v", c.TTL, MinTTL)
	}
	if c.Update > OnReadAndWrite {
		add("unknown update type %v", c.Update)
	}
	if c.Visibility > ReturnExpiredIfNotCleanedUp {
		add("unknown visibility %v", c.Visibility)
	}
	inc := c.Cleanup.Incremental
	if inc.Entries < 0 {
		add("incremental cleanup entries %d is negative", inc.Entries)
	}
	if inc.Disabled && (inc.Entries != 0 || inc.PerRecord) {
		add("incremental cleanup is configured but disabled")
	}
	bg := c.Cleanup.Background
	if bg.RateLimit < 0 {
		add("background cleanup rate limit %d is negative", bg.RateLimit)
	}
	if bg.Interval < 0 || (bg.Interval > 0 && bg.Interval < time.Millisecond) {
		add("background cleanup interval %v is not 0 (default) or at least 1ms", bg.Interval)
	}
	if bg.Disabled && (bg.RateLimit != 0 || bg.Interval != 0) {
		add("background cleanup is configured but disabled")
	}
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", ErrInvalidConfig, strings.Join(problems, "; "))
}

// Expired reports whether a value stamped at ts (milliseconds since the
// epoch) has expired at now under c: ts + c.TTL <= now. Nothing expires
// under a nil *Config (no TTL).
func (c *Config) Expired(ts, now int64) bool { return c != nil && Expired(ts, c.TTL, now) }
