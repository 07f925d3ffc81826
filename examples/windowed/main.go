// Windowed computes per-sensor statistics over event-time windows, exactly
// once. It generates a stream of sensor readings (50 sensors; each reading
// is up to 2 s late behind the newest one), assigns event timestamps with
// watermarks that trail the newest timestamp by 3 s, keys the stream by
// sensor and aggregates every sensor's readings per window (tumbling, or
// sliding with --slide) into count, min, max and mean. When the watermark
// passes a window's end, the window writes the line
//
//	sensor<TAB>windowStart<TAB>windowEnd<TAB>count<TAB>min<TAB>max<TAB>mean
//
// (window bounds in epoch milliseconds, [start, end); values with three
// decimals) to an exactly-once file sink. Kill it at any moment, restart it
// with --restore latest, and the committed output still holds every
// window once.
//
//	go run ./examples/windowed --output DIR [--records N] [--window 10s]
//	    [--slide 5s] [--parallelism N] [--config job.yaml]
//	    [--set key=value ...] [--restore PATH|latest]
//	    [--rate RECORDS_PER_SECOND]
//
// Committed output is every file in DIR whose name starts with neither "."
// nor "_". Unless configured otherwise, checkpoints go to DIR/_checkpoints
// and savepoints to DIR/_savepoints. At the end it prints the number of
// windows committed in DIR. SIGTERM (or Ctrl-C) stops the job with a
// savepoint and prints "savepoint: <path>". Exit codes: 0 done, 1 runtime
// error, 2 bad flags or configuration.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/stated-io/stated/engine"
	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/examples/internal/jobcli"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// name names the flag set, prefixes the messages to stderr and is the
// default pipeline.name.
const name = "windowed"

// outOfOrderness is the watermark bound: it must exceed maxJitter so that
// no reading is late.
const outOfOrderness = 3 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	output        string
	records       int64
	window, slide time.Duration
	jobcli.Flags
}

// parseFlags parses the command line into the options and the job
// configuration. Its errors are usage errors: see jobcli.Usage.
func parseFlags(args []string, stderr io.Writer) (*options, *config.Job, error) {
	o := &options{records: 200_000, window: 10 * time.Second}
	fs := o.Flags.NewFlagSet(name, stderr)
	fs.StringVar(&o.output, "output", "", "directory of the exactly-once output (required)")
	fs.Int64Var(&o.records, "records", o.records, "number of sensor readings to generate")
	jobcli.DurationVar(fs, &o.window, "window", "window size, a `duration` such as 10s or \"1 min\"")
	jobcli.DurationVar(fs, &o.slide, "slide", "start a sliding window every `duration` (default: tumbling windows)")
	if err := o.Flags.Parse(fs, args, "output"); err != nil {
		return nil, nil, err
	}
	switch {
	case o.records < 0:
		return nil, nil, fmt.Errorf("--records %d: want 0 or more", o.records)
	case o.window < time.Millisecond || o.window%time.Millisecond != 0:
		return nil, nil, fmt.Errorf("--window %v: want a whole number of milliseconds, at least 1ms", o.window)
	case o.slide%time.Millisecond != 0:
		return nil, nil, fmt.Errorf("--slide %v: want a whole number of milliseconds", o.slide)
	case o.slide > o.window:
		return nil, nil, fmt.Errorf("--slide %v: want at most the window size %v", o.slide, o.window)
	}
	cfg, err := o.Flags.Config(name, o.output)
	return o, cfg, err
}

// stats is the accumulator of a window: values in thousandths, so that
// their sum is exact in any order.
type stats struct {
	Count int64 `json:"count"`
	Min   int64 `json:"min"`
	Max   int64 `json:"max"`
	Sum   int64 `json:"sum"`
}

// summary is the result of a window: Min and Max in thousandths, Mean in
// units.
type summary struct {
	Count, Min, Max int64
	Mean            float64
}

// statsAgg folds readings into stats and reads a summary from them.
type statsAgg struct{}

func (statsAgg) CreateAccumulator() stats {
	return stats{Min: math.MaxInt64, Max: math.MinInt64}
}

func (statsAgg) Add(r reading, acc stats) stats {
	acc.Count++
	acc.Min = min(acc.Min, r.Value)
	acc.Max = max(acc.Max, r.Value)
	acc.Sum += r.Value
	return acc
}

func (statsAgg) Result(acc stats) summary {
	return summary{Count: acc.Count, Min: acc.Min, Max: acc.Max, Mean: float64(acc.Sum) / float64(acc.Count) / 1000}
}

func (statsAgg) Merge(a, b stats) stats {
	return stats{Count: a.Count + b.Count, Min: min(a.Min, b.Min), Max: max(a.Max, b.Max), Sum: a.Sum + b.Sum}
}

// statsSerializer stores accumulators in the state backend. The type name
// is part of every snapshot: keep it when the struct evolves compatibly.
var statsSerializer = serializer.JSON[stats]{TypeName: "stated.examples.windowed.stats"}

// formatWindow is the output line of one sensor's window.
func formatWindow(w engine.WindowResult[string, summary]) string {
	s := w.Value
	return strings.Join([]string{
		w.Key,
		strconv.FormatInt(w.Window.Start, 10),
		strconv.FormatInt(w.Window.End, 10),
		strconv.FormatInt(s.Count, 10),
		formatMilli(s.Min),
		formatMilli(s.Max),
		strconv.FormatFloat(s.Mean, 'f', 3, 64),
	}, "\t")
}

// buildJob is the windowed graph: readings → timestamps and watermarks →
// keyBy(sensor) → window statistics → exactly-once files.
func buildJob(cfg *config.Job, o *options, logger *slog.Logger) *engine.Job {
	job := engine.New(engine.Options{Config: cfg, Logger: logger})
	readings := engine.FromSource(job, "readings", engine.Generate(o.records, readingAt), engine.WithRate(o.Rate))
	stamped := engine.AssignTimestamps(readings, "timestamps", func(r reading) int64 { return r.TS }, outOfOrderness)
	bySensor := engine.KeyBy(stamped, func(r reading) string { return r.Sensor }, serializer.String{})
	assigner := engine.TumblingWindows(o.window)
	if o.slide > 0 {
		assigner = engine.SlidingWindows(o.window, o.slide)
	}
	windows := engine.WindowAggregate(bySensor, "window-stats", assigner, state.AggregateFunction[reading, stats, summary](statsAgg{}), statsSerializer)
	lines := engine.Map(windows, "format", func(w engine.WindowResult[string, summary]) (string, error) {
		return formatWindow(w), nil
	})
	engine.WriteLines(lines, "output", o.output)
	return job
}

func run(args []string, stdout, stderr io.Writer) int {
	o, cfg, err := parseFlags(args, stderr)
	if err != nil {
		return jobcli.Usage(stderr, name, err)
	}
	if code := jobcli.Run(name, buildJob(cfg, o, jobcli.Logger(stderr)), stdout, stderr); code != jobcli.ExitOK {
		return code
	}
	return jobcli.ReportCommitted(stdout, stderr, name, "windows", o.output)
}
