package lsm

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/backendtest"
	"github.com/stated-io/stated/internal/rowkey"
	"github.com/stated-io/stated/internal/statecodec"
	"github.com/stated-io/stated/internal/ttlunit"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

// t0 is the time the TTL tests start at, in milliseconds since the epoch.
const t0 = int64(1_700_000_000_000)

func newTTLBackend(t *testing.T, clock ttl.Clock) *Backend[string] {
	t.Helper()
	b, err := New(Options[string]{Dir: t.TempDir(), CacheSize: 8 << 20, MemTableSize: 1 << 20,
		KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "op", MaxParallelism: 128,
			KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: serializer.String{}, Clock: clock}})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// ttlConfig is a TTL of d whose only cleanup is the background sweep.
func ttlConfig(d time.Duration) *ttl.Config {
	c := &ttl.Config{TTL: d, Cleanup: ttl.Cleanup{Incremental: ttl.IncrementalCleanup{Disabled: true}}}
	c.EnsureDefaults()
	return c
}

// register registers a state that stores raw bytes.
func register[K comparable](t *testing.T, b *Backend[K], name string, kind snapshot.StateKind, cfg *ttl.Config) backend.ByteTable {
	t.Helper()
	sers := []serializer.Snapshot{{Name: "raw", Version: 1}}
	tb, err := b.ByteTable(backend.ByteRegistration{Name: name, Kind: kind, Serializers: sers, TTL: cfg,
		Migrate: func(old []serializer.Snapshot) (backend.ByteMigration, error) {
			return backend.ByteMigration{Serializers: old}, nil
		}})
	if err != nil {
		t.Fatal(err)
	}
	return tb
}

// unit is a stamped unit.
func unit(ts int64, s string) []byte { return append(ttl.AppendTimestamp(nil, ts), s...) }

