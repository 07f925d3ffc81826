package engine

import (
	"sync"
	"time"
)

// rateLimiter is a token bucket shared by the subtasks of a source. Safe
// for concurrent use.
type rateLimiter struct {
	mu     sync.Mutex
	rate   float64 // tokens per second
	burst  float64
	tokens float64
	last   time.Time
}

func newRateLimiter(perSecond float64) *rateLimiter {
	// A burst of 50 ms of records keeps the rate smooth at any scale.
	return &rateLimiter{rate: perSecond, burst: max(1, perSecond/20)}
}

// take grants up to n tokens at now. When none is available it returns 0
// and how long to wait for the next one.
func (l *rateLimiter) take(now time.Time, n int) (int, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.last.IsZero() {
		l.tokens = l.burst
	} else if now.After(l.last) {
		l.tokens = min(l.burst, l.tokens+now.Sub(l.last).Seconds()*l.rate)
	}
	l.last = now
	if l.tokens < 1 {
		return 0, time.Duration((1 - l.tokens) / l.rate * float64(time.Second))
	}
	g := min(float64(n), l.tokens)
	l.tokens -= float64(int(g))
	return int(g), 0
}
