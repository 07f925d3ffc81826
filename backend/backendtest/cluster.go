package backendtest

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
	"github.com/stated-io/stated/ttl"
)

// cluster is the keyed and operator state of every subtask of one operator,
// checkpointed and restored through real file storage the way a job does.
type cluster struct {
	t        testing.TB
	factory  Factory
	uid      string
	maxP     int
	keyed    []backend.KeyedBackend[string]
	operator []*state.OperatorStates
	clock    ttl.Clock // nil: the backends' default
}

const testUID = "conformance-op"

func newCluster(t testing.TB, f Factory, parallelism, maxP int) *cluster {
	t.Helper()
	c, err := buildCluster(t, f, parallelism, maxP, nil, settings{})
	if err != nil {
		t.Fatalf("new cluster of %d subtasks: %v", parallelism, err)
	}
	return c
}

// restored describes where buildCluster restores from.
type restored struct {
	store snapshot.Storage
	dir   string
	op    *snapshot.OperatorState
	mode  backend.ClaimMode
}

// settings are what the backends of a cluster are made with, besides
// their key groups.
type settings struct {
	clock  ttl.Clock                     // nil: the backends' default
	keySer serializer.Serializer[string] // nil: serializer.String
}

// buildCluster makes a cluster whose backends use set and restores it from
// from unless that is nil.
func buildCluster(t testing.TB, f Factory, parallelism, maxP int, from *restored, set settings) (*cluster, error) {
	c := &cluster{t: t, factory: f, uid: testUID, maxP: maxP, clock: set.clock}
	t.Cleanup(c.close)
	keySer := set.keySer
	if keySer == nil {
		keySer = serializer.String{}
	}
	for i := range parallelism {
		b, err := f(backend.KeyedOptions[string]{
			OperatorUID:    c.uid,
			Subtask:        i,
			MaxParallelism: maxP,
			KeyGroups:      backend.KeyGroupRangeForSubtask(maxP, parallelism, i),
			KeySerializer:  keySer,
			Clock:          set.clock,
		})
		if err != nil {
			return c, fmt.Errorf("subtask %d: %w", i, err)
		}
		c.keyed = append(c.keyed, b)
		o, err := state.NewOperatorStates(state.OperatorOptions{OperatorUID: c.uid, Subtask: i, Parallelism: parallelism})
		if err != nil {
			return c, err
		}
		c.operator = append(c.operator, o)
		if from == nil {
			continue
		}
		src := backend.KeyedRestoreSource(from.store, from.dir, from.op)
		src.Mode = from.mode
		if err := b.Restore(context.Background(), src); err != nil {
			return c, fmt.Errorf("subtask %d: %w", i, err)
		}
		if err := o.Restore(context.Background(), from.store, from.dir, from.op.Subtasks); err != nil {
			return c, fmt.Errorf("subtask %d: %w", i, err)
		}
	}
	return c, nil
}

func (c *cluster) close() {
	for _, b := range c.keyed {
		if err := b.Close(); err != nil {
			c.t.Errorf("close: %v", err)
		}
	}
	c.keyed = nil
}

// owner returns the subtask that owns key, with key set as its current key.
func (c *cluster) owner(key string) (int, backend.KeyedBackend[string]) {
	c.t.Helper()
	kg := backend.KeyGroupForKey([]byte(key), c.maxP)
	i := backend.SubtaskForKeyGroup(c.maxP, len(c.keyed), kg)
	if err := c.keyed[i].SetCurrentKey(key); err != nil {
		c.t.Fatalf("SetCurrentKey(%q) on its owner %d: %v", key, i, err)
	}
	return i, c.keyed[i]
}

// captures runs the synchronous phase on every subtask.
type captures struct {
	keyed    []backend.SnapshotCapture
	operator []*state.OperatorSnapshot
}

