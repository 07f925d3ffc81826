package backendtest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stated-io/stated/backend"
)

func firedList(t *testing.T, b backend.KeyedBackend[string], got *[]string) func(backend.Timer[string]) error {
	return func(tm backend.Timer[string]) error {
		if b.CurrentKey() != tm.Key {
			t.Errorf("timer of %q fired with current key %q", tm.Key, b.CurrentKey())
		}
		*got = append(*got, fmt.Sprintf("%s/%s@%d", tm.Key, tm.Namespace, tm.Timestamp))
		return nil
	}
}

func testTimers(t *testing.T, f Factory) {
	_, b := single(t, f)
	ts, err := backend.NewTimerService(b)
	must(t, err)
	reg := func(key, ns string, at int64) {
		t.Helper()
		must(t, b.SetCurrentKey(key))
		must(t, ts.RegisterEventTimeTimer(ns, at))
	}
	reg("a", "", 30)
	reg("b", "w", 10)
	reg("a", "w", 20)
	reg("a", "w", 20) // duplicate: fires once
	reg("c", "", 25)
	must(t, b.SetCurrentKey("c"))
	must(t, ts.DeleteEventTimeTimer("", 25))
	if next, ok := ts.NextEventTime(); !ok || next != 10 {
		t.Fatalf("NextEventTime = (%d, %v), want 10", next, ok)
	}
	var fired []string
	must(t, ts.AdvanceWatermark(20, firedList(t, b, &fired)))
	if want := []string{"b/w@10", "a/w@20"}; !slices.Equal(fired, want) {
		t.Fatalf("fired at watermark 20: %q, want %q", fired, want)
	}
	// A timer registered while firing, at or before the watermark, fires in
	// the same advance.
	fired = nil
	must(t, ts.AdvanceWatermark(40, func(tm backend.Timer[string]) error {
		fired = append(fired, fmt.Sprintf("%s@%d", tm.Key, tm.Timestamp))
		if tm.Timestamp == 30 {
			return ts.RegisterEventTimeTimer("again", 35)
		}
		return nil
	}))
	if want := []string{"a@30", "a@35"}; !slices.Equal(fired, want) {
		t.Fatalf("fired at watermark 40: %q, want %q", fired, want)
	}
	if ts.CurrentWatermark() != 40 {
		t.Fatalf("CurrentWatermark = %d, want 40", ts.CurrentWatermark())
	}
	if _, ok := ts.NextEventTime(); ok {
		t.Fatal("timers left after every one fired")
	}
	// Processing time is a separate domain.
	must(t, b.SetCurrentKey("p"))
	must(t, ts.RegisterProcessingTimeTimer("", 5))
	must(t, ts.RegisterEventTimeTimer("", 5))
	fired = nil
	must(t, ts.AdvanceProcessingTime(5, firedList(t, b, &fired)))
	if want := []string{"p/@5"}; !slices.Equal(fired, want) {
		t.Fatalf("processing timers fired: %q, want %q", fired, want)
	}
	if next, ok := ts.NextEventTime(); !ok || next != 5 {
		t.Fatalf("event timer at 5 gone after processing time advanced: (%d, %v)", next, ok)
	}
}

// testTimersRescale checks that timers are state: they survive a
// checkpoint and follow their keys to new subtasks.
func testTimersRescale(t *testing.T, f Factory) {
	store := newStore(t)
	c := newCluster(t, f, 2, 128)
	var want []string
	for i, b := range c.keyed {
		ts, err := backend.NewTimerService(b)
		must(t, err)
		_ = i
		for k := range 40 {
			key := fmt.Sprint("t", k)
			if owner, _ := c.owner(key); owner != i {
				continue
			}
			must(t, ts.RegisterEventTimeTimer("ns", int64(100+k)))
			must(t, ts.RegisterProcessingTimeTimer("", int64(k)))
			want = append(want, fmt.Sprintf("%s/ns@%d", key, 100+k))
		}
	}
	dir := c.checkpoint(store, 1)
	r := mustRestore(t, f, store, dir, 3, 128)
	var got []string
	for _, b := range r.keyed {
		ts, err := backend.NewTimerService(b)
		must(t, err)
		must(t, ts.AdvanceWatermark(1000, firedList(t, b, &got)))
		var proc []string
		must(t, ts.AdvanceProcessingTime(1000, firedList(t, b, &proc)))
		for _, p := range proc {
			got = append(got, "processing:"+p)
		}
	}
	for k := range 40 {
		want = append(want, fmt.Sprintf("processing:t%d/@%d", k, k))
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("timers after restore into 3 subtasks: got %d %q..., want %d", len(got), head(got), len(want))
	}
}
