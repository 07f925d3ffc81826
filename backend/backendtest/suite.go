// Package backendtest is the conformance suite that every keyed state
// backend and every wrapper of one runs, and the benchmarks they share.
//
// A backend's test calls RunKeyedSuite with a Factory:
//
//	func TestConformance(t *testing.T) {
//		backendtest.RunKeyedSuite(t, func(o backend.KeyedOptions[string]) (backend.KeyedBackend[string], error) {
//			return heap.New(o)
//		})
//	}
//
// The suite checks every state type and method against a plain model,
// namespaces, clear, key enumeration, timers (deletes, restores, a random
// model), snapshots taken while writes go on, restore with rescale of
// subtasks that registered their states in different orders, state
// restored but not registered again, aborted checkpoints and claim modes,
// operator-state redistribution, corrupted and truncated snapshot files,
// serializer compatibility (of keys too) and maxParallelism changes, and
// thousands of random operations. Code that backends share (the typed
// states, the timer service) is checked here too: a differential test
// against another backend cannot see a bug both have.
package backendtest

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// Factory creates a keyed backend for the given options; the suite closes
// it.
type Factory func(opts backend.KeyedOptions[string]) (backend.KeyedBackend[string], error)

// RunKeyedSuite runs the whole conformance suite against the backends f
// makes.
func RunKeyedSuite(t *testing.T, f Factory) {
	t.Run("Value", func(t *testing.T) { testValue(t, f) })
	t.Run("List", func(t *testing.T) { testList(t, f) })
	t.Run("Map", func(t *testing.T) { testMap(t, f) })
	t.Run("Reducing", func(t *testing.T) { testReducing(t, f) })
	t.Run("Aggregating", func(t *testing.T) { testAggregating(t, f) })
	t.Run("NamespacesAndClear", func(t *testing.T) { testNamespacesAndClear(t, f) })
	t.Run("KeyEnumeration", func(t *testing.T) { testKeyEnumeration(t, f) })
	t.Run("KeyGroupOutOfRange", func(t *testing.T) { testKeyGroupOutOfRange(t, f) })
	t.Run("StateKindConflict", func(t *testing.T) { testStateKindConflict(t, f) })
	t.Run("Close", func(t *testing.T) { testClose(t, f) })
	t.Run("Timers", func(t *testing.T) { testTimers(t, f) })
	t.Run("TimerDeletes", func(t *testing.T) { testTimerDeletes(t, f) })
	t.Run("SnapshotRestore", func(t *testing.T) { testSnapshotRestore(t, f) })
	t.Run("Rescale", func(t *testing.T) { testRescale(t, f) })
	t.Run("ShuffledRegistration", func(t *testing.T) { testShuffledRegistration(t, f) })
	t.Run("RestoredStatesSurvive", func(t *testing.T) { testRestoredStatesSurvive(t, f) })
	t.Run("TimersRescale", func(t *testing.T) { testTimersRescale(t, f) })
	t.Run("TimersAcrossRestore", func(t *testing.T) { testTimersAcrossRestore(t, f) })
	t.Run("TimersRandomized", func(t *testing.T) { testTimersRandomized(t, f) })
	t.Run("OperatorState", func(t *testing.T) { testOperatorState(t, f) })
	t.Run("SnapshotIsolation", func(t *testing.T) { testSnapshotIsolation(t, f) })
	t.Run("SnapshotConcurrentWrites", func(t *testing.T) { testSnapshotConcurrentWrites(t, f) })
	t.Run("CheckpointChain", func(t *testing.T) { testCheckpointChain(t, f) })
	t.Run("AbortedCheckpoint", func(t *testing.T) { testAbortedCheckpoint(t, f) })
	t.Run("ClaimModes", func(t *testing.T) { testClaimModes(t, f) })
	t.Run("CorruptFiles", func(t *testing.T) { testCorruptFiles(t, f) })
	t.Run("SerializerMigration", func(t *testing.T) { testSerializerMigration(t, f) })
	t.Run("MapKeyMigration", func(t *testing.T) { testMapKeyMigration(t, f) })
	t.Run("MapKeyMerge", func(t *testing.T) { testMapKeyMerge(t, f) })
	t.Run("FailedMigration", func(t *testing.T) { testFailedMigration(t, f) })
	t.Run("IncompatibleSerializer", func(t *testing.T) { testIncompatibleSerializer(t, f) })
	t.Run("ReconfiguredSerializer", func(t *testing.T) { testReconfiguredSerializer(t, f) })
	t.Run("ReconfiguredKeySerializer", func(t *testing.T) { testReconfiguredKeySerializer(t, f) })
	t.Run("MaxParallelismChange", func(t *testing.T) { testMaxParallelismChange(t, f) })
	t.Run("Randomized", func(t *testing.T) { testRandomized(t, f) })
	t.Run("TTL", func(t *testing.T) { testTTL(t, f) })
}

