// Wordcount counts words exactly once: it reads a text file line by line,
// counts every word in keyed ValueState and writes, for every occurrence,
// the line "word<TAB>count" (the count after that occurrence) to an
// exactly-once file sink. Kill it at any moment, restart it with
// --restore latest (at any parallelism), and the committed output still
// holds every count of every word exactly once.
//
//	go run ./examples/wordcount --input FILE --output DIR [--parallelism N]
//	    [--config job.yaml] [--set key=value ...] [--restore PATH|latest]
//	    [--rate RECORDS_PER_SECOND]
//
// Committed output is every file in DIR whose name starts with neither "."
// nor "_". Unless configured otherwise, checkpoints go to DIR/_checkpoints
// and savepoints to DIR/_savepoints. SIGTERM (or Ctrl-C) stops the job
// with a savepoint and prints "savepoint: <path>". At the end of a run it
// prints a summary line to stdout:
//
//	wordcount: 66 lines read, 523 words; checkpoints: 2 completed, 0 failed; 523 lines committed in /abs/DIR
//
// (lines and words of this run; the committed lines of every run). Exit
// codes: 0 done, 1 runtime error, 2 bad flags or configuration.
package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/stated-io/stated/engine"
	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/examples/internal/jobcli"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// name names the flag set, prefixes the messages to stderr and is the
// default pipeline.name.
const name = "wordcount"

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	input, output string
	jobcli.Flags
}

// parseFlags parses the command line into the options and the job
// configuration. Its errors are usage errors: see jobcli.Usage.
func parseFlags(args []string, stderr io.Writer) (*options, *config.Job, error) {
	o := &options{}
	fs := o.Flags.NewFlagSet(name, stderr)
	fs.StringVar(&o.input, "input", "", "text file to count the words of (required)")
	fs.StringVar(&o.output, "output", "", "directory of the exactly-once output (required)")
	if err := o.Flags.Parse(fs, args, "input", "output"); err != nil {
		return nil, nil, err
	}
	cfg, err := o.Flags.Config(name, o.output)
	return o, cfg, err
}

// counter counts the occurrences of its key.
type counter struct {
	count state.ValueState[int64]
}

func (c *counter) Open(rc *engine.RuntimeContext[string]) error {
	var err error
	c.count, err = state.GetValueState(rc.Backend, state.ValueDescriptor[int64]{Name: "count", Serializer: serializer.Int64{}})
	return err
}

func (c *counter) ProcessElement(ctx *engine.Context[string, string], word string) error {
	n, _, err := c.count.Value()
	if err != nil {
		return err
	}
	n++
	if err := c.count.Update(n); err != nil {
		return err
	}
	ctx.Emit(word + "\t" + strconv.FormatInt(n, 10))
	return nil
}

// stats counts what a run read.
type stats struct {
	lines, words atomic.Int64
}

// buildJob is the wordcount graph: lines → words → keyBy(word) → count →
// exactly-once files. It counts the lines and words it splits into st.
func buildJob(cfg *config.Job, o *options, logger *slog.Logger, st *stats) *engine.Job {
	job := engine.New(engine.Options{Config: cfg, Logger: logger})
	lines := engine.FromSource(job, "lines", engine.Lines(o.input), engine.WithRate(o.Rate))
	words := engine.FlatMap(lines, "split", func(line string, emit func(string)) error {
		st.lines.Add(1)
		for _, w := range strings.Fields(line) {
			st.words.Add(1)
			emit(w)
		}
		return nil
	})
	counts := engine.Process(engine.KeyBy(words, func(w string) string { return w }, serializer.String{}), "counter",
		func() engine.KeyedProcessFunction[string, string, string] { return &counter{} })
	engine.WriteLines(counts, "output", o.output)
	return job
}

func run(args []string, stdout, stderr io.Writer) int {
	o, cfg, err := parseFlags(args, stderr)
	if err != nil {
		return jobcli.Usage(stderr, name, err)
	}
	var st stats
	res, code := jobcli.RunJob(name, buildJob(cfg, o, jobcli.Logger(stderr), &st), stdout, stderr)
	if code != jobcli.ExitOK {
		return code
	}
	what := fmt.Sprintf("%d lines read, %d words; %s", st.lines.Load(), st.words.Load(), jobcli.Checkpoints(res))
	return jobcli.ReportSummary(stdout, stderr, name, what, "lines", o.output)
}
