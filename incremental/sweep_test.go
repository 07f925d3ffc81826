package incremental

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/stated-io/stated/snapshot"
)

// sweepEnv holds one of each kind of file, all written at the start.
type sweepEnv struct {
	*env
	r *Registry
	// referenced by checkpoint 1
	ref1 ref
	// orphans: unreferenced shared file, files of the unfinished chk-2
	orphans []string
	// in flight: chk-3's directory and a reported upload
	inflight []string
	// never swept: taskowned, savepoint, another job, a stray file
	kept []string
}

func newSweepEnv(t *testing.T) *sweepEnv {
	e := &sweepEnv{env: newEnv(t)}
	e.ref1 = e.file(shared("ref"))
	e.r = e.open(1)
	e.complete(e.r, 1, e.ref1)
	e.orphans = []string{e.file(shared("orphan")).name, e.file(shared("sub/orphan")).name, e.file(chk(2, "x")).name, e.file(chk(2, "op/y")).name}
	e.r.CheckpointStarted(3)
	up := e.file(shared("up")).name
	e.r.CheckpointUploaded(3, []string{up})
	e.inflight = []string{e.file(chk(3, "x")).name, up}
	e.kept = []string{
		e.file(snapshot.TaskOwnedDir(testJob) + "/t").name,
		e.file("savepoints/sp/f").name,
		e.file("other/shared/f").name,
		e.file(testJob + "/stray").name,
	}
	return e
}

func TestSweepGracePeriod(t *testing.T) {
	e := newSweepEnv(t)
	e.clock = e.clock.Add(DefaultGracePeriod) // exactly the grace period: not older
	rep, err := e.r.SweepOrphans(e.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Deleted) != 0 || rep.Young != len(e.orphans) || rep.InFlight != len(e.inflight) || !rep.Time.Equal(e.clock) {
		t.Fatalf("report %+v", rep)
	}
	e.clock = e.clock.Add(time.Nanosecond)
	rep, err = e.r.SweepOrphans(e.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(e.orphans))
	if !slices.Equal(rep.Deleted, want) || rep.Bytes != 16*int64(len(want)) || rep.Young != 0 || rep.InFlight != len(e.inflight) {
		t.Fatalf("report %+v, want deleted %v", rep, want)
	}
	e.want(false, e.orphans...)
	e.want(true, e.inflight...)
	e.want(true, e.kept...)
	e.want(true, e.ref1.name, meta(1))

	// Once checkpoint 3 aborts, its leftovers are orphans too.
	e.r.CheckpointAborted(e.ctx, 3, e.inflight)
	late := e.file(shared("late")).name
	e.store.setModTime(late, e.clock.Add(-time.Hour))
	rep, err = e.r.SweepOrphans(e.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Deleted, []string{late}) {
		t.Fatalf("deleted %v", rep.Deleted)
	}
}

