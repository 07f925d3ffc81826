package incremental

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
)

// env is a job's checkpoint storage in memory with a settable clock.
type env struct {
	t     *testing.T
	ctx   context.Context
	clock time.Time
	store *memStore
	seq   int
}

func newEnv(t *testing.T) *env {
	e := &env{t: t, ctx: context.Background(), clock: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)}
	e.store = newMemStore(func() time.Time { return e.clock })
	return e
}

func (e *env) opts(n int) Options {
	return Options{NumRetained: n, Now: func() time.Time { return e.clock }}
}

func (e *env) open(n int) *Registry {
	e.t.Helper()
	r, err := Open(e.ctx, e.store, testJob, e.opts(n))
	if err != nil {
		e.t.Fatal(err)
	}
	return r
}

// file writes a file of 16 bytes.
func (e *env) file(name string) ref {
	e.t.Helper()
	e.seq++
	w, err := e.store.Create(e.ctx, name, snapshot.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	fmt.Fprintf(w, "%016d", e.seq)
	wr, err := w.Commit()
	if err != nil {
		e.t.Fatal(err)
	}
	return ref{name: name, size: wr.Size, crc: wr.CRC32C}
}

func shared(n string) string { return snapshot.SharedDir(testJob) + "/" + n }

func chk(id int64, n string) string { return snapshot.CheckpointDir(testJob, id) + "/" + n }

// commit commits the _metadata of checkpoint id referencing files and
// returns it.
func (e *env) commit(id int64, files ...ref) *snapshot.Metadata {
	e.t.Helper()
	dir := snapshot.CheckpointDir(testJob, id)
	md, err := metadata(id, snapshot.KindCheckpoint, dir, files)
	if err != nil {
		e.t.Fatal(err)
	}
	if err := snapshot.CommitMetadata(e.ctx, e.store, dir, md); err != nil {
		e.t.Fatal(err)
	}
	return md
}

// complete commits checkpoint id and reports it to r.
func (e *env) complete(r *Registry, id int64, files ...ref) []string {
	e.t.Helper()
	r.CheckpointStarted(id)
	deleted, err := r.CheckpointCompleted(e.ctx, id, e.commit(id, files...))
	if err != nil {
		e.t.Fatal(err)
	}
	return deleted
}

func (e *env) exists(name string) bool {
	_, err := e.store.Size(e.ctx, name)
	return err == nil
}

// want fails unless every name exists (present) or none does.
func (e *env) want(present bool, names ...string) {
	e.t.Helper()
	for _, n := range names {
		if e.exists(n) != present {
			e.t.Errorf("%s: exists = %v, want %v", n, !present, present)
		}
	}
}

func meta(id int64) string { return chk(id, snapshot.MetadataName) }

func TestOptions(t *testing.T) {
	var o Options
	o.EnsureDefaults()
	if o.NumRetained != 1 || o.GracePeriod != DefaultGracePeriod || o.Now == nil || o.Logger == nil {
		t.Fatalf("defaults: %+v", o)
	}
	if err := o.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := Options{NumRetained: -1, GracePeriod: -time.Second}
	err := bad.Validate()
	for _, w := range []string{"NumRetained -1", "GracePeriod -1s", "missing Now", "missing Logger"} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("Validate() = %v, want it to mention %q", err, w)
		}
	}
	e := newEnv(t)
	if _, err := Open(e.ctx, e.store, testJob, Options{NumRetained: -2}); err == nil {
		t.Error("Open accepted NumRetained -2")
	}
	for _, job := range []string{"", ".", "/abs", "../up", "a//b", "a/../b"} {
		if _, err := Open(e.ctx, e.store, job, Options{}); err == nil {
			t.Errorf("Open accepted job id %q", job)
		}
	}
	if _, err := Open(e.ctx, nil, testJob, Options{}); err == nil {
		t.Error("Open accepted a nil storage")
	}
}

