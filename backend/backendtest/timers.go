package backendtest

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/state"
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
	ts, err := state.NewTimerService(b)
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

// testTimerDeletes: a deleted timer is gone at once (the next timer is the
// next live one, as Flink's peek after a delete), and a delete removes the
// timer of its own namespace only.
func testTimerDeletes(t *testing.T, f Factory) {
	_, b := single(t, f)
	ts, err := state.NewTimerService(b)
	must(t, err)
	must(t, b.SetCurrentKey("k"))
	for _, ns := range []string{"", "w1", "w2"} {
		must(t, ts.RegisterEventTimeTimer(ns, 10))
		must(t, ts.RegisterProcessingTimeTimer(ns, 10))
	}
	must(t, ts.RegisterEventTimeTimer("", 5))
	must(t, ts.RegisterProcessingTimeTimer("w1", 7))
	must(t, ts.DeleteEventTimeTimer("", 5))
	must(t, ts.DeleteProcessingTimeTimer("w1", 7))
	if next, ok := ts.NextEventTime(); !ok || next != 10 {
		t.Fatalf("NextEventTime after the timer at 5 was deleted = (%d, %v), want 10", next, ok)
	}
	if next, ok := ts.NextProcessingTime(); !ok || next != 10 {
		t.Fatalf("NextProcessingTime after the timer at 7 was deleted = (%d, %v), want 10", next, ok)
	}
	must(t, ts.DeleteEventTimeTimer("w1", 10))
	must(t, ts.DeleteProcessingTimeTimer("w2", 10))
	must(t, ts.DeleteEventTimeTimer("w3", 10)) // no such timer: nothing happens
	var fired []string
	must(t, ts.AdvanceWatermark(100, firedList(t, b, &fired)))
	slices.Sort(fired)
	if want := []string{"k/@10", "k/w2@10"}; !slices.Equal(fired, want) {
		t.Fatalf("event timers after deleting k/w1@10: fired %q, want %q", fired, want)
	}
	fired = nil
	must(t, ts.AdvanceProcessingTime(100, firedList(t, b, &fired)))
	slices.Sort(fired)
	if want := []string{"k/@10", "k/w1@10"}; !slices.Equal(fired, want) {
		t.Fatalf("processing timers after deleting k/w2@10: fired %q, want %q", fired, want)
	}
	// Deleting every timer leaves none, in both domains.
	must(t, ts.RegisterEventTimeTimer("x", 200))
	must(t, ts.RegisterProcessingTimeTimer("x", 200))
	must(t, ts.DeleteEventTimeTimer("x", 200))
	must(t, ts.DeleteProcessingTimeTimer("x", 200))
	if next, ok := ts.NextEventTime(); ok {
		t.Fatalf("NextEventTime with every timer deleted = %d, want none", next)
	}
	if next, ok := ts.NextProcessingTime(); ok {
		t.Fatalf("NextProcessingTime with every timer deleted = %d, want none", next)
	}
}

