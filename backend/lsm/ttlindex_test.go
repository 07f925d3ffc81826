package lsm

import (
	"context"
	"fmt"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/heap"
	"github.com/stated-io/stated/internal/rowkey"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
	"github.com/stated-io/stated/ttl"
)

// newRangeBackend is newTTLBackend for the key groups [start, end] of 128,
// without a background sweep.
func newRangeBackend(t *testing.T, clock ttl.Clock, start, end int) *Backend[string] {
	t.Helper()
	b, err := New(Options[string]{Dir: t.TempDir(), CacheSize: 8 << 20, MemTableSize: 1 << 20,
		KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "op", MaxParallelism: 128,
			KeyGroups: backend.KeyGroupRange{Start: start, End: end}, KeySerializer: serializer.String{}, Clock: clock}})
	if err != nil {
		t.Fatal(err)
	}
	b.hooks.after = func(time.Duration) <-chan time.Time { return nil }
	t.Cleanup(func() { b.Close() })
	return b
}

func restoreFrom(t *testing.T, b *Backend[string], store snapshot.Storage, dir string, hs []snapshot.KeyedStateHandle) {
	t.Helper()
	must(t, b.Restore(context.Background(), backend.RestoreSource{Store: store, Dir: dir, MaxParallelism: 128, Handles: hs}))
}

func sweep(t *testing.T, b *Backend[string]) SweepStats {
	t.Helper()
	stats, err := b.SweepExpired(context.Background())
	must(t, err)
	return stats
}

// TestIndexWrites: every write that stores units of an indexed state sets
// the index row of the earliest of them, at its bucket; deletions, states
// without TTL and states without background cleanup write none. A unit that
// is not stamped fails the write.
func TestIndexWrites(t *testing.T) {
	clock := ttl.NewManualClock(t0)
	b := newRangeBackend(t, clock, 0, 127)
	cfg := ttlConfig(10 * time.Second)
	value := register(t, b, "value", snapshot.StateValue, cfg)
	list := register(t, b, "list", snapshot.StateList, cfg)
	m := register(t, b, "map", snapshot.StateMap, cfg)
	plain := register(t, b, "plain", snapshot.StateValue, nil)
	noBackground := ttlConfig(10 * time.Second)
	noBackground.Cleanup.Background = ttl.BackgroundCleanup{Disabled: true}
	quiet := register(t, b, "quiet", snapshot.StateValue, noBackground)
	at(t, b, "k")
	row := func(state, userKey string) string {
		return string(append(rowkey.AppendRowPrefix(nil, b.CurrentKeyGroup(), b.states[state].sid, []byte("k"), "ns"), userKey...))
	}
	bucket := func(ts int64) uint64 { return indexBucket(ts+10_000, cfg.TTL) }
	must(t, value.Put("ns", unit(t0, "x")))
	must(t, list.Put("ns", elems(unit(t0+5000, "a"), unit(t0+1, "b"))))       // earliest: b
	must(t, list.Append("ns", elems(unit(t0+7000, "c"), unit(t0+3000, "d")))) // earliest: d
	must(t, m.PutEntry("ns", []byte("u"), unit(t0+2000, "1")))
	must(t, m.PutEntry("ns", []byte("w"), unit(t0+2000, "2")))
	must(t, plain.Put("ns", unit(t0, "p")))
	must(t, quiet.Put("ns", unit(t0, "q")))
	must(t, value.Delete("ns")) // the index rows stay for sweeps to delete
	must(t, m.DeleteEntry("ns", []byte("u")))
	must(t, m.Delete("ns"))
	want := []indexEntry{
		{bucket: bucket(t0), sid: b.states["value"].sid, row: row("value", "")},
		{bucket: bucket(t0 + 1), sid: b.states["list"].sid, row: row("list", "")},
		{bucket: bucket(t0 + 2000), sid: b.states["map"].sid, row: row("map", "u")},
		{bucket: bucket(t0 + 2000), sid: b.states["map"].sid, row: row("map", "w")},
		{bucket: bucket(t0 + 3000), sid: b.states["list"].sid, row: row("list", "")},
	}
	for i := range want {
		want[i].kg = b.CurrentKeyGroup()
	}
	var got []indexEntry
	for _, e := range indexRows(t, b) {
		if !e.marker {
			got = append(got, e)
		}
	}
	if !slices.Equal(got, want) {
		t.Errorf("index rows\n%+v\nwant\n%+v", got, want)
	}
	if err := value.Put("ns", []byte("short")); err == nil {
		t.Error("Put of a unit without a timestamp succeeded")
	}
	if _, ok, err := value.Get("ns"); err != nil || ok {
		t.Errorf("the failed Put stored its value: %v, %v", ok, err)
	}
}

