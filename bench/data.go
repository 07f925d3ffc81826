package main

import (
	"math/rand/v2"
	"strconv"
)

// dataset is the key and value material every benchmark draws from. It is
// generated once, before any timing, from a fixed seed.
type dataset struct {
	// keys are distinct 16-byte strings "k%015d".
	keys []string
	// values are random byte slices of valueBytes each, carved with full
	// slice expressions out of one backing array (appends never alias).
	values [][]byte
}

// newDataset builds n keys and n values of valueBytes random bytes.
func newDataset(n, valueBytes int, seed uint64) *dataset {
	d := &dataset{keys: make([]string, n), values: make([][]byte, n)}
	buf := make([]byte, 0, 16)
	for i := range n {
		buf = append(buf[:0], 'k')
		s := strconv.Itoa(i)
		for range 15 - len(s) {
			buf = append(buf, '0')
		}
		d.keys[i] = string(append(buf, s...))
	}
	backing := make([]byte, n*valueBytes)
	fillRandom(backing, seed)
	for i := range n {
		d.values[i] = backing[i*valueBytes : (i+1)*valueBytes : (i+1)*valueBytes]
	}
	return d
}

// newRand returns the deterministic generator of one named sequence.
func newRand(seed uint64, stream uint64) *rand.Rand {
	return rand.New(rand.NewPCG(seed, stream))
}

// fillRandom fills b with pseudo-random bytes.
func fillRandom(b []byte, seed uint64) {
	r := newRand(seed, 0xb17e5)
	for i := 0; i < len(b); i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < len(b); j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
}

// permutation returns a random permutation of [0, n); stream tells
// sequences of the same run apart.
func permutation(n int, seed, stream uint64) []int {
	return newRand(seed, stream).Perm(n)
}

// indices returns count random indices in [0, n).
func indices(count, n int, seed, stream uint64) []int {
	r := newRand(seed, stream)
	out := make([]int, count)
	for i := range out {
		out[i] = r.IntN(n)
	}
	return out
}