// Subsumption deletes the oldest own checkpoint: _metadata first, then its
// directory, then the shared files nothing references any more.
func TestSubsumption(t *testing.T) {
	e := newEnv(t)
	r := e.open(2)
	a, b, c := e.file(shared("a")), e.file(shared("b")), e.file(shared("c"))
	x1 := e.file(chk(1, "x"))
	y1 := e.file(chk(1, "op/y"))
	e.complete(r, 1, a, b, x1, y1)
	e.complete(r, 2, b, e.file(chk(2, "x")))
	e.want(true, meta(1), meta(2), a.name, b.name)
	e.store.takeDeleted()
	deleted := e.complete(r, 3, c)
	want := []string{meta(1), y1.name, x1.name, a.name} // the directory in listing order
	if !slices.Equal(deleted, want) {
		t.Fatalf("deleted %v, want %v", deleted, want)
	}
	if order := e.store.takeDeleted(); !slices.Equal(order, want) {
		t.Fatalf("deletion order %v, want %v", order, want)
	}
	e.want(true, meta(2), meta(3), b.name, c.name)
	if got := r.Retained(); !slices.Equal(got, []int64{2, 3}) {
		t.Fatalf("Retained() = %v", got)
	}
	got := r.Shared()
	wantShared := []SharedFile{{Name: b.name, Refs: 1, First: 1, Last: 2}, {Name: c.name, Refs: 1, First: 3, Last: 3}}
	if !slices.Equal(got, wantShared) {
		t.Fatalf("Shared() = %v, want %v", got, wantShared)
	}
	if r.NextID() != 4 {
		t.Fatalf("NextID() = %d", r.NextID())
	}
}

