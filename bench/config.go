package main

import "fmt"

// config sizes one run of the benchmarks. The full and quick runs differ
// only in rounds and snapshot counts; the smoke test shrinks everything.
type config struct {
	// mode names the configuration in the README ("full", "quick", ...).
	mode string
	// seed seeds every random sequence, so runs access state identically.
	seed uint64

	// keys is the number of distinct keys of the value state.
	keys int
	// valueBytes is the size of every value.
	valueBytes int
	// rounds is the number of interleaved rounds per side of a per-op or
	// throughput metric; the median of the rounds is reported.
	rounds int

	// mapKeys × mapUserKeys entries make up the map state.
	mapKeys, mapUserKeys int
	// listKeys keys receive listOps Add calls per round, round-robin.
	listKeys, listOps int

	// snapshots is the number of synchronous snapshots timed.
	snapshots int
	// snapshotWrites random keys are written between two snapshots.
	snapshotWrites int
	// writeEvery: every writeEvery-th capture is written to storage
	// instead of released.
	writeEvery int
}

// fullConfig is the configuration of `go run ./bench` (at most 10 minutes).
func fullConfig() config {
	return config{
		mode: "full", seed: 20261124,
		keys: 1_000_000, valueBytes: 100, rounds: 7,
		mapKeys: 100_000, mapUserKeys: 10,
		listKeys: 100_000, listOps: 1_000_000,
		snapshots: 500, snapshotWrites: 1000, writeEvery: 10,
	}
}

// quickConfig is the configuration of `go run ./bench -quick` (at most
// 60 s): the same data, fewer rounds and snapshots.
func quickConfig() config {
	c := fullConfig()
	c.mode = "quick"
	c.rounds = 3
	c.snapshots = 100
	return c
}

// validate reports a configuration the benchmarks cannot run with.
func (c config) validate() error {
	switch {
	case c.keys < 2 || c.valueBytes < 1 || c.rounds < 1:
		return fmt.Errorf("config %s: keys, value bytes or rounds too small", c.mode)
	case c.mapKeys < 1 || c.mapUserKeys < 1 || c.mapKeys*c.mapUserKeys > c.keys:
		return fmt.Errorf("config %s: map state needs 1 <= mapKeys*mapUserKeys <= keys", c.mode)
	case c.listKeys < 1 || c.listKeys > c.keys || c.listOps < 1:
		return fmt.Errorf("config %s: list state needs 1 <= listKeys <= keys and listOps >= 1", c.mode)
	case c.snapshots < 1 || c.snapshotWrites < 1 || c.writeEvery < 1:
		return fmt.Errorf("config %s: snapshot counts must be positive", c.mode)
	}
	return nil
}

// baseParams are the params shared by every metric on the value data.
func (c config) baseParams() map[string]any {
	return map[string]any{"keys": c.keys, "value_bytes": c.valueBytes}
}
