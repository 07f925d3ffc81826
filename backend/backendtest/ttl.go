package backendtest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
	"github.com/stated-io/stated/ttl"
)

// The TTL cases of the conformance suite. Time is a ttl.ManualClock that
// every backend of a cluster shares; nothing sleeps.

// t0 is the time the TTL cases start at (2023-11-14, in milliseconds).
const t0 = int64(1_700_000_000_000)

// ttlOf is a TTL of d with the default settings.
func ttlOf(d time.Duration) *ttl.Config { return &ttl.Config{TTL: d} }

// noCleanup is a TTL under which expired units stay until a read meets
// them, and reads return them once: what a backend holds is observable.
func noCleanup(d time.Duration) *ttl.Config {
	return &ttl.Config{TTL: d, Visibility: ttl.ReturnExpiredIfNotCleanedUp, Cleanup: ttl.Cleanup{
		Incremental: ttl.IncrementalCleanup{Disabled: true}, Background: ttl.BackgroundCleanup{Disabled: true}}}
}

// openStatesTTL opens the conformance states of b with TTL cfg (nil: none),
// in the order of stateNames.
func openStatesTTL(t testing.TB, b backend.KeyedBackend[string], cfg *ttl.Config) *states {
	t.Helper()
	return openStatesOrdered(t, b, cfg, nil)
}

// openStatesOrdered opens the conformance states of b with TTL cfg (nil:
// none), registering them in order: indexes into stateNames, nil for
// their own order. Backends that number states by registration give them
// other numbers in another order.
func openStatesOrdered(t testing.TB, b backend.KeyedBackend[string], cfg *ttl.Config, order []int) *states {
	t.Helper()
	vd, ld, md, sd, ad := valueDesc, listDesc, mapDesc, digitsDesc, avgDesc
	vd.TTL, ld.TTL, md.TTL, sd.TTL, ad.TTL = cfg, cfg, cfg, cfg, cfg
	s := &states{}
	register := []func() error{
		func() (err error) { s.value, err = state.GetValueState(b, vd); return err },
		func() (err error) { s.list, err = state.GetListState(b, ld); return err },
		func() (err error) { s.mapS, err = state.GetMapState(b, md); return err },
		func() (err error) { s.digits, err = state.GetReducingState(b, sd); return err },
		func() (err error) { s.avg, err = state.GetAggregatingState(b, ad); return err },
	}
	if order == nil {
		order = []int{0, 1, 2, 3, 4}
	}
	for _, i := range order {
		if err := register[i](); err != nil {
			t.Fatalf("register state %q with ttl %+v: %v", stateNames[i], cfg, err)
		}
	}
	return s
}

// ttlCluster is a cluster on a manual clock with the conformance states
// open with one TTL config.
type ttlCluster struct {
	*stateful
	clock *ttl.ManualClock
}

func newTTLCluster(t testing.TB, f Factory, parallelism int, clock *ttl.ManualClock, cfg *ttl.Config) *ttlCluster {
	t.Helper()
	c, err := buildCluster(t, f, parallelism, 128, nil, settings{clock: clock})
	if err != nil {
		t.Fatalf("new cluster of %d subtasks: %v", parallelism, err)
	}
	return openTTL(t, c, clock, cfg)
}

func restoreTTLCluster(t testing.TB, f Factory, store snapshot.Storage, dir string, parallelism int, clock *ttl.ManualClock, cfg *ttl.Config) *ttlCluster {
	t.Helper()
	c, err := restoreClusterClock(t, f, store, dir, parallelism, 128, clock)
	if err != nil {
		t.Fatalf("restore %s into %d subtasks: %v", dir, parallelism, err)
	}
	return openTTL(t, c, clock, cfg)
}

func openTTL(t testing.TB, c *cluster, clock *ttl.ManualClock, cfg *ttl.Config) *ttlCluster {
	s := &stateful{cluster: c}
	for _, b := range c.keyed {
		s.states = append(s.states, openStatesTTL(t, b, cfg))
	}
	return &ttlCluster{stateful: s, clock: clock}
}

