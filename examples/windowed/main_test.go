package main

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/examples/internal/jobtest"
)

// bin is the windowed binary, built once by TestMain.
var bin string

func TestMain(m *testing.M) { os.Exit(jobtest.Main(m, &bin)) }

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

func TestWindowedTumbling(t *testing.T) {
	const records = 20_000
	want := expected(t, records, 10*time.Second, 10*time.Second)
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := jobtest.Run(t, bin, "--output", out, "--records", strconv.Itoa(records), "--parallelism", "2", "--rate", "20000")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	jobtest.CheckExactlyOnce(t, "windows", want, jobtest.Committed(t, out))
	if summary := fmt.Sprintf("%d windows committed in %s", len(want), out); !strings.Contains(stdout, summary) {
		t.Fatalf("stdout %q, want it to say %q", stdout, summary)
	}
}

func TestWindowedSliding(t *testing.T) {
	const records = 20_000
	want := expected(t, records, 4*time.Second, 1500*time.Millisecond)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	_, stderr, code := jobtest.Run(t, bin, "--output", out, "--records", strconv.Itoa(records), "--parallelism", "2", "--rate", "20000",
		"--window", "4s", "--slide", "1500 ms",
		"--set", "state.backend.type=lsm", "--set", "state.backend.lsm.local-dir="+filepath.Join(dir, "lsm"))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	jobtest.CheckExactlyOnce(t, "windows", want, jobtest.Committed(t, out))
}

// recovery is the run that TestWindowedKillRestore and
// TestWindowedStopWithSavepoint interrupt: records readings into tumbling
// windows of 10 s.
func recovery(t *testing.T, records int) jobtest.Recovery {
	out := filepath.Join(t.TempDir(), "out")
	return jobtest.Recovery{
		Bin: bin,
		Args: []string{"--output", out, "--records", strconv.Itoa(records), "--rate", "20000",
			"--set", "execution.checkpointing.interval=200ms"},
		Out:  out,
		Noun: "windows",
		Want: expected(t, int64(records), 10*time.Second, 10*time.Second),
	}
}

// TestWindowedKillRestore kills the job with SIGKILL after it has committed
// part of its output, restarts it with --restore latest at another
// parallelism and checks that every window is committed exactly once.
func TestWindowedKillRestore(t *testing.T) {
	recovery(t, 60_000).KillRestore(t)
}

// TestWindowedStopWithSavepoint stops the job with SIGTERM, then restores
// the savepoint at another parallelism.
func TestWindowedStopWithSavepoint(t *testing.T) {
	recovery(t, 40_000).StopRestore(t)
}

func TestWindowedExitCodes(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cases := []jobtest.ExitCase{
		{Name: "no output", Args: []string{"--records", "10"}, Code: 2, Says: "--output"},
		{Name: "negative records", Args: []string{"--output", out, "--records", "-1"}, Code: 2, Says: "--records"},
		{Name: "NaN rate", Args: []string{"--output", out, "--rate", "NaN"}, Code: 2, Says: "--rate"},
		{Name: "bad window", Args: []string{"--output", out, "--window", "soon"}, Code: 2, Says: "window"},
		{Name: "zero window", Args: []string{"--output", out, "--window", "0"}, Code: 2, Says: "--window"},
		{Name: "sub-millisecond window", Args: []string{"--output", out, "--window", "1500us"}, Code: 2, Says: "--window"},
		{Name: "slide above window", Args: []string{"--output", out, "--window", "10s", "--slide", "11s"}, Code: 2, Says: "--slide"},
	}
	cases = append(cases, jobtest.CommonExitCases(name, []string{"--output", out, "--records", "10"}, dir)...)
	jobtest.CheckExitCodes(t, bin, cases)
}
