package config

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/stated-io/stated/providers"
)

// Parse builds a Job from values, a map of key to value as ReadFile
// returns it with --set overrides applied. Keys not in values take their
// defaults (see Keys and Default).
//
// Every problem is reported at once: the error is an errors.Join of one
// *Problem per bad key, sorted by key, each wrapping ErrUnknownKey or
// ErrInvalidValue. parallelism.default is also checked against
// pipeline.max-parallelism when the latter is given. On error the Job is
// nil.
func Parse(values map[string]string) (*Job, error) {
	j := new(Job)
	var problems []*Problem
	bad := make(map[string]bool)
	for _, s := range specs {
		v, given := values[s.key]
		if !given {
			v = s.def
		}
		if err := s.set(j, v); err != nil {
			p := &Problem{Key: s.key, Value: v, Err: ErrInvalidValue}
			var inv *invalid
			if errors.As(err, &inv) {
				p.Reason, p.Cause = inv.reason, inv.cause
			} else {
				p.Reason = err.Error()
			}
			problems = append(problems, p)
			bad[s.key] = true
		}
	}
	for k := range values {
		if _, ok := lookup(k); !ok {
			problems = append(problems, &Problem{Key: k, Suggestion: suggest(k), Err: ErrUnknownKey})
		}
	}
	_, j.MaxParallelismSet = values[KeyMaxParallelism]
	if j.MaxParallelismSet && !bad[KeyParallelism] && !bad[KeyMaxParallelism] && j.Parallelism > j.MaxParallelism {
		problems = append(problems, &Problem{
			Key:    KeyParallelism,
			Value:  strconv.Itoa(j.Parallelism),
			Reason: fmt.Sprintf("want at most %s, which is %d", KeyMaxParallelism, j.MaxParallelism),
			Err:    ErrInvalidValue,
		})
	}
	if len(problems) == 0 {
		return j, nil
	}
	slices.SortStableFunc(problems, func(a, b *Problem) int { return strings.Compare(a.Key, b.Key) })
	errs := make([]error, len(problems))
	for i, p := range problems {
		errs[i] = p
	}
	return nil, errors.Join(errs...)
}

// ParseSet splits a --set argument "key=value" at its first '='. The key
// is trimmed of spaces; the value is kept as is and may be empty or contain
// '='. An argument with no '=' or an empty key gives an error wrapping
// ErrSyntax that names the argument.
func ParseSet(arg string) (key, value string, err error) {
	key, value, ok := strings.Cut(arg, "=")
	key = strings.TrimSpace(key)
	switch {
	case !ok:
		return "", "", fmt.Errorf("config: setting %q: want key=value: %w", arg, ErrSyntax)
	case key == "":
		return "", "", fmt.Errorf("config: setting %q: empty key; want key=value: %w", arg, ErrSyntax)
	}
	return key, value, nil
}

// invalid is the error of a value parser: what is allowed, and the
// underlying error if any.
type invalid struct {
	reason string
	cause  error
}

func (e *invalid) Error() string { return e.reason }

func invalidf(format string, args ...any) error {
	return &invalid{reason: fmt.Sprintf(format, args...)}
}

// maxNameLen is the longest pipeline.name: it names a directory, and most
// file systems allow 255 bytes per name.
const maxNameLen = 255

var nameRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

func parseName(v string, dst *string) error {
	if v != "" && (!nameRE.MatchString(v) || len(v) > maxNameLen) {
		return invalidf("want a name matching %s of at most %d bytes", nameRE, maxNameLen)
	}
	*dst = v
	return nil
}

// parseLocation accepts "" (no location) or what providers.ParseLocation
// accepts, and keeps v as given.
func parseLocation(v string, dst *string) error {
	if v != "" {
		if _, err := providers.ParseLocation(v); err != nil {
			return &invalid{
				reason: fmt.Sprintf("want file:///abs/path, s3://bucket/prefix, stated://host:port[/prefix] or a plain path (%v)", err),
				cause:  err,
			}
		}
	}
	*dst = v
	return nil
}

const boolReason = "want true or false"

func parseBool(v string, dst *bool) error {
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "true":
		*dst = true
	case "false":
		*dst = false
	default:
		return invalidf(boolReason)
	}
	return nil
}

