package main

import (
	"math"
	"runtime"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// sink receives a value derived from every benchmark loop so the compiler
// cannot drop the work.
var sink atomic.Int64

// timed runs runtime.GC, then times fn.
func timed(fn func() error) (time.Duration, error) {
	runtime.GC()
	start := time.Now()
	err := fn()
	return time.Since(start), err
}

// usPerOp converts the duration of ops operations to microseconds per op.
func usPerOp(d time.Duration, ops int) float64 {
	return d.Seconds() * 1e6 / float64(ops)
}

// ms converts a duration to milliseconds.
func ms(d time.Duration) float64 { return d.Seconds() * 1e3 }

// side measures one side of a comparison once: it prepares (untimed),
// times its work and returns the measurement in the metric's unit.
type side func() (float64, error)

// interleave measures a and b for the given number of rounds, alternating
// the order (a, b, then b, a, ...) so that neither side always runs on a
// warmer or a more fragmented heap. It returns every sample of each side.
func interleave(rounds int, a, b side) (as, bs []float64, err error) {
	for r := range rounds {
		first, second := a, b
		if r%2 == 1 {
			first, second = b, a
		}
		x, err := first()
		if err != nil {
			return nil, nil, err
		}
		y, err := second()
		if err != nil {
			return nil, nil, err
		}
		if r%2 == 1 {
			x, y = y, x
		}
		as, bs = append(as, x), append(bs, y)
	}
	return as, bs, nil
}

// median returns the median of xs (the mean of the middle two for an even
// count). xs is not modified.
func median(xs []float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	n := len(s)
	if n == 0 {
		return math.NaN()
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// percentile returns the nearest-rank p-th percentile (0 < p <= 100) of xs.
func percentile(xs []float64, p float64) float64 {
	s := slices.Sorted(slices.Values(xs))
	if len(s) == 0 {
		return math.NaN()
	}
	rank := int(math.Ceil(p / 100 * float64(len(s))))
	return s[min(max(rank, 1), len(s))-1]
}

// round3 rounds x to three significant digits.
func round3(x float64) float64 {
	if x == 0 || math.IsNaN(x) || math.IsInf(x, 0) {
		return x
	}
	r, err := strconv.ParseFloat(strconv.FormatFloat(x, 'g', 3, 64), 64)
	if err != nil {
		return x
	}
	return r
}

// mean returns the arithmetic mean of xs (0 for none).
func mean(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := 0.0
	for _, x := range xs {
		s += x
	}
	return s / float64(len(xs))
}
