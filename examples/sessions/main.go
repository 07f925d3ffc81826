// Sessions groups user clicks into session windows, exactly once. It
// generates a stream of clicks by 200 users, each active in bursts
// separated by a minute or so of silence (clicks are up to 2 s late behind
// the newest one), assigns event timestamps with watermarks that trail the
// newest timestamp by 3 s, keys the stream by user and merges every user's
// clicks into sessions: each click opens the window [ts, ts+gap), and
// windows that overlap or touch merge, so a session ends after gap without
// clicks. When the watermark passes a session's end, it writes the line
//
//	user<TAB>sessionStart<TAB>sessionEnd<TAB>clicks
//
// (sessionStart and sessionEnd are the epoch milliseconds of the session's
// first and last click; its window is [sessionStart, sessionEnd+gap)) to an
// exactly-once file sink. Kill it at any moment, restart it with
// --restore latest, and the committed output still holds every session
// once.
//
//	go run ./examples/sessions --output DIR [--records N] [--gap 30s]
//	    [--parallelism N] [--config job.yaml] [--set key=value ...]
//	    [--restore PATH|latest] [--rate RECORDS_PER_SECOND]
//
// Committed output is every file in DIR whose name starts with neither "."
// nor "_". Unless configured otherwise, checkpoints go to DIR/_checkpoints
// and savepoints to DIR/_savepoints. At the end it prints the number of
// sessions committed in DIR. SIGTERM (or Ctrl-C) stops the job with a
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
// no click is late.
const outOfOrderness = 3 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	output, configFile, restore string
	records                     int64
	parallelism                 int
	rate                        float64
	gap                         time.Duration
	sets                        []string
}

// durationFlag is a flag.Value for a duration written as the configuration
// writes them: Flink style ("30 s", "500ms") or Go style ("1m30s").
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
	o := &options{records: 200_000, gap: 30 * time.Second}
	fs := flag.NewFlagSet("sessions", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.output, "output", "", "directory of the exactly-once output (required)")
	fs.Int64Var(&o.records, "records", o.records, "number of clicks to generate")
	fs.Var(durationFlag{&o.gap}, "gap", "session gap: a session ends after this `duration` without clicks")
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
	case o.gap < time.Millisecond || o.gap%time.Millisecond != 0:
		return nil, fmt.Errorf("--gap %v: want a whole number of milliseconds, at least 1ms", o.gap)
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
		config.KeyName:          "sessions",
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

// session is the accumulator of a session window: its number of clicks
// and the timestamps of its first and last click.
type session struct {
	Clicks int64 `json:"clicks"`
	First  int64 `json:"first"`
	Last   int64 `json:"last"`
}

// sessionAgg folds clicks into a session. Merge joins two sessions that a
// click bridged.
type sessionAgg struct{}

func (sessionAgg) CreateAccumulator() session {
	return session{First: math.MaxInt64, Last: math.MinInt64}
}

func (sessionAgg) Add(c click, acc session) session {
	acc.Clicks++
	acc.First = min(acc.First, c.TS)
	acc.Last = max(acc.Last, c.TS)
	return acc
}

func (sessionAgg) Result(acc session) session { return acc }

func (sessionAgg) Merge(a, b session) session {
	return session{Clicks: a.Clicks + b.Clicks, First: min(a.First, b.First), Last: max(a.Last, b.Last)}
}

// sessionSerializer stores accumulators in the state backend. The type
// name is part of every snapshot: keep it when the struct evolves
// compatibly.
var sessionSerializer = backend.JSONSerializer[session]{TypeName: "stated.examples.sessions.session"}

// formatSession is the output line of one user's session.
func formatSession(w engine.WindowResult[string, session]) string {
	s := w.Value
	return strings.Join([]string{
		w.Key,
		strconv.FormatInt(s.First, 10),
		strconv.FormatInt(s.Last, 10),
		strconv.FormatInt(s.Clicks, 10),
	}, "\t")
}

// buildJob is the sessions graph: clicks → timestamps and watermarks →
// keyBy(user) → session windows → exactly-once files.
func buildJob(cfg *config.Job, o *options, logger *slog.Logger) *engine.Job {
	job := engine.New(engine.Options{Config: cfg, Logger: logger})
	clicks := engine.FromSource(job, "clicks", engine.Generate(o.records, clickAt), engine.WithRate(o.rate))
	stamped := engine.AssignTimestamps(clicks, "timestamps", func(c click) int64 { return c.TS }, outOfOrderness)
	byUser := engine.KeyBy(stamped, func(c click) string { return c.User }, backend.StringSerializer{})
	sessions := engine.WindowAggregate(byUser, "sessions", engine.SessionWindows(o.gap),
		backend.AggregateFunction[click, session, session](sessionAgg{}), sessionSerializer)
	lines := engine.Map(sessions, "format", func(w engine.WindowResult[string, session]) (string, error) {
		return formatSession(w), nil
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
		fmt.Fprintln(stderr, "sessions:", err)
		return 2
	}
	cfg, err := jobConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, "sessions:", err)
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
		fmt.Fprintln(stderr, "sessions: stopping with a savepoint (signal again to cancel)")
		job.StopWithSavepoint()
		if _, ok := <-signals; ok {
			cancel()
		}
	}()

	res, err := job.Run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "sessions:", err)
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
		fmt.Fprintln(stderr, "sessions: count the committed output:", err)
		return 1
	}
	fmt.Fprintf(stdout, "%d sessions committed in %s\n", n, o.output)
	return 0
}