// savepoint snapshots every subtask into a self-contained savepoint.
func (c *cluster) savepoint(store snapshot.Storage, id int64) string {
	c.t.Helper()
	dir := fmt.Sprintf("savepoints/sp-%d", id)
	if err := c.capture().writeKind(c, store, dir, id, snapshot.KindSavepoint); err != nil {
		c.t.Fatalf("savepoint %d: %v", id, err)
	}
	return dir
}

func testTTL(t *testing.T, f Factory) {
	t.Run("Value", func(t *testing.T) { testTTLValue(t, f) })
	t.Run("List", func(t *testing.T) { testTTLList(t, f) })
	t.Run("Map", func(t *testing.T) { testTTLMap(t, f) })
	t.Run("Reducing", func(t *testing.T) { testTTLReducing(t, f) })
	t.Run("Aggregating", func(t *testing.T) { testTTLAggregating(t, f) })
	t.Run("UpdateOnRead", func(t *testing.T) { testTTLUpdateOnRead(t, f) })
	t.Run("ReturnExpiredIfNotCleanedUp", func(t *testing.T) { testTTLReturnExpired(t, f) })
	t.Run("Namespaces", func(t *testing.T) { testTTLNamespaces(t, f) })
	t.Run("KeyEnumeration", func(t *testing.T) { testTTLKeys(t, f) })
	t.Run("FullSnapshotFilter", func(t *testing.T) { testTTLFullSnapshotFilter(t, f) })
	t.Run("AbsoluteAcrossRestore", func(t *testing.T) { testTTLAbsoluteAcrossRestore(t, f) })
	t.Run("TurnOnAtRestore", func(t *testing.T) { testTTLTurnOn(t, f) })
	t.Run("TurnOffAtRestore", func(t *testing.T) { testTTLTurnOff(t, f) })
	t.Run("ShorterTTLAtRestore", func(t *testing.T) { testTTLShorter(t, f) })
	t.Run("InvalidConfig", func(t *testing.T) { testTTLInvalidConfig(t, f) })
	t.Run("ConflictWithoutTTL", func(t *testing.T) { testTTLConflict(t, f) })
}

// wantValue checks the value state of key.
func (c *ttlCluster) wantValue(t testing.TB, key string, want int64, present bool) {
	t.Helper()
	v, ok, err := c.at(key).value.Value()
	if err != nil || ok != present || ok && v != want {
		t.Fatalf("at %+dms: value of %q: got (%d, %v, %v), want (%d, %v)", c.clock.Now()-t0, key, v, ok, err, want, present)
	}
}

func (c *ttlCluster) wantList(t testing.TB, key string, want ...string) {
	t.Helper()
	l, err := c.at(key).list.Get()
	if err != nil || !slices.Equal(l, want) {
		t.Fatalf("at %+dms: list of %q: got (%q, %v), want %q", c.clock.Now()-t0, key, l, err, want)
	}
}

// mapEntries returns the entries Range shows, sorted "k=v".
func (c *ttlCluster) mapEntries(t testing.TB, key string) []string {
	t.Helper()
	var got []string
	err := c.at(key).mapS.Range(func(k string, v int64) bool {
		got = append(got, fmt.Sprintf("%s=%d", k, v))
		return true
	})
	must(t, err)
	slices.Sort(got)
	return got
}

func (c *ttlCluster) wantMap(t testing.TB, key string, want ...string) {
	t.Helper()
	if got := c.mapEntries(t, key); !slices.Equal(got, want) {
		t.Fatalf("at %+dms: map of %q: got %q, want %q", c.clock.Now()-t0, key, got, want)
	}
}

func (c *ttlCluster) wantDigits(t testing.TB, key string, want int64, present bool) {
	t.Helper()
	v, ok, err := c.at(key).digits.Get()
	if err != nil || ok != present || ok && v != want {
		t.Fatalf("at %+dms: digits of %q: got (%d, %v, %v), want (%d, %v)", c.clock.Now()-t0, key, v, ok, err, want, present)
	}
}

func (c *ttlCluster) wantAvg(t testing.TB, key string, want float64, present bool) {
	t.Helper()
	v, ok, err := c.at(key).avg.Get()
	if err != nil || ok != present || ok && v != want {
		t.Fatalf("at %+dms: avg of %q: got (%v, %v, %v), want (%v, %v)", c.clock.Now()-t0, key, v, ok, err, want, present)
	}
}