// elems is a stored list of stamped elements.
func elems(units ...[]byte) []byte {
	var out []byte
	for _, u := range units {
		out = binary.AppendUvarint(out, uint64(len(u)))
		out = append(out, u...)
	}
	return out
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func at[K comparable](t *testing.T, b *Backend[K], k K) {
	t.Helper()
	must(t, b.SetCurrentKey(k))
}

func keysOf(t *testing.T, b *Backend[string], state, ns string) []string {
	t.Helper()
	var got []string
	must(t, b.Keys(state, ns, func(k string) bool { got = append(got, k); return true }))
	slices.Sort(got)
	return got
}

// TestTTLKeys: under NeverReturnExpired, Keys shows the keys that hold a
// live unit in the namespace: a live value, a list with a live element, a
// map with a live entry (once, wherever the live entry sorts); under
// ReturnExpiredIfNotCleanedUp and without TTL it shows every key.
func TestTTLKeys(t *testing.T) {
	for _, vis := range []ttl.Visibility{ttl.NeverReturnExpired, ttl.ReturnExpiredIfNotCleanedUp} {
		t.Run(vis.String(), func(t *testing.T) {
			clock := ttl.NewManualClock(t0)
			b := newTTLBackend(t, clock)
			cfg := ttlConfig(10 * time.Second)
			cfg.Visibility = vis
			cfg.Cleanup.Background = ttl.BackgroundCleanup{Disabled: true}
			value := register(t, b, "value", snapshot.StateValue, cfg)
			list := register(t, b, "list", snapshot.StateList, cfg)
			m := register(t, b, "map", snapshot.StateMap, cfg)
			plain := register(t, b, "plain", snapshot.StateValue, nil)
			old, young := t0-20_000, t0-1000 // expired, live at t0
			at(t, b, "v-dead")
			must(t, value.Put("", unit(old, "x")))
			must(t, value.Put("ns", unit(young, "x"))) // live in another namespace
			must(t, plain.Put("", unit(old, "x")))     // no TTL: never hidden
			at(t, b, "v-live")
			must(t, value.Put("", unit(young, "x")))
			at(t, b, "l-dead")
			must(t, list.Put("", elems(unit(old, "a"), unit(old, "b"))))
			at(t, b, "l-live")
			must(t, list.Put("", elems(unit(old, "a"))))
			must(t, list.Append("", elems(unit(young, "b"))))
			at(t, b, "m-dead")
			must(t, m.PutEntry("", []byte("a"), unit(old, "1")))
			must(t, m.PutEntry("", []byte("b"), unit(old, "2")))
			at(t, b, "m-live-last")
			must(t, m.PutEntry("", []byte("a"), unit(old, "1")))
			must(t, m.PutEntry("", []byte("b"), unit(old, "2")))
			must(t, m.PutEntry("", []byte("c"), unit(young, "3")))
			at(t, b, "m-live-first")
			must(t, m.PutEntry("", []byte("a"), unit(young, "1")))
			must(t, m.PutEntry("", []byte("b"), unit(young, "2")))
			must(t, m.PutEntry("", []byte("c"), unit(old, "3")))
			for _, flush := range []bool{false, true} {
				if flush {
					must(t, b.Compact(context.Background())) // the same from SSTs
				}
				for _, tc := range []struct {
					state, ns string
					all, live []string
				}{
					{"value", "", []string{"v-dead", "v-live"}, []string{"v-live"}},
					{"value", "ns", []string{"v-dead"}, []string{"v-dead"}},
					{"list", "", []string{"l-dead", "l-live"}, []string{"l-live"}},
					{"map", "", []string{"m-dead", "m-live-first", "m-live-last"}, []string{"m-live-first", "m-live-last"}},
					{"plain", "", []string{"v-dead"}, []string{"v-dead"}},
				} {
					want := tc.all
					if vis == ttl.NeverReturnExpired {
						want = tc.live
					}
					if got := keysOf(t, b, tc.state, tc.ns); !slices.Equal(got, want) {
						t.Errorf("flushed=%v: Keys(%q, %q) = %v, want %v", flush, tc.state, tc.ns, got, want)
					}
				}
			}
			// Later everything has expired.
			clock.Set(t0 + 60_000)
			if got := keysOf(t, b, "map", ""); vis == ttl.NeverReturnExpired && len(got) != 0 {
				t.Errorf("Keys(map) after every entry expired = %v, want none", got)
			}
		})
	}
}

// TestExpiryMapper: the collector maps index keys of every kind to their
// bucket and every other key to the empty interval, and the sweep's filter
// passes exactly the intervals that hold a bucket at or before now.
func TestExpiryMapper(t *testing.T) {
	row := rowkey.AppendRowPrefix(nil, 3, 1, []byte("k"), "ns")
	index := appendIndexKey(nil, row, 1234)
	ik := func(k []byte, kind pebble.InternalKeyKind) sstable.InternalKey {
		return pebble.MakeInternalKey(k, 1, kind)
	}
	for _, tc := range []struct {
		name string
		key  sstable.InternalKey
		want sstable.BlockInterval
	}{
		{"data row", ik(row, pebble.InternalKeyKindSet), emptyInterval},
		{"data row merge", ik(row, pebble.InternalKeyKindMerge), emptyInterval},
		{"data row deletion", ik(row, pebble.InternalKeyKindDelete), emptyInterval},
		{"index row", ik(index, pebble.InternalKeyKindSet), sstable.BlockInterval{Lower: 1234, Upper: 1235}},
		{"index row deletion", ik(index, pebble.InternalKeyKindDelete), sstable.BlockInterval{Lower: 1234, Upper: 1235}},
		{"index row single deletion", ik(index, pebble.InternalKeyKindSingleDelete), sstable.BlockInterval{Lower: 1234, Upper: 1235}},
		{"marker", ik(appendMarker(nil, 3, 7), pebble.InternalKeyKindSet),
			sstable.BlockInterval{Lower: markerBucket - 1, Upper: markerBucket}},
		{"short key", ik([]byte{1}, pebble.InternalKeyKindSet), emptyInterval},
		{"index key without a state id", ik(appendIndexPrefix(nil, 3, 1234), pebble.InternalKeyKindSet), emptyInterval},
	} {
		got, err := expiryMapper{}.MapPointKey(tc.key, nil)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
		}
		if got.IsEmpty() && tc.want.IsEmpty() {
			continue
		}
		if got != tc.want {
			t.Errorf("%s: interval %+v, want %+v", tc.name, got, tc.want)
		}
	}
	f := newBlockCounter(expiredBy(t0))
	for _, tc := range []struct {
		in   sstable.BlockInterval
		want bool
	}{
		{sstable.BlockInterval{Lower: uint64(t0), Upper: uint64(t0) + 1}, true},
		{sstable.BlockInterval{Lower: uint64(t0) + 1, Upper: uint64(t0) + 9}, false},
		{sstable.BlockInterval{Lower: 5, Upper: uint64(t0) + 9}, true},
		{emptyInterval, false},
	} {
		if got, err := f.Intersects(encodeInterval(tc.in)); err != nil || got != tc.want {
			t.Errorf("filter at %d on %+v: %v, %v; want %v", t0, tc.in, got, err, tc.want)
		}
	}
	if got, err := f.Intersects([]byte{0xff}); err != nil || !got {
		t.Errorf("filter on a property that does not decode: %v, %v; want the block read", got, err)
	}
	if n := f.hits.Load(); n != 3 {
		t.Errorf("the filter counted %d passes, want 3", n)
	}
	var all blockCounter // passes and counts everything
	for _, prop := range [][]byte{nil, encodeInterval(sstable.BlockInterval{Lower: 1, Upper: 2})} {
		if ok, err := all.Intersects(prop); err != nil || !ok {
			t.Errorf("the counting-only filter left out %x: %v", prop, err)
		}
	}
	if n := all.hits.Load(); n != 2 {
		t.Errorf("the counting-only filter counted %d, want 2", n)
	}
}

// TestBuckets: buckets are expiry times rounded up to a multiple of the
// width, TTL/16, at least 1 ms.
func TestBuckets(t *testing.T) {
	for _, tc := range []struct {
		ttl  time.Duration
		want int64
	}{{10 * time.Second, 625}, {time.Second, 62}, {16 * time.Millisecond, 1}, {time.Millisecond, 1}, {time.Microsecond, 1}} {
		if got := bucketWidth(tc.ttl); got != tc.want {
			t.Errorf("bucketWidth(%v) = %d, want %d", tc.ttl, got, tc.want)
		}
	}
	for _, tc := range []struct {
		at, width int64
		want      uint64
	}{
		{1000, 625, 1250}, {1250, 625, 1250}, {1251, 625, 1875}, {0, 625, 0}, {-5000, 625, 0}, {7, 1, 7},
		{math.MaxInt64, 625, (math.MaxInt64/625 + 1) * 625},
	} {
		if got := bucketOf(tc.at, tc.width); got != tc.want {
			t.Errorf("bucketOf(%d, %d) = %d, want %d", tc.at, tc.width, got, tc.want)
		}
	}
}