// testTimersAcrossRestore: a timer that fired, or was deleted, before a
// checkpoint does not come back after a restore of it; the others fire
// once. Each round restores the checkpoint of the round before.
func testTimersAcrossRestore(t *testing.T, f Factory) {
	store := newStore(t)
	c := newCluster(t, f, 2, 128)
	services := timerServices(t, c)
	for round := range 3 {
		base := int64(round * 1000)
		var want []string
		for i, b := range c.keyed {
			ts := services[i]
			for k := range 30 {
				key := fmt.Sprint("t", k)
				if owner, _ := c.owner(key); owner != i {
					continue
				}
				for _, at := range []int64{100, 200, 300} {
					must(t, ts.RegisterEventTimeTimer("ns", base+at+int64(k)))
					must(t, ts.RegisterProcessingTimeTimer("", base+at+int64(k)))
				}
				must(t, ts.DeleteEventTimeTimer("ns", base+300+int64(k)))
				want = append(want,
					fmt.Sprintf("event:%s/ns@%d", key, base+200+int64(k)),
					fmt.Sprintf("processing:%s/@%d", key, base+200+int64(k)),
					fmt.Sprintf("processing:%s/@%d", key, base+300+int64(k)))
			}
			// The timers at base+100.. fire before the checkpoint.
			var fired []string
			must(t, ts.AdvanceWatermark(base+150, firedList(t, b, &fired)))
			must(t, ts.AdvanceProcessingTime(base+150, firedList(t, b, &fired)))
		}
		dir := c.checkpoint(store, int64(round+1))
		c = mustRestore(t, f, store, dir, 3-round%2, 128)
		services = timerServices(t, c)
		var got []string
		for i, b := range c.keyed {
			ts := services[i]
			var ev, proc []string
			must(t, ts.AdvanceWatermark(base+999, firedList(t, b, &ev)))
			must(t, ts.AdvanceProcessingTime(base+999, firedList(t, b, &proc)))
			for _, e := range ev {
				got = append(got, "event:"+e)
			}
			for _, p := range proc {
				got = append(got, "processing:"+p)
			}
			// Every timer fired: the timer states hold nothing.
			for _, name := range []string{backend.EventTimersState, backend.ProcessingTimersState} {
				must(t, b.Keys(name, "", func(k string) bool {
					t.Errorf("round %d subtask %d: every timer fired, but the timer state %s holds key %q", round, i, name, k)
					return false
				}))
			}
		}
		slices.Sort(got)
		slices.Sort(want)
		if !slices.Equal(got, want) {
			t.Fatalf("round %d: timers fired after the restore: got %d %q..., want %d %q...", round, len(got), head(got), len(want), head(want))
		}
		// The timers that fired just now are checkpointed fired in the
		// next round: its restore must not fire them again.
	}
}

// timerServices creates the timer service of every subtask of c.
func timerServices(t testing.TB, c *cluster) []*state.TimerService[string] {
	t.Helper()
	var out []*state.TimerService[string]
	for i, b := range c.keyed {
		ts, err := state.NewTimerService(b)
		if err != nil {
			t.Fatalf("subtask %d: timer service: %v", i, err)
		}
		out = append(out, ts)
	}
	return out
}

