package jobtest

import (
	"slices"
	"syscall"
	"testing"
)

// Recovery describes a job that writes one line per result, each result
// once, and the interrupted runs of it that KillRestore and StopRestore
// check.
type Recovery struct {
	// Bin is the job's binary.
	Bin string
	// Args are the job's arguments but --parallelism and --restore. They
	// must direct its output to Out and slow it down enough to be
	// interrupted midway.
	Args []string
	// Out is the output directory.
	Out string
	// Noun names the results in messages: "windows", "sessions".
	Noun string
	// Want is the output of an uninterrupted run: line → 1.
	Want map[string]int
}

// KillRestore runs the job at parallelism 2, kills it with SIGKILL once
// a checkpoint after the first one committed output, restarts it at
// parallelism 3 with --restore latest and checks that its output is Want,
// exactly once.
func (r Recovery) KillRestore(t *testing.T) {
	t.Helper()
	p := Start(t, r.Bin, append(slices.Clone(r.Args), "--parallelism", "2")...)
	p.WaitCommitted(t, r.Out)
	p.WaitCommittedBeyond(t, r.Out, Total(Committed(t, r.Out)))
	p.Kill()
	partial := Total(Committed(t, r.Out))
	if partial >= len(r.Want) {
		t.Fatalf("all %d %s committed before the kill: slow the job down", partial, r.Noun)
	}
	t.Logf("killed with %d of %d %s committed", partial, len(r.Want), r.Noun)

	_, stderr, code := Run(t, r.Bin, append(slices.Clone(r.Args), "--parallelism", "3", "--restore", "latest")...)
	if code != 0 {
		t.Fatalf("restart: exit %d\n%s", code, stderr)
	}
	CheckExactlyOnce(t, r.Noun, r.Want, Committed(t, r.Out))
}

// StopRestore runs the job at parallelism 2, stops it with SIGTERM once
// it has committed output, restores the savepoint it printed at
// parallelism 1 and checks that its output is Want, exactly once.
func (r Recovery) StopRestore(t *testing.T) {
	t.Helper()
	p := Start(t, r.Bin, append(slices.Clone(r.Args), "--parallelism", "2")...)
	p.WaitCommitted(t, r.Out)
	p.Signal(syscall.SIGTERM)
	if err := p.Wait(); err != nil {
		t.Fatalf("stop: %v\n%s", err, p.Stderr())
	}
	sp := p.Savepoint(t)
	partial := Total(Committed(t, r.Out))
	if partial == 0 || partial >= len(r.Want) {
		t.Fatalf("%d of %d %s committed at the savepoint, want some", partial, len(r.Want), r.Noun)
	}
	_, stderr, code := Run(t, r.Bin, append(slices.Clone(r.Args), "--parallelism", "1", "--restore", sp)...)
	if code != 0 {
		t.Fatalf("restore from %s: exit %d\n%s", sp, code, stderr)
	}
	CheckExactlyOnce(t, r.Noun, r.Want, Committed(t, r.Out))
}
