package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/providers"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
)

// ckptStore opens the checkpoint storage of a test job under dir.
func ckptStore(t *testing.T, dir string) *file.Storage {
	t.Helper()
	s, err := file.New(filepath.Join(dir, "checkpoints"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// completeIDs lists the ids of the complete checkpoints of the test job.
func completeIDs(t *testing.T, dir string) []int64 {
	t.Helper()
	infos, err := snapshot.ListCheckpoints(context.Background(), ckptStore(t, dir), "test")
	if err != nil {
		t.Fatal(err)
	}
	var ids []int64
	for _, in := range infos {
		if in.Err == nil {
			ids = append(ids, in.ID)
		}
	}
	return ids
}

// stopAfter stops j with a savepoint once n checkpoints completed.
func stopAfter(j *Job, n int32) {
	var done atomic.Int32
	j.opts.OnCheckpoint = func(s CheckpointStats) {
		if s.Err == nil && s.Kind == snapshot.KindCheckpoint && done.Add(1) == n {
			j.StopWithSavepoint()
		}
	}
}

// TestStopWithSavepointThenLatest stops a job with a savepoint (its sink
// committed the savepoint's output) and restarts it with latest, in every
// retention mode: latest is the stop savepoint, so nothing is written
// twice, and no retention or discard deletes the savepoint.
func TestStopWithSavepointThenLatest(t *testing.T) {
	for _, retention := range []string{"RETAIN_ON_CANCELLATION", "DELETE_ON_CANCELLATION", "NO_EXTERNALIZED_CHECKPOINTS"} {
		t.Run(retention, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			const records = 3000
			kv := []string{config.KeyRetention, retention, config.KeyNumRetained, "2"}
			j := countingJob(testConfig(t, dir, kv...), records, out, WithRate(4000))
			stopAfter(j, 2)
			sp := run(t, j).Savepoint
			if sp == "" {
				t.Fatal("no savepoint")
			}
			res := run(t, countingJob(testConfig(t, dir, append(kv, config.KeyRecoveryPath, "latest")...), records, out))
			if res.Restored != sp {
				t.Fatalf("restored %q, want the stop savepoint %s", res.Restored, sp)
			}
			checkCounts(t, out, records)
			if _, err := os.Stat(filepath.Join(sp, snapshot.MetadataName)); err != nil {
				t.Fatalf("the stop savepoint is gone after a run in %s: %v", retention, err)
			}
		})
	}
}

// TestLatestRefusesUnreadableNewest damages the newest _metadata of a job
// that retains two checkpoints: latest fails, naming the file, the older
// checkpoint and the move-aside command, and writes nothing.
func TestLatestRefusesUnreadableNewest(t *testing.T) {
	damages := map[string]func([]byte) []byte{
		"truncated":   func(b []byte) []byte { return b[:len(b)-7] },
		"bit-flipped": func(b []byte) []byte { b[len(b)/2] ^= 0x20; return b },
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			kv := []string{config.KeyNumRetained, "2"}
			run(t, countingJob(testConfig(t, dir, kv...), 2000, out, WithRate(8000)))
			ids := completeIDs(t, dir)
			if len(ids) != 2 {
				t.Fatalf("retained %v, want 2", ids)
			}
			newest := filepath.Join(dir, "checkpoints", "test", fmt.Sprintf("chk-%d", ids[1]), snapshot.MetadataName)
			b, err := os.ReadFile(newest)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(newest, damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			before := readLines(t, out)
			err = runErr(t, countingJob(testConfig(t, dir, append(kv, config.KeyRecoveryPath, "latest")...), 2000, out))
			older := filepath.Join(dir, "checkpoints", "test", fmt.Sprintf("chk-%d", ids[0]))
			if !errors.Is(err, ErrUnreadableRestorePoint) || !errors.Is(err, snapshot.ErrCorrupt) || errors.Is(err, ErrConfig) {
				t.Fatalf("restore latest: %v; want ErrUnreadableRestorePoint wrapping ErrCorrupt", err)
			}
			for _, want := range []string{newest, "--restore " + older, "stated checkpoint move-aside " + filepath.Dir(newest)} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not name %q", err, want)
				}
			}
			if after := readLines(t, out); len(after) != len(before) {
				t.Fatalf("the refused restore changed the output: %d lines, were %d", len(after), len(before))
			}
		})
	}
}

