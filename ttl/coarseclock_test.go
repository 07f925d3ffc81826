package ttl

import (
	"testing"
	"time"
)

func TestCoarseClock(t *testing.T) {
	before := time.Now().UnixMilli()
	a := NewCoarseClock()
	b := NewCoarseClock()
	if now := a.Now(); now < before || now > time.Now().UnixMilli() {
		t.Fatalf("Now() = %d outside [%d, now]", now, before)
	}
	a.Close()
	a.Close() // idempotent: must not release b's reference
	coarse.mu.Lock()
	open := coarse.open
	coarse.mu.Unlock()
	if open != 1 {
		t.Fatalf("open clocks after closing one of two (twice) = %d, want 1", open)
	}
	// The clock moves while b is open: wait for a refresh, bounded.
	start := b.Now()
	deadline := time.Now().Add(5 * time.Second)
	for b.Now() == start {
		if time.Now().After(deadline) {
			t.Fatal("coarse clock did not move within 5 s")
		}
		time.Sleep(CoarseResolution)
	}
	b.Close()
	coarse.mu.Lock()
	open = coarse.open
	coarse.mu.Unlock()
	if open != 0 {
		t.Fatalf("open clocks after closing both = %d", open)
	}
	c := NewCoarseClock() // restarts the refresher
	defer c.Close()
	if now := c.Now(); now < before {
		t.Fatalf("Now() after a restart = %d, before %d", now, before)
	}
}
