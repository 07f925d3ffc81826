package ttl

import (
	"sync/atomic"
	"time"
)

// Clock gives the processing time that TTL stamps and expires values by, in
// milliseconds since the Unix epoch. Implementations must be safe for
// concurrent use. Backends take a Clock so that tests can move time without
// sleeping.
type Clock interface {
	Now() int64
}

// SystemClock is the wall clock.
type SystemClock struct{}

// Now returns the current wall-clock time in milliseconds since the epoch.
func (SystemClock) Now() int64 { return time.Now().UnixMilli() }

// ClockFunc adapts a function to a Clock.
type ClockFunc func() int64

// Now returns f().
func (f ClockFunc) Now() int64 { return f() }

// ManualClock is a Clock that moves only when told to, for tests. Its zero
// value reads 0 (the epoch). It is safe for concurrent use.
type ManualClock struct {
	ms atomic.Int64
}

// NewManualClock returns a ManualClock reading ms.
func NewManualClock(ms int64) *ManualClock {
	c := &ManualClock{}
	c.ms.Store(ms)
	return c
}

// Now returns the time last set.
func (c *ManualClock) Now() int64 { return c.ms.Load() }

// Set sets the time to ms. It may move the clock backwards.
func (c *ManualClock) Set(ms int64) { c.ms.Store(ms) }

// Advance moves the clock by d (whole milliseconds; a fraction is dropped)
// and returns the new time. A negative d moves it backwards.
func (c *ManualClock) Advance(d time.Duration) int64 { return c.ms.Add(d.Milliseconds()) }

// clockOrSystem returns c, or SystemClock if c is nil.
func clockOrSystem(c Clock) Clock {
	if c == nil {
		return SystemClock{}
	}
	return c
}
