// Command bench runs the benchmarks of stated against their baselines and
// writes bench/results.json and bench/README.md, which says what each metric
// measures.
//
//	go run ./bench            # full set, at most 10 minutes
//	go run ./bench -quick     # same set, fewer rounds, at most 60 s
//	go run ./bench -only heap.value.get
//
// Timings are measured, never asserted.
package main

import (
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"strings"
	"time"
)

// benchmark is one measurement procedure producing one or more metrics.
type benchmark struct {
	// metrics are the names of the results run produces, in order.
	metrics []string
	// fixture is the shared data run needs; benchmarks run grouped by
	// fixture (bare, none, LSM, heap value state) and each fixture is dropped
	// after its group, so no fixture is live while another group is timed.
	fixture fixtureKind
	run     func(*env) ([]Result, error)
}

// fixtureKind names the shared data a benchmark needs.
type fixtureKind int

const (
	fixtureNone  fixtureKind = iota // builds its own data
	fixtureLSM                      // the loaded LSM backend and raw Pebble DB (lsmFixture)
	fixtureValue                    // the loaded heap value state (valueFixture)
	// fixtureBare builds its own data and runs first, before the dataset
	// and the fixtures exist, so that the collector does not scan them
	// while it runs (the engine jobs allocate per record).
	fixtureBare
)

// benchmarks lists every benchmark in the order of the results table.
func benchmarks() []benchmark {
	return []benchmark{
		{metrics: []string{"heap.value.get"}, fixture: fixtureValue, run: benchValueGet},
		{metrics: []string{"heap.value.put"}, fixture: fixtureValue, run: benchValuePut},
		{metrics: []string{"heap.map.get"}, run: benchMapGet},
		{metrics: []string{"heap.list.add"}, run: benchListAdd},
		{metrics: []string{"heap.snapshot.sync.p50", "heap.snapshot.sync.p99", "heap.snapshot.cow.put"},
			fixture: fixtureValue, run: benchSnapshotSync},
		{metrics: []string{"heap.snapshot.write"}, fixture: fixtureValue, run: benchSnapshotWrite},
		{metrics: []string{"heap.value.get.ttl"}, run: benchHeapTTLGet},
		{metrics: []string{"lsm.value.get"}, fixture: fixtureLSM, run: benchLSMValueGet},
		{metrics: []string{"lsm.value.put"}, fixture: fixtureLSM, run: benchLSMValuePut},
		{metrics: []string{"lsm.map.get"}, run: benchLSMMapGet},
		{metrics: []string{"lsm.list.add"}, run: benchLSMListAdd},
		{metrics: []string{"lsm.value.get.ttl"}, run: benchLSMTTLGet},
		{metrics: []string{"lsm.ttl.sweep.blocks_read"}, run: benchLSMTTLSweep},
		{metrics: []string{"lsm.checkpoint.incremental.bytes", "lsm.checkpoint.incremental.steady.bytes"}, fixture: fixtureLSM, run: benchLSMCheckpointBytes},
		{metrics: []string{"lsm.checkpoint.sync.p50", "lsm.checkpoint.sync.p99"}, fixture: fixtureLSM, run: benchLSMCheckpointSync},
		{metrics: []string{"lsm.restore.seconds"}, fixture: fixtureLSM, run: benchLSMRestore},
		{metrics: []string{"lsm.rescale.4to3.seconds", "lsm.rescale.4to3.seconds"}, run: benchLSMRescale},
		{metrics: []string{"engine.throughput.hashmap", "engine.throughput.lsm"}, fixture: fixtureBare, run: benchEngineThroughput},
		{metrics: []string{"engine.checkpoint.duration.p50", "engine.checkpoint.duration.p99",
			"engine.checkpoint.duration.lsm.p50", "engine.checkpoint.duration.lsm.p99"}, fixture: fixtureBare, run: benchEngineCheckpoint},
		{metrics: []string{"s3.checkpoint.upload", "s3.restore.download"}, run: benchS3},
	}
}

