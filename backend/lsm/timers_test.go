package lsm

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/rowkey"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

// newTimerBackend returns a backend of every key group of maxP (few key
// groups put many timers in one) with its timer service.
func newTimerBackend(t *testing.T, maxP int) (*Backend[string], *state.TimerService[string]) {
	t.Helper()
	b, err := New(Options[string]{Dir: t.TempDir(), CacheSize: 8 << 20, MemTableSize: 1 << 20,
		KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "op", MaxParallelism: maxP,
			KeyGroups: backend.KeyGroupRange{Start: 0, End: maxP - 1}, KeySerializer: serializer.String{}}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	ts, err := state.NewTimerService(b)
	if err != nil {
		t.Fatal(err)
	}
	return b, ts
}

// cachedTimers returns how many timers the queues of b hold in memory, and
// the most one key group holds.
func cachedTimers(b *Backend[string]) (total, most int) {
	for _, q := range b.timerQueues {
		for _, g := range q.groups {
			total += len(g.cache)
			most = max(most, len(g.cache))
		}
	}
	return total, most
}

// TestTimersOnDisk: timers stay in the database; memory holds at most
// timerCacheSize of them per key group, however many there are, and they
// fire in order.
func TestTimersOnDisk(t *testing.T) {
	const maxP = 4
	b, ts := newTimerBackend(t, maxP)
	r := rand.New(rand.NewPCG(1, 2))
	want := map[string]bool{}
	for i := range 5000 {
		key := fmt.Sprint("k", i%700)
		if err := b.SetCurrentKey(key); err != nil {
			t.Fatal(err)
		}
		at := r.Int64N(100_000) - 50_000
		if err := ts.RegisterEventTimeTimer("", at); err != nil {
			t.Fatal(err)
		}
		want[fmt.Sprintf("%s@%d", key, at)] = true
	}
	// Register/delete pairs on one key leave nothing behind.
	if err := b.SetCurrentKey("churn"); err != nil {
		t.Fatal(err)
	}
	for i := range int64(20_000) {
		if err := ts.RegisterEventTimeTimer("x", -60_000+i); err != nil {
			t.Fatal(err)
		}
		if err := ts.DeleteEventTimeTimer("x", -60_000+i); err != nil {
			t.Fatal(err)
		}
	}
	if total, most := cachedTimers(b); most > timerCacheSize || total > maxP*timerCacheSize {
		t.Fatalf("%d timers in memory, %d in one key group: want at most %d per key group", total, most, timerCacheSize)
	}
	last := int64(-1 << 63)
	for step := int64(-50_000); step < 50_000+997; step += 997 {
		err := ts.AdvanceWatermark(step, func(tm backend.Timer[string]) error {
			id := fmt.Sprintf("%s@%d", tm.Key, tm.Timestamp)
			switch {
			case tm.Timestamp < last:
				return fmt.Errorf("timer %s fired after one at %d", id, last)
			case !want[id]:
				return fmt.Errorf("timer %s fired, never registered or fired before", id)
			}
			last = tm.Timestamp
			delete(want, id)
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		if total, most := cachedTimers(b); most > timerCacheSize || total > maxP*timerCacheSize {
			t.Fatalf("at %d: %d timers in memory, %d in one key group", step, total, most)
		}
	}
	if len(want) > 0 {
		t.Fatalf("%d timers did not fire", len(want))
	}
	if _, ok := ts.NextEventTime(); ok {
		t.Fatal("timers left after every one fired")
	}
	rows := 0
	lo, hi := rowkey.SpanOf(0, maxP-1)
	it, err := b.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		t.Fatal(err)
	}
	for valid := it.First(); valid; valid = it.Next() {
		rows++
	}
	if err := it.Close(); err != nil {
		t.Fatal(err)
	}
	if rows != 0 {
		t.Fatalf("%d rows left in the database after every timer fired", rows)
	}
}

// TestRestoreV1Timers restores a native snapshot without a timer index (as
// lsm/v1 wrote them) into the same and into other key groups: the restore
// builds the index, and every timer fires once.
func TestRestoreV1Timers(t *testing.T) {
	const maxP = 8
	b, ts := newTimerBackend(t, maxP)
	var want []string
	for i := range 300 {
		key := fmt.Sprint("k", i)
		if err := b.SetCurrentKey(key); err != nil {
			t.Fatal(err)
		}
		if err := ts.RegisterEventTimeTimer("ns", int64(i)); err != nil {
			t.Fatal(err)
		}
		if err := ts.RegisterProcessingTimeTimer("", int64(-i)); err != nil {
			t.Fatal(err)
		}
		want = append(want, fmt.Sprintf("event %s/ns@%d", key, i), fmt.Sprintf("processing %s/@%d", key, -i))
	}
	// Take the timer index away, as lsm/v1 never wrote one.
	for kg := range maxP {
		start, end := rowkey.AppendStatePrefix(nil, kg, rowkey.TimerIndexSID), rowkey.AppendStatePrefix(nil, kg, rowkey.TimerIndexSID+1)
		if err := b.db.DeleteRange(start, end, pebble.NoSync); err != nil {
			t.Fatal(err)
		}
	}
	store, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	c, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	hs, err := c.Write(ctx, backend.SnapshotTarget{Store: store, Dir: "job/chk-1", FilePrefix: "op-0", CheckpointID: 1,
		Kind: snapshot.KindCheckpoint, SharedDir: "../shared"})
	if err != nil {
		t.Fatal(err)
	}
	hs[0].Format = FormatV1
	for _, p := range []int{1, 3} {
		var got []string
		for i := range p {
			r, err := New(Options[string]{Dir: t.TempDir(), KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "op", Subtask: i,
				MaxParallelism: maxP, KeyGroups: backend.KeyGroupRangeForSubtask(maxP, p, i), KeySerializer: serializer.String{}}})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			if err := r.Restore(ctx, backend.RestoreSource{Store: store, Dir: "job/chk-1", MaxParallelism: maxP, Handles: hs}); err != nil {
				t.Fatal(err)
			}
			rts, err := state.NewTimerService(r)
			if err != nil {
				t.Fatal(err)
			}
			collect := func(domain string) func(backend.Timer[string]) error {
				return func(tm backend.Timer[string]) error {
					got = append(got, fmt.Sprintf("%s %s/%s@%d", domain, tm.Key, tm.Namespace, tm.Timestamp))
					return nil
				}
			}
			if err := rts.AdvanceWatermark(1<<40, collect("event")); err != nil {
				t.Fatal(err)
			}
			if err := rts.AdvanceProcessingTime(1<<40, collect("processing")); err != nil {
				t.Fatal(err)
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("restored into %d subtasks: %d timers fired, want %d", p, len(got), len(want))
		}
	}
}
