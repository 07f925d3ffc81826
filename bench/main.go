// Command bench runs the benchmarks of stated against their baselines and
// writes bench/results.json and bench/README.md (DESIGN.md section 9).
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
	// usesValue reports whether run needs the loaded value state.
	usesValue bool
	run       func(*env) ([]Result, error)
}

// benchmarks lists every benchmark in the order of the results table.
func benchmarks() []benchmark {
	return []benchmark{
		{metrics: []string{"heap.value.get"}, usesValue: true, run: benchValueGet},
		{metrics: []string{"heap.value.put"}, usesValue: true, run: benchValuePut},
		{metrics: []string{"heap.map.get"}, run: benchMapGet},
		{metrics: []string{"heap.list.add"}, run: benchListAdd},
		{metrics: []string{"heap.snapshot.sync.p50", "heap.snapshot.sync.p99", "heap.snapshot.cow.put"},
			usesValue: true, run: benchSnapshotSync},
		{metrics: []string{"heap.snapshot.write"}, usesValue: true, run: benchSnapshotWrite},
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
// results in table order. The benchmarks without the value state run first,
// so that the value state is never live while they are timed.
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

	all := benchmarks()
	var order []int
	for _, withValue := range []bool{false, true} {
		for i, bm := range all {
			if bm.usesValue == withValue && bm.selected(only) {
				order = append(order, i)
			}
		}
	}
	byBench := make([][]Result, len(all))
	for _, i := range order {
		rs, err := all[i].run(e)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", all[i].metrics[0], err)
		}
		for _, r := range rs {
			if strings.HasPrefix(r.Metric, only) {
				byBench[i] = append(byBench[i], r)
			}
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
