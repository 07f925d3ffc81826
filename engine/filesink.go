package engine

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

// WriteLines ends s in an exactly-once file sink that writes each record
// as a line to part files in dir. Output becomes visible only when the
// checkpoint that covers it completes:
//
//   - records go to a hidden in-progress file ".part-<run>-<subtask>-<n>.inprogress";
//   - a checkpoint barrier closes it; the asynchronous phase makes it
//     durable, and the file's name is part of the checkpoint;
//   - when the checkpoint completes, it is renamed to "part-<run>-<subtask>-<n>";
//   - a restore renames again the files its checkpoint names (renaming a
//     file that was already renamed is a no-op) and removes every other
//     hidden part file, whose records are read again from the restored
//     source offsets.
//
// The state also records which committed files a snapshot covers (per run
// and subtask, the highest sequence number), and the sink guards its
// output: before it commits or removes anything, committed files in dir
// that the restored snapshot does not cover (committed by a newer
// checkpoint or another run), or any committed file on a start without a
// restore, make the start fail with an error wrapping ErrUncoveredOutput,
// unless execution.state-recovery.uncovered-output is MOVE_ASIDE.
//
// So the committed output is every file in dir whose name starts with
// neither "." nor "_", and it holds each record of the input once. dir
// belongs to the job: do not let two jobs write to it. The sink's state
// is stored under uid.
func WriteLines(s Stream[string], uid, dir string) {
	n := s.job.add(s.node, &node{name: uid, uid: uid, role: roleChained})
	n.newOperator = func(env *opEnv) (operator, error) { return openFileSink(env, dir) }
}

// pendingFile is a closed part file waiting for the checkpoint that
// covers it.
type pendingFile struct {
	Checkpoint int64  `json:"checkpoint"`
	Temp       string `json:"temp"`
	Final      string `json:"final"`
}

const (
	pendingFilesState = "pending-files"
	partPrefix        = "part-"
	hiddenPartPrefix  = "." + partPrefix
)

var pendingFileSerializer = serializer.JSON[pendingFile]{TypeName: "stated.engine.PendingFile"}

type fileSink struct {
	baseOperator
	uid     string
	dir     string
	run     string
	subtask int
	states  *state.OperatorStates
	state   *state.ListOperatorState[pendingFile]
	pending []pendingFile
	// parts holds the coverage record; inherited is the record of the
	// restored snapshot, which subtask 0 carries on.
	parts     *state.ListOperatorState[committedPart]
	inherited []committedPart
	// lock is the run's lock of dir; nothing is committed once it is lost.
	lock snapshot.Lease

	seq  int
	f    *os.File
	w    *bufio.Writer
	temp string
}

func openFileSink(env *opEnv, dir string) (*fileSink, error) {
	uid := env.node.uid
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("sink %q: %w", uid, err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("sink %q: %w", uid, err)
	}
	// Before the sink looks at, commits or removes anything in dir: one
	// job writes to it at a time.
	lock, err := env.rt.outputs.hold(env.ctx, env.rt, uid, abs)
	if err != nil {
		return nil, err
	}
	states, err := state.NewOperatorStates(state.OperatorOptions{
		OperatorUID: uid, Subtask: env.subtask, Parallelism: env.parallelism,
		Compression: env.rt.cfg.Compression, Logger: env.logger(),
	})
	if err != nil {
		return nil, err
	}
	if r := env.restore; r != nil && r.op != nil {
		if err := states.Restore(env.ctx, r.store, r.dir, r.op.Subtasks); err != nil {
			return nil, fmt.Errorf("sink %q: %w", uid, err)
		}
	}
	// The pending files are union state: every subtask sees all of them,
	// and subtask 0 commits them before any subtask writes.
	st, err := state.GetUnionListOperatorState(states, pendingFilesState, pendingFileSerializer)
	if err != nil {
		return nil, fmt.Errorf("sink %q: %w", uid, err)
	}
	parts, err := state.GetUnionListOperatorState(states, committedPartsState, committedPartSerializer)
	if err != nil {
		return nil, fmt.Errorf("sink %q: %w", uid, err)
	}
	s := &fileSink{baseOperator: baseOperator{discard{}}, uid: uid, dir: dir, run: env.rt.runID, subtask: env.subtask, states: states, state: st, parts: parts, lock: lock}
	if env.subtask == 0 {
		g := &outputGuard{uid: uid, dir: abs, run: env.rt.runID, restore: env.restore, cfg: env.rt.cfg, logger: env.logger()}
		cov, err := g.check(newCoverage(parts.Get()))
		if err != nil {
			return nil, fmt.Errorf("sink %q: %w", uid, err)
		}
		if err := commitFiles(dir, st.Get()); err != nil {
			return nil, fmt.Errorf("sink %q: restore: %w", uid, err)
		}
		if err := removeUncommitted(dir); err != nil {
			return nil, fmt.Errorf("sink %q: restore: %w", uid, err)
		}
		s.inherited = cov.record()
	}
	st.Clear()
	parts.Clear()
	return s, nil
}

