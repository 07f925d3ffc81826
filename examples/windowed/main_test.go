package main

import (
	"bufio"
	"bytes"
	"fmt"
	"math"
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

// bin is the windowed binary, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "windowed-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "windowed")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// modelStats is the brute-force aggregate of one sensor's window.
type modelStats struct {
	count, sum int64
	min, max   int64
}

// expected computes, by brute force from the generator, the output line
// of every (sensor, window) for windows of size starting every slide
// (slide == size: tumbling), each with count 1. No reading is late: the
// generator's jitter is below the watermark bound.
func expected(t *testing.T, records int64, size, slide time.Duration) map[string]int {
	t.Helper()
	if maxJitter >= outOfOrderness.Milliseconds() {
		t.Fatalf("the generator's jitter %dms is not below the watermark bound %v: readings may be late", maxJitter, outOfOrderness)
	}
	sz, sl := size.Milliseconds(), slide.Milliseconds()
	type key struct {
		sensor string
		start  int64
	}
	agg := map[key]*modelStats{}
	for i := range records {
		r := readingAt(i)
		// Every window start k*sl with start <= ts < start+sz.
		for k := (r.TS-sz)/sl - 1; k*sl <= r.TS; k++ {
			start := k * sl
			if start > r.TS || r.TS >= start+sz {
				continue
			}
			s := agg[key{r.Sensor, start}]
			if s == nil {
				s = &modelStats{min: math.MaxInt64, max: math.MinInt64}
				agg[key{r.Sensor, start}] = s
			}
			s.count++
			s.sum += r.Value
			s.min = min(s.min, r.Value)
			s.max = max(s.max, r.Value)
		}
	}
	want := map[string]int{}
	for k, s := range agg {
		line := strings.Join([]string{k.sensor, strconv.FormatInt(k.start, 10), strconv.FormatInt(k.start+sz, 10),
			strconv.FormatInt(s.count, 10), formatMilli(s.min), formatMilli(s.max),
			strconv.FormatFloat(float64(s.sum)/float64(s.count)/1000, 'f', 3, 64)}, "\t")
		want[line]++
	}
	return want
}

// committed reads the committed output of dir: line → occurrences.
func committed(t *testing.T, dir string) map[string]int {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int{}
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
			got[sc.Text()]++
		}
		f.Close()
		if err := sc.Err(); err != nil {
			t.Fatal(err)
		}
	}
	return got
}

func total(lines map[string]int) int {
	n := 0
	for _, c := range lines {
		n += c
	}
	return n
}

// checkExactlyOnce asserts that got holds every line of want once and
// nothing else.
func checkExactlyOnce(t *testing.T, want, got map[string]int) {
	t.Helper()
	var bad []string
	for line := range want {
		if got[line] != 1 {
			bad = append(bad, fmt.Sprintf("committed %d times, want once: %q", got[line], line))
		}
	}
	for line, n := range got {
		if want[line] == 0 {
			bad = append(bad, fmt.Sprintf("committed %d times, not in the model: %q", n, line))
		}
	}
	if len(bad) > 0 {
		slices.Sort(bad)
		t.Fatalf("%d of %d windows wrong (%d lines committed); first:\n%s",
			len(bad), len(want), total(got), strings.Join(bad[:min(len(bad), 10)], "\n"))
	}
}

func runWindowed(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("windowed %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestWindowedTumbling(t *testing.T) {
	const records = 20_000
	want := expected(t, records, 10*time.Second, 10*time.Second)
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := runWindowed(t, "--output", out, "--records", strconv.Itoa(records), "--parallelism", "2", "--rate", "20000")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	checkExactlyOnce(t, want, committed(t, out))
	if summary := fmt.Sprintf("%d windows committed in %s", len(want), out); !strings.Contains(stdout, summary) {
		t.Fatalf("stdout %q, want it to say %q", stdout, summary)
	}
}

func TestWindowedSliding(t *testing.T) {
	const records = 20_000
	want := expected(t, records, 4*time.Second, 1500*time.Millisecond)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	_, stderr, code := runWindowed(t, "--output", out, "--records", strconv.Itoa(records), "--parallelism", "2", "--rate", "20000",
		"--window", "4s", "--slide", "1500 ms",
		"--set", "state.backend.type=lsm", "--set", "state.backend.lsm.local-dir="+filepath.Join(dir, "lsm"))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	checkExactlyOnce(t, want, committed(t, out))
}

// waitCommitted waits until dir holds some committed output of the running
// cmd, whose Wait result exited delivers.
func waitCommitted(t *testing.T, dir string, cmd *exec.Cmd, exited <-chan error, stderr *bytes.Buffer) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-exited:
			t.Fatalf("the job ended before it committed anything: %v\n%s", err, stderr.String())
		case <-time.After(50 * time.Millisecond):
		}
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "part-") {
				return
			}
		}
	}
	cmd.Process.Kill()
	<-exited
	t.Fatalf("nothing committed after 20s\n%s", stderr.String())
}

