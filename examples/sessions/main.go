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
const name = "sessions"

// outOfOrderness is the watermark bound: it must exceed maxJitter so that
// no click is late.
const outOfOrderness = 3 * time.Second

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	output  string
	records int64
	gap     time.Duration
	jobcli.Flags
}

// parseFlags parses the command line into the options and the job
// configuration. Its errors are usage errors: see jobcli.Usage.
func parseFlags(args []string, stderr io.Writer) (*options, *config.Job, error) {
	o := &options{records: 200_000, gap: 30 * time.Second}
	fs := o.Flags.NewFlagSet(name, stderr)
	fs.StringVar(&o.output, "output", "", "directory of the exactly-once output (required)")
	fs.Int64Var(&o.records, "records", o.records, "number of clicks to generate")
	jobcli.DurationVar(fs, &o.gap, "gap", "session gap: a session ends after this `duration` without clicks")
	if err := o.Flags.Parse(fs, args, "output"); err != nil {
		return nil, nil, err
	}
	switch {
	case o.records < 0:
		return nil, nil, fmt.Errorf("--records %d: want 0 or more", o.records)
	case o.gap < time.Millisecond || o.gap%time.Millisecond != 0:
		return nil, nil, fmt.Errorf("--gap %v: want a whole number of milliseconds, at least 1ms", o.gap)
	}
	cfg, err := o.Flags.Config(name, o.output)
	return o, cfg, err
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
var sessionSerializer = serializer.JSON[session]{TypeName: "stated.examples.sessions.session"}

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
	clicks := engine.FromSource(job, "clicks", engine.Generate(o.records, clickAt), engine.WithRate(o.Rate))
	stamped := engine.AssignTimestamps(clicks, "timestamps", func(c click) int64 { return c.TS }, outOfOrderness)
	byUser := engine.KeyBy(stamped, func(c click) string { return c.User }, serializer.String{})
	sessions := engine.WindowAggregate(byUser, "sessions", engine.SessionWindows(o.gap),
		state.AggregateFunction[click, session, session](sessionAgg{}), sessionSerializer)
	lines := engine.Map(sessions, "format", func(w engine.WindowResult[string, session]) (string, error) {
		return formatSession(w), nil
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
	return jobcli.ReportCommitted(stdout, stderr, name, "sessions", o.output)
}