// at sets the clock to t0 + ms.
func (c *ttlCluster) setTime(ms int64) { c.clock.Set(t0 + ms) }

func testTTLValue(t *testing.T, f Factory) {
	c := newTTLCluster(t, f, 1, ttl.NewManualClock(t0), ttlOf(10*time.Second))
	must(t, c.at("a").value.Update(1))
	c.setTime(4000)
	must(t, c.at("b").value.Update(2))
	must(t, c.at("a").value.Update(3)) // a write stamps anew
	c.setTime(13_999)
	c.wantValue(t, "a", 3, true)
	c.wantValue(t, "b", 2, true)
	c.setTime(14_000) // ts + ttl <= now: expired
	c.wantValue(t, "a", 0, false)
	c.wantValue(t, "b", 0, false)
	must(t, c.at("a").value.Update(5))
	c.wantValue(t, "a", 5, true)
	must(t, c.at("a").value.Clear())
	c.wantValue(t, "a", 0, false)
}

func testTTLList(t *testing.T, f Factory) {
	c := newTTLCluster(t, f, 1, ttl.NewManualClock(t0), ttlOf(10*time.Second))
	must(t, c.at("a").list.Add("x"))
	c.setTime(3000)
	must(t, c.at("a").list.AddAll([]string{"y", "z"}))
	c.setTime(6000)
	must(t, c.at("a").list.Add("w"))
	c.wantList(t, "a", "x", "y", "z", "w")
	c.setTime(10_000) // x expires alone: per element
	c.wantList(t, "a", "y", "z", "w")
	must(t, c.at("a").list.Add("v"))
	c.setTime(13_000)
	c.wantList(t, "a", "w", "v")
	c.setTime(20_000)
	c.wantList(t, "a")
	must(t, c.at("a").list.Update([]string{"p", "q"}))
	c.setTime(29_999)
	c.wantList(t, "a", "p", "q")
	c.setTime(30_000)
	c.wantList(t, "a")
}

func testTTLMap(t *testing.T, f Factory) {
	c := newTTLCluster(t, f, 1, ttl.NewManualClock(t0), ttlOf(10*time.Second))
	m := c.at("a").mapS
	must(t, m.Put("x", 1))
	c.setTime(5000)
	m = c.at("a").mapS
	must(t, m.PutAll(map[string]int64{"y": 2, "z": 3}))
	must(t, m.Put("x", 4)) // restamped by the write
	c.setTime(8000)
	must(t, c.at("a").mapS.Put("w", 5))
	c.setTime(15_000) // x, y, z (stamped at 5000) expire; w stays
	m = c.at("a").mapS
	if v, ok, err := m.Get("y"); err != nil || ok {
		t.Fatalf("expired entry y: got (%d, %v, %v), want none", v, ok, err)
	}
	if ok, err := m.Contains("z"); err != nil || ok {
		t.Fatalf("Contains(expired z) = (%v, %v), want false", ok, err)
	}
	if v, ok, err := m.Get("w"); err != nil || !ok || v != 5 {
		t.Fatalf("live entry w: got (%d, %v, %v), want 5", v, ok, err)
	}
	if empty, err := m.IsEmpty(); err != nil || empty {
		t.Fatalf("IsEmpty with a live entry = (%v, %v)", empty, err)
	}
	c.wantMap(t, "a", "w=5")
	c.setTime(18_000)
	m = c.at("a").mapS
	if empty, err := m.IsEmpty(); err != nil || !empty {
		t.Fatalf("IsEmpty with every entry expired = (%v, %v), want true", empty, err)
	}
	c.wantMap(t, "a")
	must(t, m.Put("n", 9))
	must(t, m.Remove("n"))
	c.wantMap(t, "a")
}

