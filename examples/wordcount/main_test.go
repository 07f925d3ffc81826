package main

import (
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