// TestWindowedKillRestore kills the job with SIGKILL after it has committed
// part of its output, restarts it with --restore latest at another
// parallelism and checks that every window is committed exactly once.
func TestWindowedKillRestore(t *testing.T) {
	const records = 60_000
	want := expected(t, records, 10*time.Second, 10*time.Second)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	common := []string{"--output", out, "--records", strconv.Itoa(records), "--rate", "20000",
		"--set", "execution.checkpointing.interval=200ms"}

	var stderr bytes.Buffer
	cmd := exec.Command(bin, append(slices.Clone(common), "--parallelism", "2")...)
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitCommitted(t, out, cmd, exited, &stderr)
	time.Sleep(300 * time.Millisecond)
	cmd.Process.Signal(syscall.SIGKILL)
	<-exited
	partial := total(committed(t, out))
	if partial >= len(want) {
		t.Fatalf("all %d windows committed before the kill: slow the job down", partial)
	}
	t.Logf("killed with %d of %d windows committed", partial, len(want))

	_, errs, code := runWindowed(t, append(slices.Clone(common), "--parallelism", "3", "--restore", "latest")...)
	if code != 0 {
		t.Fatalf("restart: exit %d\n%s", code, errs)
	}
	checkExactlyOnce(t, want, committed(t, out))
}

// TestWindowedStopWithSavepoint stops the job with SIGTERM, then restores
// the savepoint at another parallelism.
func TestWindowedStopWithSavepoint(t *testing.T) {
	const records = 40_000
	want := expected(t, records, 10*time.Second, 10*time.Second)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	common := []string{"--output", out, "--records", strconv.Itoa(records), "--rate", "20000",
		"--set", "execution.checkpointing.interval=200ms"}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(bin, append(slices.Clone(common), "--parallelism", "2")...)
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	waitCommitted(t, out, cmd, exited, &stderr)
	cmd.Process.Signal(syscall.SIGTERM)
	if err := <-exited; err != nil {
		t.Fatalf("stop: %v\n%s", err, stderr.String())
	}
	first, _, _ := strings.Cut(stdout.String(), "\n")
	sp, ok := strings.CutPrefix(first, "savepoint: ")
	if !ok {
		t.Fatalf("stdout %q, want savepoint: <path>\n%s", stdout.String(), stderr.String())
	}
	if _, err := os.Stat(filepath.Join(sp, "_metadata")); err != nil {
		t.Fatal(err)
	}
	partial := total(committed(t, out))
	if partial == 0 || partial >= len(want) {
		t.Fatalf("%d of %d windows committed at the savepoint, want some", partial, len(want))
	}
	_, errs, code := runWindowed(t, append(slices.Clone(common), "--parallelism", "1", "--restore", sp)...)
	if code != 0 {
		t.Fatalf("restore from %s: exit %d\n%s", sp, code, errs)
	}
	checkExactlyOnce(t, want, committed(t, out))
}

func TestWindowedExitCodes(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cases := []struct {
		name string
		args []string
		code int
		says string
	}{
		{"no output", []string{"--records", "10"}, 2, "--output"},
		{"unknown flag", []string{"--output", out, "--bogus"}, 2, "bogus"},
		{"extra argument", []string{"--output", out, "extra"}, 2, "extra"},
		{"negative records", []string{"--output", out, "--records", "-1"}, 2, "--records"},
		{"bad parallelism", []string{"--output", out, "--parallelism", "-2"}, 2, "--parallelism"},
		{"negative rate", []string{"--output", out, "--rate", "-1"}, 2, "--rate"},
		{"bad window", []string{"--output", out, "--window", "soon"}, 2, "window"},
		{"zero window", []string{"--output", out, "--window", "0"}, 2, "--window"},
		{"sub-millisecond window", []string{"--output", out, "--window", "1500us"}, 2, "--window"},
		{"slide above window", []string{"--output", out, "--window", "10s", "--slide", "11s"}, 2, "--slide"},
		{"unknown key", []string{"--output", out, "--set", "state.backend.typ=lsm"}, 2, "state.backend.type"},
		{"bad value", []string{"--output", out, "--set", "execution.checkpointing.interval=soon"}, 2, "execution.checkpointing.interval"},
		{"set without =", []string{"--output", out, "--set", "parallelism.default"}, 2, "parallelism.default"},
		{"missing config file", []string{"--output", out, "--config", filepath.Join(dir, "nope.yaml")}, 2, "nope.yaml"},
		{"missing restore path", []string{"--output", out, "--records", "10", "--restore", filepath.Join(dir, "chk-9")}, 1, "chk-9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := runWindowed(t, c.args...)
			if code != c.code || !strings.Contains(stderr, c.says) {
				t.Fatalf("exit %d (want %d), stderr (want it to name %q):\n%s", code, c.code, c.says, stderr)
			}
			if strings.Contains(stderr, "goroutine ") {
				t.Fatalf("panic trace:\n%s", stderr)
			}
		})
	}
}