// A checkpoint completing after one with a higher id is the oldest.
func TestLateCompletionIsOldest(t *testing.T) {
	e := newEnv(t)
	r := e.open(1)
	a := e.file(shared("a"))
	r.CheckpointStarted(5)
	r.CheckpointStarted(6)
	if _, err := r.CheckpointCompleted(e.ctx, 6, e.commit(6, a)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CheckpointCompleted(e.ctx, 5, e.commit(5, a, e.file(shared("b")))); err != nil {
		t.Fatal(err)
	}
	if got := r.Retained(); !slices.Equal(got, []int64{6}) {
		t.Fatalf("Retained() = %v, want [6]", got)
	}
	e.want(true, meta(6), a.name)
	e.want(false, meta(5), shared("b"))
}

func TestCompletedErrors(t *testing.T) {
	e := newEnv(t)
	r := e.open(1)
	md := e.commit(1)
	if _, err := r.CheckpointCompleted(e.ctx, 2, md); err == nil {
		t.Error("accepted the metadata of another checkpoint")
	}
	if _, err := r.CheckpointCompleted(e.ctx, 1, nil); err == nil {
		t.Error("accepted nil metadata")
	}
	if _, err := r.CheckpointCompleted(e.ctx, 1, md); err != nil {
		t.Fatal(err)
	}
	if _, err := r.CheckpointCompleted(e.ctx, 1, md); err == nil {
		t.Error("registered checkpoint 1 twice")
	}
	if err := r.CheckpointAborted(e.ctx, 1, nil); err == nil {
		t.Error("aborted a retained checkpoint")
	}
	e.want(true, meta(1))
}

// Checkpoints of earlier runs are never deleted, not even by Discard.
func TestEarlierRunsAreKept(t *testing.T) {
	e := newEnv(t)
	a := e.file(shared("a"))
	r1 := e.open(1)
	e.complete(r1, 1, a)
	e.complete(r1, 2, a, e.file(shared("b")))
	e.want(false, meta(1))
	// run 1 crashes with checkpoint 3 in flight
	r1.CheckpointStarted(3)
	e.file(chk(3, "x"))

	r2 := e.open(1)
	if got := r2.Retained(); !slices.Equal(got, []int64{2}) {
		t.Fatalf("Retained() = %v", got)
	}
	if r2.NextID() != 4 {
		t.Fatalf("NextID() = %d, want 4 (past the unfinished chk-3)", r2.NextID())
	}
	e.complete(r2, 4, e.file(shared("c")))
	e.complete(r2, 5, e.file(shared("d")))
	e.want(true, meta(2), a.name, shared("b"), meta(5), shared("d"))
	e.want(false, meta(4), shared("c"))
	if err := r2.Discard(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.want(true, meta(2), a.name, shared("b"))
	e.want(false, meta(5), shared("d"))
	if got := r2.Retained(); !slices.Equal(got, []int64{2}) {
		t.Fatalf("Retained() after Discard = %v", got)
	}
	// The registry stays usable.
	e.complete(r2, 6)
	e.want(true, meta(6))
}

func TestRestoreModes(t *testing.T) {
	setup := func(t *testing.T) (*env, *snapshot.Metadata) {
		e := newEnv(t)
		r := e.open(1)
		e.complete(r, 1, e.file(shared("a")), e.file(chk(1, "x")))
		md, err := snapshot.ReadMetadata(e.ctx, e.store, snapshot.CheckpointDir(testJob, 1))
		if err != nil {
			t.Fatal(err)
		}
		return e, md
	}
	t.Run("noclaim", func(t *testing.T) {
		e, md := setup(t)
		r := e.open(1)
		if err := r.Restored(snapshot.CheckpointDir(testJob, 1), md, backend.NoClaim); err != nil {
			t.Fatal(err)
		}
		e.complete(r, 2)
		e.complete(r, 3)
		e.want(true, meta(1), chk(1, "x"), shared("a"))
		if err := r.Discard(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.want(true, meta(1), chk(1, "x"), shared("a"))
		e.want(false, meta(3))
	})
	t.Run("claim", func(t *testing.T) {
		e, md := setup(t)
		r := e.open(1)
		if err := r.Restored(snapshot.CheckpointDir(testJob, 1), md, backend.Claim); err != nil {
			t.Fatal(err)
		}
		b := e.file(shared("b"))
		e.complete(r, 2, b)
		e.want(false, meta(1), chk(1, "x"), shared("a"))
		e.want(true, meta(2), b.name)
	})
	t.Run("claim-discard", func(t *testing.T) {
		e, md := setup(t)
		r := e.open(2)
		if err := r.Restored(snapshot.CheckpointDir(testJob, 1), md, backend.Claim); err != nil {
			t.Fatal(err)
		}
		if err := r.Discard(e.ctx); err != nil {
			t.Fatal(err)
		}
		e.want(false, meta(1), shared("a"))
	})
	t.Run("claim-elsewhere", func(t *testing.T) {
		e, md := setup(t)
		r := e.open(1)
		if err := r.Restored("other/chk-1", md, backend.Claim); err == nil {
			t.Fatal("claimed a checkpoint outside the job's directory")
		}
		other := *md
		other.CheckpointID = 9
		if err := r.Restored(snapshot.CheckpointDir(testJob, 9), &other, backend.Claim); err == nil {
			t.Fatal("claimed a checkpoint the registry does not know")
		}
		if r.NextID() != 10 {
			t.Fatalf("NextID() = %d, want 10", r.NextID())
		}
		e.complete(r, 10)
		e.complete(r, 11)
		e.want(true, meta(1), shared("a"))
	})
	t.Run("savepoint", func(t *testing.T) {
		e, _ := setup(t)
		sp := e.file("savepoints/sp/f")
		md, err := metadata(1, snapshot.KindSavepoint, "savepoints/sp", []ref{sp})
		if err != nil {
			t.Fatal(err)
		}
		if err := snapshot.CommitMetadata(e.ctx, e.store, "savepoints/sp", md); err != nil {
			t.Fatal(err)
		}
		r := e.open(1)
		if err := r.Restored("savepoints/sp", md, backend.Claim); err != nil {
			t.Fatal(err)
		}
		// A savepoint reported as completed is not registered.
		r.CheckpointStarted(2)
		if d, err := r.CheckpointCompleted(e.ctx, 2, &snapshot.Metadata{CheckpointID: 2, Kind: snapshot.KindSavepoint}); err != nil || len(d) > 0 {
			t.Fatalf("savepoint completed: deleted %v, %v", d, err)
		}
		e.complete(r, 3)
		e.complete(r, 4)
		if got := r.Retained(); !slices.Equal(got, []int64{1, 4}) {
			t.Fatalf("Retained() = %v", got)
		}
		e.want(true, sp.name, "savepoints/sp/_metadata", meta(1))
	})
}

// A shared file that loses its last reference while a checkpoint is in
// flight waits until that checkpoint ends: it may reference it.
func TestDeferredWhileInFlight(t *testing.T) {
	for _, outcome := range []string{"complete", "abort"} {
		t.Run(outcome, func(t *testing.T) {
			e := newEnv(t)
			r := e.open(1)
			a, b := e.file(shared("a")), e.file(shared("b"))
			e.complete(r, 1, a, b)
			r.CheckpointStarted(2)
			r.CheckpointStarted(3) // started with checkpoint 1 confirmed
			if _, err := r.CheckpointCompleted(e.ctx, 2, e.commit(2, a)); err != nil {
				t.Fatal(err)
			}
			e.want(false, meta(1))
			e.want(true, a.name, b.name)
			// A sweep keeps it too, however old.
			e.clock = e.clock.Add(time.Hour)
			if _, err := r.SweepOrphans(e.ctx, false); err != nil {
				t.Fatal(err)
			}
			e.want(true, b.name)
			if outcome == "complete" {
				if _, err := r.CheckpointCompleted(e.ctx, 3, e.commit(3, b)); err != nil {
					t.Fatal(err)
				}
				e.want(true, b.name)
				e.want(false, a.name)
			} else {
				if err := r.CheckpointAborted(e.ctx, 3, nil); err != nil {
					t.Fatal(err)
				}
				e.want(false, b.name)
				e.want(true, a.name)
			}
		})
	}
}

func TestAbort(t *testing.T) {
	e := newEnv(t)
	r := e.open(1)
	a := e.file(shared("a"))
	e.complete(r, 1, a)
	r.CheckpointStarted(2)
	r.CheckpointStarted(3)
	rep, told, silent := e.file(shared("rep")), e.file(shared("told")), e.file(shared("silent"))
	other := e.file(shared("other"))
	r.CheckpointUploaded(2, []string{rep.name, a.name})
	r.CheckpointUploaded(3, []string{other.name})
	r.CheckpointUploaded(7, []string{"ignored"}) // not in flight
	x := e.file(chk(2, "op/x"))
	foreign := e.file(chk(2, "op/y")) // another writer's file in the directory
	to := e.file(snapshot.TaskOwnedDir(testJob) + "/t")
	err := r.CheckpointAborted(e.ctx, 2, []string{told.name, x.name, other.name, to.name, "elsewhere/f", a.name})
	if err != nil {
		t.Fatal(err)
	}
	e.want(false, told.name, x.name)
	// referenced, reported by a checkpoint in flight, reported but not
	// written (a reference), unreported, another writer's, taskowned,
	// outside the job: kept
	e.want(true, a.name, other.name, rep.name, silent.name, foreign.name, to.name)
	if r.NextID() != 4 {
		t.Fatalf("NextID() = %d", r.NextID())
	}
}

// An abort after a _metadata was written after all (a commit that timed
// out but landed) deletes the _metadata first, when the caller says it is
// its own; after a lost commit race (the _metadata is the winner's) it
// deletes only the loser's files.
func TestAbortAfterCommitLanded(t *testing.T) {
	for _, ours := range []bool{true, false} {
		t.Run(fmt.Sprintf("own metadata %v", ours), func(t *testing.T) {
			e := newEnv(t)
			r := e.open(1)
			r.CheckpointStarted(1)
			x, winners := e.file(chk(1, "x-loser")), e.file(chk(1, "x-winner"))
			e.commit(1, winners)
			e.store.takeDeleted()
			written, want := []string{x.name}, []string{x.name}
			if ours {
				written, want = append(written, meta(1)), []string{meta(1), x.name}
			}
			if err := r.CheckpointAborted(e.ctx, 1, written); err != nil {
				t.Fatal(err)
			}
			if got := e.store.takeDeleted(); !slices.Equal(got, want) {
				t.Fatalf("deleted %v, want %v", got, want)
			}
			e.want(true, winners.name)
		})
	}
}

// A checkpoint whose _metadata cannot be deleted stays retained and is
// retried; files that cannot be deleted are left to the sweeper.
func TestDeleteFailures(t *testing.T) {
	e := newEnv(t)
	r := e.open(1)
	a := e.file(shared("a"))
	e.complete(r, 1, a, e.file(chk(1, "x")))
	boom := errors.New("boom")
	e.store.failDelete = func(n string) error {
		if n == meta(1) {
			return boom
		}
		return nil
	}
	r.CheckpointStarted(2)
	_, err := r.CheckpointCompleted(e.ctx, 2, e.commit(2))
	if !errors.Is(err, boom) {
		t.Fatalf("CheckpointCompleted: %v, want boom", err)
	}
	if got := r.Retained(); !slices.Equal(got, []int64{1, 2}) {
		t.Fatalf("Retained() = %v", got)
	}
	e.want(true, meta(1), chk(1, "x"), a.name)

	e.store.failDelete = func(n string) error {
		if n == a.name {
			return boom
		}
		return nil
	}
	r.CheckpointStarted(3)
	if _, err := r.CheckpointCompleted(e.ctx, 3, e.commit(3)); !errors.Is(err, boom) {
		t.Fatalf("CheckpointCompleted: %v, want boom", err)
	}
	if got := r.Retained(); !slices.Equal(got, []int64{3}) {
		t.Fatalf("Retained() = %v", got)
	}
	e.want(false, meta(1), meta(2), chk(1, "x"))
	e.want(true, a.name)

	e.store.failDelete = nil
	e.clock = e.clock.Add(DefaultGracePeriod + time.Second)
	rep, err := r.SweepOrphans(e.ctx, false)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(rep.Deleted, []string{a.name}) {
		t.Fatalf("swept %v", rep.Deleted)
	}
}

// The registry is safe for concurrent use.
func TestConcurrentUse(t *testing.T) {
	e := newEnv(t)
	r := e.open(1)
	var wg sync.WaitGroup
	for g := range 4 {
		wg.Go(func() {
			for i := range 20 {
				switch g {
				case 0:
					id := int64(i + 1)
					r.CheckpointStarted(id)
					w, _ := e.store.Create(e.ctx, shared(fmt.Sprint(id)), snapshot.CreateOptions{})
					wr, _ := w.Commit()
					dir := snapshot.CheckpointDir(testJob, id)
					md, _ := metadata(id, snapshot.KindCheckpoint, dir, []ref{{name: shared(fmt.Sprint(id)), size: wr.Size, crc: wr.CRC32C}})
					if err := snapshot.CommitMetadata(e.ctx, e.store, dir, md); err != nil {
						t.Error(err)
					}
					if _, err := r.CheckpointCompleted(e.ctx, id, md); err != nil {
						t.Error(err)
					}
				case 1:
					if _, err := r.SweepOrphans(e.ctx, i%2 == 0); err != nil {
						t.Error(err)
					}
				case 2:
					r.Retained()
					r.Shared()
				case 3:
					r.NextID()
				}
			}
		})
	}
	wg.Wait()
	if got := r.Retained(); !slices.Equal(got, []int64{20}) {
		t.Fatalf("Retained() = %v", got)
	}
	e.want(true, shared("20"))
}

func TestShortPaths(t *testing.T) {
	// sanity of the test helpers
	if got, _ := relPath("job/chk-1", "job/shared/a"); got != "../shared/a" {
		t.Fatal(got)
	}
	if d, rest, ok := cutChkDir("job/chk-12/op/x"); !ok || d != "job/chk-12/" || rest != "op/x" {
		t.Fatal(d, rest, ok)
	}
	if path.Base(meta(3)) != snapshot.MetadataName {
		t.Fatal(meta(3))
	}
}

// Stop savepoints registered in the job directory took their ids from
// the job's sequence: NextID stays above them. Neither their pointers nor
// the lease file are checkpoints, orphans or shared files.
func TestStopSavepointsAndLeaseFile(t *testing.T) {
	e := newEnv(t)
	r := e.open(1)
	e.complete(r, 3)
	ptr := snapshot.SavepointPointer{CheckpointID: 7, Location: "/savepoints/savepoint-job-7"}
	if err := snapshot.RegisterStopSavepoint(e.ctx, e.store, testJob, ptr); err != nil {
		t.Fatal(err)
	}
	lease := e.file(testJob + "/_lease")
	r = e.open(1)
	if r.NextID() != 8 || !slices.Equal(r.Retained(), []int64{3}) {
		t.Fatalf("NextID() = %d, Retained() = %v; want 8 and [3]", r.NextID(), r.Retained())
	}
	e.clock = e.clock.Add(24 * time.Hour)
	if rep, err := r.SweepOrphans(e.ctx, false); err != nil || len(rep.Deleted) != 0 {
		t.Fatalf("sweep deleted %v, %v", rep.Deleted, err)
	}
	e.complete(r, 8)
	if err := r.Discard(e.ctx); err != nil {
		t.Fatal(err)
	}
	e.want(true, lease.name, snapshot.SavepointPointerName(testJob, 7), meta(3))
	e.want(false, meta(8))
}