// commitFiles renames pending files to their final names and syncs dir. It
// is idempotent: a file already renamed is skipped.
func commitFiles(dir string, files []pendingFile) error {
	if len(files) == 0 {
		return nil
	}
	for _, p := range files {
		if strings.ContainsAny(p.Temp+p.Final, `/\`) || !strings.HasPrefix(p.Temp, hiddenPartPrefix) || !strings.HasPrefix(p.Final, partPrefix) {
			return fmt.Errorf("pending file %q → %q: not a part file name", p.Temp, p.Final)
		}
		err := os.Rename(filepath.Join(dir, p.Temp), filepath.Join(dir, p.Final))
		if errors.Is(err, fs.ErrNotExist) {
			if _, serr := os.Stat(filepath.Join(dir, p.Final)); serr == nil {
				continue // committed before
			}
			return fmt.Errorf("commit %s: neither %s nor %s exists in %s: output of checkpoint %d is lost", p.Final, p.Temp, p.Final, dir, p.Checkpoint)
		}
		if err != nil {
			return fmt.Errorf("commit: %w", err)
		}
	}
	return file.SyncDir(dir)
}

// removeUncommitted removes the hidden part files of earlier runs: output
// no completed checkpoint covers.
func removeUncommitted(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), hiddenPartPrefix) && !e.IsDir() {
			if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
				return err
			}
		}
	}
	return nil
}

func (s *fileSink) processRecord(r record) error {
	if s.f == nil {
		s.temp = fmt.Sprintf("%s%s-%d-%d.inprogress", hiddenPartPrefix, s.run, s.subtask, s.seq)
		f, err := os.OpenFile(filepath.Join(s.dir, s.temp), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("sink %q: %w", s.uid, err)
		}
		s.f = f
		if s.w == nil {
			s.w = bufio.NewWriterSize(f, 256<<10)
		} else {
			s.w.Reset(f)
		}
	}
	line := r.value.(string)
	s.w.WriteString(line)
	if err := s.w.WriteByte('\n'); err != nil {
		return fmt.Errorf("sink %q: write %s: %w", s.uid, s.temp, err)
	}
	return nil
}

// snapshotState closes the in-progress file; the asynchronous phase syncs
// and closes it, and it is committed when the checkpoint completes.
func (s *fileSink) snapshotState(b barrier) (*operatorCapture, error) {
	var prepare func() error
	if s.f != nil {
		if err := s.w.Flush(); err != nil {
			return nil, fmt.Errorf("sink %q: write %s: %w", s.uid, s.temp, err)
		}
		f, name := s.f, s.temp
		prepare = func() error {
			err := f.Sync()
			if cerr := f.Close(); err == nil {
				err = cerr
			}
			if err != nil {
				return fmt.Errorf("sink: sync %s: %w", name, err)
			}
			return nil
		}
		s.pending = append(s.pending, pendingFile{Checkpoint: b.id(), Temp: s.temp, Final: fmt.Sprintf("%s%s-%d-%d", partPrefix, s.run, s.subtask, s.seq)})
		s.f = nil
		s.seq++
	}
	s.state.Update(s.pending)
	record := s.inherited
	if s.seq > 0 {
		record = append(slices.Clip(record), committedPart{Run: s.run, Subtask: s.subtask, Seq: int64(s.seq - 1)})
	}
	s.parts.Update(record)
	snap, err := s.states.Snapshot()
	if err != nil {
		return nil, err
	}
	return &operatorCapture{uid: s.uid, operator: snap, prepare: prepare}, nil
}

// notifyComplete commits the files of every checkpoint up to id; files of
// aborted checkpoints are committed with the next one that completes,
// whose snapshot names them too.
func (s *fileSink) notifyComplete(id int64, _ snapshot.Kind) error {
	var done []pendingFile
	i := 0
	for _, p := range s.pending {
		if p.Checkpoint <= id {
			done = append(done, p)
		} else {
			s.pending[i] = p
			i++
		}
	}
	s.pending = s.pending[:i]
	if err := s.lock.Err(); err != nil && len(done) > 0 {
		return fmt.Errorf("sink %q: output directory %s: %w", s.uid, s.dir, err)
	}
	if err := commitFiles(s.dir, done); err != nil {
		return fmt.Errorf("sink %q: %w", s.uid, err)
	}
	return nil
}

// endInput discards an in-progress file: no checkpoint follows it, so its
// records (there are none after a final checkpoint) would not be
// committed.
func (s *fileSink) endInput() error {
	if s.f == nil {
		return nil
	}
	s.f.Close()
	s.f = nil
	return os.Remove(filepath.Join(s.dir, s.temp))
}

func (s *fileSink) close() error {
	if s.f != nil {
		err := s.f.Close()
		s.f = nil
		return err
	}
	return nil
}
