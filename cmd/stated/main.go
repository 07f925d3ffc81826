// Command stated is the daemon and command-line tool of stated. Its first
// commands inspect and maintain checkpoint directories:
//
//	stated checkpoints list DIR [--json]
//	stated checkpoint inspect PATH [--json] [--verify]
//	stated checkpoint gc DIR [--dry-run] [--grace DURATION]
//
// DIR is a checkpoint directory (execution.checkpointing.dir, holding a
// directory per job) or one job's directory; PATH is a chk-<n> directory,
// its _metadata or a savepoint directory. Both are plain paths, file://
// or s3:// URLs (S3 settings from --set s3.endpoint=... and friends).
//
// Exit codes: 0 success, 1 a problem found or a runtime error (named on
// stderr), 2 bad usage.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// usageError is bad usage: exit code 2.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// errFound is returned by commands that found problems they already
// reported: exit code 1 without another message.
var errFound = errors.New("problems found")

const usage = `usage:
  stated checkpoints list DIR [--json]
  stated checkpoint inspect PATH [--json] [--verify]
  stated checkpoint gc DIR [--dry-run] [--grace DURATION]
Every command also takes --set s3.endpoint=http://HOST:PORT (and s3.access-key,
s3.secret-key, s3.region, s3.path-style) for s3:// locations.`

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	err := dispatch(ctx, args, stdout)
	var ue *usageError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ue):
		fmt.Fprintf(stderr, "stated: %v\n%s\n", err, usage)
		return 2
	case errors.Is(err, errFound):
		return 1
	default:
		fmt.Fprintln(stderr, "stated:", err)
		return 1
	}
}

func dispatch(ctx context.Context, args []string, stdout io.Writer) error {
	if len(args) == 0 {
		return usagef("missing command")
	}
	switch {
	case args[0] == "checkpoints" && len(args) > 1 && args[1] == "list":
		return listCommand(ctx, args[2:], stdout)
	case args[0] == "checkpoint" && len(args) > 1 && args[1] == "inspect":
		return inspectCommand(ctx, args[2:], stdout)
	case args[0] == "checkpoint" && len(args) > 1 && args[1] == "gc":
		return gcCommand(ctx, args[2:], stdout)
	case args[0] == "help" || args[0] == "-h" || args[0] == "--help":
		fmt.Fprintln(stdout, usage)
		return nil
	}
	return usagef("unknown command %q", joinArgs(args, 2))
}

func joinArgs(args []string, n int) string {
	s := ""
	for i, a := range args {
		if i == n {
			break
		}
		if i > 0 {
			s += " "
		}
		s += a
	}
	return s
}