func (c *cluster) capture() *captures {
	c.t.Helper()
	cs := &captures{}
	for i, b := range c.keyed {
		kc, err := b.Snapshot()
		if err != nil {
			c.t.Fatalf("subtask %d: Snapshot: %v", i, err)
		}
		oc, err := c.operator[i].Snapshot()
		if err != nil {
			c.t.Fatalf("subtask %d: operator Snapshot: %v", i, err)
		}
		cs.keyed = append(cs.keyed, kc)
		cs.operator = append(cs.operator, oc)
	}
	return cs
}

// write runs the asynchronous phase and commits checkpoint id under dir.
func (cs *captures) write(c *cluster, store snapshot.Storage, dir string, id int64) error {
	return cs.writeKind(c, store, dir, id, snapshot.KindCheckpoint)
}

// writeKind runs the asynchronous phase and commits a checkpoint (with a
// shared directory) or a savepoint (self-contained) under dir.
func (cs *captures) writeKind(c *cluster, store snapshot.Storage, dir string, id int64, kind snapshot.Kind) error {
	op, err := cs.writeHandles(c, store, dir, id, kind)
	if err != nil {
		return err
	}
	md := &snapshot.Metadata{JobID: "conformance", CheckpointID: id, Kind: kind,
		Completed: time.UnixMilli(1_700_000_000_000).UTC(), Operators: []snapshot.OperatorState{op}}
	return snapshot.CommitMetadata(context.Background(), store, dir, md)
}

// writeHandles runs the asynchronous phase of every subtask into dir and
// returns the operator's handles, without committing a _metadata.
func (cs *captures) writeHandles(c *cluster, store snapshot.Storage, dir string, id int64, kind snapshot.Kind) (snapshot.OperatorState, error) {
	ctx := context.Background()
	op := snapshot.OperatorState{UID: c.uid, Parallelism: len(cs.keyed), MaxParallelism: c.maxP}
	for i := range cs.keyed {
		target := backend.SnapshotTarget{Store: store, Dir: dir, FilePrefix: fmt.Sprintf("%s-%d", c.uid, i),
			CheckpointID: id, Kind: kind}
		if kind == snapshot.KindCheckpoint {
			target.SharedDir = "../shared"
		}
		handles, err := cs.keyed[i].Write(ctx, target)
		if err != nil {
			return op, fmt.Errorf("subtask %d: %w", i, err)
		}
		st := snapshot.SubtaskState{Keyed: handles}
		oh, err := cs.operator[i].Write(ctx, target)
		if err != nil {
			return op, fmt.Errorf("subtask %d: %w", i, err)
		}
		if oh != nil {
			st.Operator = []snapshot.OperatorStateHandle{*oh}
		}
		op.Subtasks = append(op.Subtasks, st)
	}
	return op, nil
}

// notifyComplete tells every backend that checkpoint id committed. Like
// every backend call it runs on the task goroutine.
func (c *cluster) notifyComplete(id int64) error {
	return c.eachListener(func(l backend.CheckpointListener) error { return l.NotifyCheckpointComplete(id) })
}

// notifyAborted tells every backend that checkpoint id will never commit.
func (c *cluster) notifyAborted(id int64) error {
	return c.eachListener(func(l backend.CheckpointListener) error { return l.NotifyCheckpointAborted(id) })
}

