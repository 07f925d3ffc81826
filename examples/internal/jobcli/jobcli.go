// Package jobcli is the command line that the example jobs share: the
// flags --parallelism, --config, --set, --restore and --rate, the job
// configuration they make, and running a job until it ends or a signal
// stops it with a savepoint. Each example keeps its own flags, checks and
// job graph.
//
// An example's main program makes its flag set with Flags.NewFlagSet,
// adds its own flags, parses them with Flags.Parse and makes its own
// checks, makes the job configuration with Flags.Config and reports an
// error of any of these steps with Usage. Then it builds its job, logging
// to Logger, and runs it with Run.
//
// The exit codes are ExitOK, ExitRuntime and ExitUsage. The messages of
// this package go to stderr, prefixed with the example's name, along with
// the job's log. Of stdout it writes only "savepoint: <path>" (Run, the
// first line) and the count of committed lines (ReportCommitted, or the
// summary line of ReportSummary, which ends with that count).
package jobcli

import (
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

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/engine"
	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/providers"
	"github.com/stated-io/stated/snapshot"
)

// The exit codes of an example job.
const (
	// ExitOK: the job finished, stopped with a savepoint, or -h printed
	// the usage.
	ExitOK = 0
	// ExitRuntime: the job failed while running.
	ExitRuntime = 1
	// ExitUsage: bad flags or configuration, including job errors that
	// wrap engine.ErrConfig or engine.ErrInvalidJob (a stated://
	// location, a restore path that holds no checkpoint), a
	// pipeline.max-parallelism the restored snapshot refuses
	// (backend.ErrMaxParallelismMismatch), and a second instance of a
	// running job (snapshot.ErrLeaseHeld).
	ExitUsage = 2
)

// Flags are the flags every example job shares.
type Flags struct {
	// Parallelism is --parallelism; 0 leaves parallelism.default to the
	// configuration.
	Parallelism int
	// ConfigFile is --config, a YAML job configuration; "" reads none.
	ConfigFile string
	// Sets are the --set key=value overrides, in command-line order.
	Sets []string
	// Restore is --restore: a checkpoint or savepoint path, or "latest".
	Restore string
	// Rate is --rate, the source's cap in records per second; 0 is no cap.
	Rate float64
}

// NewFlagSet returns a flag set for the command line of the example
// named name: it holds f's flags, to which the example adds its own, and
// on a parse error it prints the message and the usage to stderr and
// returns the error (flag.ContinueOnError).
func (f *Flags) NewFlagSet(name string, stderr io.Writer) *flag.FlagSet {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.IntVar(&f.Parallelism, "parallelism", 0, "parallelism (default: parallelism.default of the configuration, 1)")
	fs.StringVar(&f.ConfigFile, "config", "", "YAML job configuration")
	fs.Func("set", "override one configuration key: key=value (repeatable)", func(s string) error {
		f.Sets = append(f.Sets, s)
		return nil
	})
	fs.StringVar(&f.Restore, "restore", "", "restore from a checkpoint or savepoint path, or the newest complete checkpoint: latest")
	fs.Float64Var(&f.Rate, "rate", 0, "cap the source at this many records per second across all subtasks (0: no cap)")
	return fs
}

// Parse parses args with fs, made by NewFlagSet, which holds f's flags
// and the example's own. It then checks, in this order and reporting the first
// failure, that every flag named in required (without dashes) is set to a
// non-empty value, that no positional argument follows the flags, and
// that --parallelism is not negative and --rate is a number, 0 or more. For -h and -help it
// returns flag.ErrHelp after fs printed the usage.
func (f *Flags) Parse(fs *flag.FlagSet, args []string, required ...string) error {
	if err := fs.Parse(args); err != nil {
		return err
	}
	var missing []string
	for _, name := range required {
		if fl := fs.Lookup(name); fl == nil || fl.Value.String() == "" {
			missing = append(missing, "--"+name)
		}
	}
	switch {
	case len(missing) > 0:
		return fmt.Errorf("missing %s", strings.Join(missing, " and "))
	case fs.NArg() > 0:
		return fmt.Errorf("unexpected argument %q", fs.Arg(0))
	case f.Parallelism < 0:
		return fmt.Errorf("--parallelism %d: want a positive number", f.Parallelism)
	case f.Rate < 0 || math.IsNaN(f.Rate) || math.IsInf(f.Rate, 0):
		return fmt.Errorf("--rate %v: want 0 (no cap) or more", f.Rate)
	}
	return nil
}

