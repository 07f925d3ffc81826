package engine

import (
	"context"
	"io"
	"strconv"
)

// Generate returns a source of count records: record i is fn(i), for i in
// [0, count). fn must be deterministic, so that a restored job produces
// the same records again.
func Generate[T any](count int64, fn func(i int64) T) Source[T] {
	return generator[T]{count: max(count, 0), fn: fn}
}

type generator[T any] struct {
	count int64
	fn    func(int64) T
}

// Splits returns max(4n, 16) index ranges (fewer for a small count).
func (g generator[T]) Splits(_ context.Context, n int) ([]Split, error) {
	k := int64(max(4*n, 16))
	if g.count < k {
		k = max(g.count, 1)
	}
	splits := make([]Split, k)
	for i := range k {
		start, end := i*g.count/k, (i+1)*g.count/k
		splits[i] = Split{ID: "generate@" + strconv.FormatInt(start, 10), Start: start, End: end, Offset: start}
	}
	return splits, nil
}

func (g generator[T]) Open(_ context.Context, s Split) (SplitReader[T], error) {
	return &generatorReader[T]{fn: g.fn, next: s.Offset, end: s.End}, nil
}

type generatorReader[T any] struct {
	fn        func(int64) T
	next, end int64
}

func (r *generatorReader[T]) Next() (T, error) {
	if r.next >= r.end {
		var zero T
		return zero, io.EOF
	}
	v := r.fn(r.next)
	r.next++
	return v, nil
}

func (r *generatorReader[T]) Offset() int64 { return r.next }
func (r *generatorReader[T]) Close() error  { return nil }