// encodeInterval encodes i as sstable.BlockIntervalCollector does.
func encodeInterval(i sstable.BlockInterval) []byte {
	if i.IsEmpty() {
		return nil
	}
	out := binary.AppendUvarint(nil, i.Lower)
	return binary.AppendUvarint(out, i.Upper-i.Lower)
}

// indexEntry is a row of the expiry index.
type indexEntry struct {
	kg     int
	bucket uint64
	sid    uint16
	row    string // the row key it names; empty for a marker
	marker bool
}

// indexRows returns the rows of b's expiry index, in key order.
func indexRows[K comparable](t *testing.T, b *Backend[K]) []indexEntry {
	t.Helper()
	var out []indexEntry
	lo, hi := rowkey.SpanOf(b.groups.Start, b.groups.End)
	it, err := b.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	must(t, err)
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		if sid, _ := rowSID(it.Key()); sid != rowkey.IndexSID {
			continue
		}
		r, ok := parseIndexKey(it.Key())
		if !ok {
			t.Fatalf("index key %x does not parse", it.Key())
		}
		e := indexEntry{kg: r.kg, bucket: r.bucket, sid: r.sid, marker: r.marker}
		if !r.marker {
			e.row = string(appendIndexedRow(nil, it.Key()))
		}
		out = append(out, e)
	}
	must(t, it.Error())
	return out
}

// indexOf returns the index rows of state id sid, and the markers if
// markers.
func indexOf(entries []indexEntry, sid uint16, markers bool) []indexEntry {
	var out []indexEntry
	for _, e := range entries {
		if e.sid == sid && e.marker == markers {
			out = append(out, e)
		}
	}
	return out
}

// rows returns the rows of state id sid: the unit timestamps of each,
// keyed by key, namespace and user key.
func rows[K comparable](t *testing.T, b *Backend[K], sid uint16) map[string][]int64 {
	t.Helper()
	out := map[string][]int64{}
	lo, hi := rowkey.SpanOf(b.groups.Start, b.groups.End)
	it, err := b.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	must(t, err)
	defer it.Close()
	for valid := it.First(); valid; valid = it.Next() {
		if s, _ := rowSID(it.Key()); s != sid {
			continue
		}
		r, err := rowkey.Parse(it.Key())
		must(t, err)
		kind := b.sids.Load().info(sid).kind
		name := fmt.Sprintf("%x/%s/%s", r.Key, r.Namespace, r.UserKey)
		if kind == snapshot.StateList {
			must(t, statecodec.RangeElements(it.Value(), func(e []byte) error {
				ts, err := ttlunit.Timestamp(e)
				out[name] = append(out[name], ts)
				return err
			}))
			continue
		}
		ts, err := ttlunit.Timestamp(it.Value())
		must(t, err)
		out[name] = []int64{ts}
	}
	must(t, it.Error())
	return out
}

