package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"
)

// Result is one metric measured against its baseline, as bench/results.json
// holds it (bench/README.md).
type Result struct {
	Metric        string         `json:"metric"`
	Value         float64        `json:"value"`
	Unit          string         `json:"unit"`
	Baseline      string         `json:"baseline"`
	BaselineValue float64        `json:"baseline_value"`
	Ratio         float64        `json:"ratio"`
	Params        map[string]any `json:"params"`
}

// Units of the results.
const (
	unitUsPerOp = "us/op"  // lower is better
	unitMs      = "ms"     // lower is better
	unitMBps    = "MB/s"   // higher is better (MB = 10^6 bytes)
	unitBlocks  = "blocks" // lower is better

	unitRecordsPerSec = "records/s" // higher is better
)

// newResult rounds value and baseline to three significant digits and
// sets Ratio to value / baseline (rounded the same way).
func newResult(metric, unit, baseline string, value, baselineValue float64, params map[string]any) Result {
	v, b := round3(value), round3(baselineValue)
	return Result{
		Metric: metric, Value: v, Unit: unit,
		Baseline: baseline, BaselineValue: b,
		Ratio:  round3(v / b),
		Params: params,
	}
}

// withParams returns a copy of base with the extra params added.
func withParams(base map[string]any, extra map[string]any) map[string]any {
	out := make(map[string]any, len(base)+len(extra))
	for k, v := range base {
		out[k] = v
	}
	for k, v := range extra {
		out[k] = v
	}
	return out
}

// writeJSON writes results as an indented JSON array to path.
func writeJSON(path string, results []Result) error {
	if results == nil {
		results = []Result{}
	}
	data, err := json.MarshalIndent(results, "", "  ")
	if err != nil {
		return fmt.Errorf("encode results: %w", err)
	}
	if err := os.WriteFile(path, append(data, '\n'), 0o644); err != nil {
		return fmt.Errorf("write results: %w", err)
	}
	return nil
}

// formatNumber prints a rounded result number without exponent.
func formatNumber(x float64) string {
	return strconv.FormatFloat(x, 'f', -1, 64)
}

// formatParams prints params as "k=v" pairs sorted by name.
func formatParams(p map[string]any) string {
	names := make([]string, 0, len(p))
	for k := range p {
		names = append(names, k)
	}
	slices.Sort(names)
	parts := make([]string, len(names))
	for i, k := range names {
		parts[i] = fmt.Sprintf("%s=%v", k, p[k])
	}
	return strings.Join(parts, " ")
}

// markdownTable renders results as a markdown table.
func markdownTable(results []Result) string {
	var b bytes.Buffer
	b.WriteString("| metric | value | unit | baseline | baseline value | ratio | params |\n")
	b.WriteString("|---|---:|---|---|---:|---:|---|\n")
	for _, r := range results {
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s |\n",
			r.Metric, formatNumber(r.Value), r.Unit, r.Baseline,
			formatNumber(r.BaselineValue), formatNumber(r.Ratio), formatParams(r.Params))
	}
	return b.String()
}
