// Command stated is the command-line tool (and, in a later release, the
// daemon) of stated. Its commands inspect and maintain the checkpoint and
// savepoint directories that jobs write:
//
//	stated checkpoints list DIR [--json]
//	stated checkpoints prune DIR --keep N [--dry-run] [--json]
//	stated checkpoint inspect PATH [--json] [--verify]
//	stated checkpoint gc DIR [--dry-run] [--grace DURATION]
//	stated checkpoint move-aside PATH [--force] [--json]
//	stated savepoints list DIR [--json]
//	stated completion bash|zsh|fish|powershell
//	stated --version
//
// DIR is a checkpoint directory (execution.checkpointing.dir, holding a
// directory per job) or one job's directory (for savepoints list: a
// savepoint directory); PATH is a chk-<n> directory, its _metadata or a
// savepoint directory. Both are plain paths, file:// or s3:// URLs (S3
// settings from --set s3.endpoint=... and friends). Every command has
// --help. Read-only commands (list, inspect, --dry-run) never create or
// change anything.
//
// Exit codes: 0 success, 1 a problem found (named on stdout or stderr) or
// a runtime error (on stderr), 2 a bad command, flag, argument or
// configuration value (on stderr, with where to find the usage).
//
// The command tree leaves room for what comes next: `stated serve` (the
// snapshot service), `stated savepoint dump|inspect|rewrite` beside
// `savepoints`, `stated checkpoint diff|convert` beside inspect.
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run runs the command line args and returns the exit code.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	root := newRootCommand(stdout, stderr)
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	return exitCode(cmd, err, stderr)
}