// TestSweepRemovesExpired: a sweep deletes expired values and map entries,
// rewrites partially expired lists and deletes fully expired ones, in the
// memtable and in SSTs alike, and leaves alone the live units, the states
// without TTL and the states whose background cleanup is off.
func TestSweepRemovesExpired(t *testing.T) {
	for _, where := range []string{"memtable", "L0", "compacted"} {
		t.Run(where, func(t *testing.T) {
			clock := ttl.NewManualClock(t0)
			b := newTTLBackend(t, clock)
			b.hooks.after = func(time.Duration) <-chan time.Time { return nil } // no background sweep
			cfg := ttlConfig(10 * time.Second)
			value := register(t, b, "value", snapshot.StateValue, cfg)
			list := register(t, b, "list", snapshot.StateList, cfg)
			m := register(t, b, "map", snapshot.StateMap, cfg)
			plain := register(t, b, "plain", snapshot.StateValue, nil)
			off := ttlConfig(10 * time.Second)
			off.Cleanup.Background = ttl.BackgroundCleanup{Disabled: true}
			kept := register(t, b, "kept", snapshot.StateValue, off)
			old, young := t0-20_000, t0-1000
			const n = 50
			for i := range n {
				at(t, b, fmt.Sprintf("k%03d", i))
				ts := young
				if i%2 == 0 {
					ts = old
				}
				must(t, value.Put("", unit(ts, "v")))
				must(t, plain.Put("", unit(old, "p")))
				must(t, kept.Put("", unit(old, "k")))
				switch i % 3 {
				case 0: // all expired
					must(t, list.Put("", elems(unit(old, "a"), unit(old, "b"))))
				case 1: // partially
					must(t, list.Put("", elems(unit(old, "a"), unit(young, "b"), unit(old, "c"))))
				case 2: // live, appended as a merge operand
					must(t, list.Put("", elems(unit(young, "a"))))
				}
				must(t, list.Append("", elems(unit(young, "z"))))
				if i%3 == 0 {
					must(t, list.Append("", elems(unit(old, "y")))) // an expired operand
				}
				must(t, m.PutEntry("", []byte("old"), unit(old, "1")))
				must(t, m.PutEntry("", []byte("young"), unit(young, "2")))
			}
			switch where {
			case "L0":
				must(t, b.db.Flush())
			case "compacted":
				must(t, b.Compact(context.Background()))
			}
			stats, err := b.SweepExpired(context.Background())
			must(t, err)
			t.Logf("%+v", stats)
			// Values: the 25 even ones expired. Lists: 17 all-but-z
			// lists lose 3 units, 17 partial lose 2, 16 live lose none;
			// every list keeps z. Maps: 50 old entries.
			const evens, thirds0, thirds1 = 25, 17, 17
			if stats.RowsDeleted != evens+n || stats.RowsRewritten != thirds0+thirds1 ||
				stats.UnitsRemoved != evens+3*thirds0+2*thirds1+n || stats.Unreadable != 0 {
				t.Errorf("stats %+v: want %d rows deleted, %d rewritten, %d units removed", stats,
					evens+n, thirds0+thirds1, evens+3*thirds0+2*thirds1+n)
			}
			for i := range n {
				at(t, b, fmt.Sprintf("k%03d", i))
				v, ok, err := value.Get("")
				must(t, err)
				if ok != (i%2 == 1) || ok && string(v[8:]) != "v" {
					t.Errorf("k%03d: value %q, %v", i, v, ok)
				}
				l, _, err := list.Get("")
				must(t, err)
				var got []string
				must(t, statecodec.RangeElements(l, func(e []byte) error { got = append(got, string(e[8:])); return nil }))
				want := map[int][]string{0: {"z"}, 1: {"b", "z"}, 2: {"a", "z"}}[i%3]
				if !slices.Equal(got, want) {
					t.Errorf("k%03d: list %v, want %v", i, got, want)
				}
				var entries []string
				must(t, m.Entries("", func(k, _ []byte) bool { entries = append(entries, string(k)); return true }))
				if !slices.Equal(entries, []string{"young"}) {
					t.Errorf("k%03d: map entries %v, want [young]", i, entries)
				}
				for _, tb := range []backend.ByteTable{plain, kept} {
					if _, ok, err := tb.Get(""); err != nil || !ok {
						t.Errorf("k%03d: a state that the sweep does not cover lost its value (%v)", i, err)
					}
				}
			}
			// What lives on is indexed at the bucket of its earliest unit;
			// nothing expired is.
			index := indexRows(t, b)
			for _, tc := range []struct {
				name string
				want int
			}{{"value", n / 2}, {"map", n}, {"kept", 0}, {"plain", 0}} {
				if got := len(indexOf(index, b.states[tc.name].sid, false)); got != tc.want {
					t.Errorf("%d index rows of state %q after the sweep, want %d", got, tc.name, tc.want)
				}
			}
			listIndex := indexOf(index, b.states["list"].sid, false)
			lists := map[string]bool{}
			for _, e := range listIndex {
				lists[e.row] = true
			}
			if len(lists) != n {
				t.Errorf("%d lists indexed after the sweep, want %d", len(lists), n)
			}
			youngBucket := indexBucket(young+cfg.TTL.Milliseconds(), cfg.TTL)
			if got := len(indexOf(index, b.states["kept"].sid, true)); got != 128 {
				t.Errorf("%d markers of the state without background cleanup, want one per key group", got)
			}
			for _, e := range index {
				if !e.marker && e.bucket != youngBucket {
					t.Errorf("index row at bucket %d after the sweep, want %d: %+v", e.bucket, youngBucket, e)
				}
			}
			// A second sweep finds nothing left to do.
			again, err := b.SweepExpired(context.Background())
			must(t, err)
			if again.UnitsRemoved != 0 || again.EntriesRead != 0 {
				t.Errorf("second sweep %+v, want nothing read or removed", again)
			}
		})
	}
}

// TestSweepVerifiesCandidates: index rows are hints. The sweep judges the
// row an expired index row names as it is now: a row deleted since keeps
// no index row, a row rewritten since is left alone and re-indexed at its
// current bucket, a list appended to since loses only its expired
// elements.
func TestSweepVerifiesCandidates(t *testing.T) {
	clock := ttl.NewManualClock(t0)
	b := newTTLBackend(t, clock)
	b.hooks.after = func(time.Duration) <-chan time.Time { return nil }
	cfg := ttlConfig(10 * time.Second)
	list := register(t, b, "list", snapshot.StateList, cfg)
	value := register(t, b, "value", snapshot.StateValue, cfg)
	old := t0 - 20_000
	at(t, b, "stale")
	must(t, list.Put("", elems(unit(old, "a"))))
	at(t, b, "deleted")
	must(t, value.Put("", unit(old, "x")))
	at(t, b, "rewritten")
	must(t, value.Put("", unit(old, "x")))
	must(t, b.Compact(context.Background())) // the expired index rows at the bottom
	at(t, b, "stale")
	must(t, list.Append("", elems(unit(t0, "fresh"))))
	must(t, b.db.Flush())
	at(t, b, "deleted")
	must(t, value.Delete(""))
	must(t, b.db.Flush())
	at(t, b, "rewritten")
	must(t, value.Put("", unit(t0, "y")))
	must(t, b.db.Flush())

	stats, err := b.SweepExpired(context.Background())
	must(t, err)
	t.Logf("%+v", stats)
	at(t, b, "stale")
	l, ok, err := list.Get("")
	must(t, err)
	if !ok || !slices.Equal(l, elems(unit(t0, "fresh"))) {
		t.Errorf("list after the sweep: %x, %v; want only the fresh element", l, ok)
	}
	at(t, b, "rewritten")
	if v, ok, err := value.Get(""); err != nil || !ok || string(v[8:]) != "y" {
		t.Errorf("rewritten value after the sweep: %q, %v, %v", v, ok, err)
	}
	at(t, b, "deleted")
	if _, ok, err := value.Get(""); err != nil || ok {
		t.Errorf("deleted value after the sweep: %v, %v", ok, err)
	}
	if stats.EntriesRead != 3 || stats.RowsDeleted != 0 || stats.RowsRewritten != 1 || stats.UnitsRemoved != 1 {
		t.Errorf("stats %+v: want 3 index rows read, the stale list rewritten (1 unit), nothing deleted", stats)
	}
	// Left: the index rows of the fresh units, one per live row.
	fresh := indexBucket(t0+cfg.TTL.Milliseconds(), cfg.TTL)
	index := indexRows(t, b)
	if len(index) != 2 || index[0].bucket != fresh || index[1].bucket != fresh {
		t.Errorf("index after the sweep %+v, want the stale list and the rewritten value at bucket %d", index, fresh)
	}
}

