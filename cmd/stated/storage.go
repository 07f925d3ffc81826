package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/spf13/cobra"

	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/providers"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
)

// globalFlags are the flags every command takes.
type globalFlags struct {
	sets []string
}

// s3KeyPrefix starts the configuration keys stated reads: those of
// s3:// locations.
const s3KeyPrefix = "s3."

func (g *globalFlags) register(root *cobra.Command) {
	root.PersistentFlags().StringArrayVar(&g.sets, "set", nil,
		"an S3 setting `key=value` for s3:// locations: s3.endpoint (http://host:port), s3.access-key, s3.secret-key, s3.region, s3.path-style; repeatable")
	root.RegisterFlagCompletionFunc("set", func(*cobra.Command, []string, string) ([]string, cobra.ShellCompDirective) {
		var keys []string
		for _, k := range config.Keys() {
			if strings.HasPrefix(k, s3KeyPrefix) {
				keys = append(keys, k+"=")
			}
		}
		return keys, cobra.ShellCompDirectiveNoSpace
	})
}

// storageOptions turns the --set values into the options of the storages
// to open. A bad value is a usage error.
func (g *globalFlags) storageOptions() (providers.Options, error) {
	values := map[string]string{}
	for _, s := range g.sets {
		k, v, err := config.ParseSet(s)
		if err != nil {
			return providers.Options{}, usagef("--set: %v", err)
		}
		if !strings.HasPrefix(k, s3KeyPrefix) && slices.Contains(config.Keys(), k) {
			return providers.Options{}, usagef("--set %s: stated reads only the s3.* keys; %s is a job setting", s, k)
		}
		values[k] = v
	}
	cfg, err := config.Parse(values)
	if err != nil {
		return providers.Options{}, usagef("--set: %v", err)
	}
	return cfg.StorageOptions(), nil
}

// checkLocation refuses, as a usage error, a location that names no
// storage stated can open, or one whose settings are wrong (the s3.* keys
// of an s3:// location), before anything is opened.
func checkLocation(location string, opts providers.Options) error {
	loc, err := providers.ParseLocation(location)
	if err != nil {
		return usagef("%v", err)
	}
	switch loc.Scheme {
	case "stated":
		return usagef("%s: stated:// locations need the stated service, which does not exist yet (the next release adds `stated serve`); use a path, file:// or s3:// for now", location)
	case "s3":
		if opts.S3.Endpoint == "" {
			return usagef("%s: s3:// locations need --set s3.endpoint=http://HOST:PORT (or https://...)", location)
		}
		s3 := opts.S3
		s3.EnsureDefaults()
		if err := s3.Validate(); err != nil {
			return usagef("%s: %v", location, err)
		}
	}
	return nil
}

// openDir opens the existing directory location (a path or URL) as a
// storage; nothing is created.
func (g *globalFlags) openDir(ctx context.Context, location string) (snapshot.Storage, error) {
	opts, err := g.storageOptions()
	if err != nil {
		return nil, err
	}
	if err := checkLocation(location, opts); err != nil {
		return nil, err
	}
	opts.MustExist = true
	return openErr(providers.Open(ctx, location, opts))
}

// openAbove opens the storage levels directories above location and
// returns the storage name of location in it (see providers.OpenAbove);
// nothing is created.
func (g *globalFlags) openAbove(ctx context.Context, location string, levels int) (snapshot.Storage, string, error) {
	opts, err := g.storageOptions()
	if err != nil {
		return nil, "", err
	}
	if err := checkLocation(location, opts); err != nil {
		return nil, "", err
	}
	store, name, err := providers.OpenAbove(ctx, location, levels, opts)
	if errors.Is(err, snapshot.ErrInvalidName) {
		return nil, "", usagef("%v", err)
	}
	store, err = openErr(store, err)
	return store, name, err
}

// openErr makes the error of opening a storage of a scheme stated does
// not support a usage error.
func openErr(store snapshot.Storage, err error) (snapshot.Storage, error) {
	if errors.Is(err, snapshot.ErrUnsupported) {
		return nil, usagef("%v", err)
	}
	return store, err
}

// locate returns the whole location of the storage name name of store: an
// absolute path, or a URL.
func locate(store snapshot.Storage, name string) string {
	switch s := store.(type) {
	case *file.Storage:
		return filepath.Join(s.Root(), filepath.FromSlash(name))
	case fmt.Stringer:
		return strings.TrimSuffix(s.String(), "/") + "/" + name
	}
	return name
}

// wholeError returns err with the path of a *snapshot.CorruptError it is
// made whole (see locate). Other errors are returned as they are.
func wholeError(store snapshot.Storage, err error) error {
	if ce, ok := err.(*snapshot.CorruptError); ok && !strings.Contains(ce.Path, "://") && !filepath.IsAbs(ce.Path) {
		c := *ce
		c.Path = locate(store, ce.Path)
		return &c
	}
	return err
}