// testTimersRescale checks that timers are state: they survive a
// checkpoint and follow their keys to new subtasks.
func testTimersRescale(t *testing.T, f Factory) {
	store := newStore(t)
	c := newCluster(t, f, 2, 128)
	var want []string
	for i, b := range c.keyed {
		ts, err := state.NewTimerService(b)
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
		ts, err := state.NewTimerService(b)
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

// timerDomain is one time domain of the timer service, as
// testTimersRandomized drives it.
type timerDomain struct {
	name     string
	register func(s *state.TimerService[string], ns string, at int64) error
	remove   func(s *state.TimerService[string], ns string, at int64) error
	advance  func(s *state.TimerService[string], to int64, fire func(backend.Timer[string]) error) error
	next     func(s *state.TimerService[string]) (int64, bool)

	// The model: the live timers, the timers registered so far (deletes
	// pick from them, live or not), and the time advanced to last.
	live       map[backend.Timer[string]]bool
	registered []backend.Timer[string]
	now        int64
}

var timerDomains = []timerDomain{
	{name: "event",
		register: (*state.TimerService[string]).RegisterEventTimeTimer,
		remove:   (*state.TimerService[string]).DeleteEventTimeTimer,
		advance:  (*state.TimerService[string]).AdvanceWatermark,
		next:     (*state.TimerService[string]).NextEventTime},
	{name: "processing",
		register: (*state.TimerService[string]).RegisterProcessingTimeTimer,
		remove:   (*state.TimerService[string]).DeleteProcessingTimeTimer,
		advance:  (*state.TimerService[string]).AdvanceProcessingTime,
		next:     (*state.TimerService[string]).NextProcessingTime},
}

// testTimersRandomized drives the timers of a cluster through random
// registrations, deletions and advances of both time domains against a
// model, with checkpoints restored at random parallelism along the way.
// Four key groups hold dozens of timers each (more than a backend may
// cache of a key group), and many timers share a timestamp and a key;
// time advances in small steps, so that timers fire all along.
func testTimersRandomized(t *testing.T, f Factory) {
	const maxP = 4
	store := newStore(t)
	r := newRand(2027)
	keys := keyNames(120)
	nss := []string{"", "a", "bb"}
	domains := slices.Clone(timerDomains)
	for i := range domains {
		domains[i].live = map[backend.Timer[string]]bool{}
	}
	c := newCluster(t, f, 2, maxP)
	services := timerServices(t, c)
	// checkNext compares the next timer of d on subtask i with the model.
	checkNext := func(step int, d *timerDomain, i int) {
		t.Helper()
		want, has := int64(0), false
		for tm := range d.live {
			owner := backend.SubtaskForKeyGroup(maxP, len(c.keyed), backend.KeyGroupForKey([]byte(tm.Key), maxP))
			if owner == i && (!has || tm.Timestamp < want) {
				want, has = tm.Timestamp, true
			}
		}
		if got, ok := d.next(services[i]); ok != has || ok && got != want {
			t.Fatalf("step %d: next %s timer of subtask %d: got (%d, %v), want (%d, %v)", step, d.name, i, got, ok, want, has)
		}
	}
	step := 0
	most := 0 // the most live timers of one domain
	for round := range 5 {
		for range 2000 {
			step++
			d := &domains[r.IntN(len(domains))]
			switch op := r.IntN(10); {
			case op < 5:
				tm := backend.Timer[string]{Key: keys[r.IntN(len(keys))], Namespace: nss[r.IntN(len(nss))], Timestamp: d.now - 20 + r.Int64N(2000)}
				i, _ := c.owner(tm.Key)
				must(t, d.register(services[i], tm.Namespace, tm.Timestamp))
				d.live[tm] = true
				d.registered = append(d.registered, tm)
				checkNext(step, d, i)
			case op < 8:
				if len(d.registered) == 0 {
					continue
				}
				tm := d.registered[r.IntN(len(d.registered))]
				i, _ := c.owner(tm.Key)
				must(t, d.remove(services[i], tm.Namespace, tm.Timestamp))
				delete(d.live, tm)
				checkNext(step, d, i)
			case op < 9:
				to := d.now + r.Int64N(40)
				want := map[backend.Timer[string]]bool{}
				for tm := range d.live {
					if tm.Timestamp <= to {
						want[tm] = true
					}
				}
				for i, b := range c.keyed {
					last := int64(-1 << 63)
					err := d.advance(services[i], to, func(tm backend.Timer[string]) error {
						switch {
						case b.CurrentKey() != tm.Key:
							t.Fatalf("step %d: %s timer %+v fired with current key %q", step, d.name, tm, b.CurrentKey())
						case tm.Timestamp < last:
							t.Fatalf("step %d: %s timer %+v fired after one at %d", step, d.name, tm, last)
						case !want[tm]:
							t.Fatalf("step %d: %s timer %+v fired at %d; live: %v", step, d.name, tm, to, d.live[tm])
						}
						last = tm.Timestamp
						delete(want, tm)
						delete(d.live, tm)
						return nil
					})
					must(t, err)
				}
				if len(want) > 0 {
					t.Fatalf("step %d: %d %s timers at or before %d did not fire, such as %+v", step, len(want), d.name, to, anyTimer(want))
				}
				d.now = to
				most = max(most, len(d.live))
			default:
				for i := range c.keyed {
					checkNext(step, d, i)
				}
			}
		}
		dir := c.checkpoint(store, int64(round+1))
		c = mustRestore(t, f, store, dir, 1+r.IntN(4), maxP)
		services = timerServices(t, c)
		for di := range domains {
			d := &domains[di]
			d.registered = slices.DeleteFunc(d.registered, func(tm backend.Timer[string]) bool { return !d.live[tm] && r.IntN(2) == 0 })
			for i := range c.keyed {
				checkNext(step, d, i)
			}
		}
	}
	if most < 50*maxP {
		t.Fatalf("at most %d live timers of one domain in %d key groups: too few to fill a key group", most, maxP)
	}
}

func anyTimer(m map[backend.Timer[string]]bool) backend.Timer[string] {
	for tm := range m {
		return tm
	}
	return backend.Timer[string]{}
}
