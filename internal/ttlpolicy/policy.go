// Package ttlpolicy is the TTL of one typed state as its reads and writes
// apply it: the descriptor's ttl.Config with defaults filled in and the
// processing-time clock of the backend. The object states, the byte states
// and the copy-on-write store read their decisions here.
package ttlpolicy

import (
	"fmt"

	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/ttl"
)

// Policy is the TTL of one typed state. It is immutable and safe for
// concurrent use if its clock is.
type Policy struct {
	// Config is the state's TTL with defaults filled in; never nil.
	Config *ttl.Config
	// Clock stamps and expires units; never nil.
	Clock ttl.Clock
}

// New validates c (a state's descriptor TTL) and returns the policy of the
// state named name, or nil if c is nil. A nil clock is ttl.SystemClock.
func New(name string, c *ttl.Config, clock ttl.Clock) (*Policy, error) {
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
	return &Policy{Config: &cfg, Clock: clock}, nil
}

// Now is the clock's time.
func (p *Policy) Now() int64 { return p.Clock.Now() }

// Expired reports whether a unit stamped ts has expired at now.
func (p *Policy) Expired(ts, now int64) bool { return ttl.Expired(ts, p.Config.TTL, now) }

// ReturnExpired reports whether reads may return an expired unit once (it
// is removed).
func (p *Policy) ReturnExpired() bool {
	return p.Config.Visibility == ttl.ReturnExpiredIfNotCleanedUp
}

// UpdateOnRead reports whether reads re-stamp the live units they return.
func (p *Policy) UpdateOnRead() bool { return p.Config.Update == ttl.OnReadAndWrite }

// Stamp wraps v with the time now.
func Stamp[V any](v V, now int64) ttl.Value[V] { return ttl.Value[V]{Timestamp: now, Value: v} }

// Stamped returns the serializer of the stamped units of a state with TTL
// p whose units hold values of s.
func Stamped[V any](s serializer.Serializer[V], p *Policy) serializer.Serializer[ttl.Value[V]] {
	return serializer.TTL[V]{Inner: s, Clock: p.Clock}
}

// Plain returns the serializer of a state without TTL whose values s
// encodes: it reads data that a state with TTL wrote (TTL turned off at
// restore).
func Plain[V any](s serializer.Serializer[V]) serializer.Serializer[V] {
	if _, ok := s.(serializer.TTLPlain[V]); ok {
		return s
	}
	return serializer.TTLPlain[V]{Inner: s}
}
