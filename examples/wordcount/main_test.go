package main

import (
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stated-io/stated/examples/internal/jobtest"
	"github.com/stated-io/stated/internal/s3server"
)

// bin is the wordcount binary, built once by TestMain.
var bin string

func TestMain(m *testing.M) { os.Exit(jobtest.Main(m, &bin)) }

// writeInput writes lines of words drawn from a skewed vocabulary and
// returns how often each word occurs.
func writeInput(t *testing.T, path string, lines int, seed uint64) map[string]int {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 1))
	zipf := rand.NewZipf(rng, 1.2, 1, 2999)
	counts := map[string]int{}
	var b strings.Builder
	for range lines {
		n := 1 + rng.IntN(12)
		for i := range n {
			w := "w" + strconv.FormatUint(zipf.Uint64(), 36)
			counts[w]++
			if i > 0 {
				b.WriteByte(" \t"[rng.IntN(2)])
			}
			b.WriteString(w)
		}
		b.WriteByte('\n')
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	return counts
}

// committed reads the committed output of dir: word → counts in any order.
func committed(t *testing.T, dir string) map[string][]int {
	t.Helper()
	got := map[string][]int{}
	for _, line := range jobtest.CommittedLines(t, dir) {
		word, n, ok := strings.Cut(line, "\t")
		c, err := strconv.Atoi(n)
		if !ok || err != nil {
			t.Fatalf("%s: malformed line %q", dir, line)
		}
		got[word] = append(got[word], c)
	}
	return got
}

// checkExactlyOnce asserts that every word's committed counts are 1..n,
// each once, where n is the word's occurrences in the input.
func checkExactlyOnce(t *testing.T, want map[string]int, got map[string][]int) {
	t.Helper()
	bad := 0
	for w, n := range want {
		cs := slices.Clone(got[w])
		slices.Sort(cs)
		ok := len(cs) == n
		for i := 0; ok && i < n; i++ {
			ok = cs[i] == i+1
		}
		if !ok {
			bad++
			if bad <= 5 {
				if len(cs) > 12 {
					cs = append(cs[:12:12], -1)
				}
				t.Errorf("word %q: %d occurrences, committed counts %v", w, n, cs)
			}
		}
	}
	for w := range got {
		if _, ok := want[w]; !ok {
			t.Errorf("word %q is not in the input", w)
		}
	}
	if bad > 0 {
		t.Fatalf("%d of %d words are not exactly once", bad, len(want))
	}
}

func TestWordcountCounts(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "input.txt")
	want := writeInput(t, input, 3000, 1)
	for _, backend := range []string{"hashmap", "lsm"} {
		t.Run(backend, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+backend)
			_, stderr, code := jobtest.Run(t, bin, "--input", input, "--output", out, "--parallelism", "3",
				"--set", "state.backend.type="+backend, "--set", "state.backend.lsm.local-dir="+filepath.Join(dir, "lsm"))
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			checkExactlyOnce(t, want, committed(t, out))
			// A restart from the final checkpoint adds nothing.
			_, stderr, code = jobtest.Run(t, bin, "--input", input, "--output", out, "--parallelism", "2", "--restore", "latest",
				"--set", "state.backend.type="+backend, "--set", "state.backend.lsm.local-dir="+filepath.Join(dir, "lsm"))
			if code != 0 {
				t.Fatalf("restart: exit %d:\n%s", code, stderr)
			}
			checkExactlyOnce(t, want, committed(t, out))
		})
	}
}

func TestWordcountExitCodes(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "input.txt")
	writeInput(t, input, 10, 2)
	out := filepath.Join(dir, "out")
	cases := []jobtest.ExitCase{
		{Name: "no flags", Args: nil, Code: 2, Says: "wordcount: missing --input and --output"},
		{Name: "no input", Args: []string{"--output", out}, Code: 2, Says: "--input"},
		{Name: "missing input file", Args: []string{"--input", filepath.Join(dir, "nope.txt"), "--output", out}, Code: 1, Says: "nope.txt"},
	}
	cases = append(cases, jobtest.CommonExitCases(name, []string{"--input", input, "--output", out}, dir)...)
	jobtest.CheckExitCodes(t, bin, cases)
	t.Run("restore latest without a checkpoint", func(t *testing.T) {
		_, stderr, code := jobtest.Run(t, bin, "--input", input, "--output", filepath.Join(dir, "fresh"), "--restore", "latest")
		if code != 0 || !strings.Contains(stderr, "starting from the beginning") {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
	})
}