// TestSweepConcurrentWrites: sweeps on another goroutine, while the owner
// appends to lists whose older elements expired, never lose an append.
func TestSweepConcurrentWrites(t *testing.T) {
	clock := ttl.NewManualClock(t0)
	b := newTTLBackend(t, clock)
	b.hooks.after = func(time.Duration) <-chan time.Time { return nil }
	list := register(t, b, "list", snapshot.StateList, ttlConfig(10*time.Second))
	value := register(t, b, "value", snapshot.StateValue, ttlConfig(10*time.Second))
	const keys, rounds = 300, 4
	old := t0 - 20_000
	for i := range keys {
		at(t, b, fmt.Sprintf("k%03d", i))
		must(t, list.Put("", elems(unit(old, "a"), unit(old, "b"))))
		must(t, value.Put("", unit(old, "x")))
	}
	must(t, b.db.Flush())
	stop := make(chan struct{})
	done := make(chan error)
	go func() {
		for {
			select {
			case <-stop:
				done <- nil
				return
			default:
			}
			if _, err := b.SweepExpired(context.Background()); err != nil {
				done <- err
				return
			}
		}
	}()
	for r := range rounds {
		for i := range keys {
			at(t, b, fmt.Sprintf("k%03d", i))
			must(t, list.Append("", elems(unit(t0, fmt.Sprint(r)))))
			if r == rounds-1 {
				must(t, value.Put("", unit(t0, "y")))
			}
		}
	}
	close(stop)
	must(t, <-done)
	_, err := b.SweepExpired(context.Background())
	must(t, err)
	want := elems(unit(t0, "0"), unit(t0, "1"), unit(t0, "2"), unit(t0, "3"))
	for i := range keys {
		at(t, b, fmt.Sprintf("k%03d", i))
		if l, _, err := list.Get(""); err != nil || !slices.Equal(l, want) {
			t.Fatalf("k%03d: list %x (%v), want only the appended elements", i, l, err)
		}
		if v, ok, err := value.Get(""); err != nil || !ok || string(v[8:]) != "y" {
			t.Fatalf("k%03d: value %q, %v, %v", i, v, ok, err)
		}
	}
}

// TestSweepReadsOnlyExpiredBlocks: with 1% of the rows expired, clustered
// by write time (keys grow with it, as sessions or event ids do), and the
// database compacted to the bottom (every row a SET key), a sweep reads at
// most a fifth of the blocks: the expired spans of the index and the rows
// they name. It removes every expired row and nothing else.
func TestSweepReadsOnlyExpiredBlocks(t *testing.T) {
	for _, kind := range []snapshot.StateKind{snapshot.StateValue, snapshot.StateMap} {
		t.Run(kind.String(), func(t *testing.T) {
			clock := ttl.NewManualClock(t0)
			b, err := New(Options[string]{Dir: t.TempDir(), MemTableSize: 4 << 20,
				KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "op", MaxParallelism: 8,
					KeyGroups: backend.KeyGroupRange{Start: 0, End: 7}, KeySerializer: serializer.String{}, Clock: clock}})
			must(t, err)
			t.Cleanup(func() { b.Close() })
			b.hooks.after = func(time.Duration) <-chan time.Time { return nil }
			cfg := ttlConfig(10 * time.Second)
			tb := register(t, b, "state", kind, cfg)
			const n = 40_000 // rows
			perKey := 1
			if kind == snapshot.StateMap {
				perKey = 4
			}
			keys, early := n/perKey, n/perKey/100
			pad := strings.Repeat("p", 40)
			for i := range keys {
				if i == early {
					clock.Set(t0 + 8000) // the first 1% expire at +10 s, the rest at +18 s
				}
				at(t, b, fmt.Sprintf("s%08d", i))
				if kind == snapshot.StateValue {
					must(t, tb.Put("", unit(clock.Now(), pad)))
					continue
				}
				for e := range perKey {
					must(t, tb.PutEntry("", []byte{byte(e)}, unit(clock.Now(), pad)))
				}
			}
			must(t, b.Compact(context.Background()))
			clock.Set(t0 + 12_000)
			stats, err := b.SweepExpired(context.Background())
			must(t, err)
			t.Logf("%+v: read %.1f%% of the blocks", stats, 100*float64(stats.BlocksRead)/float64(stats.TotalBlocks))
			if want := int64(early * perKey); stats.RowsDeleted != want || stats.EntriesRead != want {
				t.Errorf("deleted %d rows after reading %d index rows, want %d", stats.RowsDeleted, stats.EntriesRead, want)
			}
			switch {
			case stats.TotalBlocks < 200:
				t.Errorf("%d blocks in all: too few to measure", stats.TotalBlocks)
			case pebbleInvariants:
				t.Log("Pebble's invariant checks (race build) disable block reuse: blocks read not checked")
			case stats.BlocksRead > stats.TotalBlocks/5:
				t.Errorf("read %d of %d blocks, want at most a fifth", stats.BlocksRead, stats.TotalBlocks)
			}
			live := rows(t, b, b.states["state"].sid)
			if len(live) != n-early*perKey {
				t.Errorf("%d rows after the sweep, want %d", len(live), n-early*perKey)
			}
			for name, ts := range live {
				if ts[0] != t0+8000 {
					t.Errorf("row %s stamped %d survived the sweep", name, ts[0])
				}
			}
		})
	}
}

