package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/examples/internal/jobtest"
)

// bin is the sessions binary, built once by TestMain.
var bin string

func TestMain(m *testing.M) { os.Exit(jobtest.Main(m, &bin)) }

// expected computes, by brute force from the generator, the output line of
// every user's session, each with count 1, and the number of session
// boundaries where the gap between two clicks is exactly gap.
//
// The engine's semantics: each click opens the window [ts, ts+gap), and
// windows that overlap or touch merge ([a, a+gap) and [b, b+gap) with
// a <= b merge when b <= a+gap). So in a user's clicks sorted by time, a
// session ends where the next click is more than gap after the previous
// one; clicks exactly gap apart are in the same session. No click is late:
// the generator's jitter is below the watermark bound.
func expected(t *testing.T, records int64, gap time.Duration) (want map[string]int, touching int) {
	t.Helper()
	if maxJitter >= outOfOrderness.Milliseconds() {
		t.Fatalf("the generator's jitter %dms is not below the watermark bound %v: clicks may be late", maxJitter, outOfOrderness)
	}
	g := gap.Milliseconds()
	byUser := map[string][]int64{}
	for i := range records {
		c := clickAt(i)
		byUser[c.User] = append(byUser[c.User], c.TS)
	}
	want = map[string]int{}
	for user, ts := range byUser {
		slices.Sort(ts)
		first, n := ts[0], 0
		for k, t := range ts {
			if k > 0 && t-ts[k-1] > g {
				want[sessionLine(user, first, ts[k-1], n)]++
				first, n = t, 0
			}
			if k > 0 && t-ts[k-1] == g {
				touching++
			}
			n++
		}
		want[sessionLine(user, first, ts[len(ts)-1], n)]++
	}
	return want, touching
}

func sessionLine(user string, first, last int64, clicks int) string {
	return fmt.Sprintf("%s\t%d\t%d\t%d", user, first, last, clicks)
}

func TestSessions(t *testing.T) {
	const records = 20_000
	want, _ := expected(t, records, 30*time.Second)
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := jobtest.Run(t, bin, "--output", out, "--records", strconv.Itoa(records), "--parallelism", "2", "--rate", "20000")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	jobtest.CheckExactlyOnce(t, "sessions", want, jobtest.Committed(t, out))
	if summary := fmt.Sprintf("%d sessions committed in %s", len(want), out); !strings.Contains(stdout, summary) {
		t.Fatalf("stdout %q, want it to say %q", stdout, summary)
	}
	// With this gap, the generator's bursts are its sessions: one per user
	// and period the user clicks in.
	type burst struct {
		user   string
		period int64
	}
	bursts := map[burst]bool{}
	for i := range int64(records) {
		bursts[burst{clickAt(i).User, i * step / period}] = true
	}
	if len(want) != len(bursts) {
		t.Fatalf("%d sessions, %d bursts: the generator's bursts are not sessions", len(want), len(bursts))
	}
}

// TestSessionsShortGap uses a gap shorter than the time between some clicks
// of a burst, so sessions split and clicks arriving out of order bridge
// and merge sessions; some clicks are exactly gap apart.
func TestSessionsShortGap(t *testing.T) {
	const records = 20_000
	want, touching := expected(t, records, 400*time.Millisecond)
	if touching == 0 {
		t.Fatal("no clicks exactly gap apart: the test does not check that touching windows merge")
	}
	t.Logf("%d sessions, %d clicks exactly gap apart", len(want), touching)
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	_, stderr, code := jobtest.Run(t, bin, "--output", out, "--records", strconv.Itoa(records), "--parallelism", "3", "--rate", "20000", "--gap", "400 ms",
		"--set", "state.backend.type=lsm", "--set", "state.backend.lsm.local-dir="+filepath.Join(dir, "lsm"))
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	jobtest.CheckExactlyOnce(t, "sessions", want, jobtest.Committed(t, out))
}

// recovery is the run that TestSessionsKillRestore and
// TestSessionsStopWithSavepoint interrupt: records clicks into sessions
// with a gap of 30 s.
func recovery(t *testing.T, records int) jobtest.Recovery {
	out := filepath.Join(t.TempDir(), "out")
	want, _ := expected(t, int64(records), 30*time.Second)
	return jobtest.Recovery{
		Bin: bin,
		Args: []string{"--output", out, "--records", strconv.Itoa(records), "--rate", "20000",
			"--set", "execution.checkpointing.interval=200ms"},
		Out:  out,
		Noun: "sessions",
		Want: want,
	}
}

// TestSessionsKillRestore kills the job with SIGKILL after it has committed
// part of its output, restarts it with --restore latest at another
// parallelism and checks that every session is committed exactly once.
func TestSessionsKillRestore(t *testing.T) {
	recovery(t, 60_000).KillRestore(t)
}

// TestSessionsStopWithSavepoint stops the job with SIGTERM, then restores
// the savepoint at another parallelism.
func TestSessionsStopWithSavepoint(t *testing.T) {
	recovery(t, 40_000).StopRestore(t)
}

func TestSessionsExitCodes(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "out")
	cases := []jobtest.ExitCase{
		{Name: "no output", Args: []string{"--records", "10"}, Code: 2, Says: "--output"},
		{Name: "negative records", Args: []string{"--output", out, "--records", "-1"}, Code: 2, Says: "--records"},
		{Name: "NaN rate", Args: []string{"--output", out, "--rate", "NaN"}, Code: 2, Says: "--rate"},
		{Name: "bad gap", Args: []string{"--output", out, "--gap", "soon"}, Code: 2, Says: "gap"},
		{Name: "zero gap", Args: []string{"--output", out, "--gap", "0"}, Code: 2, Says: "--gap"},
		{Name: "sub-millisecond gap", Args: []string{"--output", out, "--gap", "1500us"}, Code: 2, Says: "--gap"},
	}
	cases = append(cases, jobtest.CommonExitCases(name, []string{"--output", out, "--records", "10"}, dir)...)
	jobtest.CheckExitCodes(t, bin, cases)
}
