package main

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
)

// minThroughputCheckpoints is the number of checkpoints every run with
// checkpoints of the throughput job must complete: two periodic ones and
// the final one.
const minThroughputCheckpoints = 3

// throughputSample is one run of the throughput job.
type throughputSample struct {
	// rate is in records/s, from the source's first record to the return
	// of job.Run (which includes the final checkpoint at the end of
	// input).
	rate float64
	// cpuPerRecord is the CPU time of the process per record (µs),
	// including the background work of the backends and the collector.
	cpuPerRecord float64
	// checkpoints is the number of checkpoints the run completed,
	// including the final one.
	checkpoints int
}

// throughputRun runs the keyed count job over records records (record i
// has key i mod throughputKeys) with periodic checkpoints every
// throughputInterval or none.
func (e *env) throughputRun(backendType string, checkpoints bool, records int64) (throughputSample, error) {
	c := e.cfg.engine
	keys := int64(c.throughputKeys)
	j := engineJob{
		backend: backendType, parallelism: c.parallelism,
		records: records, gen: func(i int64) int64 { return i },
		key: func(i int64) int64 { return i % keys },
	}
	if checkpoints {
		j.interval = c.throughputInterval
	}
	dir := filepath.Join(e.tmp, "engine-throughput")
	defer os.RemoveAll(dir)
	runtime.GC()
	cpu := cpuTime()
	r, err := runEngineJob(context.Background(), j, dir)
	if err != nil {
		return throughputSample{}, err
	}
	return throughputSample{
		rate:         float64(records) / r.end.Sub(r.firstRecord).Seconds(),
		cpuPerRecord: usPerOp(cpuTime()-cpu, int(records)),
		checkpoints:  r.res.Completed,
	}, nil
}

// calibrateThroughput sizes the input of the throughput job of
// backendType: it runs the job without checkpoints on calibrateRecords
// records, and again on more while a run is shorter than a tenth of
// throughputSeconds, and returns the record count of a run of
// throughputSeconds at the rate of the last run, and that rate.
func (e *env) calibrateThroughput(backendType string) (int64, float64, error) {
	c := e.cfg.engine
	n := c.calibrateRecords
	for {
		r, err := e.throughputRun(backendType, false, n)
		if err != nil {
			return 0, 0, err
		}
		secs, want := float64(n)/r.rate, c.throughputSeconds/10
		if secs >= want {
			return max(int64(r.rate*c.throughputSeconds), 1), r.rate, nil
		}
		n = int64(float64(n) * min(max(1.5*want/secs, 2), 16))
	}
}

// benchEngineThroughput measures the records/s of the keyed count job with
// periodic checkpoints every throughputInterval against the same job with
// periodic checkpoints off, per backend, in interleaved rounds. An untimed
// calibration run without checkpoints sizes the input so that one run
// lasts about throughputSeconds; if a run with checkpoints then completes
// fewer than minThroughputCheckpoints (the fixed cost of starting a job
// can dwarf a short calibration run), the input doubles and the rounds
// start over, at most 8 times.
func benchEngineThroughput(e *env) ([]Result, error) {
	c := e.cfg.engine
	var results []Result
	for _, bt := range engineBackends {
		records, rate, err := e.calibrateThroughput(bt)
		if err != nil {
			return nil, err
		}
		e.logf("engine throughput %s: calibrated at %.3g records/s, %d records per run", bt, rate, records)
		var (
			as, bs                         []float64
			cpuWith, cpuWithout, completed []float64
		)
		for attempt := 1; ; attempt++ {
			cpuWith, cpuWithout, completed = nil, nil, nil
			with := func() (float64, error) {
				r, err := e.throughputRun(bt, true, records)
				cpuWith, completed = append(cpuWith, r.cpuPerRecord), append(completed, float64(r.checkpoints))
				return r.rate, err
			}
			without := func() (float64, error) {
				r, err := e.throughputRun(bt, false, records)
				cpuWithout = append(cpuWithout, r.cpuPerRecord)
				return r.rate, err
			}
			if as, bs, err = interleave(c.throughputRounds, with, without); err != nil {
				return nil, fmt.Errorf("engine throughput %s: %w", bt, err)
			}
			if slices.Min(completed) >= minThroughputCheckpoints {
				break
			}
			if attempt == 8 {
				return nil, fmt.Errorf("engine throughput %s: runs of %d records complete %v checkpoints, want %d",
					bt, records, completed, minThroughputCheckpoints)
			}
			records *= 2
			e.logf("engine throughput %s: a run with checkpoints completed %v checkpoints, want two periodic ones and the final one; again with %d records",
				bt, slices.Min(completed), records)
		}
		e.logf("engine throughput %s: %.3g records/s with checkpoints %v, %.3g without %v; CPU %.3g vs %.3g us/record; checkpoints per run %v",
			bt, median(as), roundAll(as), median(bs), roundAll(bs), median(cpuWith), median(cpuWithout), completed)
		metric := "engine.throughput." + bt
		results = append(results, newResult(metric, unitRecordsPerSec, metric+".nocheckpoint", median(as), median(bs),
			map[string]any{
				"keys": c.throughputKeys, "value_bytes": engineValueBytes, "records": records,
				"parallelism": c.parallelism, "backend": bt,
				"interval_ms": c.throughputInterval.Milliseconds(), "rounds": c.throughputRounds,
				"checkpoints_per_run": median(completed),
				"cpu_ratio":           round3(median(cpuWith) / median(cpuWithout)),
				"timed":               "first_record..run_end", "final_checkpoint": "both",
			}))
	}
	return results, nil
}

// roundAll returns xs rounded to three significant digits, for logs.
func roundAll(xs []float64) []float64 {
	out := make([]float64, len(xs))
	for i, x := range xs {
		out[i] = round3(x)
	}
	return out
}
