package engine

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
)

func TestCountExactlyOnce(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			res := run(t, countingJob(testConfig(t, dir, config.KeyBackendType, b), 5000, out))
			checkCounts(t, out, 5000)
			if res.LastCheckpoint == "" || res.Completed == 0 {
				t.Fatalf("result %+v: want the final checkpoint", res)
			}
		})
	}
}

// TestCancelRestoreRescale cancels a job mid-way (its uncommitted output
// stays hidden), restores the newest checkpoint at another parallelism,
// and checks exactly-once output.
func TestCancelRestoreRescale(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			const records = 3000
			completed := make(chan struct{}, 100)
			cfg := testConfig(t, dir, config.KeyBackendType, b, config.KeyParallelism, "3")
			j := countingJob(cfg, records, out, WithRate(4000))
			j.opts.OnCheckpoint = func(s CheckpointStats) {
				if s.Err == nil {
					completed <- struct{}{}
				}
			}
			ctx, cancel := context.WithCancel(context.Background())
			go func() {
				for range 3 {
					<-completed
				}
				cancel()
			}()
			if _, err := j.Run(ctx); !errors.Is(err, context.Canceled) {
				t.Fatalf("cancelled run: %v", err)
			}
			for _, p := range []string{"1", "2"} {
				cfg = testConfig(t, dir, config.KeyBackendType, b, config.KeyParallelism, p, config.KeyRecoveryPath, "latest")
				if p == "1" {
					// Cancel the restored job at once, too.
					ctx, cancel := context.WithCancel(context.Background())
					cancel()
					countingJob(cfg, records, out).Run(ctx)
					continue
				}
				res := run(t, countingJob(cfg, records, out))
				if res.Restored == "" {
					t.Fatal("the job did not restore")
				}
			}
			checkCounts(t, out, records)
		})
	}
}

func TestStopWithSavepoint(t *testing.T) {
	for _, b := range backends {
		t.Run(b, func(t *testing.T) {
			dir := t.TempDir()
			out := filepath.Join(dir, "out")
			const records = 3000
			j := countingJob(testConfig(t, dir, config.KeyBackendType, b), records, out, WithRate(3000))
			var once atomic.Bool
			j.opts.OnCheckpoint = func(s CheckpointStats) {
				if s.Err == nil && once.CompareAndSwap(false, true) {
					j.StopWithSavepoint()
				}
			}
			res := run(t, j)
			if res.Savepoint == "" || !strings.HasPrefix(filepath.Base(res.Savepoint), "savepoint-test-") {
				t.Fatalf("result %+v: want a savepoint", res)
			}
			md, err := os.ReadFile(filepath.Join(res.Savepoint, "_metadata"))
			if err != nil || len(md) == 0 {
				t.Fatalf("savepoint metadata: %v", err)
			}
			// The savepoint is self-contained: it restores after a move.
			moved := filepath.Join(dir, "moved")
			if err := os.Rename(res.Savepoint, moved); err != nil {
				t.Fatal(err)
			}
			res = run(t, countingJob(testConfig(t, dir, config.KeyBackendType, b, config.KeyParallelism, "3", config.KeyRecoveryPath, moved), records, out))
			if res.Restored != moved {
				t.Fatalf("restored %q, want %q", res.Restored, moved)
			}
			checkCounts(t, out, records)
		})
	}
}

// faultyStorage fails or blocks the creation of files of chosen
// checkpoints.
type faultyStorage struct {
	snapshot.Storage
	fail  func(name string) bool
	block func(name string) bool
}

var errInjected = errors.New("injected fault")

// AcquireLease forwards the lease of the wrapped storage, which the
// engine requires.
func (s *faultyStorage) AcquireLease(ctx context.Context, name string, o snapshot.LeaseOptions) (snapshot.Lease, error) {
	return s.Storage.(snapshot.Leaser).AcquireLease(ctx, name, o)
}

var _ snapshot.Leaser = (*faultyStorage)(nil)

func (s *faultyStorage) Create(ctx context.Context, name string, o snapshot.CreateOptions) (snapshot.FileWriter, error) {
	if s.fail != nil && s.fail(name) {
		return nil, errInjected
	}
	if s.block != nil && s.block(name) {
		<-ctx.Done()
		return nil, ctx.Err()
	}
	return s.Storage.Create(ctx, name, o)
}

