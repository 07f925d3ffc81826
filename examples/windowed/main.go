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
	"bufio"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"math"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/engine"
	"github.com/stated-io/stated/engine/config"
)

// outOfOrderness is the watermark bound: it must exceed maxJitter so that
// no reading is late.
const outOfOrderness = 3 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	output, configFile, restore string
	records                     int64
	parallelism                 int
	rate                        float64
	window, slide               time.Duration
	sets                        []string
}

// durationFlag is a flag.Value for a duration written as the configuration
// writes them: Flink style ("10 s", "500ms") or Go style ("1m30s").
type durationFlag struct{ d *time.Duration }

func (f durationFlag) String() string {
	if f.d == nil || *f.d == 0 {
		return ""
	}
	return f.d.String()
}

func (f durationFlag) Set(s string) error {
	d, err := config.ParseDuration(s)
	if err != nil {
		return err
	}
	*f.d = d
	return nil
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{records: 200_000, window: 10 * time.Second}
	fs := flag.NewFlagSet("windowed", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.output, "output", "", "directory of the exactly-once output (required)")
	fs.Int64Var(&o.records, "records", o.records, "number of sensor readings to generate")
	fs.Var(durationFlag{&o.window}, "window", "window size, a `duration` such as 10s or \"1 min\"")
	fs.Var(durationFlag{&o.slide}, "slide", "start a sliding window every `duration` (default: tumbling windows)")
	fs.IntVar(&o.parallelism, "parallelism", 0, "parallelism (default: parallelism.default of the configuration, 1)")
	fs.StringVar(&o.configFile, "config", "", "YAML job configuration")
	fs.Func("set", "override one configuration key: key=value (repeatable)", func(s string) error {
		o.sets = append(o.sets, s)
		return nil
	})
	fs.StringVar(&o.restore, "restore", "", "restore from a checkpoint or savepoint path, or the newest complete checkpoint: latest")
	fs.Float64Var(&o.rate, "rate", 0, "cap the source at this many records per second across all subtasks (0: no cap)")
	if err := fs.Parse(args); err != nil {
		return nil, err
	}
	switch {
	case o.output == "":
		return nil, errors.New("missing --output")
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.records < 0:
		return nil, fmt.Errorf("--records %d: want 0 or more", o.records)
	case o.parallelism < 0:
		return nil, fmt.Errorf("--parallelism %d: want a positive number", o.parallelism)
	case o.rate < 0 || math.IsNaN(o.rate):
		return nil, fmt.Errorf("--rate %v: want 0 (no cap) or more", o.rate)
	case o.window < time.Millisecond || o.window%time.Millisecond != 0:
		return nil, fmt.Errorf("--window %v: want a whole number of milliseconds, at least 1ms", o.window)
	case o.slide%time.Millisecond != 0:
		return nil, fmt.Errorf("--slide %v: want a whole number of milliseconds", o.slide)
	case o.slide > o.window:
		return nil, fmt.Errorf("--slide %v: want at most the window size %v", o.slide, o.window)
	}
	return o, nil
}

// jobConfig merges the defaults, the file, the --set overrides and the
// flags, in increasing precedence.
func jobConfig(o *options) (*config.Job, error) {
	out, err := filepath.Abs(o.output)
	if err != nil {
		return nil, err
	}
	values := map[string]string{
		config.KeyName:          "windowed",
		config.KeyCheckpointDir: filepath.Join(out, "_checkpoints"),
		config.KeySavepointDir:  filepath.Join(out, "_savepoints"),
	}
	if o.configFile != "" {
		file, err := config.ReadFile(o.configFile)
		if err != nil {
			return nil, err
		}
		for k, v := range file {
			values[k] = v
		}
	}
	for _, s := range o.sets {
		k, v, err := config.ParseSet(s)
		if err != nil {
			return nil, err
		}
		values[k] = v
	}
	if o.parallelism > 0 {
		values[config.KeyParallelism] = strconv.Itoa(o.parallelism)
	}
	if o.restore != "" {
		values[config.KeyRecoveryPath] = o.restore
	}
	return config.Parse(values)
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
var statsSerializer = backend.JSONSerializer[stats]{TypeName: "stated.examples.windowed.stats"}

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
	readings := engine.FromSource(job, "readings", engine.Generate(o.records, readingAt), engine.WithRate(o.rate))
	stamped := engine.AssignTimestamps(readings, "timestamps", func(r reading) int64 { return r.TS }, outOfOrderness)
	bySensor := engine.KeyBy(stamped, func(r reading) string { return r.Sensor }, backend.StringSerializer{})
	assigner := engine.TumblingWindows(o.window)
	if o.slide > 0 {
		assigner = engine.SlidingWindows(o.window, o.slide)
	}
	windows := engine.WindowAggregate(bySensor, "window-stats", assigner, backend.AggregateFunction[reading, stats, summary](statsAgg{}), statsSerializer)
	lines := engine.Map(windows, "format", func(w engine.WindowResult[string, summary]) (string, error) {
		return formatWindow(w), nil
	})
	engine.WriteLines(lines, "output", o.output)
	return job
}

// countCommitted counts the lines of the committed output in dir: the
// files whose name starts with neither "." nor "_".
func countCommitted(dir string) (int, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range entries {
		if e.IsDir() || strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		f, err := os.Open(filepath.Join(dir, e.Name()))
		if err != nil {
			return 0, err
		}
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			n++
		}
		err = sc.Err()
		f.Close()
		if err != nil {
			return 0, fmt.Errorf("%s: %w", filepath.Join(dir, e.Name()), err)
		}
	}
	return n, nil
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "windowed:", err)
		return 2
	}
	cfg, err := jobConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, "windowed:", err)
		return 2
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelInfo}))
	job := buildJob(cfg, o, logger)

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(signals)
	go func() {
		if _, ok := <-signals; !ok {
			return
		}
		fmt.Fprintln(stderr, "windowed: stopping with a savepoint (signal again to cancel)")
		job.StopWithSavepoint()
		if _, ok := <-signals; ok {
			cancel()
		}
	}()

	res, err := job.Run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "windowed:", err)
		if errors.Is(err, engine.ErrConfig) || errors.Is(err, engine.ErrInvalidJob) {
			return 2
		}
		return 1
	}
	if res.Savepoint != "" {
		fmt.Fprintln(stdout, "savepoint:", res.Savepoint)
	}
	n, err := countCommitted(o.output)
	if err != nil {
		fmt.Fprintln(stderr, "windowed: count the committed output:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d windows committed in %s\n", n, o.output)
	return 0
}