// selected reports whether any metric of bm starts with prefix.
func (bm benchmark) selected(prefix string) bool {
	for _, m := range bm.metrics {
		if strings.HasPrefix(m, prefix) {
			return true
		}
	}
	return false
}

// runAll runs the benchmarks with a metric starting with only ("" runs
// all) in a fresh temporary directory that it removes, and returns their
// results in table order. The bare benchmarks run first, then those
// without a fixture, then those on the LSM fixture, then those on the heap
// value state; each fixture is dropped after its group, so that it is
// never live while another group is timed.
func runAll(cfg config, only string, log io.Writer) ([]Result, error) {
	if err := cfg.validate(); err != nil {
		return nil, err
	}
	tmp, err := os.MkdirTemp("", "stated-bench-*")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(tmp)
	e := &env{cfg: cfg, tmp: tmp, log: log}
	defer e.dropValueFixture()
	defer e.dropLSMFixture()

	all := benchmarks()
	byBench := make([][]Result, len(all))
	for _, kind := range []fixtureKind{fixtureBare, fixtureNone, fixtureLSM, fixtureValue} {
		for i, bm := range all {
			if bm.fixture != kind || !bm.selected(only) {
				continue
			}
			rs, err := bm.run(e)
			if err != nil {
				return nil, fmt.Errorf("%s: %w", bm.metrics[0], err)
			}
			for _, r := range rs {
				if strings.HasPrefix(r.Metric, only) {
					byBench[i] = append(byBench[i], r)
				}
			}
		}
		if kind == fixtureLSM {
			e.dropLSMFixture()
		}
	}
	var results []Result
	for _, rs := range byBench {
		results = append(results, rs...)
	}
	return results, nil
}

func main() { os.Exit(mainCode()) }

// mainCode parses the flags, runs the benchmarks and returns the exit code.
func mainCode() int {
	quick := flag.Bool("quick", false, "run the same set with fewer rounds (at most 60 s)")
	out := flag.String("out", "bench/results.json", `write the results as JSON here ("" to skip)`)
	readmePath := flag.String("readme", "bench/README.md", `write the README with the results table here ("" to skip)`)
	only := flag.String("only", "", "run only the metrics whose name starts with this prefix")
	cpuProfile := flag.String("cpuprofile", "", "write a CPU profile of the run to this file (for development)")
	flag.Parse()
	if flag.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench: unexpected arguments %q\n", flag.Args())
		return 2
	}
	cfg := fullConfig()
	if *quick {
		cfg = quickConfig()
	}
	if *cpuProfile != "" {
		stop, err := startCPUProfile(*cpuProfile)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: %v\n", err)
			return 1
		}
		defer stop()
	}
	if err := run(cfg, *only, *out, *readmePath); err != nil {
		fmt.Fprintf(os.Stderr, "bench: %v\n", err)
		return 1
	}
	return 0
}

// startCPUProfile starts writing a CPU profile to path and returns the
// function that stops it.
func startCPUProfile(path string) (func(), error) {
	f, err := os.Create(path)
	if err != nil {
		return nil, err
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		f.Close()
		return nil, err
	}
	return func() { pprof.StopCPUProfile(); f.Close() }, nil
}

// run runs the benchmarks, prints the table and writes the output files.
func run(cfg config, only, out, readmePath string) error {
	start := time.Now()
	results, err := runAll(cfg, only, os.Stderr)
	if err != nil {
		return err
	}
	fmt.Print(markdownTable(results))
	fmt.Fprintf(os.Stderr, "bench: %s run took %.1f s\n", cfg.mode, time.Since(start).Seconds())
	if out != "" {
		if err := writeJSON(out, results); err != nil {
			return err
		}
	}
	if readmePath != "" {
		if err := writeReadme(readmePath, cfg, readMachine(), start, results); err != nil {
			return err
		}
	}
	return nil
}