// TestSweepListPartialExpiry: a list stored in one Put with units of
// different times is indexed at its earliest; each sweep removes what
// expired and re-indexes the list at the earliest unit left, so every unit
// goes at most a bucket width after it expired.
func TestSweepListPartialExpiry(t *testing.T) {
	clock := ttl.NewManualClock(t0)
	b := newRangeBackend(t, clock, 0, 127)
	cfg := ttlConfig(10 * time.Second)
	list := register(t, b, "list", snapshot.StateList, cfg)
	at(t, b, "k")
	must(t, list.Put("", elems(unit(t0, "a"), unit(t0+4000, "b"), unit(t0+8000, "c"))))
	bucket := func(ts int64) uint64 { return indexBucket(ts+10_000, cfg.TTL) }
	for _, step := range []struct {
		now    int64
		left   []byte // the list after a sweep at now
		bucket uint64 // its index row, 0: none
	}{
		{t0 + 9_999, elems(unit(t0, "a"), unit(t0+4000, "b"), unit(t0+8000, "c")), bucket(t0)},
		{t0 + 10_000, elems(unit(t0+4000, "b"), unit(t0+8000, "c")), bucket(t0 + 4000)},
		{t0 + 14_000, elems(unit(t0+4000, "b"), unit(t0+8000, "c")), bucket(t0 + 4000)}, // expired, not yet due
		{int64(bucket(t0 + 4000)), elems(unit(t0+8000, "c")), bucket(t0 + 8000)},
		{int64(bucket(t0 + 8000)), nil, 0},
	} {
		clock.Set(step.now)
		stats := sweep(t, b)
		l, _, err := list.Get("")
		must(t, err)
		if !slices.Equal(l, step.left) {
			t.Errorf("at %+d ms: list %x, want %x (%+v)", step.now-t0, l, step.left, stats)
		}
		index := indexRows(t, b)
		switch {
		case step.bucket == 0 && len(index) != 0:
			t.Errorf("at %+d ms: index %+v, want none", step.now-t0, index)
		case step.bucket != 0 && (len(index) != 1 || index[0].bucket != step.bucket):
			t.Errorf("at %+d ms: index %+v, want one row at %d", step.now-t0, index, step.bucket)
		}
	}
}

// TestIndexBoundedForHotKey: rewrites of one row within one bucket width
// share an index row, and with sweeps running a row rewritten all the time
// keeps at most bucketsPerTTL+1 index rows.
func TestIndexBoundedForHotKey(t *testing.T) {
	clock := ttl.NewManualClock(t0)
	b := newRangeBackend(t, clock, 0, 127)
	cfg := ttlConfig(16 * time.Second) // buckets of 1 s; t0 is a multiple
	value := register(t, b, "value", snapshot.StateValue, cfg)
	at(t, b, "hot")
	for i := range 10_000 {
		clock.Set(t0 + 1 + int64(i)/20) // within (t0, t0+500]: one bucket
		must(t, value.Put("", unit(clock.Now(), "v")))
	}
	must(t, b.db.Flush())
	if index := indexRows(t, b); len(index) != 1 {
		t.Errorf("%d index rows after 10000 writes within a bucket, want 1", len(index))
	}
	most := 0
	for s := range 48 { // three TTLs
		for i := range 100 {
			clock.Set(t0 + 1000 + int64(s)*1000 + int64(i)*10)
			must(t, value.Put("", unit(clock.Now(), "v")))
		}
		clock.Set(t0 + 1000 + int64(s+1)*1000)
		stats := sweep(t, b)
		if stats.RowsDeleted != 0 {
			t.Fatalf("the sweep deleted the live row: %+v", stats)
		}
		most = max(most, len(indexRows(t, b)))
	}
	t.Logf("at most %d index rows", most)
	if most > bucketsPerTTL+1 || most < bucketsPerTTL/2 {
		t.Errorf("at most %d index rows of the hot key, want at most %d (and some)", most, bucketsPerTTL+1)
	}
	if _, ok, err := value.Get(""); err != nil || !ok {
		t.Errorf("the hot key: %v, %v", ok, err)
	}
}