// fakeTime is a monotonic clock that only sleeps move.
type fakeTime struct {
	now   time.Time
	slept time.Duration
	calls int
}

func (f *fakeTime) Now() time.Time { return f.now }
func (f *fakeTime) Sleep(ctx context.Context, d time.Duration) error {
	f.calls++
	f.slept += d
	f.now = f.now.Add(d)
	return ctx.Err()
}

// TestSweepRateLimit: a sweep reads at most RateLimit index rows per second,
// pacing with the (injected) sleep, and stops when its context is done.
func TestSweepRateLimit(t *testing.T) {
	clock := ttl.NewManualClock(t0)
	b := newTTLBackend(t, clock)
	b.hooks.after = func(time.Duration) <-chan time.Time { return nil }
	cfg := ttlConfig(time.Hour)
	cfg.Cleanup.Background.RateLimit = 1000
	fast := ttlConfig(time.Hour)
	fast.Cleanup.Background.RateLimit = 1_000_000
	slow := register(t, b, "slow", snapshot.StateValue, cfg)
	quick := register(t, b, "quick", snapshot.StateValue, fast)
	// Set after the background goroutine started with the defaults: only
	// SweepExpired, on this goroutine, uses them.
	ft := &fakeTime{now: time.Unix(0, 0)}
	b.hooks.now, b.hooks.sleep = ft.Now, ft.Sleep
	const n = 5000
	fill := func() {
		for i := range n {
			at(t, b, fmt.Sprintf("k%05d", i))
			must(t, slow.Put("", unit(clock.Now(), "v")))
			must(t, quick.Put("", unit(clock.Now(), "v")))
		}
		// Every index row is due: each is read, each row removed.
		clock.Set(clock.Now() + 2*time.Hour.Milliseconds())
	}
	fill()
	must(t, b.Compact(context.Background()))
	stats, err := b.SweepExpired(context.Background())
	must(t, err)
	if stats.EntriesRead != 2*n {
		t.Fatalf("read %d entries, want %d", stats.EntriesRead, 2*n)
	}
	// The smallest rate limit applies; the first batch is a burst.
	want := time.Duration(float64(2*n-sweepBatch) / 1000 * float64(time.Second))
	if d := ft.slept - want; d < -time.Millisecond || d > time.Millisecond {
		t.Errorf("slept %v for %d entries at 1000/s, want %v", ft.slept, 2*n, want)
	}
	if ft.calls < 2*n/sweepBatch-1 {
		t.Errorf("slept %d times, want about once per batch of %d", ft.calls, sweepBatch)
	}

	// Time that passed outside the sweep's sleeps counts: entries read
	// slowly are not slept for.
	ft.slept, ft.calls = 0, 0
	fill()
	b.hooks.now = func() time.Time { ft.now = ft.now.Add(time.Second); return ft.now }
	_, err = b.SweepExpired(context.Background())
	must(t, err)
	if ft.slept != 0 {
		t.Errorf("slept %v although every batch took a second", ft.slept)
	}
	b.hooks.now = ft.Now

	// Cancellation while pacing ends the sweep.
	fill()
	ctx, cancel := context.WithCancel(context.Background())
	b.hooks.sleep = func(ctx context.Context, d time.Duration) error {
		cancel()
		return ft.Sleep(ctx, d)
	}
	stats, err = b.SweepExpired(ctx)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("sweep with a cancelled context: %v", err)
	}
	if stats.EntriesRead > 2*sweepBatch {
		t.Errorf("read %d entries after the cancellation", stats.EntriesRead)
	}
}