// Config is the job configuration of the example named name that writes
// its output to the directory output. It merges, in increasing
// precedence, the defaults (pipeline.name name, checkpoints in
// output/_checkpoints and savepoints in output/_savepoints, as absolute
// paths), the --config file, the --set overrides, and --parallelism and
// --restore when given, and parses the result. Its errors are bad
// configuration: report them with Usage.
func (f *Flags) Config(name, output string) (*config.Job, error) {
	out, err := filepath.Abs(output)
	if err != nil {
		return nil, err
	}
	values := map[string]string{
		config.KeyName:          name,
		config.KeyCheckpointDir: filepath.Join(out, "_checkpoints"),
		config.KeySavepointDir:  filepath.Join(out, "_savepoints"),
	}
	if f.ConfigFile != "" {
		file, err := config.ReadFile(f.ConfigFile)
		if err != nil {
			return nil, err
		}
		for k, v := range file {
			values[k] = v
		}
	}
	for _, s := range f.Sets {
		k, v, err := config.ParseSet(s)
		if err != nil {
			return nil, err
		}
		values[k] = v
	}
	if f.Parallelism > 0 {
		values[config.KeyParallelism] = strconv.Itoa(f.Parallelism)
	}
	if f.Restore != "" {
		values[config.KeyRecoveryPath] = f.Restore
	}
	cfg, err := config.Parse(values)
	if err != nil {
		return nil, err
	}
	return cfg, checkS3(cfg)
}

// checkS3 checks the s3.* keys when a location of cfg is s3://, so that a
// missing or bad one is a configuration error before the job starts.
func checkS3(cfg *config.Job) error {
	for _, l := range []struct{ key, value string }{
		{config.KeyCheckpointDir, cfg.CheckpointDir}, {config.KeySavepointDir, cfg.SavepointDir}, {config.KeyRecoveryPath, cfg.RecoveryPath},
	} {
		if loc, err := providers.ParseLocation(l.value); err != nil || loc.Scheme != "s3" {
			continue
		}
		s3 := cfg.StorageOptions().S3
		if s3.Endpoint == "" {
			return fmt.Errorf("%s %s: s3:// locations need s3.endpoint (--set s3.endpoint=http://HOST:PORT)", l.key, l.value)
		}
		s3.EnsureDefaults()
		if err := s3.Validate(); err != nil {
			return fmt.Errorf("%s %s: %w", l.key, l.value, err)
		}
	}
	return nil
}

// Usage reports err, a failure to parse or check the flags or to make the
// configuration, and returns the exit code: ExitOK for flag.ErrHelp (the
// flag set printed the usage already), else ExitUsage after printing
// "name: err" to stderr.
func Usage(stderr io.Writer, name string, err error) int {
	if errors.Is(err, flag.ErrHelp) {
		return ExitOK
	}
	fmt.Fprintf(stderr, "%s: %v\n", name, err)
	return ExitUsage
}

// Logger is the job's logger: text records of level info and above to w.
func Logger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: slog.LevelInfo}))
}

// Run runs job until it ends and returns the exit code: RunJob without
// its result.
func Run(name string, job *engine.Job, stdout, stderr io.Writer) int {
	_, code := RunJob(name, job, stdout, stderr)
	return code
}

// RunJob runs job until it ends and returns its result (nil if it failed)
// and the exit code. While it runs, the first SIGTERM or interrupt
// (Ctrl-C) stops the job with a savepoint, after printing "name: stopping
// with a savepoint (signal again to cancel)" to stderr, and a second one
// cancels it. When the job stopped with a savepoint, RunJob prints
// "savepoint: <path>" to stdout. When it failed, RunJob prints "name:
// <error>" to stderr and returns ExitUsage for a configuration error (see
// ExitUsage), else ExitRuntime.
func RunJob(name string, job *engine.Job, stdout, stderr io.Writer) (*engine.Result, int) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	signals := make(chan os.Signal, 2)
	signal.Notify(signals, syscall.SIGTERM, os.Interrupt)
	defer signal.Stop(signals)
	done := make(chan struct{})
	defer close(done)
	go func() {
		select {
		case <-signals:
		case <-done:
			return
		}
		fmt.Fprintf(stderr, "%s: stopping with a savepoint (signal again to cancel)\n", name)
		job.StopWithSavepoint()
		select {
		case <-signals:
			cancel()
		case <-done:
		}
	}()

	res, err := job.Run(ctx)
	if err != nil {
		fmt.Fprintf(stderr, "%s: %v\n", name, err)
		return nil, exitCode(err)
	}
	if res.Savepoint != "" {
		fmt.Fprintln(stdout, "savepoint:", res.Savepoint)
	}
	return res, ExitOK
}

// exitCode is the exit code of a job that failed with err.
func exitCode(err error) int {
	for _, usage := range []error{engine.ErrConfig, engine.ErrInvalidJob, backend.ErrMaxParallelismMismatch, snapshot.ErrLeaseHeld} {
		if errors.Is(err, usage) {
			return ExitUsage
		}
	}
	return ExitRuntime
}