func TestFailedCheckpointsDoNotStopTheJob(t *testing.T) {
	cases := []struct {
		name  string
		store func(s snapshot.Storage) snapshot.Storage
		kv    []string
	}{
		{"write fails", func(s snapshot.Storage) snapshot.Storage {
			return &faultyStorage{Storage: s, fail: func(n string) bool { return strings.Contains(n, "/chk-2/") || strings.Contains(n, "/chk-3/") }}
		}, nil},
		{"write hangs", func(s snapshot.Storage) snapshot.Storage {
			return &faultyStorage{Storage: s, block: func(n string) bool { return strings.Contains(n, "/chk-2/") }}
		}, []string{config.KeyTimeout, "200ms"}},
	}
	for _, c := range cases {
		for _, b := range backends {
			t.Run(c.name+"/"+b, func(t *testing.T) {
				dir := t.TempDir()
				out := filepath.Join(dir, "out")
				const records = 2000
				kv := append([]string{config.KeyBackendType, b, config.KeyNumRetained, "10"}, c.kv...)
				j := countingJob(testConfig(t, dir, kv...), records, out, WithRate(3000))
				j.wrapStorage = c.store
				var failed atomic.Int32
				j.opts.OnCheckpoint = func(s CheckpointStats) {
					if s.Err != nil {
						failed.Add(1)
					}
				}
				res := run(t, j)
				if failed.Load() == 0 || res.Failed == 0 {
					t.Fatalf("no checkpoint failed: %+v", res)
				}
				checkCounts(t, out, records)
				// The failed checkpoints left no _metadata and no files.
				store, err := file.New(filepath.Join(dir, "checkpoints"))
				if err != nil {
					t.Fatal(err)
				}
				names, _ := store.List(context.Background(), "test/chk-2")
				if len(names) != 0 {
					t.Fatalf("chk-2 of a failed checkpoint holds %v", names)
				}
				if _, md, err := snapshot.LatestCheckpoint(context.Background(), store, "test"); err != nil || md.CheckpointID < 3 {
					t.Fatalf("latest checkpoint: %v", err)
				}
			})
		}
	}
}

func TestRetentionAndClaim(t *testing.T) {
	list := completeIDs
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	run(t, countingJob(testConfig(t, dir, config.KeyNumRetained, "2"), 2000, out, WithRate(4000)))
	first := list(t, dir)
	if len(first) != 2 {
		t.Fatalf("retained %v, want the newest 2", first)
	}
	// NO_CLAIM: the restored checkpoint is never deleted.
	run(t, countingJob(testConfig(t, dir, config.KeyNumRetained, "1", config.KeyRecoveryPath, "latest"), 2000, out))
	second := list(t, dir)
	if len(second) != 3 || second[1] != first[1] {
		t.Fatalf("after a NO_CLAIM restore of %d: %v", first[1], second)
	}
	// CLAIM: the restored checkpoint ages out like any other.
	run(t, countingJob(testConfig(t, dir, config.KeyNumRetained, "1", config.KeyRecoveryPath, "latest", config.KeyClaimMode, "CLAIM"), 2000, out))
	third := list(t, dir)
	if len(third) != 3 || third[2] <= second[2] || third[1] != second[1] {
		t.Fatalf("after a CLAIM restore of %d: %v (before %v)", second[2], third, second)
	}
	// DELETE_ON_CANCELLATION deletes this run's checkpoints when it ends.
	dir2 := t.TempDir()
	run(t, countingJob(testConfig(t, dir2, config.KeyRetention, "DELETE_ON_CANCELLATION"), 500, filepath.Join(dir2, "out")))
	if ids := list(t, dir2); len(ids) != 0 {
		t.Fatalf("DELETE_ON_CANCELLATION left %v", ids)
	}
	checkCounts(t, out, 2000)
}

func TestRestoreRefusals(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	run(t, countingJob(testConfig(t, dir), 300, out))
	chk := func() string {
		store, _ := file.New(filepath.Join(dir, "checkpoints"))
		d, _, err := snapshot.LatestCheckpoint(context.Background(), store, "test")
		if err != nil {
			t.Fatal(err)
		}
		return filepath.Join(dir, "checkpoints", d)
	}()

	// A job without the "count" operator.
	other := func(kv ...string) *Job {
		j := New(Options{Config: testConfig(t, dir, append([]string{config.KeyRecoveryPath, chk}, kv...)...)})
		src := FromSource(j, "source", Generate(10, keyOf))
		WriteLines(src, "sink", out)
		return j
	}
	err := runErr(t, other())
	if !strings.Contains(err.Error(), `cannot map state for operator "count"`) {
		t.Fatalf("unmapped state: %v", err)
	}
	j := other(config.KeyIgnoreUnclaimedState, "true")
	run(t, j)

	err = runErr(t, countingJob(testConfig(t, dir, config.KeyRecoveryPath, chk, config.KeyMaxParallelism, "256"), 300, out))
	if !errors.Is(err, backend.ErrMaxParallelismMismatch) {
		t.Fatalf("max parallelism: %v", err)
	}
	err = runErr(t, countingJob(testConfig(t, dir, config.KeyRecoveryPath, chk, config.KeyParallelism, "200"), 300, out))
	if !errors.Is(err, backend.ErrInvalidParallelism) {
		t.Fatalf("parallelism above max: %v", err)
	}
	err = runErr(t, countingJob(testConfig(t, dir, config.KeyRecoveryPath, filepath.Join(dir, "nope")), 300, out))
	if !errors.Is(err, snapshot.ErrNotExist) || !strings.Contains(err.Error(), "nope") {
		t.Fatalf("missing path: %v", err)
	}
	// Restoring by the _metadata file works like the directory.
	run(t, countingJob(testConfig(t, dir, config.KeyRecoveryPath, path.Join(chk, "_metadata")), 300, out))
}