// TestWordcountChaos kills wordcount with SIGKILL at random moments,
// restarts it with --restore latest at another parallelism each time, and
// checks that the committed output is exactly once.
func TestWordcountChaos(t *testing.T) {
	for i, backend := range []string{"hashmap", "lsm"} {
		t.Run(backend, func(t *testing.T) {
			seed := uint64(time.Now().UnixNano())
			t.Logf("seed %d", seed)
			rng := rand.New(rand.NewPCG(seed, uint64(i)))
			dir := t.TempDir()
			input := filepath.Join(dir, "input.txt")
			want := writeInput(t, input, 30000, seed)
			out := filepath.Join(dir, "out")
			common := []string{"--input", input, "--output", out, "--rate", "4000",
				"--set", "state.backend.type=" + backend,
				"--set", "state.backend.lsm.local-dir=" + filepath.Join(dir, "lsm"),
				"--set", "execution.checkpointing.interval=200ms"}
			parallelism := 0
			kills := 0
			for attempt := 0; ; attempt++ {
				p := parallelism
				for p == parallelism {
					p = 1 + rng.IntN(4)
				}
				parallelism = p
				args := append(slices.Clone(common), "--parallelism", strconv.Itoa(p), "--restore", "latest")
				proc := jobtest.Start(t, bin, args...)
				if kills < 6 {
					wait := time.Duration(200+rng.IntN(1200)) * time.Millisecond
					select {
					case <-proc.Done():
						if err := proc.Wait(); err != nil || kills < 3 {
							t.Fatalf("run %d (p=%d) ended before kill %d: %v\n%s", attempt, p, kills+1, err, proc.Stderr())
						}
						t.Logf("run %d: p=%d finished before the kill", attempt, p)
						checkExactlyOnce(t, want, committed(t, out))
						return
					case <-time.After(wait):
					}
					proc.Kill()
					kills++
					t.Logf("run %d: p=%d killed after %v", attempt, p, wait)
					continue
				}
				if err := proc.WaitTimeout(2 * time.Minute); err != nil {
					t.Fatalf("final run (p=%d): %v\n%s", p, err, proc.Stderr())
				}
				t.Logf("run %d: p=%d finished", attempt, p)
				break
			}
			checkExactlyOnce(t, want, committed(t, out))
		})
	}
}

// TestWordcountStopWithSavepoint stops the job with SIGTERM, then restores
// the savepoint at another parallelism.
func TestWordcountStopWithSavepoint(t *testing.T) {
	for _, backend := range []string{"hashmap", "lsm"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			input := filepath.Join(dir, "input.txt")
			want := writeInput(t, input, 4000, 7)
			out := filepath.Join(dir, "out")
			common := []string{"--input", input, "--output", out,
				"--set", "state.backend.type=" + backend,
				"--set", "state.backend.lsm.local-dir=" + filepath.Join(dir, "lsm")}
			proc := jobtest.Start(t, bin, append(slices.Clone(common), "--parallelism", "3", "--rate", "5000",
				"--set", "execution.checkpointing.interval=100ms")...)
			proc.WaitCommitted(t, out) // a checkpoint completed: stop mid-way
			proc.Signal(syscall.SIGTERM)
			if err := proc.Wait(); err != nil {
				t.Fatalf("stop: %v\n%s", err, proc.Stderr())
			}
			sp := proc.Savepoint(t)
			partial := committed(t, out)
			total := 0
			for _, cs := range partial {
				total += len(cs)
			}
			if total == 0 {
				t.Fatalf("nothing committed before the savepoint")
			}
			_, errs, code := jobtest.Run(t, bin, append(slices.Clone(common), "--parallelism", "2", "--restore", sp)...)
			if code != 0 {
				t.Fatalf("restore from %s: exit %d\n%s", sp, code, errs)
			}
			checkExactlyOnce(t, want, committed(t, out))
		})
	}
}

// lineCount is the number of committed lines in dir.
func lineCount(t *testing.T, dir string) int { return len(jobtest.CommittedLines(t, dir)) }

