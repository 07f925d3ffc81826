package config

import (
	"errors"
	"fmt"
	"strconv"
)

var (
	// ErrUnknownKey is wrapped by the *Problem Parse reports for a key it
	// does not know.
	ErrUnknownKey = errors.New("unknown key")
	// ErrInvalidValue is wrapped by the *Problem Parse reports for a value
	// its key does not allow, and by the *FileError ReadFile reports for a
	// value that is not a scalar (a list, for example).
	ErrInvalidValue = errors.New("invalid value")
	// ErrDuplicateKey is wrapped by the *FileError ReadFile reports when a
	// file sets the same key twice, however it spells it (flat or nested).
	ErrDuplicateKey = errors.New("duplicate key")
	// ErrSyntax is wrapped by the errors of ReadFile for a file that is not
	// a YAML mapping of keys to values, and of ParseSet for an argument
	// that is not key=value.
	ErrSyntax = errors.New("syntax error")
)

// Problem is one bad setting found by Parse: an unknown key (Err is
// ErrUnknownKey) or a value its key does not allow (Err is
// ErrInvalidValue).
type Problem struct {
	// Key is the key as given.
	Key string
	// Value is the value as given. Parse leaves it empty for unknown keys,
	// so that a mistyped secret key does not print the secret.
	Value string
	// Reason says what is allowed ("want one of hashmap, lsm, remote").
	// It is empty for unknown keys.
	Reason string
	// Suggestion is, for an unknown key, the known key it most likely
	// means, or empty.
	Suggestion string
	// Err is ErrUnknownKey or ErrInvalidValue.
	Err error
	// Cause is the underlying error, if any (for example the error of
	// providers.ParseLocation); it may be nil.
	Cause error
}

// Error reads
//
//	config: execution.checkpointing.interval: invalid value "abc": want a duration such as 1s, 500 ms or 10 min
//	config: unknown key "state.backend.typ" (did you mean "state.backend.type"?)
func (p *Problem) Error() string {
	if errors.Is(p.Err, ErrUnknownKey) {
		s := "config: unknown key " + strconv.Quote(p.Key)
		if p.Suggestion != "" {
			s += fmt.Sprintf(" (did you mean %q?)", p.Suggestion)
		}
		return s
	}
	s := fmt.Sprintf("config: %s: invalid value %q", p.Key, p.Value)
	if p.Reason != "" {
		s += ": " + p.Reason
	}
	return s
}

// Unwrap returns Err and, when set, Cause.
func (p *Problem) Unwrap() []error {
	if p.Cause == nil {
		return []error{p.Err}
	}
	return []error{p.Err, p.Cause}
}

// FileError is one problem ReadFile found in a configuration file.
type FileError struct {
	// Path is the file as given to ReadFile.
	Path string
	// Line is the 1-based line of the problem, or 0 when unknown.
	Line int
	// Key is the flattened key concerned, or empty.
	Key string
	// Reason says what is wrong.
	Reason string
	// Err is ErrSyntax, ErrDuplicateKey or ErrInvalidValue.
	Err error
}

// Error reads like
//
//	config: job.yaml:7: state.backend.type: duplicate key; first set on line 2
func (e *FileError) Error() string {
	s := "config: " + e.Path
	if e.Line > 0 {
		s += ":" + strconv.Itoa(e.Line)
	}
	if e.Key != "" {
		s += ": " + e.Key
	}
	return s + ": " + e.Reason
}

// Unwrap returns Err.
func (e *FileError) Unwrap() error { return e.Err }
