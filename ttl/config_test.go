package ttl

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestEnumStrings(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{OnCreateAndWrite.String(), "OnCreateAndWrite"},
		{OnReadAndWrite.String(), "OnReadAndWrite"},
		{UpdateType(9).String(), "UpdateType(9)"},
		{NeverReturnExpired.String(), "NeverReturnExpired"},
		{ReturnExpiredIfNotCleanedUp.String(), "ReturnExpiredIfNotCleanedUp"},
		{Visibility(7).String(), "Visibility(7)"},
	} {
		if tc.got != tc.want {
			t.Errorf("String() = %q, want %q", tc.got, tc.want)
		}
	}
}

func TestZeroConfigDefaults(t *testing.T) {
	var c Config
	if c.Update != OnCreateAndWrite || c.Visibility != NeverReturnExpired {
		t.Fatal("zero config does not default to OnCreateAndWrite and NeverReturnExpired")
	}
	if !c.Cleanup.FiltersFullSnapshots() {
		t.Fatal("zero config does not filter full snapshots")
	}
	if (Cleanup{KeepExpiredInFullSnapshots: true}).FiltersFullSnapshots() {
		t.Fatal("KeepExpiredInFullSnapshots does not turn the filter off")
	}
}

func TestEnsureDefaults(t *testing.T) {
	var none *Config
	none.EnsureDefaults() // must not panic

	for _, tc := range []struct {
		name    string
		in, out Config
	}{
		{
			"defaults filled in",
			Config{TTL: time.Second},
			Config{TTL: time.Second, Cleanup: Cleanup{
				Incremental: IncrementalCleanup{Entries: DefaultIncrementalEntries},
				Background:  BackgroundCleanup{RateLimit: DefaultBackgroundRateLimit, Interval: DefaultBackgroundInterval}}},
		},
		{
			"settings kept",
			Config{TTL: time.Second, Cleanup: Cleanup{
				Incremental: IncrementalCleanup{Entries: 50, PerRecord: true},
				Background:  BackgroundCleanup{RateLimit: 7, Interval: time.Hour}}},
			Config{TTL: time.Second, Cleanup: Cleanup{
				Incremental: IncrementalCleanup{Entries: 50, PerRecord: true},
				Background:  BackgroundCleanup{RateLimit: 7, Interval: time.Hour}}},
		},
		{
			"disabled strategies unchanged",
			Config{TTL: time.Second, Cleanup: Cleanup{Incremental: IncrementalCleanup{Disabled: true}, Background: BackgroundCleanup{Disabled: true}}},
			Config{TTL: time.Second, Cleanup: Cleanup{Incremental: IncrementalCleanup{Disabled: true}, Background: BackgroundCleanup{Disabled: true}}},
		},
	} {
		c := tc.in
		c.EnsureDefaults()
		if c != tc.out {
			t.Errorf("%s: EnsureDefaults gave %+v, want %+v", tc.name, c, tc.out)
		}
		if err := c.Validate(); err != nil {
			t.Errorf("%s: config with defaults is invalid: %v", tc.name, err)
		}
	}
}

func TestValidate(t *testing.T) {
	var none *Config
	if err := none.Validate(); err != nil {
		t.Fatalf("nil config: %v", err)
	}
	for _, tc := range []struct {
		name     string
		c        Config
		problems []string // each must appear in the error; none means valid
	}{
		{"minimal", Config{TTL: time.Millisecond}, nil},
		{"everything set", Config{TTL: time.Hour, Update: OnReadAndWrite, Visibility: ReturnExpiredIfNotCleanedUp,
			Cleanup: Cleanup{KeepExpiredInFullSnapshots: true,
				Incremental: IncrementalCleanup{Entries: 10, PerRecord: true},
				Background:  BackgroundCleanup{RateLimit: 1000, Interval: time.Second}}}, nil},
		{"disabled", Config{TTL: time.Second, Cleanup: Cleanup{
			Incremental: IncrementalCleanup{Disabled: true}, Background: BackgroundCleanup{Disabled: true}}}, nil},
		{"zero ttl", Config{}, []string{"ttl 0s is below 1ms"}},
		{"sub-ms ttl", Config{TTL: time.Microsecond}, []string{"ttl 1µs is below 1ms"}},
		{"negative ttl", Config{TTL: -time.Second}, []string{"ttl -1s is below 1ms"}},
		{"incremental disabled but set", Config{TTL: time.Second, Cleanup: Cleanup{Incremental: IncrementalCleanup{Disabled: true, PerRecord: true}}},
			[]string{"incremental cleanup is configured but disabled"}},
		{"background disabled but set", Config{TTL: time.Second, Cleanup: Cleanup{Background: BackgroundCleanup{Disabled: true, Interval: time.Second}}},
			[]string{"background cleanup is configured but disabled"}},
		{"every problem at once", Config{TTL: 0, Update: 5, Visibility: 6, Cleanup: Cleanup{
			Incremental: IncrementalCleanup{Disabled: true, Entries: -1},
			Background:  BackgroundCleanup{Disabled: true, RateLimit: -2, Interval: time.Microsecond}}},
			[]string{
				"ttl 0s is below 1ms",
				"unknown update type UpdateType(5)",
				"unknown visibility Visibility(6)",
				"incremental cleanup entries -1 is negative",
				"incremental cleanup is configured but disabled",
				"background cleanup rate limit -2 is negative",
				"background cleanup interval 1µs is not 0 (default) or at least 1ms",
				"background cleanup is configured but disabled",
			}},
		{"negative interval", Config{TTL: time.Second, Cleanup: Cleanup{Background: BackgroundCleanup{Interval: -time.Second}}},
			[]string{"background cleanup interval -1s"}},
	} {
		err := tc.c.Validate()
		if len(tc.problems) == 0 {
			if err != nil {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: Validate() = %v, want ErrInvalidConfig", tc.name, err)
			continue
		}
		for _, p := range tc.problems {
			if !strings.Contains(err.Error(), p) {
				t.Errorf("%s: error %q does not report %q", tc.name, err, p)
			}
		}
		if n := strings.Count(err.Error(), "; ") + 1; n != len(tc.problems) {
			t.Errorf("%s: error %q reports %d problems, want %d", tc.name, err, n, len(tc.problems))
		}
	}
}