func TestInvalidJobs(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]func(j *Job){
		"missing uid": func(j *Job) {
			s := FromSource(j, "src", Generate(1, keyOf))
			Process(KeyBy(s, func(s string) string { return s }, serializer.String{}), "", newCountFn)
		},
		"duplicate uid": func(j *Job) {
			s := FromSource(j, "x", Generate(1, keyOf))
			WriteLines(s, "x", dir)
		},
		"bad uid":   func(j *Job) { FromSource(j, "a/b", Generate(1, keyOf)) },
		"empty job": func(*Job) {},
		"bad window": func(j *Job) {
			s := AssignTimestamps(FromSource(j, "src", Generate(1, func(i int64) int64 { return i })), "ts", func(v int64) int64 { return v }, 0)
			WindowAggregate(KeyBy(s, func(v int64) int64 { return v }, serializer.Int64{}), "w", TumblingWindows(0), sumAgg{}, serializer.Int64{})
		},
	}
	for name, build := range cases {
		t.Run(name, func(t *testing.T) {
			j := New(Options{Config: testConfig(t, dir)})
			build(j)
			if err := runErr(t, j); !errors.Is(err, ErrInvalidJob) {
				t.Fatalf("got %v, want ErrInvalidJob", err)
			}
		})
	}
	t.Run("no checkpoint dir", func(t *testing.T) {
		cfg := testConfig(t, dir)
		cfg.CheckpointDir = ""
		j := New(Options{Config: cfg})
		FromSource(j, "src", Generate(1, keyOf))
		if err := runErr(t, j); !errors.Is(err, ErrConfig) || !strings.Contains(err.Error(), "execution.checkpointing.dir") {
			t.Fatalf("got %v", err)
		}
	})
}

// TestSourceSplitsRescale reads a file source with a restore at another
// parallelism in between and checks every line is read once.
func TestLinesSource(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "in.txt")
	var b strings.Builder
	for i := range 500 {
		fmt.Fprintf(&b, "line %d%s\n", i, strings.Repeat("x", i%13))
	}
	b.WriteString("last line without newline\r")
	os.WriteFile(input, []byte(b.String()), 0o644)
	src := Lines(input)
	splits, err := src.Splits(context.Background(), 3)
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, s := range splits {
		// Read half, then resume from the offset, as a restore does.
		r, err := src.Open(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		for range 7 {
			line, err := r.Next()
			if err != nil {
				break
			}
			seen[line]++
		}
		s.Offset = r.Offset()
		r.Close()
		r, err = src.Open(context.Background(), s)
		if err != nil {
			t.Fatal(err)
		}
		for {
			line, err := r.Next()
			if err != nil {
				break
			}
			seen[line]++
		}
		r.Close()
	}
	if len(seen) != 501 {
		t.Fatalf("read %d distinct lines, want 501", len(seen))
	}
	for line, n := range seen {
		if n != 1 {
			t.Fatalf("line %q read %d times", line, n)
		}
	}
	if seen["last line without newline"] != 1 {
		t.Fatal("the last line lost its text")
	}
	if _, err := src.Open(context.Background(), Split{ID: "x", Start: 0, End: 1 << 30}); err == nil || !strings.Contains(err.Error(), "changed") {
		t.Fatalf("a split beyond the file: %v", err)
	}
	if _, err := Lines(filepath.Join(dir, "missing")).Splits(context.Background(), 1); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing input: %v", err)
	}
}

func TestRateLimiter(t *testing.T) {
	l := newRateLimiter(100) // burst 5
	now := time.Unix(0, 0)
	n, _ := l.take(now, 256)
	if n != 5 {
		t.Fatalf("first take: %d, want the burst of 5", n)
	}
	if n, wait := l.take(now, 256); n != 0 || wait != 10*time.Millisecond {
		t.Fatalf("empty bucket: %d, wait %v", n, wait)
	}
	total := 0
	for range 100 {
		now = now.Add(10 * time.Millisecond)
		n, _ := l.take(now, 256)
		total += n
	}
	if total != 100 {
		t.Fatalf("granted %d in 1s at 100/s", total)
	}
}

// TestOrphansOfKilledRunsAreSwept: files a killed run uploaded for a
// checkpoint that never got its _metadata, older than the grace period,
// are removed by the next run; young ones stay.
func TestOrphansOfKilledRunsAreSwept(t *testing.T) {
	dir := t.TempDir()
	ckpts := filepath.Join(dir, "checkpoints", "test")
	old := time.Now().Add(-2 * time.Hour)
	write := func(rel string, age time.Time) string {
		p := filepath.Join(ckpts, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte("orphan"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chtimes(p, age, age); err != nil {
			t.Fatal(err)
		}
		return p
	}
	orphans := []string{write("chk-7/count-0.kg", old), write("shared/dead-7-000001.sst", old)}
	young := write("shared/dead-8-000002.sst", time.Now())
	run(t, countingJob(testConfig(t, dir), 500, filepath.Join(dir, "out")))
	for _, p := range orphans {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("orphan %s kept (%v)", p, err)
		}
	}
	if _, err := os.Stat(young); err != nil {
		t.Fatalf("young file removed: %v", err)
	}
}
