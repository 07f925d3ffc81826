package main

import (
	"fmt"
	"io"
	"strings"

	"github.com/spf13/cobra"
)

// newRootCommand returns the command tree of stated, writing to stdout
// and stderr.
//
//	stated
//	├── checkpoints   list, prune                 (a checkpoint directory)
//	├── checkpoint    inspect, gc, move-aside     (one checkpoint; gc: a directory, as before)
//	├── savepoints    list                        (a savepoint directory)
//	└── completion    bash, zsh, fish, powershell (cobra's)
//
// Later commands fit in: `serve` at the top, `savepoint dump|inspect|
// rewrite` as a `savepoint` group, `checkpoint diff|convert` in
// `checkpoint`.
func newRootCommand(stdout, stderr io.Writer) *cobra.Command {
	g := &globalFlags{}
	root := &cobra.Command{
		Use:   "stated",
		Short: "Inspect and maintain the checkpoints and savepoints of stated jobs",
		Long: `stated inspects and maintains the checkpoint and savepoint directories
that stated jobs write, on local disk (a path or file:// URL) or on S3
(s3://bucket/prefix with --set s3.endpoint=... and friends).

Exit codes: 0 success; 1 a problem found or a runtime error; 2 a bad
command, flag, argument or configuration value.`,
		Version:       version(),
		SilenceErrors: true,
		SilenceUsage:  true,
		RunE:          missingCommand,
	}
	root.SetOut(stdout)
	root.SetErr(stderr)
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return &usageError{err.Error()} })
	g.register(root)

	checkpoints := group("checkpoints", "List and prune the checkpoints of a checkpoint directory")
	checkpoints.AddCommand(newListCommand(g), newPruneCommand(g))
	checkpoint := group("checkpoint", "Inspect, collect or move aside checkpoints")
	checkpoint.AddCommand(newInspectCommand(g), newGCCommand(g), newMoveAsideCommand(g))
	savepoints := group("savepoints", "List the savepoints of a savepoint directory")
	savepoints.AddCommand(newSavepointsListCommand(g))
	root.AddCommand(checkpoints, checkpoint, savepoints)
	return root
}

// group returns a command that only holds subcommands: run alone or with
// an unknown subcommand it is a usage error, with suggestions.
func group(name, short string) *cobra.Command {
	return &cobra.Command{Use: name + " COMMAND", Short: short, RunE: missingCommand, SuggestionsMinimumDistance: 2}
}

// commandName is the path of cmd below the root ("checkpoints list"), to
// start messages with; "" for the root.
func commandName(cmd *cobra.Command) string {
	if !cmd.HasParent() {
		return ""
	}
	return strings.TrimPrefix(cmd.CommandPath(), cmd.Root().Name()+" ") + ": "
}

// missingCommand is the RunE of the commands that only hold subcommands.
func missingCommand(cmd *cobra.Command, args []string) error {
	var names []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			names = append(names, c.Name())
		}
	}
	if len(args) == 0 {
		return usagef("%smissing command: want one of %s", commandName(cmd), strings.Join(names, ", "))
	}
	msg := fmt.Sprintf("%sunknown command %q: want one of %s", commandName(cmd), args[0], strings.Join(names, ", "))
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		msg += fmt.Sprintf(" (did you mean %q?)", s[0])
	}
	return &usageError{msg}
}

// exactArgs accepts exactly the positional arguments named.
func exactArgs(names ...string) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if len(args) != len(names) {
			return usagef("%swant %s, got %d argument(s)", commandName(cmd), strings.Join(names, " "), len(args))
		}
		return nil
	}
}