func testTTLReducing(t *testing.T, f Factory) {
	c := newTTLCluster(t, f, 1, ttl.NewManualClock(t0), ttlOf(10*time.Second))
	must(t, c.at("a").digits.Add(1))
	c.setTime(5000)
	must(t, c.at("a").digits.Add(2)) // the reduced value is stamped at 5000
	c.setTime(14_999)
	c.wantDigits(t, "a", 12, true)
	c.setTime(15_000)
	c.wantDigits(t, "a", 0, false)
	c.setTime(16_000)
	must(t, c.at("b").digits.Add(7))
	c.setTime(30_000)
	must(t, c.at("b").digits.Add(4)) // the stored 7 expired: start from 4
	c.wantDigits(t, "b", 4, true)
}

func testTTLAggregating(t *testing.T, f Factory) {
	c := newTTLCluster(t, f, 1, ttl.NewManualClock(t0), ttlOf(10*time.Second))
	must(t, c.at("a").avg.Add(2))
	c.setTime(5000)
	must(t, c.at("a").avg.Add(4))
	c.setTime(14_999)
	c.wantAvg(t, "a", 3, true)
	c.setTime(15_000)
	c.wantAvg(t, "a", 0, false)
	must(t, c.at("b").avg.Add(10))
	c.setTime(26_000)
	must(t, c.at("b").avg.Add(20)) // a fresh accumulator, not (10+20)/2
	c.wantAvg(t, "b", 20, true)
}

func testTTLUpdateOnRead(t *testing.T, f Factory) {
	for _, update := range []ttl.UpdateType{ttl.OnCreateAndWrite, ttl.OnReadAndWrite} {
		t.Run(update.String(), func(t *testing.T) {
			cfg := &ttl.Config{TTL: 10 * time.Second, Update: update}
			c := newTTLCluster(t, f, 1, ttl.NewManualClock(t0), cfg)
			s := c.at("a")
			must(t, s.value.Update(1))
			must(t, s.list.Add("x"))
			must(t, s.mapS.Put("k", 1))
			must(t, s.mapS.Put("r", 2))
			must(t, s.digits.Add(1))
			must(t, s.avg.Add(1))
			c.setTime(9000) // read everything once
			c.wantValue(t, "a", 1, true)
			c.wantList(t, "a", "x")
			s = c.at("a")
			if _, ok, err := s.mapS.Get("k"); err != nil || !ok {
				t.Fatalf("map entry k at 9s: (%v, %v)", ok, err)
			}
			c.wantMap(t, "a", "k=1", "r=2") // Range reads r
			c.wantDigits(t, "a", 1, true)
			c.wantAvg(t, "a", 1, true)
			c.setTime(10_000)
			refreshed := update == ttl.OnReadAndWrite
			c.wantValue(t, "a", 1, refreshed)
			if refreshed {
				c.wantList(t, "a", "x")
				c.wantMap(t, "a", "k=1", "r=2")
			} else {
				c.wantList(t, "a")
				c.wantMap(t, "a")
			}
			c.wantDigits(t, "a", 1, refreshed)
			c.wantAvg(t, "a", 1, refreshed)
			if refreshed { // restamped at 10 s by the reads just above
				c.setTime(19_999)
				c.wantValue(t, "a", 1, true)
				c.setTime(29_999)
				c.wantValue(t, "a", 0, false)
				c.wantList(t, "a")
				c.wantMap(t, "a")
			}
		})
	}
}

func testTTLReturnExpired(t *testing.T, f Factory) {
	c := newTTLCluster(t, f, 1, ttl.NewManualClock(t0), noCleanup(10*time.Second))
	s := c.at("a")
	must(t, s.value.Update(1))
	must(t, s.list.Add("old"))
	must(t, s.mapS.Put("old", 1))
	must(t, s.digits.Add(5))
	must(t, s.avg.Add(5))
	c.setTime(5000)
	s = c.at("a")
	must(t, s.list.Add("new"))
	must(t, s.mapS.Put("new", 2))
	c.setTime(10_000)
	// The first read returns what expired but was not cleaned up, and
	// removes it; the second does not see it any more.
	c.wantValue(t, "a", 1, true)
	c.wantValue(t, "a", 0, false)
	c.wantList(t, "a", "old", "new")
	c.wantList(t, "a", "new")
	c.wantMap(t, "a", "new=2", "old=1")
	c.wantMap(t, "a", "new=2")
	c.wantDigits(t, "a", 5, true)
	c.wantDigits(t, "a", 0, false)
	c.wantAvg(t, "a", 5, true)
	c.wantAvg(t, "a", 0, false)
	c.setTime(15_000)
	s = c.at("a")
	if v, ok, err := s.mapS.Get("new"); err != nil || !ok || v != 2 {
		t.Fatalf("expired map entry on first Get: got (%d, %v, %v), want 2", v, ok, err)
	}
	if ok, err := s.mapS.Contains("new"); err != nil || ok {
		t.Fatalf("Contains after the Get that returned it expired = (%v, %v), want false", ok, err)
	}
}