// eachListener calls fn with every backend that is a CheckpointListener,
// until one fails.
func (c *cluster) eachListener(fn func(backend.CheckpointListener) error) error {
	for _, b := range c.keyed {
		if l, ok := b.(backend.CheckpointListener); ok {
			if err := fn(l); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkpoint snapshots every subtask into a fresh checkpoint directory and
// returns its storage and directory.
func (c *cluster) checkpoint(store snapshot.Storage, id int64) string {
	c.t.Helper()
	dir := snapshot.CheckpointDir("conformance", id)
	if err := c.capture().write(c, store, dir, id); err != nil {
		c.t.Fatalf("checkpoint %d: %v", id, err)
	}
	if err := c.notifyComplete(id); err != nil {
		c.t.Fatalf("checkpoint %d: notify complete: %v", id, err)
	}
	return dir
}

// restoreCluster reads the checkpoint in dir and restores it into a new
// cluster of the given parallelism and maxParallelism, in NO_CLAIM mode.
func restoreCluster(t testing.TB, f Factory, store snapshot.Storage, dir string, parallelism, maxP int) (*cluster, error) {
	return restoreClusterWith(t, f, store, dir, parallelism, maxP, settings{}, backend.NoClaim)
}

// restoreClusterClock is restoreCluster with backends that use clock.
func restoreClusterClock(t testing.TB, f Factory, store snapshot.Storage, dir string, parallelism, maxP int, clock ttl.Clock) (*cluster, error) {
	return restoreClusterWith(t, f, store, dir, parallelism, maxP, settings{clock: clock}, backend.NoClaim)
}

// restoreClusterWith is restoreCluster with backends made with set, in
// claim mode mode.
func restoreClusterWith(t testing.TB, f Factory, store snapshot.Storage, dir string, parallelism, maxP int, set settings, mode backend.ClaimMode) (*cluster, error) {
	md, err := snapshot.ReadMetadata(context.Background(), store, dir)
	if err != nil {
		return nil, err
	}
	for i := range md.Operators {
		if md.Operators[i].UID == testUID {
			return buildCluster(t, f, parallelism, maxP, &restored{store: store, dir: dir, op: &md.Operators[i], mode: mode}, set)
		}
	}
	return nil, fmt.Errorf("cannot map state for operator %q", testUID)
}

func mustRestore(t testing.TB, f Factory, store snapshot.Storage, dir string, parallelism, maxP int) *cluster {
	t.Helper()
	c, err := restoreCluster(t, f, store, dir, parallelism, maxP)
	if err != nil {
		t.Fatalf("restore %s into %d subtasks: %v", dir, parallelism, err)
	}
	return c
}

func newStore(t testing.TB) snapshot.Storage {
	t.Helper()
	s, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// AllKeyGroups returns the options of a backend of operator uid that owns
// every key group of maxP, with string keys.
func AllKeyGroups(uid string, maxP int) backend.KeyedOptions[string] {
	return backend.KeyedOptions[string]{OperatorUID: uid, MaxParallelism: maxP,
		KeyGroups: backend.KeyGroupRange{Start: 0, End: maxP - 1}, KeySerializer: serializer.String{}}
}

// Open returns a backend that f makes with opts, which the test's cleanup
// closes.
func Open(t testing.TB, f Factory, opts backend.KeyedOptions[string]) backend.KeyedBackend[string] {
	t.Helper()
	b, err := f(opts)
	if err != nil {
		t.Fatalf("new backend: %v", err)
	}
	t.Cleanup(func() { b.Close() })
	return b
}

// RestoreCapture writes capture as a checkpoint into a fresh file storage
// and restores it into a new backend that f makes with opts, which the
// test's cleanup closes: what a checkpoint taken at the capture restores
// to. Backends and operators test what their captures hold with it.
func RestoreCapture(t testing.TB, f Factory, opts backend.KeyedOptions[string], capture backend.SnapshotCapture) backend.KeyedBackend[string] {
	t.Helper()
	store := newStore(t)
	ctx := context.Background()
	handles, err := capture.Write(ctx, backend.SnapshotTarget{Store: store, Dir: "chk-1", FilePrefix: "op-0", CheckpointID: 1, Kind: snapshot.KindCheckpoint})
	if err != nil {
		t.Fatalf("write the capture: %v", err)
	}
	b := Open(t, f, opts)
	if err := b.Restore(ctx, backend.RestoreSource{Store: store, Dir: "chk-1", MaxParallelism: opts.MaxParallelism, Handles: handles}); err != nil {
		t.Fatalf("restore the capture: %v", err)
	}
	return b
}