// TestSweepAfterTTLChange: index rows hold buckets of the TTL they were
// written under. After a restore with a longer TTL, the rows found early
// are judged by the current TTL and re-indexed, nothing live goes; with a
// shorter one, expired rows go at their old bucket at the latest.
func TestSweepAfterTTLChange(t *testing.T) {
	clock := ttl.NewManualClock(t0)
	store, err := file.New(t.TempDir())
	must(t, err)
	b := newRangeBackend(t, clock, 0, 127)
	value := register(t, b, "value", snapshot.StateValue, ttlConfig(10*time.Second))
	const n = 100
	for i := range n {
		at(t, b, fmt.Sprintf("k%03d", i))
		must(t, value.Put("", unit(t0, "v")))
	}
	hs := snapshotTo(t, b, store, "chk-1", 1, snapshot.KindCheckpoint, "")

	t.Run("longer", func(t *testing.T) {
		clock := ttl.NewManualClock(t0)
		r := newRangeBackend(t, clock, 0, 127)
		restoreFrom(t, r, store, "chk-1", hs)
		longer := ttlConfig(100 * time.Second)
		register(t, r, "value", snapshot.StateValue, longer)
		clock.Set(t0 + 12_000) // due under the old TTL, live under the new
		if stats := sweep(t, r); stats.EntriesRead != n || stats.RowsDeleted != 0 {
			t.Errorf("sweep %+v, want %d index rows read and nothing deleted", stats, n)
		}
		if got := len(rows(t, r, r.states["value"].sid)); got != n {
			t.Errorf("%d rows after the sweep, want all %d", got, n)
		}
		index := indexRows(t, r)
		moved := indexBucket(t0+100_000, longer.TTL)
		if len(index) != n || index[0].bucket != moved || index[n-1].bucket != moved {
			t.Errorf("%d index rows from bucket %d to %d, want %d at %d", len(index), index[0].bucket, index[len(index)-1].bucket, n, moved)
		}
		clock.Set(int64(moved))
		if stats := sweep(t, r); stats.RowsDeleted != n {
			t.Errorf("sweep at the new bucket %+v, want %d rows deleted", stats, n)
		}
	})
	t.Run("shorter", func(t *testing.T) {
		clock := ttl.NewManualClock(t0)
		r := newRangeBackend(t, clock, 0, 127)
		restoreFrom(t, r, store, "chk-1", hs)
		register(t, r, "value", snapshot.StateValue, ttlConfig(5*time.Second))
		clock.Set(t0 + 6000) // expired under the new TTL; the index rows are due at +10 s
		t.Logf("sweep before the old bucket: %+v", sweep(t, r))
		clock.Set(t0 + 10_000)
		sweep(t, r)
		if got := len(rows(t, r, r.states["value"].sid)); got != 0 {
			t.Errorf("%d rows after the sweep at the old bucket, want none", got)
		}
		if index := indexRows(t, r); len(index) != 0 {
			t.Errorf("%d index rows left", len(index))
		}
	})
}