func testTTLNamespaces(t *testing.T, f Factory) {
	c := newTTLCluster(t, f, 1, ttl.NewManualClock(t0), ttlOf(10*time.Second))
	s := c.at("a")
	s.setNamespace("w1")
	must(t, s.value.Update(1))
	must(t, s.list.Add("x"))
	c.setTime(5000)
	s = c.at("a")
	s.setNamespace("w2")
	must(t, s.value.Update(2))
	must(t, s.list.Add("y"))
	c.setTime(10_000)
	s = c.at("a")
	s.setNamespace("w1")
	c.wantValue(t, "a", 0, false)
	c.wantList(t, "a")
	s.setNamespace("w2")
	c.wantValue(t, "a", 2, true)
	c.wantList(t, "a", "y")
	s.setNamespace("")
}

// keysOf enumerates the keys of state in namespace ns over every subtask.
func keysOf(t testing.TB, c *cluster, state, ns string) []string {
	t.Helper()
	var got []string
	for _, b := range c.keyed {
		must(t, b.Keys(state, ns, func(k string) bool { got = append(got, k); return true }))
	}
	slices.Sort(got)
	return got
}

func testTTLKeys(t *testing.T, f Factory) {
	for _, vis := range []ttl.Visibility{ttl.NeverReturnExpired, ttl.ReturnExpiredIfNotCleanedUp} {
		t.Run(vis.String(), func(t *testing.T) {
			cfg := noCleanup(10 * time.Second)
			cfg.Visibility = vis
			c := newTTLCluster(t, f, 2, ttl.NewManualClock(t0), cfg)
			old := keyNames(40)
			for _, k := range old {
				s := c.at(k)
				must(t, s.value.Update(1))
				must(t, s.list.Add("x"))
				must(t, s.mapS.Put("m", 1))
				must(t, s.digits.Add(1))
			}
			c.setTime(5000)
			young := []string{"young-1", "young-2"}
			for _, k := range young {
				s := c.at(k)
				must(t, s.value.Update(1))
				must(t, s.list.Add("x"))
				must(t, s.mapS.Put("m", 1))
				must(t, s.digits.Add(1))
			}
			// A list with one live element and a map with one live entry
			// keep their keys visible.
			must(t, c.at(old[0]).list.Add("late"))
			must(t, c.at(old[1]).mapS.Put("late", 2))
			c.setTime(10_000)
			all := append(slices.Clone(old), young...)
			slices.Sort(all)
			for _, tc := range []struct {
				state string
				live  []string
			}{
				{valueDesc.Name, young},
				{digitsDesc.Name, young},
				{listDesc.Name, append([]string{old[0]}, young...)},
				{mapDesc.Name, append([]string{old[1]}, young...)},
			} {
				want := all
				if vis == ttl.NeverReturnExpired {
					want = slices.Sorted(slices.Values(tc.live))
				}
				if got := keysOf(t, c.cluster, tc.state, ""); !slices.Equal(got, want) {
					t.Errorf("Keys(%q) under %v: got %d keys %v, want %d keys %v", tc.state, vis, len(got), head(got), len(want), head(want))
				}
			}
		})
	}
}

