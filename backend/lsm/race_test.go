//go:build race

package lsm

// pebbleInvariants: Pebble built with the race detector enables its
// invariant checks, which disable iterator optimizations at random (seeks
// that reuse the loaded block, say), so block counts are not those of a
// normal build.
const pebbleInvariants = true
