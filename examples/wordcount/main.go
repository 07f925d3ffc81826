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
// with a savepoint and prints "savepoint: <path>". Exit codes: 0 done, 1
// runtime error, 2 bad flags or configuration.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/engine"
	"github.com/stated-io/stated/engine/config"
)

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

type options struct {
	input, output, configFile, restore string
	parallelism                        int
	rate                               float64
	sets                               []string
}

func parseFlags(args []string, stderr io.Writer) (*options, error) {
	o := &options{}
	fs := flag.NewFlagSet("wordcount", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.input, "input", "", "text file to count the words of (required)")
	fs.StringVar(&o.output, "output", "", "directory of the exactly-once output (required)")
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
	var missing []string
	if o.input == "" {
		missing = append(missing, "--input")
	}
	if o.output == "" {
		missing = append(missing, "--output")
	}
	switch {
	case len(missing) > 0:
		return nil, fmt.Errorf("missing %s", strings.Join(missing, " and "))
	case fs.NArg() > 0:
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case o.parallelism < 0:
		return nil, fmt.Errorf("--parallelism %d: want a positive number", o.parallelism)
	case o.rate < 0:
		return nil, fmt.Errorf("--rate %v: want 0 (no cap) or more", o.rate)
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
		config.KeyName:          "wordcount",
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

// counter counts the occurrences of its key.
type counter struct {
	count backend.ValueState[int64]
}

func (c *counter) Open(rc *engine.RuntimeContext[string]) error {
	var err error
	c.count, err = backend.GetValueState(rc.Backend, backend.ValueDescriptor[int64]{Name: "count", Serializer: backend.Int64Serializer{}})
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

func (c *counter) OnTimer(*engine.Context[string, string], int64, engine.TimeDomain) error {
	return nil
}

// buildJob is the wordcount graph: lines → words → keyBy(word) → count →
// exactly-once files.
func buildJob(cfg *config.Job, o *options, logger *slog.Logger) *engine.Job {
	job := engine.New(engine.Options{Config: cfg, Logger: logger})
	lines := engine.FromSource(job, "lines", engine.Lines(o.input), engine.WithRate(o.rate))
	words := engine.FlatMap(lines, "split", func(line string, emit func(string)) error {
		for _, w := range strings.Fields(line) {
			emit(w)
		}
		return nil
	})
	counts := engine.Process(engine.KeyBy(words, func(w string) string { return w }, backend.StringSerializer{}), "counter",
		func() engine.KeyedProcessFunction[string, string, string] { return &counter{} })
	engine.WriteLines(counts, "output", o.output)
	return job
}

func run(args []string, stdout, stderr io.Writer) int {
	o, err := parseFlags(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintln(stderr, "wordcount:", err)
		return 2
	}
	cfg, err := jobConfig(o)
	if err != nil {
		fmt.Fprintln(stderr, "wordcount:", err)
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
		fmt.Fprintln(stderr, "wordcount: stopping with a savepoint (signal again to cancel)")
		job.StopWithSavepoint()
		if _, ok := <-signals; ok {
			cancel()
		}
	}()

	res, err := job.Run(ctx)
	if err != nil {
		fmt.Fprintln(stderr, "wordcount:", err)
		if errors.Is(err, engine.ErrConfig) || errors.Is(err, engine.ErrInvalidJob) {
			return 2
		}
		return 1
	}
	if res.Savepoint != "" {
		fmt.Fprintln(stdout, "savepoint:", res.Savepoint)
	}
	return 0
}
