package main

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tinyConfig runs every benchmark through its real code path in a few
// seconds.
func tinyConfig() config {
	return config{
		mode: "tiny", seed: 1,
		keys: 1000, valueBytes: 100, rounds: 1,
		mapKeys: 100, mapUserKeys: 10,
		listKeys: 100, listOps: 1000, ttlKeys: 1000,
		snapshots: 10, snapshotWrites: 100, writeEvery: 5,
		lsm: lsmConfig{
			keys: 1000, ops: 1000,
			cacheBytes: 8 << 20, memTableBytes: 1 << 20,
			mapKeys: 100, mapUserKeys: 10,
			listKeys: 100, listOps: 1000,
			updatePercent: 1, checkpointPairs: 2,
			syncRounds: 5, syncWrites: 100, syncWriteEvery: 5,
			rescaleKeys: 1000, rescaleRounds: 1,
			ttlKeys: 1000, sweepKeys: 1000,
		},
		engine: engineConfig{
			parallelism:    2,
			throughputKeys: 100, throughputInterval: 50 * time.Millisecond,
			calibrateRecords: 1000, throughputSeconds: 0.2, throughputRounds: 1,
			checkpointKeys: 1000, hotKeys: 10, hotRate: 1000,
			checkpointInterval: 50 * time.Millisecond, checkpointSamples: 2,
		},
		s3: s3Config{keys: 1000, rounds: 1},
	}
}

// allMetrics lists the metric names of every benchmark in table order.
func allMetrics() []string {
	var names []string
	for _, bm := range benchmarks() {
		names = append(names, bm.metrics...)
	}
	return names
}

// checkResult checks the fields of r; timings are never asserted.
func checkResult(t *testing.T, r Result) {
	t.Helper()
	if r.Metric == "" || r.Unit == "" || r.Baseline == "" {
		t.Errorf("%+v: empty metric, unit or baseline", r)
	}
	if !slices.Contains([]string{unitUsPerOp, unitMs, unitMBps, unitMB, unitSeconds, unitRecordsPerSec, unitBlocks}, r.Unit) {
		t.Errorf("%s: unknown unit %q", r.Metric, r.Unit)
	}
	if !(r.Value > 0) || !(r.BaselineValue > 0) || !(r.Ratio > 0) {
		t.Errorf("%s: value %v, baseline value %v, ratio %v: want all positive", r.Metric, r.Value, r.BaselineValue, r.Ratio)
	}
	if want := r.Value / r.BaselineValue; math.Abs(r.Ratio-want) > 0.006*want {
		t.Errorf("%s: ratio %v, want value/baseline_value = %v", r.Metric, r.Ratio, want)
	}
	if round3(r.Value) != r.Value || round3(r.BaselineValue) != r.BaselineValue || round3(r.Ratio) != r.Ratio {
		t.Errorf("%s: %v, %v, %v not rounded to 3 significant digits", r.Metric, r.Value, r.BaselineValue, r.Ratio)
	}
	if r.Params["keys"] == nil || r.Params["value_bytes"] == nil {
		t.Errorf("%s: params %v lack keys or value_bytes", r.Metric, r.Params)
	}
}

func TestSmokeAllMetrics(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	results, err := runAll(tinyConfig(), "", t.Output())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		got = append(got, r.Metric)
		checkResult(t, r)
	}
	if want := allMetrics(); !slices.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
	if left, _ := os.ReadDir(tmp); len(left) != 0 {
		t.Errorf("files left in the temporary directory: %v", left)
	}

	out, readmePath := filepath.Join(tmp, "results.json"), filepath.Join(tmp, "README.md")
	if err := writeJSON(out, results); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	var raw []map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		t.Fatal(err)
	}
	fields := []string{"baseline", "baseline_value", "metric", "params", "ratio", "unit", "value"}
	for _, obj := range raw {
		var keys []string
		for k := range obj {
			keys = append(keys, k)
		}
		if slices.Sort(keys); !slices.Equal(keys, fields) {
			t.Errorf("JSON object fields %v, want %v", keys, fields)
		}
	}
	if err := writeReadme(readmePath, tinyConfig(), readMachine(), time.Now(), results); err != nil {
		t.Fatal(err)
	}
	md, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range got {
		if !strings.Contains(string(md), "| "+name+" |") {
			t.Errorf("README lacks a row for %s", name)
		}
	}
}

func TestOnlyPrefix(t *testing.T) {
	t.Setenv("TMPDIR", t.TempDir())
	results, err := runAll(tinyConfig(), "heap.snapshot.sync", t.Output())
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, r := range results {
		got = append(got, r.Metric)
	}
	if want := []string{"heap.snapshot.sync.p50", "heap.snapshot.sync.p99"}; !slices.Equal(got, want) {
		t.Errorf("metrics %v, want %v", got, want)
	}
}

func TestStatistics(t *testing.T) {
	xs := []float64{5, 1, 4, 2, 3}
	if m := median(xs); m != 3 {
		t.Errorf("median = %v, want 3", m)
	}
	if m := median([]float64{4, 1, 3, 2}); m != 2.5 {
		t.Errorf("median of an even count = %v, want 2.5", m)
	}
	if !slices.Equal(xs, []float64{5, 1, 4, 2, 3}) {
		t.Errorf("median modified its argument: %v", xs)
	}
	hundred := make([]float64, 100)
	for i := range hundred {
		hundred[i] = float64(100 - i)
	}
	for p, want := range map[float64]float64{50: 50, 99: 99, 100: 100, 1: 1} {
		if got := percentile(hundred, p); got != want {
			t.Errorf("percentile(1..100, %v) = %v, want %v", p, got, want)
		}
	}
	for x, want := range map[float64]float64{0.123456: 0.123, 1234.5: 1230, 0.000123456: 0.000123, 2: 2} {
		if got := round3(x); got != want {
			t.Errorf("round3(%v) = %v, want %v", x, got, want)
		}
	}
	r := newResult("m", unitMs, "b", 0.11, 0.09, nil)
	if r.Ratio != 1.22 {
		t.Errorf("ratio of 0.11/0.09 = %v, want 1.22", r.Ratio)
	}
}
