package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// buildBinary compiles wordcount once per test binary.
func buildBinary(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "wordcount")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

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
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string][]int{}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			word, n, ok := strings.Cut(sc.Text(), "\t")
			c, err := strconv.Atoi(n)
			if !ok || err != nil {
				t.Fatalf("%s: malformed line %q", e.Name(), sc.Text())
			}
			got[word] = append(got[word], c)
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
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

func runWordcount(t *testing.T, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("wordcount %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestWordcountCounts(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	input := filepath.Join(dir, "input.txt")
	want := writeInput(t, input, 3000, 1)
	for _, backend := range []string{"hashmap", "lsm"} {
		t.Run(backend, func(t *testing.T) {
			out := filepath.Join(dir, "out-"+backend)
			_, stderr, code := runWordcount(t, bin, "--input", input, "--output", out, "--parallelism", "3",
				"--set", "state.backend.type="+backend, "--set", "state.backend.lsm.local-dir="+filepath.Join(dir, "lsm"))
			if code != 0 {
				t.Fatalf("exit %d:\n%s", code, stderr)
			}
			checkExactlyOnce(t, want, committed(t, out))
			// A restart from the final checkpoint adds nothing.
			_, stderr, code = runWordcount(t, bin, "--input", input, "--output", out, "--parallelism", "2", "--restore", "latest",
				"--set", "state.backend.type="+backend, "--set", "state.backend.lsm.local-dir="+filepath.Join(dir, "lsm"))
			if code != 0 {
				t.Fatalf("restart: exit %d:\n%s", code, stderr)
			}
			checkExactlyOnce(t, want, committed(t, out))
		})
	}
}

func TestWordcountExitCodes(t *testing.T) {
	bin := buildBinary(t)
	dir := t.TempDir()
	input := filepath.Join(dir, "input.txt")
	writeInput(t, input, 10, 2)
	out := filepath.Join(dir, "out")
	cases := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no input", []string{"--output", out}, 2, "--input"},
		{"unknown flag", []string{"--input", input, "--output", out, "--bogus"}, 2, "bogus"},
		{"unknown key", []string{"--input", input, "--output", out, "--set", "state.backend.typ=lsm"}, 2, "state.backend.type"},
		{"bad value", []string{"--input", input, "--output", out, "--set", "execution.checkpointing.interval=soon"}, 2, "execution.checkpointing.interval"},
		{"set without =", []string{"--input", input, "--output", out, "--set", "parallelism.default"}, 2, "parallelism.default"},
		{"missing config file", []string{"--input", input, "--output", out, "--config", filepath.Join(dir, "nope.yaml")}, 2, "nope.yaml"},
		{"remote backend", []string{"--input", input, "--output", out, "--set", "state.backend.type=remote"}, 2, "remote"},
		{"missing input file", []string{"--input", filepath.Join(dir, "nope.txt"), "--output", out}, 1, "nope.txt"},
		{"missing restore path", []string{"--input", input, "--output", out, "--restore", filepath.Join(dir, "chk-9")}, 1, "chk-9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := runWordcount(t, bin, c.args...)
			if code != c.code || !strings.Contains(stderr, c.says) {
				t.Fatalf("exit %d (want %d), stderr (want it to name %q):\n%s", code, c.code, c.says, stderr)
			}
			if strings.Contains(stderr, "goroutine ") {
				t.Fatalf("panic trace:\n%s", stderr)
			}
		})
	}
	t.Run("restore latest without a checkpoint", func(t *testing.T) {
		_, stderr, code := runWordcount(t, bin, "--input", input, "--output", filepath.Join(dir, "fresh"), "--restore", "latest")
		if code != 0 || !strings.Contains(stderr, "starting from the beginning") {
			t.Fatalf("exit %d, stderr:\n%s", code, stderr)
		}
	})
}

// TestWordcountChaos kills wordcount with SIGKILL at random moments,
// restarts it with --restore latest at another parallelism each time, and
// checks that the committed output is exactly once.
func TestWordcountChaos(t *testing.T) {
	bin := buildBinary(t)
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
				var stderr bytes.Buffer
				cmd := exec.Command(bin, args...)
				cmd.Stderr = &stderr
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				exited := make(chan error, 1)
				go func() { exited <- cmd.Wait() }()
				if kills < 6 {
					wait := time.Duration(200+rng.IntN(1200)) * time.Millisecond
					select {
					case err := <-exited:
						if err != nil || kills < 3 {
							t.Fatalf("run %d (p=%d) ended before kill %d: %v\n%s", attempt, p, kills+1, err, stderr.String())
						}
						t.Logf("run %d: p=%d finished before the kill", attempt, p)
						checkExactlyOnce(t, want, committed(t, out))
						return
					case <-time.After(wait):
					}
					cmd.Process.Signal(syscall.SIGKILL)
					<-exited
					kills++
					t.Logf("run %d: p=%d killed after %v", attempt, p, wait)
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
				select {
				case err := <-exited:
					cancel()
					if err != nil {
						t.Fatalf("final run (p=%d): %v\n%s", p, err, stderr.String())
					}
				case <-ctx.Done():
					cancel()
					cmd.Process.Kill()
					t.Fatalf("final run (p=%d) did not finish\n%s", p, stderr.String())
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
	bin := buildBinary(t)
	for _, backend := range []string{"hashmap", "lsm"} {
		t.Run(backend, func(t *testing.T) {
			dir := t.TempDir()
			input := filepath.Join(dir, "input.txt")
			want := writeInput(t, input, 4000, 7)
			out := filepath.Join(dir, "out")
			common := []string{"--input", input, "--output", out,
				"--set", "state.backend.type=" + backend,
				"--set", "state.backend.lsm.local-dir=" + filepath.Join(dir, "lsm")}
			var stdout, stderr bytes.Buffer
			cmd := exec.Command(bin, append(slices.Clone(common), "--parallelism", "3", "--rate", "5000")...)
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			if err := cmd.Start(); err != nil {
				t.Fatal(err)
			}
			time.Sleep(700 * time.Millisecond) // let it process part of the input
			cmd.Process.Signal(syscall.SIGTERM)
			if err := cmd.Wait(); err != nil {
				t.Fatalf("stop: %v\n%s", err, stderr.String())
			}
			sp, ok := strings.CutPrefix(strings.TrimSpace(stdout.String()), "savepoint: ")
			if !ok {
				t.Fatalf("stdout %q, want savepoint: <path>\n%s", stdout.String(), stderr.String())
			}
			if _, err := os.Stat(filepath.Join(sp, "_metadata")); err != nil {
				t.Fatal(err)
			}
			partial := committed(t, out)
			total := 0
			for _, cs := range partial {
				total += len(cs)
			}
			if total == 0 {
				t.Fatalf("nothing committed before the savepoint")
			}
			_, errs, code := runWordcount(t, bin, append(slices.Clone(common), "--parallelism", "2", "--restore", sp)...)
			if code != 0 {
				t.Fatalf("restore from %s: exit %d\n%s", sp, code, errs)
			}
			checkExactlyOnce(t, want, committed(t, out))
			fmt.Fprint(os.Stderr)
		})
	}
}