// TestBackgroundSweep: the first state with background cleanup starts the
// goroutine, which sweeps each time the smallest interval elapses; Close
// stops it, and closing twice is fine.
func TestBackgroundSweep(t *testing.T) {
	clock := ttl.NewManualClock(t0)
	b := newTTLBackend(t, clock)
	ft := &fakeTime{now: time.Unix(0, 0)} // used by the sweep goroutine only
	b.hooks.now, b.hooks.sleep = ft.Now, ft.Sleep
	ticks := make(chan time.Time)
	waits := make(chan time.Duration, 16)
	swept := make(chan SweepStats, 16)
	b.hooks.after = func(d time.Duration) <-chan time.Time { waits <- d; return ticks }
	b.hooks.swept = func(s SweepStats, err error) {
		if err != nil {
			t.Errorf("background sweep: %v", err)
		}
		swept <- s
	}
	off := ttlConfig(time.Second)
	off.Cleanup.Background = ttl.BackgroundCleanup{Disabled: true}
	register(t, b, "plain", snapshot.StateValue, nil)
	register(t, b, "off", snapshot.StateValue, off)
	if b.bg != nil {
		t.Fatal("the background sweep started without a state that wants it")
	}
	slow := ttlConfig(time.Second)
	slow.Cleanup.Background.Interval = 5 * time.Minute
	fast := ttlConfig(time.Second)
	fast.Cleanup.Background.Interval = 2 * time.Minute
	value := register(t, b, "slow", snapshot.StateValue, slow)
	register(t, b, "fast", snapshot.StateValue, fast)
	if b.bg == nil {
		t.Fatal("no background sweep after a state with background cleanup registered")
	}
	deadline := time.After(time.Minute)
	wait := func() time.Duration {
		t.Helper()
		select {
		case d := <-waits:
			return d
		case <-deadline:
			t.Fatal("the background sweep never waited for its interval")
		}
		return 0
	}
	// The first wait may start before the second state registered.
	if d := wait(); d != 5*time.Minute && d != 2*time.Minute {
		t.Errorf("first wait %v, want the smallest interval of the states registered", d)
	}
	at(t, b, "a")
	must(t, value.Put("", unit(t0, "v")))
	clock.Set(t0 + 1000 + bucketWidth(time.Second)) // expired, and its bucket is due
	ticks <- time.Time{}
	select {
	case s := <-swept:
		if s.UnitsRemoved != 1 {
			t.Errorf("background sweep %+v, want 1 unit removed", s)
		}
	case <-deadline:
		t.Fatal("no background sweep after the interval elapsed")
	}
	if _, ok, err := value.Get(""); err != nil || ok {
		t.Errorf("value after the background sweep: %v, %v", ok, err)
	}
	if d := wait(); d != 2*time.Minute {
		t.Errorf("wait %v after a sweep, want the smallest interval (2m)", d)
	}
	bg := b.bg
	must(t, b.Close())
	select {
	case <-bg.done:
	default:
		t.Fatal("Close returned before the background sweep stopped")
	}
	must(t, b.Close())
	if _, err := b.SweepExpired(context.Background()); !errors.Is(err, backend.ErrClosed) {
		t.Errorf("SweepExpired after Close: %v", err)
	}
}

// snapshotTo writes a capture of b to store and returns its handles.
func snapshotTo(t *testing.T, b backend.KeyedBackend[string], store snapshot.Storage, dir string, id int64, kind snapshot.Kind, shared string) []snapshot.KeyedStateHandle {
	t.Helper()
	return snapshotAs(t, b, store, dir, "op-0", id, kind, shared)
}

// snapshotAs is snapshotTo with the file prefix of a subtask.
func snapshotAs(t *testing.T, b backend.KeyedBackend[string], store snapshot.Storage, dir, prefix string, id int64, kind snapshot.Kind, shared string) []snapshot.KeyedStateHandle {
	t.Helper()
	c, err := b.Snapshot()
	must(t, err)
	hs, err := c.Write(context.Background(), backend.SnapshotTarget{Store: store, Dir: dir, FilePrefix: prefix,
		CheckpointID: id, Kind: kind, SharedDir: shared})
	must(t, err)
	return hs
}

func sstBytes(hs []snapshot.KeyedStateHandle) int64 {
	var n int64
	for _, h := range hs {
		for _, f := range h.Files {
			if strings.HasSuffix(f.Path, ".sst") {
				n += f.Size
			}
		}
	}
	return n
}

// restored restores handles into a new backend without registering any
// state, so that its rows are as the snapshot holds them.
func restored(t *testing.T, store snapshot.Storage, dir string, hs []snapshot.KeyedStateHandle) *Backend[string] {
	t.Helper()
	r := newTTLBackend(t, ttl.NewManualClock(t0))
	must(t, r.Restore(context.Background(), backend.RestoreSource{Store: store, Dir: dir, MaxParallelism: 128, Handles: hs}))
	return r
}

