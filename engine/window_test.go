package engine

import (
	"fmt"
	"log/slog"
	"maps"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/backendtest"
	"github.com/stated-io/stated/backend/heap"
	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// event is a record of the window tests: a key, a timestamp and a value.
type event struct {
	Key string
	TS  int64
	V   int64
}

// events is a deterministic stream whose timestamps grow with i and are
// out of order by less than maxDisorder.
func eventOf(seed uint64, keys int) func(i int64) event {
	return func(i int64) event {
		r := rand.New(rand.NewPCG(seed, uint64(i)))
		// Bursts with pauses, so sessions form.
		ts := i*3 + (i/40)*200 + r.Int64N(maxDisorder)
		return event{Key: fmt.Sprintf("k%d", r.IntN(keys)), TS: ts, V: r.Int64N(100)}
	}
}

const maxDisorder = 20

type sumAgg struct{}

func (sumAgg) CreateAccumulator() int64 { return 0 }
func (sumAgg) Add(v, acc int64) int64   { return acc + v }
func (sumAgg) Result(acc int64) int64   { return acc }
func (sumAgg) Merge(a, b int64) int64   { return a + b }

type eventSum struct{}

func (eventSum) CreateAccumulator() int64     { return 0 }
func (eventSum) Add(e event, acc int64) int64 { return acc + e.V }
func (eventSum) Result(acc int64) int64       { return acc }
func (eventSum) Merge(a, b int64) int64       { return a + b }

type windowKey struct {
	Key string
	W   Window
}

// modelWindows aggregates evs per key and window by brute force.
func modelWindows(evs []event, assigner WindowAssigner) map[windowKey]int64 {
	out := map[windowKey]int64{}
	if s, ok := assigner.(sessionWindows); ok {
		byKey := map[string][]event{}
		for _, e := range evs {
			byKey[e.Key] = append(byKey[e.Key], e)
		}
		for k, es := range byKey {
			slices.SortFunc(es, func(a, b event) int { return int(a.TS - b.TS) })
			start, end, sum := es[0].TS, es[0].TS+s.gap, int64(0)
			for _, e := range es {
				// Windows [ts, ts+gap) that overlap or touch merge.
				if e.TS > end {
					out[windowKey{k, Window{start, end}}] = sum
					start, sum = e.TS, 0
				}
				end = max(end, e.TS+s.gap)
				sum += e.V
			}
			out[windowKey{k, Window{start, end}}] = sum
		}
		return out
	}
	for _, e := range evs {
		for _, w := range assigner.Assign(e.TS) {
			out[windowKey{e.Key, w}] += e.V
		}
	}
	return out
}

func TestWindows(t *testing.T) {
	const records = 4000
	assigners := map[string]WindowAssigner{
		"tumbling": TumblingWindows(100 * time.Millisecond),
		"sliding":  SlidingWindows(100*time.Millisecond, 30*time.Millisecond),
		"session":  SessionWindows(25 * time.Millisecond),
	}
	for name, assigner := range assigners {
		for _, b := range backends {
			t.Run(name+"/"+b, func(t *testing.T) {
				gen := eventOf(7, 9)
				var evs []event
				for i := range int64(records) {
					evs = append(evs, gen(i))
				}
				want := modelWindows(evs, assigner)

				dir := t.TempDir()
				j := New(Options{Config: testConfig(t, dir, config.KeyBackendType, b, config.KeyParallelism, "3")})
				src := AssignTimestamps(FromSource(j, "events", Generate(records, gen), WithRate(20000)), "timestamps",
					func(e event) int64 { return e.TS }, maxDisorder*time.Millisecond)
				ks := KeyBy(src, func(e event) string { return e.Key }, serializer.String{})
				var got collector[WindowResult[string, int64]]
				ForEach(WindowAggregate(ks, "windows", assigner, eventSum{}, serializer.Int64{}), "collect", got.add)
				run(t, j)

				have := map[windowKey]int64{}
				for _, r := range got.all() {
					k := windowKey{r.Key, r.Window}
					if _, dup := have[k]; dup {
						t.Fatalf("window %v emitted twice", k)
					}
					have[k] = r.Value
				}
				for _, k := range slices.SortedFunc(maps.Keys(want), func(a, b windowKey) int { return int(a.W.Start - b.W.Start) }) {
					if have[k] != want[k] {
						t.Fatalf("window %v: got %d (present %v), want %d", k, have[k], hasKey(have, k), want[k])
					}
				}
				if len(have) != len(want) {
					t.Fatalf("%d windows, want %d", len(have), len(want))
				}
			})
		}
	}
}

func hasKey[K comparable, V any](m map[K]V, k K) bool { _, ok := m[k]; return ok }

// TestWindowRestore checkpoints a window job mid-way through a savepoint
// and restores it at another parallelism: every window fires once with
// the full sum.
func TestWindowRestore(t *testing.T) {
	const records = 3000
	gen := eventOf(3, 5)
	var evs []event
	for i := range int64(records) {
		evs = append(evs, gen(i))
	}
	assigner := SessionWindows(25 * time.Millisecond)
	want := modelWindows(evs, assigner)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	build := func(kv ...string) (*Job, any) {
		j := New(Options{Config: testConfig(t, dir, kv...)})
		src := AssignTimestamps(FromSource(j, "events", Generate(records, gen), WithRate(6000)), "timestamps",
			func(e event) int64 { return e.TS }, maxDisorder*time.Millisecond)
		ks := KeyBy(src, func(e event) string { return e.Key }, serializer.String{})
		lines := Map(WindowAggregate(ks, "windows", assigner, eventSum{}, serializer.Int64{}), "format",
			func(r WindowResult[string, int64]) (string, error) {
				return fmt.Sprintf("%s %d %d=%d", r.Key, r.Window.Start, r.Window.End, r.Value), nil
			})
		WriteLines(lines, "sink", out)
		return j, nil
	}
	j, _ := build(config.KeyBackendType, "hashmap")
	j.opts.OnCheckpoint = func(s CheckpointStats) {
		if s.ID == 2 {
			j.StopWithSavepoint()
		}
	}
	res := run(t, j)
	if res.Savepoint == "" {
		t.Fatal("no savepoint")
	}
	j, _ = build(config.KeyBackendType, "hashmap", config.KeyParallelism, "3", config.KeyRecoveryPath, res.Savepoint)
	run(t, j)
	got := readLines(t, out)
	if len(got) != len(want) {
		t.Fatalf("%d window lines, want %d", len(got), len(want))
	}
	for k, v := range want {
		line := fmt.Sprintf("%s %d %d=%d", k.Key, k.W.Start, k.W.End, v)
		if got[line] != 1 {
			t.Fatalf("line %q committed %d times", line, got[line])
		}
	}
}

// TestSessionMergesBeforeLateness: a record whose own window is behind the
// watermark still joins the open session it touches.
func TestSessionMergesBeforeLateness(t *testing.T) {
	ts := []int64{100, 108, 95} // arrives last, when the watermark is 107
	j := New(Options{Config: testConfig(t, t.TempDir(), config.KeyParallelism, "1")})
	src := AssignTimestamps(FromSource(j, "src", Generate(3, func(i int64) int64 { return ts[i] }), WithRate(10)),
		"ts", func(v int64) int64 { return v }, 0)
	ks := KeyBy(src, func(int64) string { return "k" }, serializer.String{})
	var got collector[WindowResult[string, int64]]
	ForEach(WindowAggregate(ks, "s", SessionWindows(10*time.Millisecond), countAgg{}, serializer.Int64{}), "collect", got.add)
	run(t, j)
	want := []WindowResult[string, int64]{{Key: "k", Window: Window{95, 118}, Value: 3}}
	if g := got.all(); !slices.Equal(g, want) {
		t.Fatalf("got %v, want %v", g, want)
	}
}

type countAgg struct{}

func (countAgg) CreateAccumulator() int64 { return 0 }
func (countAgg) Add(_, acc int64) int64   { return acc + 1 }
func (countAgg) Result(acc int64) int64   { return acc }
func (countAgg) Merge(a, b int64) int64   { return a + b }

// tally is a pointer accumulator that Add and Merge modify in place, as
// Flink's AggregateFunction may.
type tally struct{ N int64 }

type tallyAgg struct{}

func (tallyAgg) CreateAccumulator() *tally      { return &tally{} }
func (tallyAgg) Add(_ int64, acc *tally) *tally { acc.N++; return acc }
func (tallyAgg) Result(acc *tally) int64        { return acc.N }
func (tallyAgg) Merge(a, b *tally) *tally       { a.N += b.N; return a }

// TestWindowCopyOnWrite: records that arrive after the synchronous phase
// of a checkpoint do not leak into it through an accumulator modified in
// place, on the heap backend whose captures share objects with the live
// state, for windows that merge (sessions, two sessions into one) and
// windows that do not.
func TestWindowCopyOnWrite(t *testing.T) {
	for _, tc := range []struct {
		name     string
		assigner WindowAssigner
		before   []int64 // timestamps of the records before the capture
		after    []int64 // and after
		window   Window  // a window the capture holds
		want     int64   // its count in the capture
	}{
		{"tumbling", TumblingWindows(100 * time.Millisecond), []int64{10}, []int64{11, 12}, Window{0, 100}, 1},
		{"session", SessionWindows(10 * time.Millisecond), []int64{10}, []int64{15}, Window{10, 20}, 1},
		{"sessions merged", SessionWindows(10 * time.Millisecond), []int64{10, 30}, []int64{20}, Window{10, 20}, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			newHeap := func(o backend.KeyedOptions[string]) (backend.KeyedBackend[string], error) { return heap.New(o) }
			opts := backendtest.AllKeyGroups("w", 128)
			b := backendtest.Open(t, newHeap, opts)
			timers, err := state.NewTimerService(b)
			if err != nil {
				t.Fatal(err)
			}
			base := &keyedBase[string]{baseOperator: baseOperator{out: discard{}}, uid: "w", logger: slog.New(slog.DiscardHandler), backend: b, timers: timers}
			accSer := serializer.JSON[*tally]{TypeName: "tally"}
			op, err := newWindowOp[string, int64, *tally, int64](base, tc.assigner, tallyAgg{}, accSer)
			if err != nil {
				t.Fatal(err)
			}
			process := func(tss []int64) {
				for _, ts := range tss {
					if err := op.processRecord(record{key: "k", value: int64(1), ts: ts}); err != nil {
						t.Fatal(err)
					}
				}
			}
			process(tc.before)
			c, err := b.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			process(tc.after)
			r := backendtest.RestoreCapture(t, newHeap, opts, c)
			contents, err := state.GetValueState(r, state.ValueDescriptor[*tally]{Name: "window-contents", Serializer: accSer})
			if err != nil {
				t.Fatal(err)
			}
			if err := r.SetCurrentKey("k"); err != nil {
				t.Fatal(err)
			}
			contents.SetNamespace(tc.window.namespace())
			if acc, ok, err := contents.Value(); err != nil || !ok || acc.N != tc.want {
				t.Fatalf("window %v in the checkpoint: got (%+v, %v, %v), want a count of %d", tc.window, acc, ok, err, tc.want)
			}
		})
	}
}
