package incremental

import (
	"slices"
	"testing"

	"github.com/stated-io/stated/snapshot"
)

// pruneFixture is a job left behind by three runs restarted in NO_CLAIM
// mode (the registry of a new run owns none of their checkpoints), plus
// what prune must never touch: an unfinished checkpoint, a savepoint kept
// in the job's directory and a taskowned file.
type pruneFixture struct {
	e                            *env
	a, b, c, d                   ref // shared: a by 1 and 2; b by 2 and 3; c by 3; d by 4
	x1, x2, x3, x4               ref // exclusive files of chk-1..4
	incomplete, savepoint, owned ref
}

func newPruneFixture(t *testing.T) *pruneFixture {
	e := newEnv(t)
	f := &pruneFixture{e: e}
	f.a, f.b, f.c, f.d = e.file(shared("a")), e.file(shared("b")), e.file(shared("c")), e.file(shared("d"))
	f.x1, f.x2, f.x3, f.x4 = e.file(chk(1, "op/x")), e.file(chk(2, "op/x")), e.file(chk(3, "op/x")), e.file(chk(4, "op/x"))
	e.commit(1, f.a, f.x1)
	e.commit(2, f.a, f.b, f.x2)
	e.commit(3, f.b, f.c, f.x3)
	e.commit(4, f.d, f.x4)
	f.incomplete = e.file(chk(9, "op/partial"))
	f.savepoint = e.file(testJob + "/savepoint-abc/op-0.op")
	f.owned = e.file(snapshot.TaskOwnedDir(testJob) + "/t")
	return f
}

func (f *pruneFixture) untouchable() []string {
	return []string{f.incomplete.name, f.savepoint.name, f.owned.name}
}

// Prune keeps the newest Keep checkpoints and deletes the older ones of
// earlier runs with the shared files only they reference; a shared file a
// kept checkpoint references survives. A dry run decides the same and
// deletes nothing.
func TestPrune(t *testing.T) {
	f := newPruneFixture(t)
	e := f.e
	wantDeleted := []string{meta(1), f.x1.name, meta(2), f.x2.name, f.a.name}

	dry, err := e.open(1).Prune(e.ctx, PruneOptions{Keep: 2, DryRun: true})
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || !slices.Equal(dry.Kept, []int64{3, 4}) || !slices.Equal(dry.Pruned, []int64{1, 2}) || dry.SharedKept != 1 {
		t.Fatalf("dry run: %+v", dry)
	}
	if !slices.Equal(dry.Deleted, wantDeleted) {
		t.Fatalf("dry run would delete %v, want %v", dry.Deleted, wantDeleted)
	}
	if got := e.store.takeDeleted(); len(got) != 0 {
		t.Fatalf("dry run deleted %v", got)
	}

	rep, err := e.open(1).Prune(e.ctx, PruneOptions{Keep: 2})
	if err != nil {
		t.Fatal(err)
	}
	if rep.DryRun || !slices.Equal(rep.Kept, dry.Kept) || !slices.Equal(rep.Pruned, dry.Pruned) || rep.SharedKept != 1 {
		t.Fatalf("prune: %+v", rep)
	}
	if !slices.Equal(rep.Deleted, wantDeleted) {
		t.Fatalf("deleted %v, want %v", rep.Deleted, wantDeleted)
	}
	if order := e.store.takeDeleted(); !slices.Equal(order, wantDeleted) {
		t.Fatalf("deletion order %v, want %v (each _metadata before its files)", order, wantDeleted)
	}
	e.want(true, meta(3), meta(4), f.b.name, f.c.name, f.d.name, f.x3.name, f.x4.name)
	e.want(true, f.untouchable()...)
	if got := e.open(1).Retained(); !slices.Equal(got, []int64{3, 4}) {
		t.Fatalf("retained after prune: %v", got)
	}

	// Pruning to one keeps the newest only; b goes with 3, nothing else
	// is touched.
	rep, err = e.open(1).Prune(e.ctx, PruneOptions{Keep: 1})
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Kept, []int64{4}) || !slices.Equal(rep.Pruned, []int64{3}) {
		t.Fatalf("prune to 1: %+v", rep)
	}
	e.want(false, meta(3), f.b.name, f.c.name, f.x3.name)
	e.want(true, meta(4), f.d.name, f.x4.name)
	e.want(true, f.untouchable()...)
}

func TestPruneKeepsEnough(t *testing.T) {
	f := newPruneFixture(t)
	e := f.e
	for _, keep := range []int{4, 10} {
		rep, err := e.open(1).Prune(e.ctx, PruneOptions{Keep: keep})
		if err != nil {
			t.Fatal(err)
		}
		if len(rep.Pruned) != 0 || len(rep.Deleted) != 0 || !slices.Equal(rep.Kept, []int64{1, 2, 3, 4}) {
			t.Fatalf("keep %d: %+v", keep, rep)
		}
	}
	for _, keep := range []int{0, -1} {
		if _, err := e.open(1).Prune(e.ctx, PruneOptions{Keep: keep}); err == nil {
			t.Fatalf("keep %d accepted", keep)
		}
	}
	if got := e.store.takeDeleted(); len(got) != 0 {
		t.Fatalf("deleted %v", got)
	}
}

// While a checkpoint's _metadata cannot be read, prune leaves it alone and
// deletes no shared file (what it references is unknown), even when the
// damage happened after the registry was opened.
func TestPruneWithUnreadableMetadata(t *testing.T) {
	for _, when := range []string{"before open", "after open"} {
		t.Run(when, func(t *testing.T) {
			f := newPruneFixture(t)
			e := f.e
			corrupt := func() {
				if err := e.store.Delete(e.ctx, meta(3)); err != nil {
					t.Fatal(err)
				}
				e.file(meta(3)) // 16 bytes that are no _metadata
			}
			if when == "before open" {
				corrupt()
			}
			r := e.open(1)
			if when == "after open" {
				corrupt()
			}
			e.store.takeDeleted()
			rep, err := r.Prune(e.ctx, PruneOptions{Keep: 1})
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(rep.Pruned, []int64{1, 2}) || !slices.Equal(rep.Kept, []int64{4}) || !slices.Equal(rep.Unreadable, []string{snapshot.CheckpointDir(testJob, 3)}) {
				t.Fatalf("prune: %+v", rep)
			}
			for _, n := range rep.Deleted {
				if n == f.a.name || n == f.b.name || n == f.c.name {
					t.Fatalf("deleted shared file %s while chk-3 is unreadable", n)
				}
			}
			e.want(true, f.a.name, f.b.name, f.c.name, f.d.name, meta(3), f.x3.name, meta(4))
			e.want(false, meta(1), meta(2), f.x1.name, f.x2.name)
			e.want(true, f.untouchable()...)
		})
	}
}