func parseInt(v string, dst *int, lo, hi int) error {
	n, err := strconv.Atoi(strings.TrimSpace(v))
	if err != nil || n < lo || n > hi {
		if hi == maxInt {
			return invalidf("want an integer ≥ %d", lo)
		}
		return invalidf("want an integer in [%d, %d]", lo, hi)
	}
	*dst = n
	return nil
}

// choice is one allowed value of an enum key: its canonical spelling and
// its value.
type choice[T any] struct {
	name  string
	value T
}

// named returns the choices whose canonical spelling is their String.
func named[T fmt.Stringer](values ...T) []choice[T] {
	cs := make([]choice[T], len(values))
	for i, v := range values {
		cs[i] = choice[T]{v.String(), v}
	}
	return cs
}

// parseEnum matches v against the choices ignoring case and surrounding
// space.
func parseEnum[T any](v string, dst *T, choices []choice[T]) error {
	v = strings.TrimSpace(v)
	names := make([]string, len(choices))
	for i, c := range choices {
		if strings.EqualFold(v, c.name) {
			*dst = c.value
			return nil
		}
		names[i] = c.name
	}
	return invalidf("want one of %s", strings.Join(names, ", "))
}

const durationReason = "want a duration such as 1s, 500 ms or 10 min"

// durationUnits are Flink's duration units (TimeUtils), lower case.
var durationUnits = map[string]time.Duration{
	"ns": time.Nanosecond, "nano": time.Nanosecond, "nanos": time.Nanosecond,
	"nanosecond": time.Nanosecond, "nanoseconds": time.Nanosecond,
	"us": time.Microsecond, "µs": time.Microsecond, "micro": time.Microsecond, "micros": time.Microsecond,
	"microsecond": time.Microsecond, "microseconds": time.Microsecond,
	"ms": time.Millisecond, "milli": time.Millisecond, "millis": time.Millisecond,
	"millisecond": time.Millisecond, "milliseconds": time.Millisecond,
	"s": time.Second, "sec": time.Second, "secs": time.Second, "second": time.Second, "seconds": time.Second,
	"m": time.Minute, "min": time.Minute, "mins": time.Minute, "minute": time.Minute, "minutes": time.Minute,
	"h": time.Hour, "hour": time.Hour, "hours": time.Hour,
	"d": 24 * time.Hour, "day": 24 * time.Hour, "days": 24 * time.Hour,
}

// flinkDurationRE is Flink's duration syntax: an integer, optional space,
// an optional unit (milliseconds when absent).
var flinkDurationRE = regexp.MustCompile(`^([0-9]+)\s*([a-zA-Zµ]*)$`)

// ParseDuration parses a duration as the duration keys accept it: Flink
// style, an integer and an optional unit with optional space between
// ("500 ms", "10min", "2 h", "1 d"; a bare integer is milliseconds; units
// ns, us, ms, s, sec, min, m, h, d and their long forms, any case), or Go
// style ("1m30s", "1.5s"). Negative durations are rejected.
func ParseDuration(v string) (time.Duration, error) {
	v = strings.TrimSpace(v)
	if m := flinkDurationRE.FindStringSubmatch(v); m != nil {
		unit := time.Millisecond
		if m[2] != "" {
			u, ok := durationUnits[strings.ToLower(m[2])]
			if !ok {
				return 0, fmt.Errorf("unknown unit %q", m[2])
			}
			unit = u
		}
		n, err := strconv.ParseInt(m[1], 10, 64)
		if err != nil || n > math.MaxInt64/int64(unit) {
			return 0, errors.New("out of range")
		}
		return time.Duration(n) * unit, nil
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		return 0, err
	}
	if d < 0 {
		return 0, errors.New("negative")
	}
	return d, nil
}

func parseDuration(v string, dst *time.Duration, positive bool) error {
	d, err := ParseDuration(v)
	switch {
	case err != nil:
		return invalidf(durationReason)
	case positive && d == 0:
		return invalidf("want a duration greater than 0 such as 1s, 500 ms or 10 min")
	}
	*dst = d
	return nil
}