// TestOlderCheckpointIntoNewerOutput restores an explicitly older
// checkpoint into an output directory that holds newer commits: refused,
// naming the newest uncovered file; with MOVE_ASIDE the newer files are
// moved into a "_" directory, nothing is deleted and the output is
// exactly once.
func TestOlderCheckpointIntoNewerOutput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	const records = 3000
	run(t, countingJob(testConfig(t, dir, config.KeyNumRetained, "3"), records, out, WithRate(6000)))
	ids := completeIDs(t, dir)
	if len(ids) < 3 {
		t.Fatalf("retained %v, want 3", ids)
	}
	oldest := filepath.Join(dir, "checkpoints", "test", fmt.Sprintf("chk-%d", ids[0]))
	files, _ := filepath.Glob(filepath.Join(out, "part-*"))
	newestFile := newestOf(t, files)

	err := runErr(t, countingJob(testConfig(t, dir, config.KeyRecoveryPath, oldest), records, out))
	if !errors.Is(err, ErrUncoveredOutput) || !strings.Contains(err.Error(), newestFile) || !strings.Contains(err.Error(), oldest) ||
		!strings.Contains(err.Error(), config.KeyUncoveredOutput+": MOVE_ASIDE") {
		t.Fatalf("restore of %s: %v; want ErrUncoveredOutput naming %s", oldest, err, newestFile)
	}
	if got, _ := filepath.Glob(filepath.Join(out, "part-*")); !slices.Equal(got, files) {
		t.Fatalf("the refused restore changed the committed files: %v, were %v", got, files)
	}

	run(t, countingJob(testConfig(t, dir, config.KeyRecoveryPath, oldest, config.KeyUncoveredOutput, "MOVE_ASIDE"), records, out))
	checkCounts(t, out, records)
	aside, _ := filepath.Glob(filepath.Join(out, "_uncovered-*", "part-*"))
	if len(aside) == 0 {
		t.Fatal("nothing was moved aside")
	}
	for _, f := range aside {
		if _, err := os.Stat(filepath.Join(out, filepath.Base(f))); err == nil {
			t.Errorf("%s was moved aside and is still committed", f)
		}
	}
	for _, f := range files {
		_, err1 := os.Stat(f)
		_, err2 := os.Stat(filepath.Join(filepath.Dir(aside[0]), filepath.Base(f)))
		if err1 != nil && err2 != nil {
			t.Errorf("%s was deleted", f)
		}
	}
}

func newestOf(t *testing.T, files []string) string {
	t.Helper()
	var newest string
	var mod time.Time
	for _, f := range files {
		fi, err := os.Stat(f)
		if err != nil {
			t.Fatal(err)
		}
		if fi.ModTime().After(mod) || fi.ModTime().Equal(mod) && f > newest {
			newest, mod = f, fi.ModTime()
		}
	}
	return newest
}

