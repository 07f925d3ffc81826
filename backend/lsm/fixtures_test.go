package lsm_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/lsm"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

// fixtureStates are the states of the checkpoints in testdata/lsm-v*,
// written by testdata/genfixture.go.
type fixtureStates struct {
	count  state.ValueState[int64]
	events state.ListState[string]
	seen   state.MapState[string, int64]
	timers *state.TimerService[string]
}

func openFixtureStates(t *testing.T, b backend.KeyedBackend[string]) *fixtureStates {
	t.Helper()
	var s fixtureStates
	var err error
	if s.count, err = state.GetValueState(b, state.ValueDescriptor[int64]{Name: "count", Serializer: serializer.Int64{}}); err != nil {
		t.Fatal(err)
	}
	if s.events, err = state.GetListState(b, state.ListDescriptor[string]{Name: "events", Serializer: serializer.String{}}); err != nil {
		t.Fatal(err)
	}
	if s.seen, err = state.GetMapState(b, state.MapDescriptor[string, int64]{Name: "seen", KeySerializer: serializer.String{}, ValueSerializer: serializer.Int64{}}); err != nil {
		t.Fatal(err)
	}
	if s.timers, err = state.NewTimerService(b); err != nil {
		t.Fatal(err)
	}
	return &s
}

// restoreFixture restores the checkpoint dir of store into parallelism
// subtasks of the fixture's maxParallelism 8.
func restoreFixture(t *testing.T, store snapshot.Storage, dir string, parallelism int) []*lsm.Backend[string] {
	t.Helper()
	md, err := snapshot.ReadMetadata(context.Background(), store, dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []*lsm.Backend[string]
	for i := range parallelism {
		b, err := lsm.New(lsm.Options[string]{Dir: t.TempDir(), KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "fixture", Subtask: i,
			MaxParallelism: 8, KeyGroups: backend.KeyGroupRangeForSubtask(8, parallelism, i), KeySerializer: serializer.String{}}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { b.Close() })
		if err := b.Restore(context.Background(), backend.KeyedRestoreSource(store, dir, &md.Operators[0])); err != nil {
			t.Fatalf("restore %s into subtask %d of %d: %v", dir, i, parallelism, err)
		}
		out = append(out, b)
	}
	return out
}

// checkFixture checks the states of every key the fixture wrote on the
// subtask that owns it.
func checkFixture(t *testing.T, bs []*lsm.Backend[string], states []*fixtureStates) {
	t.Helper()
	for i := range 100 {
		key := fmt.Sprintf("k%02d", i)
		owner := backend.SubtaskForKeyGroup(8, len(bs), backend.KeyGroupForKey([]byte(key), 8))
		if err := bs[owner].SetCurrentKey(key); err != nil {
			t.Fatal(err)
		}
		s := states[owner]
		if v, ok, err := s.count.Value(); err != nil || !ok || v != int64(i) {
			t.Fatalf("count of %s: (%d, %v, %v), want %d", key, v, ok, err, i)
		}
		s.events.SetNamespace("w")
		if l, err := s.events.Get(); err != nil || !slices.Equal(l, []string{fmt.Sprint("e", i), fmt.Sprint("f", i)}) {
			t.Fatalf("events of %s: (%q, %v)", key, l, err)
		}
		for uk, want := range map[string]int64{"first": int64(i), "second": int64(2 * i)} {
			if v, ok, err := s.seen.Get(uk); err != nil || !ok || v != want {
				t.Fatalf("seen[%s] of %s: (%d, %v, %v), want %d", uk, key, v, ok, err, want)
			}
		}
	}
}

// fireFixture fires every timer and checks that the fixture's fire once.
func fireFixture(t *testing.T, bs []*lsm.Backend[string], states []*fixtureStates) {
	t.Helper()
	var got, want []string
	for i := range 100 {
		want = append(want, fmt.Sprintf("event k%02d/w@%d", i, 1000+i), fmt.Sprintf("processing k%02d/@%d", i, -i))
	}
	for i, s := range states {
		collect := func(domain string) func(backend.Timer[string]) error {
			return func(tm backend.Timer[string]) error {
				if bs[i].CurrentKey() != tm.Key {
					t.Errorf("timer of %q fired with current key %q", tm.Key, bs[i].CurrentKey())
				}
				got = append(got, fmt.Sprintf("%s %s/%s@%d", domain, tm.Key, tm.Namespace, tm.Timestamp))
				return nil
			}
		}
		if err := s.timers.AdvanceWatermark(1<<40, collect("event")); err != nil {
			t.Fatal(err)
		}
		if err := s.timers.AdvanceProcessingTime(1<<40, collect("processing")); err != nil {
			t.Fatal(err)
		}
	}
	slices.Sort(got)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("%d timers fired, want %d: %q", len(got), len(want), got)
	}
}

// TestRestoreFixtures restores checkpoints that earlier versions of the
// native format wrote (testdata/lsm-v1 has no timer index), at two
// parallelisms, and a checkpoint of the restored backends once more.
func TestRestoreFixtures(t *testing.T) {
	for _, format := range []string{lsm.FormatV1, lsm.Format} {
		t.Run(format, func(t *testing.T) {
			root := t.TempDir()
			if err := os.CopyFS(root, os.DirFS(filepath.Join("testdata", strings.ReplaceAll(format, "/", "-")))); err != nil {
				t.Fatal(err)
			}
			store, err := file.New(root)
			if err != nil {
				t.Fatal(err)
			}
			defer store.Close()
			dir := snapshot.CheckpointDir("fixture", 1)
			md, err := snapshot.ReadMetadata(context.Background(), store, dir)
			if err != nil {
				t.Fatal(err)
			}
			if got := md.Operators[0].Subtasks[0].Keyed[0].Format; got != format {
				t.Fatalf("the fixture's handle is of format %q, want %q", got, format)
			}
			for _, p := range []int{1, 3} {
				bs := restoreFixture(t, store, dir, p)
				var states []*fixtureStates
				for _, b := range bs {
					states = append(states, openFixtureStates(t, b))
				}
				checkFixture(t, bs, states)
				// Checkpointed again before any timer fired: the timers
				// go along, in the current format.
				again := fmt.Sprintf("fixture/chk-%d", 10+p)
				op := snapshot.OperatorState{UID: "fixture", Parallelism: p, MaxParallelism: 8}
				for i, b := range bs {
					c, err := b.Snapshot()
					if err != nil {
						t.Fatal(err)
					}
					hs, err := c.Write(context.Background(), backend.SnapshotTarget{Store: store, Dir: again, FilePrefix: fmt.Sprint("fixture-", i),
						CheckpointID: int64(10 + p), Kind: snapshot.KindCheckpoint, SharedDir: "../shared"})
					if err != nil {
						t.Fatal(err)
					}
					op.Subtasks = append(op.Subtasks, snapshot.SubtaskState{Keyed: hs})
				}
				if err := snapshot.CommitMetadata(context.Background(), store, again, &snapshot.Metadata{JobID: "fixture", CheckpointID: int64(10 + p),
					Kind: snapshot.KindCheckpoint, Completed: md.Completed, Operators: []snapshot.OperatorState{op}}); err != nil {
					t.Fatal(err)
				}
				fireFixture(t, bs, states)
				rs := restoreFixture(t, store, again, 2)
				var rstates []*fixtureStates
				for _, b := range rs {
					rstates = append(rstates, openFixtureStates(t, b))
				}
				checkFixture(t, rs, rstates)
				fireFixture(t, rs, rstates)
			}
		})
	}
}
