package backend

import (
	"fmt"

	"github.com/stated-io/stated/ttl"
)

// ttlPolicy is the TTL of one typed state: its config with defaults filled
// in and the clock of its backend.
type ttlPolicy struct {
	cfg   *ttl.Config
	clock ttl.Clock
}

// newTTLPolicy validates c (a state's descriptor TTL) and returns the
// policy of the state, or nil if c is nil.
func newTTLPolicy(name string, c *ttl.Config, clock ttl.Clock) (*ttlPolicy, error) {
	if c == nil {
		return nil, nil
	}
	if err := c.Validate(); err != nil {
		return nil, fmt.Errorf("state %q: %w", name, err)
	}
	cfg := *c
	cfg.EnsureDefaults()
	if clock == nil {
		clock = ttl.SystemClock{}
	}
	return &ttlPolicy{cfg: &cfg, clock: clock}, nil
}

func (p *ttlPolicy) now() int64 { return p.clock.Now() }

func (p *ttlPolicy) expired(ts, now int64) bool { return ttl.Expired(ts, p.cfg.TTL, now) }

// returnExpired: reads may return an expired unit once (it is removed).
func (p *ttlPolicy) returnExpired() bool {
	return p.cfg.Visibility == ttl.ReturnExpiredIfNotCleanedUp
}

// updateOnRead: reads re-stamp the live units they return.
func (p *ttlPolicy) updateOnRead() bool { return p.cfg.Update == ttl.OnReadAndWrite }

// stamp wraps v with the time now.
func stamp[V any](v V, now int64) ttl.Value[V] { return ttl.Value[V]{Timestamp: now, Value: v} }