// TestFullSnapshotsLeaveOutExpired: savepoints and non-incremental
// checkpoints hold no unit expired at their synchronous phase (in states
// that filter full snapshots) and shrink accordingly; incremental
// checkpoints and the live database keep them.
func TestFullSnapshotsLeaveOutExpired(t *testing.T) {
	clock := ttl.NewManualClock(t0)
	b := newTTLBackend(t, clock)
	b.hooks.after = func(time.Duration) <-chan time.Time { return nil }
	store, err := file.New(t.TempDir())
	must(t, err)
	cfg := ttlConfig(10 * time.Second)
	keep := ttlConfig(10 * time.Second)
	keep.Cleanup.KeepExpiredInFullSnapshots = true
	value := register(t, b, "value", snapshot.StateValue, cfg)
	list := register(t, b, "list", snapshot.StateList, cfg)
	m := register(t, b, "map", snapshot.StateMap, cfg)
	kept := register(t, b, "kept", snapshot.StateValue, keep)
	big := strings.Repeat("incompressible? no, but large enough ", 8)
	const n = 2000
	for i := range n {
		at(t, b, fmt.Sprintf("k%05d", i))
		ts := t0
		if i%10 == 0 {
			ts = t0 + 5000 // 10% stay live
		}
		must(t, value.Put("", unit(ts, big+fmt.Sprint(i))))
		must(t, list.Put("", elems(unit(ts, big), unit(t0+5000, "live"))))
		must(t, m.PutEntry("", []byte("e"), unit(ts, big)))
		must(t, kept.Put("", unit(t0, "k")))
	}
	before := snapshotTo(t, b, store, "sp-1", 1, snapshot.KindSavepoint, "")
	clock.Set(t0 + 10_000) // 90% expired
	after := snapshotTo(t, b, store, "sp-2", 2, snapshot.KindSavepoint, "")
	full := snapshotTo(t, b, store, "chk-3", 3, snapshot.KindCheckpoint, "")
	incremental := snapshotTo(t, b, store, "chk-4", 4, snapshot.KindCheckpoint, "../shared")

	sizeBefore, sizeAfter := sstBytes(before), sstBytes(after)
	t.Logf("savepoint SST bytes: %d before, %d after 90%% expired", sizeBefore, sizeAfter)
	if sizeAfter > sizeBefore/2 {
		t.Errorf("savepoint of %d SST bytes after 90%% expired, %d before", sizeAfter, sizeBefore)
	}
	type count struct{ value, list, mapEntries, kept int }
	counts := func(hs []snapshot.KeyedStateHandle, dir string) count {
		t.Helper()
		r := restored(t, store, dir, hs)
		var c count
		for _, ts := range rows(t, r, r.states["value"].sid) {
			if ts[0] == t0 {
				c.value++
			}
		}
		for _, ts := range rows(t, r, r.states["list"].sid) {
			for _, x := range ts {
				if x == t0 {
					c.list++
				}
			}
		}
		for _, ts := range rows(t, r, r.states["map"].sid) {
			if ts[0] == t0 {
				c.mapEntries++
			}
		}
		c.kept = len(rows(t, r, r.states["kept"].sid))
		return c
	}
	expired := n - n/10
	for _, tc := range []struct {
		name string
		dir  string
		hs   []snapshot.KeyedStateHandle
		want count
	}{
		{"savepoint before", "sp-1", before, count{expired, expired, expired, n}},
		{"savepoint after", "sp-2", after, count{0, 0, 0, n}},
		{"full checkpoint after", "chk-3", full, count{0, 0, 0, n}},
		{"incremental checkpoint after", "chk-4", incremental, count{expired, expired, expired, n}},
	} {
		if got := counts(tc.hs, tc.dir); got != tc.want {
			t.Errorf("%s: stamped at t0 (expired after): %+v, want %+v", tc.name, got, tc.want)
		}
	}
	// The live units are all there.
	r := restored(t, store, "sp-2", after)
	if got := len(rows(t, r, r.states["value"].sid)); got != n/10 {
		t.Errorf("savepoint after: %d values, want %d live ones", got, n/10)
	}
	if got := len(rows(t, r, r.states["list"].sid)); got != n {
		t.Errorf("savepoint after: %d lists, want %d (each has a live element)", got, n)
	}
	// Its index holds no due row of a filtered state: the index rows of
	// the units removed went, the lists that kept a live element are
	// indexed at its bucket. The state that keeps expired units in full
	// snapshots keeps its index rows.
	due, later := indexBucket(t0+10_000, cfg.TTL), indexBucket(t0+15_000, cfg.TTL)
	index := indexRows(t, r)
	for _, tc := range []struct {
		state  string
		bucket uint64
		want   int
	}{{"value", later, n / 10}, {"list", later, n}, {"map", later, n / 10}, {"kept", due, n}} {
		entries := indexOf(index, r.states[tc.state].sid, false)
		if len(entries) != tc.want {
			t.Errorf("savepoint after: %d index rows of %q, want %d", len(entries), tc.state, tc.want)
		}
		for _, e := range entries {
			if e.bucket != tc.bucket {
				t.Errorf("savepoint after: index row of %q at bucket %d, want %d", tc.state, e.bucket, tc.bucket)
				break
			}
		}
	}
	// The live database is unchanged.
	if got := len(rows(t, b, b.states["value"].sid)); got != n {
		t.Errorf("live database: %d values after the savepoints, want %d", got, n)
	}
	if got := len(indexOf(indexRows(t, b), b.states["value"].sid, false)); got != n {
		t.Errorf("live database: %d index rows of values after the savepoints, want %d", got, n)
	}
}

// TestTTLPlateau: with a sweep every simulated second, the entries and the
// disk size (the files of the database: memtables flushed, tables
// compacted) of an unbounded stream of keys under a 1 s TTL plateau.
func TestTTLPlateau(t *testing.T) {
	dir := t.TempDir()
	f := func(o backend.KeyedOptions[string]) (backend.KeyedBackend[string], error) {
		b, err := New(Options[string]{KeyedOptions: o, Dir: dir, CacheSize: 8 << 20, MemTableSize: 1 << 20})
		if err != nil {
			return nil, err
		}
		// No rate limit, no background sweep: Maintain sweeps.
		b.hooks.sleep = func(ctx context.Context, _ time.Duration) error { return ctx.Err() }
		b.hooks.after = func(time.Duration) <-chan time.Time { return nil }
		return b, nil
	}
	// Fewer keys than the defaults, to stay quick under the race detector,
	// but enough that the disk size alone fails the test without the sweep
	// (it grows to about 8 MB in 24 s, the limit is about 5 MB), and the
	// 1 MiB memtable flushes several times per second.
	backendtest.RunTTLPlateau(t, f, backendtest.PlateauOptions{Seconds: 24, KeysPerSecond: 8000,
		Maintain: func(kb backend.KeyedBackend[string]) error {
			_, err := kb.(*Backend[string]).SweepExpired(context.Background())
			return err
		},
		DiskSize: func(kb backend.KeyedBackend[string]) (int64, error) {
			var n int64
			// Compactions remove files meanwhile: those are not counted.
			err := filepath.WalkDir(kb.(*Backend[string]).dbDir(), func(_ string, d fs.DirEntry, err error) error {
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				if err != nil || d.IsDir() {
					return err
				}
				info, err := d.Info()
				if errors.Is(err, fs.ErrNotExist) {
					return nil
				}
				if err == nil {
					n += info.Size()
				}
				return err
			})
			return n, err
		},
	})
}