func TestSweepDryRun(t *testing.T) {
	e := newSweepEnv(t)
	e.clock = e.clock.Add(time.Hour)
	before := e.store.names()
	dry, err := e.r.SweepOrphans(e.ctx, true)
	if err != nil {
		t.Fatal(err)
	}
	if !dry.DryRun || len(dry.Deleted) != len(e.orphans) {
		t.Fatalf("dry run %+v", dry)
	}
	if after := e.store.names(); !slices.Equal(before, after) {
		t.Fatalf("a dry run deleted %v", before)
	}
	real, err := e.r.SweepOrphans(e.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if real.DryRun || !slices.Equal(real.Deleted, dry.Deleted) || real.Bytes != dry.Bytes {
		t.Fatalf("dry run %+v, sweep %+v", dry, real)
	}
}

// A registry of another run (the CLI) knows nothing in flight: only the
// grace period protects the running job's files.
func TestSweepFromAnotherRun(t *testing.T) {
	e := newSweepEnv(t)
	cli := e.open(1)
	rep, err := cli.SweepOrphans(e.ctx, false)
	if err != nil || len(rep.Deleted) != 0 {
		t.Fatalf("young files swept: %+v, %v", rep, err)
	}
	e.clock = e.clock.Add(time.Hour)
	rep, err = cli.SweepOrphans(e.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	want := slices.Sorted(slices.Values(append(slices.Clone(e.orphans), e.inflight...)))
	if !slices.Equal(rep.Deleted, want) {
		t.Fatalf("deleted %v, want %v", rep.Deleted, want)
	}
	e.want(true, e.kept...)
	e.want(true, e.ref1.name, meta(1))
}

func TestSweepWithoutModTimes(t *testing.T) {
	e := newSweepEnv(t)
	e.clock = e.clock.Add(time.Hour)
	r, err := Open(e.ctx, plainStore{e.store}, testJob, e.opts(1))
	if err != nil {
		t.Fatal(err)
	}
	before := e.store.names()
	rep, err := r.SweepOrphans(e.ctx, false)
	if !errors.Is(err, ErrNoModTime) || !errors.Is(err, snapshot.ErrUnsupported) || len(rep.Deleted) != 0 {
		t.Fatalf("SweepOrphans = %+v, %v; want ErrNoModTime", rep, err)
	}
	if !slices.Equal(before, e.store.names()) {
		t.Fatal("files deleted")
	}
}

// Files without a modification time are never old enough.
func TestSweepZeroModTime(t *testing.T) {
	e := newSweepEnv(t)
	for _, n := range e.orphans {
		e.store.setModTime(n, time.Time{})
	}
	e.clock = e.clock.Add(time.Hour)
	rep, err := e.r.SweepOrphans(e.ctx, false)
	if err != nil || len(rep.Deleted) != 0 || rep.Young != len(e.orphans) {
		t.Fatalf("%+v, %v", rep, err)
	}
}

// A checkpoint whose _metadata is corrupt or truncated is not a
// checkpoint, but it is not swept either, and no shared file is deleted
// while it exists: what it references is unknown.
func TestUnreadableMetadata(t *testing.T) {
	for _, damage := range []string{"corrupt", "truncated"} {
		t.Run(damage, func(t *testing.T) {
			e := newEnv(t)
			r := e.open(1)
			a, b := e.file(shared("a")), e.file(shared("b"))
			e.complete(r, 1, a)
			e.complete(r, 2, a, b)
			good, err := e.store.get(meta(2))
			if err != nil {
				t.Fatal(err)
			}
			bad := slices.Clone(good.data)
			if damage == "corrupt" {
				bad[len(bad)/2] ^= 0xff
			} else {
				bad = bad[:len(bad)-3]
			}
			e.store.files[meta(2)].data = bad
			orphan := e.file(shared("orphan"))

			r2 := e.open(1)
			if got := r2.Retained(); len(got) != 0 {
				t.Fatalf("Retained() = %v", got)
			}
			e.clock = e.clock.Add(time.Hour)
			rep, err := r2.SweepOrphans(e.ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			if len(rep.Deleted) != 0 || !slices.Equal(rep.Unreadable, []string{snapshot.CheckpointDir(testJob, 2)}) {
				t.Fatalf("report %+v", rep)
			}
			// Subsumption deletes the checkpoint but keeps its shared files.
			c := e.file(shared("c"))
			e.complete(r2, 3, c)
			e.complete(r2, 4)
			e.want(false, meta(3))
			e.want(true, meta(2), a.name, b.name, c.name, orphan.name)

			// Once a human removed it, everything is collected again.
			if err := e.store.Delete(e.ctx, meta(2)); err != nil {
				t.Fatal(err)
			}
			r3 := e.open(1)
			e.clock = e.clock.Add(time.Hour)
			rep, err = r3.SweepOrphans(e.ctx, false)
			if err != nil {
				t.Fatal(err)
			}
			want := []string{a.name, b.name, c.name, orphan.name}
			if !slices.Equal(rep.Deleted, want) {
				t.Fatalf("deleted %v, want %v", rep.Deleted, want)
			}
		})
	}
}

// hookStore calls onListInfo before each ListInfo.
type hookStore struct {
	*memStore
	onListInfo func(dir string)
}

func (s hookStore) ListInfo(ctx context.Context, dir string) ([]snapshot.FileInfo, error) {
	s.onListInfo(dir)
	return s.memStore.ListInfo(ctx, dir)
}

// A checkpoint that completes while a sweep lists the storage is not
// swept: the sweep decides against what the registry knows at the end.
func TestSweepRacesCompletion(t *testing.T) {
	e := newEnv(t)
	var r *Registry
	var md *snapshot.Metadata
	hooked := hookStore{memStore: e.store, onListInfo: func(dir string) {
		if dir == snapshot.SharedDir(testJob) && md == nil {
			// The checkpoint completes between the listing of the
			// checkpoints and that of the shared files.
			md = e.commit(1, e.file(shared("a")), e.file(chk(1, "x")))
			if _, err := r.CheckpointCompleted(e.ctx, 1, md); err != nil {
				t.Error(err)
			}
		}
	}}
	r, err := Open(e.ctx, hooked, testJob, e.opts(1))
	if err != nil {
		t.Fatal(err)
	}
	r.CheckpointStarted(1)
	e.file(chk(1, "y"))
	e.clock = e.clock.Add(time.Hour) // a checkpoint longer than the grace period
	rep, err := r.SweepOrphans(e.ctx, false)
	if err != nil || len(rep.Deleted) != 0 || rep.InFlight != 2 || md == nil {
		t.Fatalf("%+v, %v", rep, err)
	}
	e.want(true, shared("a"), chk(1, "x"), chk(1, "y"), meta(1))
}
