package main

import (
	"errors"
	"fmt"
	"io"

	"github.com/spf13/cobra"
)

// The exit codes of stated.
const (
	exitOK = 0
	// exitProblem: a problem found (a bad checkpoint file, a refused
	// move) or a runtime error (storage unreachable, missing path).
	exitProblem = 1
	// exitUsage: a bad command, flag, argument or configuration value.
	exitUsage = 2
)

// usageError is bad usage: exitUsage.
type usageError struct{ msg string }

func (e *usageError) Error() string { return e.msg }

func usagef(format string, args ...any) error { return &usageError{fmt.Sprintf(format, args...)} }

// runtimeError is the failure of a command that was used right:
// exitProblem. Every error a command's own code returns is one (see
// action), so that whatever else cobra returns is a usage error.
type runtimeError struct{ err error }

func (e *runtimeError) Error() string { return e.err.Error() }
func (e *runtimeError) Unwrap() error { return e.err }

// errFound is returned by commands that found problems and reported them
// already: exitProblem without another message.
var errFound = errors.New("problems found")

// action adapts the function of a command: its errors become runtime
// errors, except usage errors and errFound.
func action(f func(cmd *cobra.Command, args []string) error) func(*cobra.Command, []string) error {
	return func(cmd *cobra.Command, args []string) error {
		err := f(cmd, args)
		var ue *usageError
		if err == nil || errors.Is(err, errFound) || errors.As(err, &ue) {
			return err
		}
		return &runtimeError{err}
	}
}

// exitCode reports err, returned by the command cmd, on stderr and returns
// the exit code.
func exitCode(cmd *cobra.Command, err error, stderr io.Writer) int {
	var rt *runtimeError
	switch {
	case err == nil:
		return exitOK
	case errors.Is(err, errFound):
		return exitProblem
	case errors.As(err, &rt):
		fmt.Fprintln(stderr, "stated:", rt.err)
		return exitProblem
	}
	// Ours, or cobra's: an unknown command or flag, a bad flag value.
	fmt.Fprintln(stderr, "stated:", err)
	if cmd != nil {
		fmt.Fprintf(stderr, "Usage: %s\nRun '%s --help' for more.\n", cmd.UseLine(), cmd.CommandPath())
	}
	return exitUsage
}