func testTTLFullSnapshotFilter(t *testing.T, f Factory) {
	for _, keep := range []bool{false, true} {
		t.Run(fmt.Sprintf("KeepExpiredInFullSnapshots=%v", keep), func(t *testing.T) {
			cfg := noCleanup(10 * time.Second)
			cfg.Cleanup.KeepExpiredInFullSnapshots = keep
			store := newStore(t)
			clock := ttl.NewManualClock(t0)
			c := newTTLCluster(t, f, 2, clock, cfg)
			keys := keyNames(30)
			for _, k := range keys {
				s := c.at(k)
				must(t, s.value.Update(1))
				must(t, s.list.Add("old"))
				must(t, s.mapS.Put("old", 1))
				must(t, s.digits.Add(1))
				must(t, s.avg.Add(1))
			}
			clock.Set(t0 + 5000)
			for _, k := range keys[:10] {
				s := c.at(k)
				must(t, s.value.Update(2))
				must(t, s.list.Add("new"))
				must(t, s.mapS.Put("new", 2))
			}
			clock.Set(t0 + 10_000)
			dir := c.savepoint(store, 1)
			// Restore at the same time with cleanup off and expired units
			// returned once: what the savepoint holds is what reads see.
			r := restoreTTLCluster(t, f, store, dir, 3, clock, cfg)
			for i, k := range keys {
				live := i < 10
				if live || keep {
					want := []string{"old"}
					wantMap := []string{"old=1"}
					v := int64(1)
					if live {
						want, wantMap, v = []string{"old", "new"}, []string{"new=2", "old=1"}, 2
						if !keep {
							want, wantMap = []string{"new"}, []string{"new=2"}
						}
					}
					r.wantValue(t, k, v, live || keep)
					r.wantList(t, k, want...)
					r.wantMap(t, k, wantMap...)
				} else {
					r.wantValue(t, k, 0, false)
					r.wantList(t, k)
					r.wantMap(t, k)
				}
				r.wantDigits(t, k, 1, keep)
				r.wantAvg(t, k, 1, keep)
			}
		})
	}
}

func testTTLAbsoluteAcrossRestore(t *testing.T, f Factory) {
	store := newStore(t)
	clock := ttl.NewManualClock(t0)
	cfg := ttlOf(10 * time.Second)
	c := newTTLCluster(t, f, 2, clock, cfg)
	keys := keyNames(50)
	for _, k := range keys {
		s := c.at(k)
		must(t, s.value.Update(int64(len(k))))
		must(t, s.list.Add(k))
		must(t, s.mapS.Put(k, 1))
	}
	clock.Set(t0 + 3000)
	dir := c.checkpoint(store, 1)
	// Restored later into 3 subtasks: time spent stopped counts.
	clock.Set(t0 + 9999)
	r := restoreTTLCluster(t, f, store, dir, 3, clock, cfg)
	for _, k := range keys {
		r.wantValue(t, k, int64(len(k)), true)
	}
	clock.Set(t0 + 10_000)
	for _, k := range keys {
		r.wantValue(t, k, 0, false)
		r.wantList(t, k)
		r.wantMap(t, k)
	}
	if got := keysOf(t, r.cluster, valueDesc.Name, ""); len(got) != 0 {
		t.Fatalf("keys of expired restored state: %v", head(got))
	}
}

// writeEveryKind writes the same content into every state of each key:
// value 7, list [a b], map {m: 3}, digits 4, average of 6.
func writeEveryKind(t testing.TB, c *ttlCluster, keys []string) {
	t.Helper()
	for _, k := range keys {
		s := c.at(k)
		must(t, s.value.Update(7))
		must(t, s.list.AddAll([]string{"a", "b"}))
		must(t, s.mapS.Put("m", 3))
		must(t, s.digits.Add(4))
		must(t, s.avg.Add(6))
	}
}

// wantEveryKind checks that every state of each key holds what
// writeEveryKind wrote (present) or nothing.
func wantEveryKind(t testing.TB, c *ttlCluster, keys []string, present bool) {
	t.Helper()
	for _, k := range keys {
		if !present {
			c.wantValue(t, k, 0, false)
			c.wantList(t, k)
			c.wantMap(t, k)
			c.wantDigits(t, k, 0, false)
			c.wantAvg(t, k, 0, false)
			continue
		}
		c.wantValue(t, k, 7, true)
		c.wantList(t, k, "a", "b")
		c.wantMap(t, k, "m=3")
		c.wantDigits(t, k, 4, true)
		c.wantAvg(t, k, 6, true)
	}
}

