package main

import (
	"bufio"
	"bytes"
	"fmt"
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

// bin is the sessions binary, built once by TestMain.
var bin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "sessions-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bin = filepath.Join(dir, "sessions")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		os.RemoveAll(dir)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

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
		t.Fatalf("%d of %d sessions wrong (%d lines committed); first:\n%s",
			len(bad), len(want), total(got), strings.Join(bad[:min(len(bad), 10)], "\n"))
	}
}

func runSessions(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("sessions %v: %v", args, err)
	}
	return out.String(), errb.String(), code
}

func TestSessions(t *testing.T) {
	const records = 20_000
	want, _ := expected(t, records, 30*time.Second)
	out := filepath.Join(t.TempDir(), "out")
	stdout, stderr, code := runSessions(t, "--output", out, "--records", strconv.Itoa(records), "--parallelism", "2", "--rate", "20000")
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, stderr)
	}
	checkExactlyOnce(t, want, committed(t, out))
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
	_, stderr, code := runSessions(t, "--output", out, "--records", strconv.Itoa(records), "--parallelism", "3", "--rate", "20000", "--gap", "400 ms",
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

// TestSessionsKillRestore kills the job with SIGKILL after it has committed
// part of its output, restarts it with --restore latest at another
// parallelism and checks that every session is committed exactly once.
func TestSessionsKillRestore(t *testing.T) {
	const records = 60_000
	want, _ := expected(t, records, 30*time.Second)
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
		t.Fatalf("all %d sessions committed before the kill: slow the job down", partial)
	}
	t.Logf("killed with %d of %d sessions committed", partial, len(want))

	_, errs, code := runSessions(t, append(slices.Clone(common), "--parallelism", "3", "--restore", "latest")...)
	if code != 0 {
		t.Fatalf("restart: exit %d\n%s", code, errs)
	}
	checkExactlyOnce(t, want, committed(t, out))
}

// TestSessionsStopWithSavepoint stops the job with SIGTERM, then restores
// the savepoint at another parallelism.
func TestSessionsStopWithSavepoint(t *testing.T) {
	const records = 40_000
	want, _ := expected(t, records, 30*time.Second)
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
		t.Fatalf("%d of %d sessions committed at the savepoint, want some", partial, len(want))
	}
	_, errs, code := runSessions(t, append(slices.Clone(common), "--parallelism", "1", "--restore", sp)...)
	if code != 0 {
		t.Fatalf("restore from %s: exit %d\n%s", sp, code, errs)
	}
	checkExactlyOnce(t, want, committed(t, out))
}

func TestSessionsExitCodes(t *testing.T) {
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
		{"bad gap", []string{"--output", out, "--gap", "soon"}, 2, "gap"},
		{"zero gap", []string{"--output", out, "--gap", "0"}, 2, "--gap"},
		{"sub-millisecond gap", []string{"--output", out, "--gap", "1500us"}, 2, "--gap"},
		{"unknown key", []string{"--output", out, "--set", "state.backend.typ=lsm"}, 2, "state.backend.type"},
		{"bad value", []string{"--output", out, "--set", "execution.checkpointing.interval=soon"}, 2, "execution.checkpointing.interval"},
		{"set without =", []string{"--output", out, "--set", "parallelism.default"}, 2, "parallelism.default"},
		{"missing config file", []string{"--output", out, "--config", filepath.Join(dir, "nope.yaml")}, 2, "nope.yaml"},
		{"missing restore path", []string{"--output", out, "--records", "10", "--restore", filepath.Join(dir, "chk-9")}, 1, "chk-9"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, code := runSessions(t, c.args...)
			if code != c.code || !strings.Contains(stderr, c.says) {
				t.Fatalf("exit %d (want %d), stderr (want it to name %q):\n%s", code, c.code, c.says, stderr)
			}
			if strings.Contains(stderr, "goroutine ") {
				t.Fatalf("panic trace:\n%s", stderr)
			}
		})
	}
}
