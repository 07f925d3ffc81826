package state_test

import (
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/backendtest"
	"github.com/stated-io/stated/backend/heap"
	"github.com/stated-io/stated/state"
)

// TestDeletedTimersLeaveMemory: the in-memory queue holds the live timers
// only; a deleted timer leaves it at once, not when it would have fired.
func TestDeletedTimersLeaveMemory(t *testing.T) {
	b := backendtest.Open(t, func(o backend.KeyedOptions[string]) (backend.KeyedBackend[string], error) { return heap.New(o) },
		backendtest.AllKeyGroups("op", 128))
	ts, err := state.NewTimerService(b)
	if err != nil {
		t.Fatal(err)
	}
	if err := b.SetCurrentKey("k"); err != nil {
		t.Fatal(err)
	}
	if err := ts.RegisterEventTimeTimer("", 1<<40); err != nil {
		t.Fatal(err)
	}
	for i := range int64(100_000) {
		if err := ts.RegisterEventTimeTimer("w", i); err != nil {
			t.Fatal(err)
		}
		if err := ts.RegisterProcessingTimeTimer("w", i); err != nil {
			t.Fatal(err)
		}
		if err := ts.DeleteEventTimeTimer("w", i); err != nil {
			t.Fatal(err)
		}
		if err := ts.DeleteProcessingTimeTimer("w", i); err != nil {
			t.Fatal(err)
		}
	}
	if ev, pt := state.QueuedTimers(ts); ev != 1 || pt != 0 {
		t.Fatalf("after 100000 register/delete pairs with one live timer, the queues hold %d event and %d processing timers, want 1 and 0", ev, pt)
	}
	if next, ok := ts.NextEventTime(); !ok || next != 1<<40 {
		t.Fatalf("NextEventTime = (%d, %v), want the live timer at %d", next, ok, int64(1<<40))
	}
}
