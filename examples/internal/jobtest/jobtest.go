// Package jobtest runs the binary of an example job in the example's
// tests: it builds the binary, runs it in the foreground (capturing its
// output and exit code) or in the background (to signal or kill it), and
// reads and checks its committed output.
//
// An example's tests build the binary once:
//
//	var bin string
//
//	func TestMain(m *testing.M) { os.Exit(jobtest.Main(m, &bin)) }
package jobtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/stated-io/stated/examples/internal/jobcli"
)

// Main builds the main package in the current directory (the example's,
// under go test) into a temporary directory, sets *bin to the binary's
// path, runs the tests of m and removes the binary. It returns the exit
// code for os.Exit: m.Run's, or 1 if the build failed.
func Main(m *testing.M, bin *string) int {
	wd, err := os.Getwd()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	dir, err := os.MkdirTemp("", "jobtest")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	defer os.RemoveAll(dir)
	*bin = filepath.Join(dir, filepath.Base(wd))
	if out, err := exec.Command("go", "build", "-o", *bin, ".").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "go build: %v\n%s", err, out)
		return 1
	}
	return m.Run()
}

// Run runs bin with args to the end and returns its output and exit code.
// It fails t if bin did not exit by itself (it could not start, or a
// signal killed it).
func Run(t testing.TB, bin string, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	code = cmd.ProcessState.ExitCode()
	if err != nil && code < 0 {
		t.Fatalf("%s %v: %v\n%s", filepath.Base(bin), args, err, errb.String())
	}
	return out.String(), errb.String(), code
}

// Process is a binary running in the background, started by Start.
type Process struct {
	cmd            *exec.Cmd
	stdout, stderr syncBuffer
	done           chan struct{}
	err            error // Wait's, once done is closed
}

// Start starts bin with args in the background. The test kills it at its
// end if it still runs.
func Start(t testing.TB, bin string, args ...string) *Process {
	t.Helper()
	p := &Process{cmd: exec.Command(bin, args...), done: make(chan struct{})}
	p.cmd.Stdout, p.cmd.Stderr = &p.stdout, &p.stderr
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() {
		p.err = p.cmd.Wait()
		close(p.done)
	}()
	t.Cleanup(p.Kill)
	return p
}

// Done is closed when the process has exited.
func (p *Process) Done() <-chan struct{} { return p.done }

// Wait waits for the process to exit and returns the error of
// exec.Cmd.Wait: nil if it exited with code 0.
func (p *Process) Wait() error {
	<-p.done
	return p.err
}

// WaitTimeout is Wait for at most d; then it kills the process and
// returns an error.
func (p *Process) WaitTimeout(d time.Duration) error {
	select {
	case <-p.done:
		return p.err
	case <-time.After(d):
		p.Kill()
		return fmt.Errorf("did not exit within %v", d)
	}
}

// Signal sends sig to the process; it does not wait.
func (p *Process) Signal(sig os.Signal) {
	p.cmd.Process.Signal(sig)
}

// Kill kills the process with SIGKILL, if it still runs, and waits for it
// to exit.
func (p *Process) Kill() {
	select {
	case <-p.done:
	default:
		p.cmd.Process.Signal(syscall.SIGKILL)
		<-p.done
	}
}

// Stdout is what the process has written to stdout so far.
func (p *Process) Stdout() string { return p.stdout.String() }

// Stderr is what the process has written to stderr so far.
func (p *Process) Stderr() string { return p.stderr.String() }

// PID is the process id.
func (p *Process) PID() int { return p.cmd.Process.Pid }

// WaitCommitted waits until dir holds some committed output (a part-
// file) of the process. It fails t, after killing the process, if the
// process exits first or nothing is committed within 20 s.
func (p *Process) WaitCommitted(t testing.TB, dir string) {
	t.Helper()
	p.waitOutput(t, "committed anything", func() bool {
		entries, _ := os.ReadDir(dir)
		for _, e := range entries {
			if strings.HasPrefix(e.Name(), "part-") {
				return true
			}
		}
		return false
	})
}

// WaitCommittedBeyond waits until the committed output in dir holds more
// than lines lines: a checkpoint committed after the one that left lines.
// It fails t as WaitCommitted does.
func (p *Process) WaitCommittedBeyond(t testing.TB, dir string, lines int) {
	t.Helper()
	p.waitOutput(t, fmt.Sprintf("committed more than %d lines", lines), func() bool {
		n := 0
		// A part file may be renamed into place while it is read: count
		// again on the next poll.
		err := jobcli.ReadCommitted(dir, func(string, string) error { n++; return nil })
		return err == nil && n > lines
	})
}

// waitOutput polls done every 50 ms until it holds, for at most 20 s.
func (p *Process) waitOutput(t testing.TB, what string, done func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-p.done:
			t.Fatalf("the job ended before it %s: %v\n%s", what, p.err, p.Stderr())
		case <-time.After(50 * time.Millisecond):
		}
		if done() {
			return
		}
	}
	p.Kill()
	t.Fatalf("the job had not %s after 20s\n%s", what, p.Stderr())
}