func testTTLTurnOn(t *testing.T, f Factory) {
	store := newStore(t)
	clock := ttl.NewManualClock(t0)
	c := newTTLCluster(t, f, 2, clock, nil)
	keys := keyNames(50)
	writeEveryKind(t, c, keys)
	dir := c.checkpoint(store, 1)
	restoredAt := t0 + 60_000
	clock.Set(restoredAt)
	r := restoreTTLCluster(t, f, store, dir, 3, clock, ttlOf(10*time.Second))
	clock.Set(restoredAt + 9999) // restored values are stamped at restore
	wantEveryKind(t, r, keys, true)
	clock.Set(restoredAt + 10_000)
	wantEveryKind(t, r, keys, false)
	// The next snapshot is written stamped.
	md := mustMetadata(t, store, r.checkpoint(store, 2))
	for _, st := range md.Operators[0].Subtasks {
		for _, h := range st.Keyed {
			for _, sm := range h.States {
				if last := sm.Serializers[len(sm.Serializers)-1]; last.Name != ttl.SnapshotName {
					t.Fatalf("state %q after turning ttl on is written by %q, want %q", sm.Name, last.Name, ttl.SnapshotName)
				}
			}
		}
	}
}

func testTTLTurnOff(t *testing.T, f Factory) {
	store := newStore(t)
	clock := ttl.NewManualClock(t0)
	c := newTTLCluster(t, f, 2, clock, ttlOf(10*time.Second))
	keys := keyNames(50)
	writeEveryKind(t, c, keys)
	dir := c.checkpoint(store, 1)
	r := restoreTTLCluster(t, f, store, dir, 3, clock, nil)
	clock.Set(t0 + 365*24*3600*1000) // nothing expires any more
	wantEveryKind(t, r, keys, true)
	md := mustMetadata(t, store, r.checkpoint(store, 2))
	for _, st := range md.Operators[0].Subtasks {
		for _, h := range st.Keyed {
			for _, sm := range h.States {
				for _, ser := range sm.Serializers {
					if ser.Name == ttl.SnapshotName {
						t.Fatalf("state %q after turning ttl off is still written with ttl", sm.Name)
					}
				}
			}
		}
	}
}

func testTTLShorter(t *testing.T, f Factory) {
	store := newStore(t)
	clock := ttl.NewManualClock(t0)
	c := newTTLCluster(t, f, 1, clock, ttlOf(time.Hour))
	must(t, c.at("a").value.Update(1))
	dir := c.checkpoint(store, 1)
	// The config is not in the snapshot: a shorter TTL applies to restored
	// values at once.
	r := restoreTTLCluster(t, f, store, dir, 1, clock, ttlOf(2*time.Second))
	clock.Set(t0 + 1999)
	r.wantValue(t, "a", 1, true)
	clock.Set(t0 + 2000)
	r.wantValue(t, "a", 0, false)
}

func testTTLInvalidConfig(t *testing.T, f Factory) {
	c := newCluster(t, f, 1, 128)
	b := c.keyed[0]
	_, err := state.GetValueState(b, state.ValueDescriptor[int64]{Name: "bad-ttl", Serializer: serializer.Int64{},
		TTL: &ttl.Config{TTL: time.Microsecond, Cleanup: ttl.Cleanup{Incremental: ttl.IncrementalCleanup{Entries: -1}}}})
	if !errors.Is(err, ttl.ErrInvalidConfig) {
		t.Fatalf("invalid ttl: got %v, want ttl.ErrInvalidConfig", err)
	}
	for _, want := range []string{`"bad-ttl"`, "below 1ms", "entries -1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

func testTTLConflict(t *testing.T, f Factory) {
	c := newCluster(t, f, 1, 128)
	b := c.keyed[0]
	must(t, b.SetCurrentKey("a"))
	d := state.ValueDescriptor[int64]{Name: "v", Serializer: serializer.Int64{}, TTL: ttlOf(time.Second)}
	st, err := state.GetValueState(b, d)
	must(t, err)
	must(t, st.Update(1))
	d.TTL = nil
	if _, err := state.GetValueState(b, d); !errors.Is(err, backend.ErrStateConflict) {
		t.Fatalf("the same state without ttl: got %v, want ErrStateConflict", err)
	}
}
