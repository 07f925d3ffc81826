package main

import (
	"context"
	"flag"
	"io"
	"strings"

	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/snapshot"
)

// commandFlags are the flags every command takes.
type commandFlags struct {
	fs   *flag.FlagSet
	sets []string
}

func newFlags(name string) *commandFlags {
	c := &commandFlags{fs: flag.NewFlagSet(name, flag.ContinueOnError)}
	c.fs.SetOutput(io.Discard)
	c.fs.Func("set", "a configuration key=value (s3.* for s3:// locations); repeatable", func(s string) error {
		c.sets = append(c.sets, s)
		return nil
	})
	return c
}

// parse parses args, flags and positional arguments in any order, and
// returns exactly want positional arguments.
func (c *commandFlags) parse(args []string, want ...string) ([]string, error) {
	var pos []string
	for {
		if err := c.fs.Parse(args); err != nil {
			return nil, usagef("%s: %v", c.fs.Name(), err)
		}
		args = c.fs.Args()
		if len(args) == 0 {
			break
		}
		pos = append(pos, args[0])
		args = args[1:]
	}
	if len(pos) != len(want) {
		return nil, usagef("%s: want %s, got %d argument(s)", c.fs.Name(), strings.Join(want, " "), len(pos))
	}
	return pos, nil
}

// storageOptions turns the --set values into the options of s3://
// storages.
func (c *commandFlags) storageOptions() (snapshot.StorageOptions, error) {
	values := map[string]string{}
	for _, s := range c.sets {
		k, v, err := config.ParseSet(s)
		if err != nil {
			return snapshot.StorageOptions{}, usagef("%v", err)
		}
		values[k] = v
	}
	cfg, err := config.Parse(values)
	if err != nil {
		return snapshot.StorageOptions{}, usagef("%v", err)
	}
	return cfg.StorageOptions(), nil
}

// openAt opens the storage at location (a path or URL) as its root.
func openAt(ctx context.Context, location string, opts snapshot.StorageOptions) (snapshot.Storage, error) {
	return snapshot.OpenStorage(ctx, location, opts)
}

// openSnapshotPath opens the storage of a checkpoint or savepoint path;
// see snapshot.OpenSnapshotPath.
func openSnapshotPath(ctx context.Context, location string, opts snapshot.StorageOptions) (snapshot.Storage, string, error) {
	return snapshot.OpenSnapshotPath(ctx, location, opts)
}