// TestFreshStartOverCommittedOutput starts a job without a restore on the
// output of an earlier run: refused, then moved aside on request.
func TestFreshStartOverCommittedOutput(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	run(t, countingJob(testConfig(t, dir), 500, out))
	err := runErr(t, countingJob(testConfig(t, dir), 500, out))
	if !errors.Is(err, ErrUncoveredOutput) || !strings.Contains(err.Error(), "without a restore") {
		t.Fatalf("fresh start over committed output: %v", err)
	}
	checkCounts(t, out, 500)
	run(t, countingJob(testConfig(t, dir, config.KeyUncoveredOutput, "MOVE_ASIDE"), 500, out))
	checkCounts(t, out, 500)

	// latest without a restore point (DELETE_ON_CANCELLATION deleted the
	// finished run's checkpoints) is a start from the beginning too.
	kv := []string{config.KeyRetention, "DELETE_ON_CANCELLATION"}
	out2 := filepath.Join(dir, "out2")
	run(t, countingJob(testConfig(t, dir, append(kv, config.KeyName, "deleted")...), 500, out2))
	err = runErr(t, countingJob(testConfig(t, dir, append(kv, config.KeyName, "deleted", config.KeyRecoveryPath, "latest")...), 500, out2))
	if !errors.Is(err, ErrUncoveredOutput) || !strings.Contains(err.Error(), "found no restore point") {
		t.Fatalf("latest without a restore point over committed output: %v", err)
	}
	checkCounts(t, out2, 500)
}

// TestRestoreLegacySinkState restores a checkpoint whose sink state
// predates the committed-parts record (rewritten here without it) into
// its own output: refused unless adopt-legacy-output says the directory
// holds exactly its output; then the output is exactly once and the next
// checkpoint has the record again.
func TestRestoreLegacySinkState(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	const records = 2000
	j := countingJob(testConfig(t, dir), records, out, WithRate(4000))
	stopAfter(j, 2)
	sp := run(t, j).Savepoint
	legacy := withoutRecord(t, sp)

	err := runErr(t, countingJob(testConfig(t, dir, config.KeyRecoveryPath, legacy), records, out))
	if !errors.Is(err, ErrUncoveredOutput) || !strings.Contains(err.Error(), config.KeyAdoptLegacyOutput) {
		t.Fatalf("restore of a legacy snapshot over its output: %v", err)
	}
	res := run(t, countingJob(testConfig(t, dir, config.KeyRecoveryPath, legacy, config.KeyAdoptLegacyOutput, "true"), records, out))
	checkCounts(t, out, records)
	// The new final checkpoint records its output: restoring it needs no
	// adoption.
	run(t, countingJob(testConfig(t, dir, config.KeyRecoveryPath, res.LastCheckpoint), records, out))
	checkCounts(t, out, records)
}