func single(t *testing.T, f Factory) (*stateful, backend.KeyedBackend[string]) {
	t.Helper()
	s := withStates(t, newCluster(t, f, 1, 128))
	return s, s.keyed[0]
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func testValue(t *testing.T, f Factory) {
	s, _ := single(t, f)
	st := s.at("a")
	if v, ok, err := st.value.Value(); err != nil || ok {
		t.Fatalf("empty value: got (%d, %v, %v), want none", v, ok, err)
	}
	must(t, st.value.Update(7))
	must(t, st.value.Update(9))
	s.at("b")
	must(t, st.value.Update(1))
	if v, ok, err := s.at("a").value.Value(); err != nil || !ok || v != 9 {
		t.Fatalf("value of a: got (%d, %v, %v), want 9", v, ok, err)
	}
	must(t, st.value.Clear())
	if _, ok, _ := st.value.Value(); ok {
		t.Fatal("value of a after Clear is still there")
	}
	if v, ok, _ := s.at("b").value.Value(); !ok || v != 1 {
		t.Fatalf("Clear of a changed b: got (%d, %v)", v, ok)
	}
}

func testList(t *testing.T, f Factory) {
	s, _ := single(t, f)
	st := s.at("a")
	if l, err := st.list.Get(); err != nil || l != nil {
		t.Fatalf("empty list: got (%q, %v), want nil", l, err)
	}
	must(t, st.list.Add("x"))
	must(t, st.list.AddAll([]string{"y", "z"}))
	must(t, st.list.AddAll(nil))
	must(t, st.list.Add("x"))
	want := []string{"x", "y", "z", "x"}
	if l, _ := st.list.Get(); !slices.Equal(l, want) {
		t.Fatalf("list: got %q, want %q", l, want)
	}
	in := []string{"p", "q"}
	must(t, st.list.Update(in))
	in[0] = "changed" // the state must not keep the caller's slice
	if l, _ := st.list.Get(); !slices.Equal(l, []string{"p", "q"}) {
		t.Fatalf("list after Update: got %q, want [p q]", l)
	}
	l, _ := st.list.Get()
	_ = append(l, "appended-by-caller") // must not leak into the state
	must(t, st.list.Add("r"))
	if l, _ := st.list.Get(); !slices.Equal(l, []string{"p", "q", "r"}) {
		t.Fatalf("list after caller append and Add: got %q, want [p q r]", l)
	}
	must(t, st.list.Update(nil))
	if l, _ := st.list.Get(); l != nil {
		t.Fatalf("list after Update(nil): got %q, want nil", l)
	}
	must(t, st.list.AddAll([]string{"a"}))
	must(t, st.list.Clear())
	if l, _ := st.list.Get(); l != nil {
		t.Fatalf("list after Clear: got %q, want nil", l)
	}
}

func testMap(t *testing.T, f Factory) {
	s, _ := single(t, f)
	st := s.at("a")
	if empty, err := st.mapS.IsEmpty(); err != nil || !empty {
		t.Fatalf("new map IsEmpty: got (%v, %v)", empty, err)
	}
	must(t, st.mapS.Put("x", 1))
	must(t, st.mapS.PutAll(map[string]int64{"y": 2, "z": 3}))
	must(t, st.mapS.Put("x", 10))
	must(t, st.mapS.Remove("missing"))
	e := &entry{m: map[string]int64{"x": 10, "y": 2, "z": 3}}
	if err := st.check("", e); err != nil {
		t.Fatal(err)
	}
	if ok, _ := st.mapS.Contains("missing"); ok {
		t.Fatal("Contains(missing) = true")
	}
	if _, ok, _ := st.mapS.Get("missing"); ok {
		t.Fatal("Get(missing) found a value")
	}
	n := 0
	must(t, st.mapS.Range(func(string, int64) bool { n++; return false }))
	if n != 1 {
		t.Fatalf("Range did not stop when fn returned false: %d calls", n)
	}
	must(t, st.mapS.Remove("x"))
	must(t, st.mapS.Remove("y"))
	if err := st.check("", &entry{m: map[string]int64{"z": 3}}); err != nil {
		t.Fatal(err)
	}
	must(t, st.mapS.Remove("z"))
	if empty, _ := st.mapS.IsEmpty(); !empty {
		t.Fatal("map with every entry removed is not empty")
	}
	must(t, st.mapS.Put("w", 4))
	must(t, st.mapS.Clear())
	if err := st.check("", nil); err != nil {
		t.Fatal(err)
	}
}

func testReducing(t *testing.T, f Factory) {
	s, _ := single(t, f)
	st := s.at("a")
	if _, ok, err := st.digits.Get(); err != nil || ok {
		t.Fatalf("empty reducing state: ok=%v err=%v", ok, err)
	}
	for _, v := range []int64{1, 2, 3, 4} {
		must(t, st.digits.Add(v))
	}
	if v, ok, _ := st.digits.Get(); !ok || v != 1234 {
		t.Fatalf("digits: got (%d, %v), want 1234", v, ok)
	}
	must(t, st.digits.Clear())
	if _, ok, _ := st.digits.Get(); ok {
		t.Fatal("reducing state after Clear still has a value")
	}
}

func testAggregating(t *testing.T, f Factory) {
	s, _ := single(t, f)
	st := s.at("a")
	if _, ok, err := st.avg.Get(); err != nil || ok {
		t.Fatalf("empty aggregating state: ok=%v err=%v", ok, err)
	}
	for _, v := range []int64{1, 2, 6} {
		must(t, st.avg.Add(v))
	}
	if v, ok, _ := st.avg.Get(); !ok || v != 3 {
		t.Fatalf("avg: got (%v, %v), want 3", v, ok)
	}
	must(t, st.avg.Clear())
	if _, ok, _ := st.avg.Get(); ok {
		t.Fatal("aggregating state after Clear still has a value")
	}
}

func testNamespacesAndClear(t *testing.T, f Factory) {
	s, _ := single(t, f)
	m := model{}
	r := rand.New(rand.NewPCG(1, 2))
	keys, nss := []string{"a", "b"}, []string{"", "w1", "w2"}
	for _, k := range keys {
		for _, ns := range nss {
			st := s.at(k)
			st.setNamespace(ns)
			for _, o := range randomOps {
				if !strings.HasSuffix(o.name, ".clear") {
					must(t, o.do(r, st, m.at(k, ns)))
				}
			}
		}
	}
	s.verify(t, m, nss)
	// Clear every state of b in w1: nothing else may change.
	st := s.at("b")
	st.setNamespace("w1")
	for _, o := range randomOps {
		if strings.HasSuffix(o.name, ".clear") {
			must(t, o.do(r, st, m.at("b", "w1")))
		}
	}
	if !m.at("b", "w1").empty() {
		t.Fatal("model not cleared")
	}
	s.verify(t, m, nss)
}

func testKeyEnumeration(t *testing.T, f Factory) {
	s, b := single(t, f)
	want := map[string][]string{}
	for i := range 301 {
		k, ns := fmt.Sprint("key", i), []string{"", "n1"}[i%2]
		if i == 300 {
			k = "" // the empty key is a key like any other
		}
		st := s.at(k)
		st.setNamespace(ns)
		must(t, st.value.Update(int64(i)))
		want[ns] = append(want[ns], k)
	}
	for ns, keys := range want {
		var got []string
		must(t, b.Keys(valueDesc.Name, ns, func(k string) bool { got = append(got, k); return true }))
		slices.Sort(got)
		slices.Sort(keys)
		if !slices.Equal(got, keys) {
			t.Fatalf("Keys(value, %q): got %d keys, want %d", ns, len(got), len(keys))
		}
	}
	n := 0
	must(t, b.Keys(valueDesc.Name, "", func(string) bool { n++; return n < 5 }))
	if n != 5 {
		t.Fatalf("Keys did not stop when fn returned false: %d calls", n)
	}
	must(t, b.Keys(listDesc.Name, "", func(k string) bool { t.Fatalf("empty list state enumerated key %q", k); return false }))
	must(t, b.Keys("no-such-state", "", func(k string) bool { t.Fatalf("unknown state enumerated key %q", k); return false }))
}

func testKeyGroupOutOfRange(t *testing.T, f Factory) {
	c := newCluster(t, f, 2, 128)
	for i := range 100 {
		k := fmt.Sprint("k", i)
		kg := backend.KeyGroupForKey([]byte(k), 128)
		owner := backend.SubtaskForKeyGroup(128, 2, kg)
		err := c.keyed[1-owner].SetCurrentKey(k)
		if !errors.Is(err, backend.ErrKeyGroupOutOfRange) {
			t.Fatalf("SetCurrentKey(%q) on the wrong subtask: got %v, want ErrKeyGroupOutOfRange", k, err)
		}
		if err := c.keyed[owner].SetCurrentKey(k); err != nil {
			t.Fatal(err)
		}
		if got := c.keyed[owner].CurrentKeyGroup(); got != kg {
			t.Fatalf("CurrentKeyGroup = %d, want %d", got, kg)
		}
		if got := c.keyed[owner].CurrentKey(); got != k {
			t.Fatalf("CurrentKey = %q, want %q", got, k)
		}
	}
}

func testStateKindConflict(t *testing.T, f Factory) {
	_, b := single(t, f)
	_, err := state.GetListState(b, state.ListDescriptor[int64]{Name: valueDesc.Name, Serializer: serializer.Int64{}})
	if !errors.Is(err, backend.ErrStateConflict) {
		t.Fatalf("list state under a value state's name: got %v, want ErrStateConflict", err)
	}
	again, err := state.GetValueState(b, valueDesc)
	must(t, err)
	must(t, b.SetCurrentKey("x"))
	must(t, again.Update(5))
	first, err := state.GetValueState(b, valueDesc)
	must(t, err)
	if v, ok, _ := first.Value(); !ok || v != 5 {
		t.Fatalf("two handles of one state disagree: got (%d, %v), want 5", v, ok)
	}
}

func testClose(t *testing.T, f Factory) {
	b, err := f(backend.KeyedOptions[string]{OperatorUID: "close", MaxParallelism: 128,
		KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: serializer.String{}})
	must(t, err)
	must(t, b.Close())
	must(t, b.Close())
	if err := b.SetCurrentKey("a"); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("SetCurrentKey after Close: got %v, want ErrClosed", err)
	}
	if _, err := b.Snapshot(); !errors.Is(err, backend.ErrClosed) {
		t.Fatalf("Snapshot after Close: got %v, want ErrClosed", err)
	}
}
