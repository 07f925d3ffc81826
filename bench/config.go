package main

import (
	"fmt"
	"time"
)

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
	// ttlKeys keys are loaded into each of the two heap value states (with
	// and without TTL) of heap.value.get.ttl (at most keys).
	ttlKeys int

	// snapshots is the number of synchronous snapshots timed.
	snapshots int
	// snapshotWrites random keys are written between two snapshots.
	snapshotWrites int
	// writeEvery: every writeEvery-th capture is written to storage
	// instead of released.
	writeEvery int

	// The LSM benchmarks (lsmbench.go, lsmcheckpoint.go).
	lsm lsmConfig
	// The engine benchmarks (enginebench.go, enginecheckpoint.go).
	engine engineConfig
	// The S3 benchmarks (s3bench.go).
	s3 s3Config
}

// s3Config sizes the S3 benchmarks.
type s3Config struct {
	// keys is the number of keys of the LSM state whose savepoint is
	// uploaded and downloaded (at most config.keys).
	keys int
	// rounds is the number of interleaved rounds per side.
	rounds int
}

// engineConfig sizes the engine benchmarks.
type engineConfig struct {
	// parallelism is parallelism.default of every engine job.
	parallelism int
	// throughputKeys distinct keys receive the records of the throughput
	// job; throughputInterval is its checkpoint interval.
	throughputKeys     int
	throughputInterval time.Duration
	// calibrateRecords records make the first untimed calibration run
	// (see calibrateThroughput), which sizes the input so that one
	// measured run lasts about throughputSeconds; throughputRounds
	// interleaved rounds per side.
	calibrateRecords  int64
	throughputSeconds float64
	throughputRounds  int
	// checkpointKeys keys are loaded into the state of the checkpoint
	// duration job (each source subtask loads its share), then hotKeys of
	// them receive hotRate records/s while checkpointSamples
	// checkpoints, every checkpointInterval, are timed.
	checkpointKeys     int
	hotKeys            int
	hotRate            float64
	checkpointInterval time.Duration
	checkpointSamples  int
}

// lsmConfig sizes the LSM benchmarks.
type lsmConfig struct {
	// keys is the number of keys of the LSM value state and of the raw
	// Pebble DB next to it (at most config.keys).
	keys int
	// ops is the number of operations per round of the get, put and map
	// get benchmarks (at most keys, resp. the map entries).
	ops int
	// cacheBytes and memTableBytes configure every LSM backend and every
	// raw Pebble DB alike.
	cacheBytes, memTableBytes int64
	// mapKeys × mapUserKeys entries make up the map state.
	mapKeys, mapUserKeys int
	// listKeys keys receive listOps Add calls per round, round-robin.
	listKeys, listOps int
	// updatePercent of the keys are updated between the two checkpoints of
	// the incremental-bytes metric; checkpointPairs pairs are measured.
	updatePercent, checkpointPairs int
	// syncRounds checkpoints are timed, syncWrites random keys updated
	// before each; every syncWriteEvery-th capture is written and
	// confirmed, the others released.
	syncRounds, syncWrites, syncWriteEvery int
	// rescaleKeys keys over 4 subtasks are restored into 3;
	// rescaleRounds rounds.
	rescaleKeys, rescaleRounds int
	// ttlKeys keys are loaded into each of the two value states (with and
	// without TTL) of lsm.value.get.ttl (at most config.keys).
	ttlKeys int
	// sweepKeys keys make up the state swept by lsm.ttl.sweep.blocks_read
	// (at most config.keys).
	sweepKeys int
}

// fullConfig is the configuration of `go run ./bench` (at most 10 minutes).
func fullConfig() config {
	return config{
		mode: "full", seed: 20261124,
		keys: 1_000_000, valueBytes: 100, rounds: 7,
		mapKeys: 100_000, mapUserKeys: 10,
		listKeys: 100_000, listOps: 1_000_000,
		ttlKeys:   1_000_000,
		snapshots: 500, snapshotWrites: 1000, writeEvery: 10,
		lsm: lsmConfig{
			keys: 1_000_000, ops: 1_000_000,
			cacheBytes: 256 << 20, memTableBytes: 8 << 20,
			mapKeys: 100_000, mapUserKeys: 10,
			listKeys: 100_000, listOps: 1_000_000,
			updatePercent: 1, checkpointPairs: 7,
			syncRounds: 50, syncWrites: 10_000, syncWriteEvery: 5,
			rescaleKeys: 1_000_000, rescaleRounds: 3,
			ttlKeys: 500_000, sweepKeys: 1_000_000,
		},
		engine: engineConfig{
			parallelism:    2,
			throughputKeys: 100_000, throughputInterval: time.Second,
			calibrateRecords: 250_000, throughputSeconds: 4, throughputRounds: 5,
			checkpointKeys: 1_000_000, hotKeys: 10_000, hotRate: 20_000,
			checkpointInterval: time.Second, checkpointSamples: 20,
		},
		s3: s3Config{keys: 1_000_000, rounds: 5},
	}
}