// syncBuffer is a bytes.Buffer that the process's output copier and the
// test may use at once.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

// Savepoint returns the path that the first line of stdout,
// "savepoint: <path>", names, once the process has exited after a stop
// with a savepoint, and checks that the savepoint has its _metadata. It
// fails t otherwise.
func (p *Process) Savepoint(t testing.TB) string {
	t.Helper()
	<-p.done
	first, _, _ := strings.Cut(p.Stdout(), "\n")
	sp, ok := strings.CutPrefix(first, "savepoint: ")
	if !ok {
		t.Fatalf("stdout %q, want savepoint: <path>\n%s", p.Stdout(), p.Stderr())
	}
	if _, err := os.Stat(filepath.Join(sp, "_metadata")); err != nil {
		t.Fatal(err)
	}
	return sp
}

// CommittedLines returns the lines of the committed output in dir (see
// jobcli.ReadCommitted), file by file.
func CommittedLines(t testing.TB, dir string) []string {
	t.Helper()
	var lines []string
	err := jobcli.ReadCommitted(dir, func(_, line string) error {
		lines = append(lines, line)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return lines
}

// Committed returns the committed output in dir as line → occurrences.
func Committed(t testing.TB, dir string) map[string]int {
	t.Helper()
	got := map[string]int{}
	for _, line := range CommittedLines(t, dir) {
		got[line]++
	}
	return got
}

// Total is the number of lines of got, line → occurrences.
func Total(got map[string]int) int {
	n := 0
	for _, c := range got {
		n += c
	}
	return n
}

// CheckExactlyOnce fails t unless got holds every line of want once and
// nothing else (both line → occurrences). It names the lines noun in its
// message: "windows", "sessions".
func CheckExactlyOnce(t testing.TB, noun string, want, got map[string]int) {
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
		t.Fatalf("%d of %d %s wrong (%d lines committed); first:\n%s",
			len(bad), len(want), noun, Total(got), strings.Join(bad[:min(len(bad), 10)], "\n"))
	}
}

// ExitCase is a command line and the exit code and the text of stderr
// that it must give.
type ExitCase struct {
	Name string
	Args []string
	Code int
	// Says is a text that stderr must contain.
	Says string
}

// CommonExitCases are the cases of the flags that jobcli gives every
// example: base is a valid command line of the example, which each case
// extends, and dir a scratch directory.
func CommonExitCases(name string, base []string, dir string) []ExitCase {
	with := func(args ...string) []string { return append(slices.Clone(base), args...) }
	return []ExitCase{
		{Name: "help", Args: []string{"-h"}, Code: 0, Says: "Usage of " + name},
		{Name: "unknown flag", Args: with("--bogus"), Code: 2, Says: "bogus"},
		{Name: "extra argument", Args: with("extra"), Code: 2, Says: `unexpected argument "extra"`},
		{Name: "bad parallelism", Args: with("--parallelism", "-2"), Code: 2, Says: "--parallelism -2"},
		{Name: "negative rate", Args: with("--rate", "-1"), Code: 2, Says: "--rate -1"},
		{Name: "unknown key", Args: with("--set", "state.backend.typ=lsm"), Code: 2, Says: "state.backend.type"},
		{Name: "bad value", Args: with("--set", "execution.checkpointing.interval=soon"), Code: 2, Says: "execution.checkpointing.interval"},
		{Name: "set without =", Args: with("--set", "parallelism.default"), Code: 2, Says: "parallelism.default"},
		{Name: "remote backend", Args: with("--set", "state.backend.type=remote"), Code: 2, Says: "remote"},
		{Name: "missing config file", Args: with("--config", filepath.Join(dir, "nope.yaml")), Code: 2, Says: "nope.yaml"},
		{Name: "missing restore path", Args: with("--restore", filepath.Join(dir, "chk-9")), Code: 2, Says: "execution.state-recovery.path " + filepath.Join(dir, "chk-9")},
		{Name: "stated:// location", Args: with("--set", "execution.checkpointing.dir=stated://localhost:7070"), Code: 2, Says: "need the stated service, which does not exist yet"},
	}
}

// CheckExitCodes runs bin with the arguments of every case, in a subtest
// each, and checks its exit code and stderr, which must not hold a panic
// trace either.
func CheckExitCodes(t *testing.T, bin string, cases []ExitCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(c.Name, func(t *testing.T) {
			_, stderr, code := Run(t, bin, c.Args...)
			if code != c.Code || !strings.Contains(stderr, c.Says) {
				t.Fatalf("exit %d (want %d), stderr (want it to name %q):\n%s", code, c.Code, c.Says, stderr)
			}
			if strings.Contains(stderr, "goroutine ") {
				t.Fatalf("panic trace:\n%s", stderr)
			}
		})
	}
}
