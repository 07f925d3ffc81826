package engine

import "fmt"

// ForEach ends s in a sink that calls fn for every record on the subtask's
// goroutine. It has no state and no transactions: after a restore, fn sees
// again the records processed since the checkpoint (at least once). A
// returned error fails the job.
func ForEach[T any](s Stream[T], name string, fn func(T) error) {
	n := s.job.add(s.node, &node{name: name, role: roleChained})
	n.newOperator = func(env *opEnv) (operator, error) {
		return &forEachOp[T]{baseOperator{discard{}}, name, fn}, nil
	}
}

type forEachOp[T any] struct {
	baseOperator
	name string
	fn   func(T) error
}

func (f *forEachOp[T]) processRecord(r record) error {
	if err := f.fn(r.value.(T)); err != nil {
		return fmt.Errorf("sink %q: %w", f.name, err)
	}
	return nil
}