// TestSweepAfterRescale: restoring the checkpoints of two backends into one
// ingests the rows of one of them with the state ids of this backend, and
// the ids its index rows embed too; restoring into a part of the key
// groups excises the index rows of the others. Sweeps then remove exactly
// the expired rows.
func TestSweepAfterRescale(t *testing.T) {
	clock := ttl.NewManualClock(t0)
	store, err := file.New(t.TempDir())
	must(t, err)
	cfg := ttlConfig(10 * time.Second)
	lower, upper := newRangeBackend(t, clock, 0, 63), newRangeBackend(t, clock, 64, 127)
	register(t, lower, "other", snapshot.StateValue, nil) // "session" is state 2 here, 1 there
	tables := map[*Backend[string]]backend.ByteTable{
		lower: register(t, lower, "session", snapshot.StateMap, cfg),
		upper: register(t, upper, "session", snapshot.StateMap, cfg),
	}
	const n = 400
	expiredBelow64, keysBelow64 := 0, 0
	for i := range n {
		k := fmt.Sprintf("k%03d", i)
		b := lower
		if err := lower.SetCurrentKey(k); err != nil {
			b = upper
			at(t, b, k)
		} else {
			keysBelow64++
		}
		ts := t0 + 8000
		if i%2 == 0 {
			ts = t0
			if b == lower {
				expiredBelow64++
			}
		}
		must(t, tables[b].PutEntry("", []byte("e"), unit(ts, "v")))
	}
	hs := append(snapshotAs(t, lower, store, "chk-1", "op-0", 1, snapshot.KindCheckpoint, ""),
		snapshotAs(t, upper, store, "chk-1", "op-1", 1, snapshot.KindCheckpoint, "")...)

	whole := newRangeBackend(t, ttl.NewManualClock(t0+12_000), 0, 127)
	restoreFrom(t, whole, store, "chk-1", hs)
	register(t, whole, "session", snapshot.StateMap, cfg)
	sid := whole.states["session"].sid
	data := rows(t, whole, sid)
	index := indexRows(t, whole)
	if len(index) != n {
		t.Errorf("%d index rows after the restore, want %d", len(index), n)
	}
	for _, e := range index {
		r, err := rowkey.Parse([]byte(e.row))
		must(t, err)
		if _, ok := data[fmt.Sprintf("%x/%s/%s", r.Key, r.Namespace, r.UserKey)]; e.sid != sid || !ok {
			t.Fatalf("index row %+v names no row of the session state (id %d)", e, sid)
		}
	}
	if stats := sweep(t, whole); stats.RowsDeleted != n/2 || stats.EntriesRead != n/2 {
		t.Errorf("sweep after the restore into one %+v, want %d index rows read and rows deleted", stats, n/2)
	}
	for name, ts := range rows(t, whole, sid) {
		if ts[0] != t0+8000 {
			t.Errorf("row %s stamped %d survived the sweep", name, ts[0])
		}
	}

	// The restored database covers all key groups: into a half, the rest is
	// excised.
	whole2 := newRangeBackend(t, ttl.NewManualClock(t0), 0, 127)
	restoreFrom(t, whole2, store, "chk-1", hs)
	register(t, whole2, "session", snapshot.StateMap, cfg)
	hs2 := snapshotTo(t, whole2, store, "chk-2", 2, snapshot.KindCheckpoint, "")
	half := newRangeBackend(t, ttl.NewManualClock(t0+12_000), 0, 63)
	restoreFrom(t, half, store, "chk-2", hs2)
	register(t, half, "session", snapshot.StateMap, cfg)
	index = indexRows(t, half)
	if len(index) != keysBelow64 || index[len(index)-1].kg > 63 {
		t.Errorf("%d index rows up to key group %d in the lower half, want %d", len(index), index[len(index)-1].kg, keysBelow64)
	}
	if stats := sweep(t, half); stats.RowsDeleted != int64(expiredBelow64) {
		t.Errorf("sweep of the lower half %+v, want %d rows deleted", stats, expiredBelow64)
	}
}

