package jobcli

import (
	"flag"
	"time"

	"github.com/stated-io/stated/engine/config"
)

// DurationVar defines a flag for a duration written as the configuration
// writes them: Flink style ("10 s", "500ms") or Go style ("1m30s"). The
// flag stores into p, whose value on entry is the default.
func DurationVar(fs *flag.FlagSet, p *time.Duration, name, usage string) {
	fs.Var(durationValue{p}, name, usage)
}

// durationValue is the flag.Value of DurationVar. Its zero value prints
// as "", so that the usage shows no default for a zero duration.
type durationValue struct{ d *time.Duration }

func (v durationValue) String() string {
	if v.d == nil || *v.d == 0 {
		return ""
	}
	return v.d.String()
}

func (v durationValue) Set(s string) error {
	d, err := config.ParseDuration(s)
	if err != nil {
		return err
	}
	*v.d = d
	return nil
}