// TestWordcountStopThenLatest stops wordcount with SIGTERM (its sink
// commits the stop savepoint's output), then restarts it with --restore
// latest, in each retention mode: latest restores the stop savepoint, so
// the output is exactly once (an older checkpoint, or none when the
// checkpoints were deleted, would write tens of thousands of counts
// again).
func TestWordcountStopThenLatest(t *testing.T) {
	for _, retention := range []string{"RETAIN_ON_CANCELLATION", "DELETE_ON_CANCELLATION", "NO_EXTERNALIZED_CHECKPOINTS"} {
		t.Run(retention, func(t *testing.T) {
			dir := t.TempDir()
			input := filepath.Join(dir, "input.txt")
			want := writeInput(t, input, 4000, 11)
			out := filepath.Join(dir, "out")
			common := []string{"--input", input, "--output", out, "--restore", "latest",
				"--set", "execution.checkpointing.externalized-checkpoint-retention=" + retention,
				"--set", "execution.checkpointing.num-retained=2"}
			proc := jobtest.Start(t, bin, append(slices.Clone(common), "--parallelism", "3", "--rate", "5000",
				"--set", "execution.checkpointing.interval=100ms")...)
			proc.WaitCommitted(t, out)
			proc.Signal(syscall.SIGTERM)
			if err := proc.Wait(); err != nil {
				t.Fatalf("stop: %v\n%s", err, proc.Stderr())
			}
			sp := proc.Savepoint(t)
			total := 0
			for _, n := range want {
				total += n
			}
			if partial := lineCount(t, out); partial == 0 || partial >= total {
				t.Fatalf("%d of %d counts committed at the savepoint, want some", partial, total)
			}
			_, stderr, code := jobtest.Run(t, bin, append(slices.Clone(common), "--parallelism", "2")...)
			if code != 0 || !strings.Contains(stderr, sp) {
				t.Fatalf("restart with --restore latest: exit %d, want a restore of %s:\n%s", code, sp, stderr)
			}
			checkExactlyOnce(t, want, committed(t, out))
		})
	}
}

// TestWordcountCorruptNewestMetadata damages the newest _metadata of a job
// that retains two checkpoints, truncated and with a flipped bit:
// --restore latest exits 1 naming the file, the older checkpoint and the
// move-aside command, and writes nothing (falling back silently to the
// older checkpoint would write its counts again).
func TestWordcountCorruptNewestMetadata(t *testing.T) {
	damages := map[string]func([]byte) []byte{
		"truncated":   func(b []byte) []byte { return b[:len(b)/2] },
		"bit-flipped": func(b []byte) []byte { b[len(b)/3] ^= 0x08; return b },
	}
	for name, damage := range damages {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			input := filepath.Join(dir, "input.txt")
			writeInput(t, input, 3000, 12)
			out := filepath.Join(dir, "out")
			args := []string{"--input", input, "--output", out, "--restore", "latest",
				"--set", "execution.checkpointing.num-retained=2", "--set", "execution.checkpointing.interval=50ms"}
			if _, stderr, code := jobtest.Run(t, bin, append(slices.Clone(args), "--rate", "10000")...); code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			chks := retained(t, out, 2)
			newest := filepath.Join(chks[1], "_metadata")
			b, err := os.ReadFile(newest)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(newest, damage(b), 0o644); err != nil {
				t.Fatal(err)
			}
			before := lineCount(t, out)
			_, stderr, code := jobtest.Run(t, bin, args...)
			if code != 1 {
				t.Fatalf("restore latest over a damaged newest _metadata: exit %d, want 1:\n%s", code, stderr)
			}
			for _, want := range []string{newest, "--restore " + chks[0], "stated checkpoint move-aside " + chks[1]} {
				if !strings.Contains(stderr, want) {
					t.Errorf("stderr does not name %q:\n%s", want, stderr)
				}
			}
			if after := lineCount(t, out); after != before {
				t.Fatalf("the refused restore changed the output: %d lines, were %d", after, before)
			}
		})
	}
}

// retained returns the n checkpoint directories of the job writing to
// out, oldest first; it fails t if there are not n.
func retained(t *testing.T, out string, n int) []string {
	t.Helper()
	chks, _ := filepath.Glob(filepath.Join(out, "_checkpoints", "wordcount", "chk-*"))
	if len(chks) != n {
		t.Fatalf("checkpoints %v, want the %d retained", chks, n)
	}
	id := func(dir string) int {
		n, _ := strconv.Atoi(strings.TrimPrefix(filepath.Base(dir), "chk-"))
		return n
	}
	slices.SortFunc(chks, func(a, b string) int { return id(a) - id(b) })
	return chks
}