// TestSweepAfterStreamRestore: rows restored from a key-group stream (a
// heap savepoint) have no index; their state is indexed when it registers
// with TTL, also in a process that restored a checkpoint taken before, and
// when the restore turns TTL on. Sweeps then remove the expired rows.
func TestSweepAfterStreamRestore(t *testing.T) {
	store, err := file.New(t.TempDir())
	must(t, err)
	cfg := &ttl.Config{TTL: 10 * time.Second, Cleanup: ttl.Cleanup{Incremental: ttl.IncrementalCleanup{Disabled: true}}}
	withTTL := state.ValueDescriptor[string]{Name: "session", Serializer: serializer.String{}, TTL: cfg}
	without := state.ValueDescriptor[string]{Name: "session", Serializer: serializer.String{}}
	const n = 200
	// savepoint writes n keys into a heap backend, the first half at t0 and
	// the rest 8 s later, and takes a savepoint into dir.
	savepoint := func(d state.ValueDescriptor[string], dir string) []snapshot.KeyedStateHandle {
		clock := ttl.NewManualClock(t0)
		h, err := heap.New(backend.KeyedOptions[string]{OperatorUID: "op", MaxParallelism: 128,
			KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: serializer.String{}, Clock: clock})
		must(t, err)
		defer h.Close()
		st, err := state.GetValueState(h, d)
		must(t, err)
		for i := range n {
			if i == n/2 {
				clock.Set(t0 + 8000)
			}
			must(t, h.SetCurrentKey(fmt.Sprintf("k%03d", i)))
			must(t, st.Update("v"))
		}
		return snapshotTo(t, h, store, dir, 1, snapshot.KindSavepoint, "")
	}
	stamped := savepoint(withTTL, "sp-ttl")
	plain := savepoint(without, "sp-plain")
	// check registers the state with TTL on r and sweeps at now: want rows
	// deleted, and none of the others.
	check := func(t *testing.T, r *Backend[string], clock *ttl.ManualClock, now int64, want int) {
		t.Helper()
		if got := len(indexOf(indexRows(t, r), r.states["session"].sid, true)); got == 0 {
			t.Error("no marker of the state restored from a stream")
		}
		st, err := state.GetValueState(r, withTTL)
		must(t, err)
		index := indexRows(t, r)
		if len(index) != n || slices.ContainsFunc(index, func(e indexEntry) bool { return e.marker }) {
			t.Errorf("%d index rows after the registration (markers: %v), want %d", len(index),
				slices.ContainsFunc(index, func(e indexEntry) bool { return e.marker }), n)
		}
		clock.Set(now)
		if stats := sweep(t, r); stats.RowsDeleted != int64(want) {
			t.Errorf("sweep %+v, want %d rows deleted", stats, want)
		}
		left := 0
		for i := range n {
			at(t, r, fmt.Sprintf("k%03d", i))
			if _, ok, err := st.Value(); err != nil {
				t.Fatal(err)
			} else if ok {
				left++
			}
		}
		if got := len(rows(t, r, r.states["session"].sid)); got != n-want || left != n-want {
			t.Errorf("%d rows (%d values) after the sweep, want %d", got, left, n-want)
		}
	}

	t.Run("registered", func(t *testing.T) {
		clock := ttl.NewManualClock(t0 + 8000)
		r := newRangeBackend(t, clock, 0, 127)
		restoreFrom(t, r, store, "sp-ttl", stamped)
		check(t, r, clock, t0+12_000, n/2)
	})
	t.Run("checkpointed before registering", func(t *testing.T) {
		clock := ttl.NewManualClock(t0 + 8000)
		r := newRangeBackend(t, clock, 0, 127)
		restoreFrom(t, r, store, "sp-ttl", stamped)
		hs := snapshotTo(t, r, store, "chk-r", 1, snapshot.KindCheckpoint, "")
		r2 := newRangeBackend(t, clock, 0, 127)
		restoreFrom(t, r2, store, "chk-r", hs)
		check(t, r2, clock, t0+12_000, n/2)
	})
	t.Run("ttl turned on", func(t *testing.T) {
		clock := ttl.NewManualClock(t0 + 50_000) // restored values are stamped now
		r := newRangeBackend(t, clock, 0, 127)
		restoreFrom(t, r, store, "sp-plain", plain)
		check(t, r, clock, t0+60_000, n)
	})
}

