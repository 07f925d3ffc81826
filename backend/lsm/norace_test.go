//go:build !race

package lsm

// pebbleInvariants: see race_test.go.
const pebbleInvariants = false
