package ttl

import (
	"sync"
	"testing"
	"time"
)

func TestManualClock(t *testing.T) {
	var zero ManualClock
	if zero.Now() != 0 {
		t.Fatalf("zero ManualClock reads %d", zero.Now())
	}
	c := NewManualClock(1000)
	if c.Now() != 1000 {
		t.Fatalf("NewManualClock(1000) reads %d", c.Now())
	}
	if got := c.Advance(1500 * time.Microsecond); got != 1001 || c.Now() != 1001 {
		t.Fatalf("Advance(1.5ms) = %d, Now %d; want 1001", got, c.Now())
	}
	if got := c.Advance(-time.Second); got != 1 {
		t.Fatalf("Advance(-1s) = %d, want 1", got)
	}
	c.Set(-5)
	if c.Now() != -5 {
		t.Fatalf("Set(-5) reads %d", c.Now())
	}
}

func TestManualClockConcurrent(t *testing.T) {
	c := NewManualClock(0)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 1000 {
				c.Advance(time.Millisecond)
				_ = c.Now()
			}
		})
	}
	wg.Wait()
	if c.Now() != 8000 {
		t.Fatalf("8 goroutines advancing 1000 × 1ms reached %d", c.Now())
	}
}

func TestSystemClock(t *testing.T) {
	before := time.Now().UnixMilli()
	got := SystemClock{}.Now()
	after := time.Now().UnixMilli()
	if got < before || got > after {
		t.Fatalf("SystemClock read %d outside [%d, %d]", got, before, after)
	}
	if clockOrSystem(nil) != (SystemClock{}) {
		t.Fatal("a nil clock is not the system clock")
	}
	if ClockFunc(func() int64 { return 42 }).Now() != 42 {
		t.Fatal("ClockFunc does not call its function")
	}
}
