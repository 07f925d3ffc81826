package backend

import (
	"fmt"

	"github.com/twmb/murmur3"

	"github.com/stated-io/stated/snapshot"
)

// MinDefaultMaxParallelism is the smallest default maxParallelism. The
// largest maxParallelism is snapshot.MaxMaxParallelism. Both are part of
// the on-disk format: never change them.
const MinDefaultMaxParallelism = 128

// KeyGroupRange is a range of key groups with both ends inclusive. A range
// with End < Start is empty.
type KeyGroupRange struct {
	Start, End int
}

// EmptyKeyGroupRange is the canonical empty range.
var EmptyKeyGroupRange = KeyGroupRange{Start: 0, End: -1}

// Len returns the number of key groups in r.
func (r KeyGroupRange) Len() int {
	if r.End < r.Start {
		return 0
	}
	return r.End - r.Start + 1
}

// Empty reports whether r holds no key group.
func (r KeyGroupRange) Empty() bool { return r.End < r.Start }

// Contains reports whether kg is in r.
func (r KeyGroupRange) Contains(kg int) bool { return kg >= r.Start && kg <= r.End }

// Intersect returns the key groups in both r and o (possibly empty).
func (r KeyGroupRange) Intersect(o KeyGroupRange) KeyGroupRange {
	s, e := max(r.Start, o.Start), min(r.End, o.End)
	if e < s {
		return EmptyKeyGroupRange
	}
	return KeyGroupRange{Start: s, End: e}
}

func (r KeyGroupRange) String() string {
	if r.Empty() {
		return "[]"
	}
	return fmt.Sprintf("[%d, %d]", r.Start, r.End)
}

// HashKey is the key-group hash of a serialized key: murmur3_32 with seed 0.
func HashKey(keyBytes []byte) uint32 { return murmur3.SeedSum32(0, keyBytes) }

// KeyGroupForKey returns the key group of a serialized key:
// murmur3_32(keyBytes, seed 0) mod maxParallelism.
func KeyGroupForKey(keyBytes []byte, maxParallelism int) int {
	return int(HashKey(keyBytes) % uint32(maxParallelism))
}

// KeyGroupRangeForSubtask returns the key groups owned by subtask i of p:
// [ceil(i*maxP/p), floor(((i+1)*maxP-1)/p)].
func KeyGroupRangeForSubtask(maxParallelism, parallelism, i int) KeyGroupRange {
	return KeyGroupRange{
		Start: (i*maxParallelism + parallelism - 1) / parallelism,
		End:   ((i+1)*maxParallelism - 1) / parallelism,
	}
}

// SubtaskForKeyGroup returns the index of the subtask of p that owns kg.
func SubtaskForKeyGroup(maxParallelism, parallelism, kg int) int {
	return kg * parallelism / maxParallelism
}

// DefaultMaxParallelism is min(max(roundUpPow2(p + p/2), 128), 32768).
func DefaultMaxParallelism(parallelism int) int {
	n := parallelism + parallelism/2
	pow := 1
	for pow < n {
		pow <<= 1
	}
	return min(max(pow, MinDefaultMaxParallelism), snapshot.MaxMaxParallelism)
}

// CheckParallelism validates a (parallelism, maxParallelism) pair.
func CheckParallelism(parallelism, maxParallelism int) error {
	switch {
	case maxParallelism < 1 || maxParallelism > snapshot.MaxMaxParallelism:
		return fmt.Errorf("%w: maxParallelism %d is outside [1, %d]", ErrInvalidParallelism, maxParallelism, snapshot.MaxMaxParallelism)
	case parallelism < 1:
		return fmt.Errorf("%w: parallelism %d must be at least 1", ErrInvalidParallelism, parallelism)
	case parallelism > maxParallelism:
		return fmt.Errorf("%w: parallelism %d exceeds maxParallelism %d", ErrInvalidParallelism, parallelism, maxParallelism)
	}
	return nil
}
