package main

import (
	"context"
	"fmt"
	"runtime"
)

// throughputRun runs the keyed count job over records records (record i
// has key i mod keys) with the given checkpoint interval and returns its
// throughput in records/s, from the source's first record to the return
// of job.Run (which includes the final checkpoint at the end of input),
// and the number of checkpoints it completed.
func (e *env) throughputRun(backendType string, checkpoints bool, records int64) (float64, int, error) {
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
	runtime.GC()
	r, err := e.runEngineJob(context.Background(), j)
	if err != nil {
		return 0, 0, err
	}
	return float64(records) / r.end.Sub(r.firstRecord).Seconds(), r.res.Completed, nil
}

// calibrateThroughput sizes the input of the throughput job of
// backendType: it runs the job without checkpoints on calibrateRecords
// records, four times as many while a run is shorter than a fifth of
// throughputSeconds, and returns the record count of a run of
// throughputSeconds at the rate of the last run, and that rate.
func (e *env) calibrateThroughput(backendType string) (int64, float64, error) {
	c := e.cfg.engine
	n := c.calibrateRecords
	for {
		rate, _, err := e.throughputRun(backendType, false, n)
		if err != nil {
			return 0, 0, err
		}
		if secs := float64(n) / rate; secs >= c.throughputSeconds/5 {
			return max(int64(rate*c.throughputSeconds), 1), rate, nil
		}
		n *= 4
	}
}

// benchEngineThroughput measures the records/s of the keyed count job with
// periodic checkpoints every throughputInterval against the same job with
// periodic checkpoints off, per backend, in interleaved rounds. An untimed
// calibration run without checkpoints sizes the input so that one run
// lasts about throughputSeconds.
func benchEngineThroughput(e *env) ([]Result, error) {
	c := e.cfg.engine
	var results []Result
	for _, bt := range engineBackends {
		records, rate, err := e.calibrateThroughput(bt)
		if err != nil {
			return nil, err
		}
		e.logf("engine throughput %s: calibrated at %.3g records/s, %d records per run", bt, rate, records)
		var completed []float64
		with := func() (float64, error) {
			r, n, err := e.throughputRun(bt, true, records)
			completed = append(completed, float64(n))
			return r, err
		}
		without := func() (float64, error) {
			r, _, err := e.throughputRun(bt, false, records)
			return r, err
		}
		as, bs, err := interleave(c.throughputRounds, with, without)
		if err != nil {
			return nil, fmt.Errorf("engine throughput %s: %w", bt, err)
		}
		e.logf("engine throughput %s: %.3g records/s with checkpoints (%v), %.3g without (%v); checkpoints per run %v",
			bt, median(as), as, median(bs), bs, completed)
		metric := "engine.throughput." + bt
		results = append(results, newResult(metric, unitRecordsPerSec, metric+".nocheckpoint", median(as), median(bs),
			map[string]any{
				"keys": c.throughputKeys, "value_bytes": engineValueBytes, "records": records,
				"parallelism": c.parallelism, "backend": bt,
				"interval_ms": c.throughputInterval.Milliseconds(), "rounds": c.throughputRounds,
				"checkpoints_per_run": median(completed),
				"timed":               "first_record..run_end", "final_checkpoint": "both",
			}))
	}
	return results, nil
}