// twoInstanceStorages are the checkpoint storages the two-instance test
// runs on: each gives the extra arguments that put a job's checkpoints
// there (none: the output's _checkpoints on the file system).
var twoInstanceStorages = map[string]func(t *testing.T) []string{
	"file":      func(*testing.T) []string { return nil },
	"minio":     func(t *testing.T) []string { return s3Checkpoints(t, s3server.MinIO) },
	"versitygw": func(t *testing.T) []string { return s3Checkpoints(t, s3server.VersityGW) },
}

// s3Checkpoints starts an S3 server of kind k for the test and returns the
// arguments that put a job's checkpoints and savepoints on it.
func s3Checkpoints(t *testing.T, k *s3server.Kind) []string {
	srv := s3server.Start(t, k)
	root := "s3://" + srv.Bucket
	return []string{
		"--set", "execution.checkpointing.dir=" + root + "/checkpoints",
		"--set", "execution.checkpointing.savepoint-dir=" + root + "/savepoints",
		"--set", "s3.endpoint=" + srv.Endpoint, "--set", "s3.access-key=" + srv.AccessKey,
		"--set", "s3.secret-key=" + srv.SecretKey, "--set", "s3.path-style=true",
	}
}

// TestWordcountTwoInstances starts a second instance of a running job on
// the same output and checkpoint directory: it exits 2 naming the first
// as the holder of the job's lease, before touching anything, and the
// first finishes exactly once.
func TestWordcountTwoInstances(t *testing.T) {
	for name, storage := range twoInstanceStorages {
		t.Run(name, func(t *testing.T) {
			dir := t.TempDir()
			input := filepath.Join(dir, "input.txt")
			want := writeInput(t, input, 6000, 13)
			out := filepath.Join(dir, "out")
			args := append([]string{"--input", input, "--output", out, "--restore", "latest", "--rate", "4000",
				"--set", "execution.checkpointing.interval=100ms"}, storage(t)...)
			first := jobtest.Start(t, bin, args...)
			first.WaitCommitted(t, out)
			_, stderr, code := jobtest.Run(t, bin, args...)
			if code != 2 || !strings.Contains(stderr, fmt.Sprintf("held by pid %d", first.PID())) {
				t.Fatalf("second instance: exit %d, want 2 naming pid %d:\n%s", code, first.PID(), stderr)
			}
			if err := first.WaitTimeout(time.Minute); err != nil {
				t.Fatalf("first instance: %v\n%s", err, first.Stderr())
			}
			checkExactlyOnce(t, want, committed(t, out))
		})
	}
}

// TestWordcountOlderCheckpoint restores an explicitly older checkpoint
// into an output that holds the commits of newer ones: exit 1 naming the
// newest such file, and with uncovered-output MOVE_ASIDE the newer files
// are moved aside and the output is exactly once.
func TestWordcountOlderCheckpoint(t *testing.T) {
	dir := t.TempDir()
	input := filepath.Join(dir, "input.txt")
	want := writeInput(t, input, 3000, 14)
	out := filepath.Join(dir, "out")
	args := []string{"--input", input, "--output", out, "--set", "execution.checkpointing.num-retained=3", "--set", "execution.checkpointing.interval=50ms"}
	if _, stderr, code := jobtest.Run(t, bin, append(slices.Clone(args), "--rate", "10000")...); code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	chks := retained(t, out, 3)
	before := lineCount(t, out)
	_, stderr, code := jobtest.Run(t, bin, append(slices.Clone(args), "--restore", chks[0])...)
	if code != 1 || !strings.Contains(stderr, "does not cover") || !strings.Contains(stderr, filepath.Join(out, "part-")) ||
		!strings.Contains(stderr, "execution.state-recovery.uncovered-output: MOVE_ASIDE") {
		t.Fatalf("restore of the oldest checkpoint: exit %d, want 1 naming the newest uncovered file:\n%s", code, stderr)
	}
	if after := lineCount(t, out); after != before {
		t.Fatalf("the refused restore changed the output: %d lines, were %d", after, before)
	}
	_, stderr, code = jobtest.Run(t, bin, append(slices.Clone(args), "--restore", chks[0],
		"--set", "execution.state-recovery.uncovered-output=MOVE_ASIDE")...)
	if code != 0 || !strings.Contains(stderr, "moved aside") {
		t.Fatalf("restore with MOVE_ASIDE: exit %d:\n%s", code, stderr)
	}
	checkExactlyOnce(t, want, committed(t, out))
}