// TestBackgroundCleanupToggled: a state with TTL but without background
// cleanup writes no index rows and keeps a marker in every key group; when
// a restore turns background cleanup on, its index is built. Turned off
// again, its index rows are stale and sweeps delete them without touching
// its rows.
func TestBackgroundCleanupToggled(t *testing.T) {
	store, err := file.New(t.TempDir())
	must(t, err)
	clock := ttl.NewManualClock(t0)
	off := ttlConfig(10 * time.Second)
	off.Cleanup.Background = ttl.BackgroundCleanup{Disabled: true}
	on := ttlConfig(10 * time.Second)
	b := newRangeBackend(t, clock, 0, 127)
	value := register(t, b, "session", snapshot.StateValue, off)
	const n = 100
	for i := range n {
		at(t, b, fmt.Sprintf("k%03d", i))
		must(t, value.Put("", unit(t0, "v")))
	}
	index := indexRows(t, b)
	if markers := indexOf(index, b.states["session"].sid, true); len(index) != 128 || len(markers) != 128 {
		t.Errorf("%d index rows and %d markers without background cleanup, want a marker per key group", len(index), len(markers))
	}
	hs := snapshotTo(t, b, store, "chk-1", 1, snapshot.KindCheckpoint, "")

	rClock := ttl.NewManualClock(t0 + 9000)
	r := newRangeBackend(t, rClock, 0, 127)
	restoreFrom(t, r, store, "chk-1", hs)
	register(t, r, "session", snapshot.StateValue, on)
	if index := indexRows(t, r); len(index) != n || index[0].marker {
		t.Errorf("%d index rows after background cleanup was turned on, want %d and no marker", len(index), n)
	}
	hs = snapshotTo(t, r, store, "chk-2", 2, snapshot.KindCheckpoint, "")
	rClock.Set(t0 + 10_000)
	if stats := sweep(t, r); stats.RowsDeleted != n {
		t.Errorf("sweep %+v, want %d rows deleted", stats, n)
	}

	r2 := newRangeBackend(t, ttl.NewManualClock(t0+10_000), 0, 127)
	restoreFrom(t, r2, store, "chk-2", hs)
	register(t, r2, "session", snapshot.StateValue, off)
	register(t, r2, "other", snapshot.StateValue, on) // so that sweeps run
	if stats := sweep(t, r2); stats.EntriesRead != n || stats.RowsDeleted != 0 {
		t.Errorf("sweep %+v, want the %d stale index rows read and nothing deleted", stats, n)
	}
	index = indexRows(t, r2)
	if len(index) != 128 || len(rows(t, r2, r2.states["session"].sid)) != n {
		t.Errorf("%d index rows (want only the 128 markers) and %d rows (want %d) after the sweep", len(index),
			len(rows(t, r2, r2.states["session"].sid)), n)
	}
}

// TestCloseClosesClock: Close closes the coarse clock that the backend
// opened because no clock was configured: the goroutine that refreshes
// coarse clocks stops, as no other one is open.
func TestCloseClosesClock(t *testing.T) {
	if n := coarseRefreshers(); n != 0 {
		t.Fatalf("%d coarse clock goroutines before the test: a clock of another test is open", n)
	}
	b, err := New(Options[string]{Dir: t.TempDir(), CacheSize: 8 << 20,
		KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "op", MaxParallelism: 128,
			KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: serializer.String{}}})
	must(t, err)
	if _, ok := b.Clock().(*ttl.CoarseClock); !ok {
		t.Fatalf("default clock %T, want a *ttl.CoarseClock", b.Clock())
	}
	if n := coarseRefreshers(); n != 1 {
		t.Fatalf("%d coarse clock goroutines with the clock open, want 1", n)
	}
	must(t, b.Close())
	// Close of the last coarse clock waits for the goroutine to return; it
	// may still be listed until it has unwound.
	for i := 0; coarseRefreshers() != 0; i++ {
		if i == 10_000 {
			t.Fatal("the coarse clock goroutine still runs after Close")
		}
		runtime.Gosched()
	}
}

// coarseRefreshers returns how many goroutines refresh coarse clocks.
func coarseRefreshers() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			return strings.Count(string(buf[:n]), "created by github.com/stated-io/stated/ttl.NewCoarseClock")
		}
		buf = make([]byte, 2*len(buf))
	}
}