// quickConfig is the configuration of `go run ./bench -quick` (at most
// 60 s): the same value data, fewer rounds and snapshots (of which fewer
// are written), a quarter of the heap map state, fewer list adds; the LSM metrics keep their 1M
// keys but time fewer operations per round and use smaller map, list and
// rescale data; the engine metrics keep their keys but run shorter jobs
// (one round of about 3 s per throughput side, which holds two
// periodic checkpoints; checkpoints every 200 ms instead of every second,
// fewer of them timed); the S3 metrics move a 200k-key state (about
// 24 MB) in 3 rounds. To keep within 60 s with the S3 metrics, quick mode
// times only 40 heap snapshots and 10 LSM sync checkpoints (so p99 is the
// maximum of either) and 2 × 3 incremental LSM checkpoints. The TTL
// metrics use smaller states: 250k heap keys, 100k LSM keys per state and
// 200k swept keys.
func quickConfig() config {
	c := fullConfig()
	c.mode = "quick"
	c.rounds = 3
	c.mapKeys = 25_000
	c.listOps = 300_000
	c.snapshots, c.writeEvery = 40, 20
	c.lsm.ops = 100_000
	c.lsm.mapKeys = 10_000
	c.lsm.listKeys, c.lsm.listOps = 20_000, 100_000
	c.lsm.checkpointPairs = 2
	c.lsm.syncRounds = 10
	c.lsm.rescaleKeys, c.lsm.rescaleRounds = 250_000, 1
	c.ttlKeys = 250_000
	c.lsm.ttlKeys, c.lsm.sweepKeys = 100_000, 200_000
	c.engine.throughputSeconds, c.engine.throughputRounds = 3, 1
	c.engine.checkpointInterval, c.engine.checkpointSamples = 200*time.Millisecond, 4
	c.s3.keys, c.s3.rounds = 200_000, 3
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
	case c.ttlKeys < 1 || c.ttlKeys > c.keys:
		return fmt.Errorf("config %s: ttl needs 1 <= ttlKeys <= keys", c.mode)
	case c.snapshots < 1 || c.snapshotWrites < 1 || c.writeEvery < 1:
		return fmt.Errorf("config %s: snapshot counts must be positive", c.mode)
	}
	if err := c.lsm.validate(c); err != nil {
		return err
	}
	if c.s3.keys < 1 || c.s3.keys > c.keys || c.s3.rounds < 1 {
		return fmt.Errorf("config %s: s3 needs 1 <= keys <= %d and rounds >= 1", c.mode, c.keys)
	}
	return c.engine.validate(c)
}

// validate reports an engine configuration the benchmarks cannot run with.
func (g engineConfig) validate(c config) error {
	switch {
	case g.parallelism < 1 || g.parallelism > benchMaxP:
		return fmt.Errorf("config %s: engine parallelism must be in [1, %d]", c.mode, benchMaxP)
	case g.throughputKeys < 1 || g.throughputInterval < time.Millisecond || g.calibrateRecords < 1 ||
		!(g.throughputSeconds > 0) || g.throughputRounds < 1:
		return fmt.Errorf("config %s: engine throughput sizes must be positive (interval >= 1 ms)", c.mode)
	case g.checkpointKeys < g.parallelism || g.hotKeys < 1 || g.hotKeys > g.checkpointKeys ||
		!(g.hotRate > 0) || g.checkpointInterval < time.Millisecond || g.checkpointSamples < 1:
		return fmt.Errorf("config %s: engine checkpoint needs parallelism <= checkpointKeys, 1 <= hotKeys <= checkpointKeys and positive rate, interval (>= 1 ms) and samples", c.mode)
	}
	return nil
}

// validate reports an LSM configuration the benchmarks cannot run with.
func (l lsmConfig) validate(c config) error {
	switch {
	case l.keys < 2 || l.keys > c.keys || l.ops < 1 || l.ops > l.keys:
		return fmt.Errorf("config %s: lsm needs 2 <= keys <= %d and 1 <= ops <= keys", c.mode, c.keys)
	case l.cacheBytes < 1 || l.memTableBytes < 1:
		return fmt.Errorf("config %s: lsm cache and memtable sizes must be positive", c.mode)
	case l.mapKeys < 1 || l.mapUserKeys < 1 || l.mapKeys*l.mapUserKeys > c.keys || l.ops > l.mapKeys*l.mapUserKeys:
		return fmt.Errorf("config %s: lsm map state needs 1 <= mapKeys*mapUserKeys <= keys", c.mode)
	case l.listKeys < 1 || l.listKeys > c.keys || l.listOps < 1:
		return fmt.Errorf("config %s: lsm list state needs 1 <= listKeys <= keys and listOps >= 1", c.mode)
	case l.updatePercent < 1 || l.updatePercent > 100 || l.checkpointPairs < 1:
		return fmt.Errorf("config %s: lsm checkpoint needs 1 <= updatePercent <= 100 and checkpointPairs >= 1", c.mode)
	case l.syncRounds < 1 || l.syncWrites < 1 || l.syncWriteEvery < 1:
		return fmt.Errorf("config %s: lsm sync counts must be positive", c.mode)
	case l.rescaleKeys < 4 || l.rescaleKeys > c.keys || l.rescaleRounds < 1:
		return fmt.Errorf("config %s: lsm rescale needs 4 <= rescaleKeys <= keys and rescaleRounds >= 1", c.mode)
	case l.ttlKeys < 1 || l.ttlKeys > c.keys || l.sweepKeys < 100 || l.sweepKeys > c.keys:
		return fmt.Errorf("config %s: lsm ttl needs 1 <= ttlKeys <= keys and 100 <= sweepKeys <= keys", c.mode)
	}
	return nil
}

// baseParams are the params shared by every metric on the value data.
func (c config) baseParams() map[string]any {
	return map[string]any{"keys": c.keys, "value_bytes": c.valueBytes}
}