// withoutRecord copies the savepoint sp into a new savepoint whose sink
// state lacks the committed-parts state, as before it existed, and
// returns its directory.
func withoutRecord(t *testing.T, sp string) string {
	t.Helper()
	ctx := context.Background()
	src, name, err := providers.OpenSnapshotPath(ctx, sp, providers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	dir, md, err := snapshot.ResolveRestorePath(ctx, src, name)
	if err != nil {
		t.Fatal(err)
	}
	dst := filepath.Join(filepath.Dir(sp), "legacy")
	if err := os.CopyFS(dst, os.DirFS(sp)); err != nil {
		t.Fatal(err)
	}
	ldir := filepath.Dir(name) + "/legacy"
	if err := src.Delete(ctx, ldir+"/"+snapshot.MetadataName); err != nil {
		t.Fatal(err)
	}
	for i := range md.Operators {
		op := &md.Operators[i]
		if op.UID != "sink" {
			continue
		}
		for s := range op.Subtasks {
			for h := range op.Subtasks[s].Operator {
				handle := &op.Subtasks[s].Operator[h]
				data, err := snapshot.ReadOperatorStates(ctx, src, dir, handle)
				if err != nil {
					t.Fatal(err)
				}
				data = slices.DeleteFunc(data, func(d snapshot.OperatorStateData) bool { return d.Name == committedPartsState })
				file := fmt.Sprintf("legacy-%d-%d.op", s, h)
				w, err := src.Create(ctx, ldir+"/"+file, snapshot.CreateOptions{})
				if err != nil {
					t.Fatal(err)
				}
				metas, err := snapshot.WriteOperatorStates(w, handle.Compression, data)
				if err != nil {
					t.Fatal(err)
				}
				written, err := w.Commit()
				if err != nil {
					t.Fatal(err)
				}
				handle.File = snapshot.FileRef{Path: file, Scope: snapshot.ScopeExclusive, Size: written.Size, CRC32C: written.CRC32C}
				handle.States = metas
			}
		}
	}
	if err := snapshot.CommitMetadata(ctx, src, ldir, md); err != nil {
		t.Fatal(err)
	}
	return dst
}

// TestSecondInstanceRefused runs a second instance of a running job on its
// checkpoint directory: refused with ErrLeaseHeld naming the holder,
// before it touched anything; the first finishes exactly once.
func TestSecondInstanceRefused(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	const records = 3000
	first := countingJob(testConfig(t, dir), records, out, WithRate(3000))
	started := make(chan struct{})
	var once atomic.Bool
	first.opts.OnCheckpoint = func(s CheckpointStats) {
		if s.Err == nil && once.CompareAndSwap(false, true) {
			close(started)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := first.Run(context.Background())
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("the first instance ended before its first checkpoint: %v", err)
	}
	err := runErr(t, countingJob(testConfig(t, dir, config.KeyRecoveryPath, "latest"), records, out))
	var held *snapshot.LeaseHeldError
	if !errors.Is(err, snapshot.ErrLeaseHeld) || !errors.As(err, &held) || held.Holder.PID != os.Getpid() ||
		!strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second instance: %v; want the lease held by this process", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("first instance: %v", err)
	}
	checkCounts(t, out, records)
}

// A second job (another name and checkpoint directory, so another job
// lease) that writes to the output directory of a running one is refused
// before it touches the directory, naming the first; the first finishes
// exactly once.
func TestSecondJobOnOutputRefused(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	const records = 3000
	first := countingJob(testConfig(t, dir), records, out, WithRate(3000))
	started := make(chan struct{})
	var once atomic.Bool
	first.opts.OnCheckpoint = func(s CheckpointStats) {
		if s.Err == nil && once.CompareAndSwap(false, true) {
			close(started)
		}
	}
	done := make(chan error, 1)
	go func() {
		_, err := first.Run(context.Background())
		done <- err
	}()
	select {
	case <-started:
	case err := <-done:
		t.Fatalf("the first job ended before its first checkpoint: %v", err)
	}
	other := testConfig(t, dir, config.KeyName, "other", config.KeyCheckpointDir, filepath.Join(dir, "other-checkpoints"))
	err := runErr(t, countingJob(other, records, out))
	if !errors.Is(err, snapshot.ErrLeaseHeld) || !strings.Contains(err.Error(), "another job writes to the output directory "+out) ||
		!strings.Contains(err.Error(), fmt.Sprintf("pid %d", os.Getpid())) {
		t.Fatalf("second job: %v; want the output directory's lock held by this process", err)
	}
	if err := <-done; err != nil {
		t.Fatalf("first job: %v", err)
	}
	checkCounts(t, out, records)
}

// unleasedStorage hides the Leaser of the storage it wraps.
type unleasedStorage struct{ snapshot.Storage }

func TestStorageWithoutLeaseRefused(t *testing.T) {
	dir := t.TempDir()
	j := countingJob(testConfig(t, dir), 10, filepath.Join(dir, "out"))
	j.wrapStorage = func(s snapshot.Storage) snapshot.Storage { return unleasedStorage{s} }
	if err := runErr(t, j); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "lease") {
		t.Fatalf("storage without a lease: %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "out")); err == nil {
		t.Fatal("the refused job created its output directory")
	}
}

// TestLostLeaseFailsTheJob replaces the lock file of a running job: the
// lease is lost, the job fails, and it deletes none of its checkpoints
// (which NO_EXTERNALIZED_CHECKPOINTS would), since another instance may
// own them now.
func TestLostLeaseFailsTheJob(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	j := countingJob(testConfig(t, dir, config.KeyLeaseTTL, "60ms", config.KeyRetention, "NO_EXTERNALIZED_CHECKPOINTS"), 100_000, out, WithRate(3000))
	var once atomic.Bool
	j.opts.OnCheckpoint = func(s CheckpointStats) {
		if s.Err == nil && once.CompareAndSwap(false, true) {
			lock := filepath.Join(dir, "checkpoints", "test", "_lease")
			if err := os.Rename(lock, lock+".moved"); err != nil {
				t.Error(err)
			}
		}
	}
	err := runErr(t, j)
	if !errors.Is(err, snapshot.ErrLeaseLost) {
		t.Fatalf("run after its lock file was replaced: %v; want ErrLeaseLost", err)
	}
	if ids := completeIDs(t, dir); len(ids) == 0 {
		t.Fatal("the job deleted its checkpoints after it lost its lease")
	}
}

// raceStorage lets another writer win the _metadata commit of checkpoint
// id: just before this run's commit, the other writer's data file and
// _metadata appear in the directory.
type raceStorage struct {
	*faultyStorage
	t  *testing.T
	id int64
}

func (s *raceStorage) Create(ctx context.Context, name string, o snapshot.CreateOptions) (snapshot.FileWriter, error) {
	dir := snapshot.CheckpointDir("test", s.id)
	if name == dir+"/"+snapshot.MetadataName {
		md := &snapshot.Metadata{JobID: "test", CheckpointID: s.id, Kind: snapshot.KindCheckpoint, Completed: time.UnixMilli(1).UTC(),
			Operators: []snapshot.OperatorState{{UID: "winner", Parallelism: 1, MaxParallelism: 128, Subtasks: make([]snapshot.SubtaskState, 1)}}}
		put(s.t, s.Storage, dir+"/winner-data", []byte("the winner's"))
		if err := snapshot.CommitMetadata(ctx, s.Storage, dir, md); err != nil {
			s.t.Error(err)
		}
	}
	return s.faultyStorage.Create(ctx, name, o)
}

func put(t *testing.T, s snapshot.Storage, name string, b []byte) {
	w, err := s.Create(context.Background(), name, snapshot.CreateOptions{})
	if err == nil {
		_, err = w.Write(b)
	}
	if err == nil {
		_, err = w.Commit()
	}
	if err != nil {
		t.Error(err)
	}
}

// TestLostMetadataRace loses the _metadata commit of a checkpoint to
// another writer: the abort deletes only this run's files of that
// checkpoint, never the winner's _metadata or files, and the job goes on.
func TestLostMetadataRace(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			j := countingJob(testConfig(t, dir, config.KeyBackendType, b, config.KeyNumRetained, "10"), 2000, out, WithRate(4000))
			j.wrapStorage = func(s snapshot.Storage) snapshot.Storage {
				return &raceStorage{faultyStorage: &faultyStorage{Storage: s}, t: t, id: 2}
			}
			var lost atomic.Bool
			j.opts.OnCheckpoint = func(s CheckpointStats) {
				if s.ID == 2 && errors.Is(s.Err, snapshot.ErrExist) {
					lost.Store(true)
				}
			}
			res := run(t, j)
			if !lost.Load() || res.Failed == 0 {
				t.Fatalf("checkpoint 2 did not lose its commit: %+v", res)
			}
			checkCounts(t, out, 2000)
			chk2 := filepath.Join(dir, "checkpoints", "test", "chk-2")
			entries, err := os.ReadDir(chk2)
			if err != nil {
				t.Fatal(err)
			}
			var names []string
			for _, e := range entries {
				names = append(names, e.Name())
			}
			if !slices.Equal(names, []string{snapshot.MetadataName, "winner-data"}) {
				t.Fatalf("chk-2 holds %v after the lost race, want exactly the winner's _metadata and file", names)
			}
			md, err := snapshot.ReadMetadata(context.Background(), ckptStore(t, dir), "test/chk-2")
			if err != nil || md.Operators[0].UID != "winner" {
				t.Fatalf("the winner's _metadata: %+v, %v", md, err)
			}
		})
	}
}
