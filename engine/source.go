package engine

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// Split is a part of a source's input that one subtask reads, and how far
// it has read. Splits are the source's state: a checkpoint stores every
// unfinished split with its offset, and a restore hands them out round
// robin to the new subtasks, so a rescaled job reads each record once.
type Split struct {
	// ID names the split in errors.
	ID string `json:"id"`
	// Start and End delimit the split in the source's own units (bytes of
	// a file, indexes of a generator).
	Start int64 `json:"start"`
	End   int64 `json:"end"`
	// Offset is where reading resumes: the position after the last record
	// emitted.
	Offset int64 `json:"offset"`
	// Checksum is what the source recorded of the input the split
	// consumed up to Offset, to recognize that input on restore (see
	// SplitChecksummer); for Lines the CRC32C of the bytes [Start,
	// Offset). Empty for sources that keep none and in splits stored
	// before it existed.
	Checksum string `json:"checksum,omitempty"`
}

// Source is a bounded, splittable input of records of type T. Each subtask
// reads its splits one at a time in increasing Start, so event-time
// watermarks are right for inputs whose time grows with Start.
type Source[T any] interface {
	// Splits divides the input among n subtasks on a fresh start (not on a
	// restore, which uses the stored splits). It may return more or fewer
	// splits than n; they are dealt out round robin.
	Splits(ctx context.Context, n int) ([]Split, error)
	// Open returns a reader of split s positioned at s.Offset.
	Open(ctx context.Context, s Split) (SplitReader[T], error)
}

// SplitReader reads one split.
type SplitReader[T any] interface {
	// Next returns the next record, or io.EOF at the end of the split.
	Next() (T, error)
	// Offset is the position after the record Next returned last: where a
	// restored reader resumes.
	Offset() int64
	Close() error
}

// SplitChecksummer is the optional capability of a SplitReader that keeps
// a checksum of the input it consumed: Checksum returns the Split.Checksum
// of its split read up to the reader's Offset. The source stores it with
// the offset at every checkpoint, so that Open can refuse input that
// changed since.
type SplitChecksummer interface {
	Checksum() string
}

// SourceOption tunes FromSource.
type SourceOption func(*node)

// WithRate caps the source at recordsPerSecond across all its subtasks; 0
// (the default) means no cap.
func WithRate(recordsPerSecond float64) SourceOption {
	return func(n *node) { n.rate = recordsPerSecond }
}

// FromSource adds a source. Its splits and their offsets are operator
// state under uid.
func FromSource[T any](j *Job, uid string, src Source[T], opts ...SourceOption) Stream[T] {
	n := &node{name: uid, uid: uid, role: roleSource}
	for _, o := range opts {
		o(n)
	}
	if n.rate < 0 {
		j.fail(fmt.Errorf("%w: source %q: negative rate %v", ErrInvalidJob, uid, n.rate))
	}
	n.newSource = func(env *opEnv) (sourceOperator, error) { return openSource(env, src) }
	j.add(nil, n)
	return Stream[T]{j, n}
}

// sourceOperator is the head of a source chain.
type sourceOperator interface {
	operator
	// emitNext emits at most n records; false when every split is read.
	emitNext(n int) (bool, error)
}

const splitsStateName = "splits"

var splitSerializer = serializer.JSON[Split]{TypeName: "stated.engine.Split"}

type sourceOp[T any] struct {
	baseOperator
	ctx    context.Context
	uid    string
	src    Source[T]
	states *state.OperatorStates
	state  *state.ListOperatorState[Split]
	splits []Split // unread splits; splits[0] is being read
	reader SplitReader[T]
}

func openSource[T any](env *opEnv, src Source[T]) (*sourceOp[T], error) {
	states, err := state.NewOperatorStates(state.OperatorOptions{
		OperatorUID: env.node.uid, Subtask: env.subtask, Parallelism: env.parallelism,
		Compression: env.rt.cfg.Compression, Logger: env.logger(),
	})
	if err != nil {
		return nil, err
	}
	restored := env.restore != nil && env.restore.op != nil
	if restored {
		if err := states.Restore(env.ctx, env.restore.store, env.restore.dir, env.restore.op.Subtasks); err != nil {
			return nil, err // names the operator
		}
	}
	st, err := state.GetListOperatorState(states, splitsStateName, splitSerializer)
	if err != nil {
		return nil, fmt.Errorf("source %q: %w", env.node.uid, err)
	}
	op := &sourceOp[T]{baseOperator: baseOperator{env.out}, ctx: env.ctx, uid: env.node.uid, src: src, states: states, state: st}
	if restored {
		op.splits = st.Get()
	} else {
		all, err := src.Splits(env.ctx, env.parallelism)
		if err != nil {
			return nil, fmt.Errorf("source %q: %w", env.node.uid, err)
		}
		for i := env.subtask; i < len(all); i += env.parallelism {
			op.splits = append(op.splits, all[i])
		}
	}
	// A subtask reads its splits one after the other, earliest first, so
	// that with inputs ordered by time (a log, a generator) its watermark
	// does not run ahead of a split it has yet to read; a restore deals
	// the splits out in another order.
	slices.SortStableFunc(op.splits, func(a, b Split) int { return cmp.Compare(a.Start, b.Start) })
	return op, nil
}

func (s *sourceOp[T]) emitNext(n int) (bool, error) {
	for i := 0; i < n; {
		if s.reader == nil {
			if len(s.splits) == 0 {
				return false, nil
			}
			r, err := s.src.Open(s.ctx, s.splits[0])
			if err != nil {
				return false, fmt.Errorf("source %q: split %s: %w", s.uid, s.splits[0].ID, err)
			}
			s.reader = r
		}
		v, err := s.reader.Next()
		if errors.Is(err, io.EOF) {
			if err := s.reader.Close(); err != nil {
				return false, fmt.Errorf("source %q: split %s: %w", s.uid, s.splits[0].ID, err)
			}
			s.reader = nil
			s.splits = s.splits[1:]
			continue
		}
		if err != nil {
			return false, fmt.Errorf("source %q: split %s: %w", s.uid, s.splits[0].ID, err)
		}
		s.splits[0].Offset = s.reader.Offset()
		if err := s.out.collect(record{value: v, ts: NoTimestamp}); err != nil {
			return false, err
		}
		i++
	}
	return true, nil
}

func (s *sourceOp[T]) processRecord(record) error {
	return fmt.Errorf("source %q has no input", s.uid)
}

func (s *sourceOp[T]) snapshotState(barrier) (*operatorCapture, error) {
	if c, ok := s.reader.(SplitChecksummer); ok && s.reader.Offset() == s.splits[0].Offset {
		// (A reader opened with no record emitted yet may be past the
		// split's offset: its checksum is not the offset's.)
		s.splits[0].Checksum = c.Checksum()
	}
	s.state.Update(s.splits)
	snap, err := s.states.Snapshot()
	if err != nil {
		return nil, err
	}
	return &operatorCapture{uid: s.uid, operator: snap}, nil
}

func (s *sourceOp[T]) close() error {
	if s.reader != nil {
		err := s.reader.Close()
		s.reader = nil
		return err
	}
	return nil
}
