// Package providers is the one place that opens a snapshot.Storage from a
// location (a path or URL) and configuration: the file provider
// (providers/file) for paths and file:// URLs, the S3 provider
// (providers/s3) for s3://bucket/prefix. stated:// locations are reserved
// for the stated service, which the next release adds beside them.
//
// Only the edges import providers: the engine's wiring that opens the
// job's storages, the stated command, the examples, the benchmarks and
// tests. Everything else is written against the snapshot.Storage contract.
package providers

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"path"
	"path/filepath"
	"strings"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
)

// Location is a parsed checkpoint or savepoint location
// (execution.checkpointing.dir and friends).
type Location struct {
	// Scheme is "file", "s3" or "stated".
	Scheme string
	// Host is the bucket for s3 and host:port for stated; empty for file.
	Host string
	// Path is the absolute, clean filesystem path for file, and the key
	// prefix (no leading "/") for s3 and stated.
	Path string
}

// ParseLocation parses "file:///abs/path", a plain absolute or relative
// filesystem path (made absolute against the working directory),
// "s3://bucket/prefix" or "stated://host:port/prefix". Other schemes give
// an error wrapping snapshot.ErrUnsupported.
func ParseLocation(s string) (Location, error) {
	if s == "" {
		return Location{}, errors.New("parse location: empty location")
	}
	scheme, _, hasScheme := strings.Cut(s, ":")
	if !hasScheme || !isScheme(scheme) || (!strings.Contains(s, "://") && !strings.EqualFold(scheme, "file")) {
		abs, err := filepath.Abs(s)
		if err != nil {
			return Location{}, fmt.Errorf("parse location %q: %w", s, err)
		}
		return Location{Scheme: "file", Path: abs}, nil
	}
	u, err := url.Parse(s)
	if err != nil {
		return Location{}, fmt.Errorf("parse location: %w", err)
	}
	if u.RawQuery != "" || u.Fragment != "" || u.User != nil {
		return Location{}, fmt.Errorf("parse location %q: query, fragment and user info are not allowed", s)
	}
	switch scheme := strings.ToLower(u.Scheme); scheme {
	case "file":
		if u.Host != "" && u.Host != "localhost" {
			return Location{}, fmt.Errorf("parse location %q: file URLs name no host: %w", s, snapshot.ErrUnsupported)
		}
		if !strings.HasPrefix(u.Path, "/") {
			return Location{}, fmt.Errorf("parse location %q: file URL path must be absolute", s)
		}
		return Location{Scheme: scheme, Path: filepath.Clean(u.Path)}, nil
	case "s3", "stated":
		if u.Host == "" {
			return Location{}, fmt.Errorf("parse location %q: missing host", s)
		}
		return Location{Scheme: scheme, Host: u.Host, Path: strings.Trim(u.Path, "/")}, nil
	default:
		return Location{}, fmt.Errorf("parse location %q: scheme %q: %w", s, u.Scheme, snapshot.ErrUnsupported)
	}
}

func isScheme(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z':
		case i > 0 && (r >= '0' && r <= '9' || r == '+' || r == '-' || r == '.'):
		default:
			return false
		}
	}
	return true
}

// Options configures the storages that Open opens.
type Options struct {
	// S3 configures s3:// locations; its Endpoint is required for them.
	S3 s3.Options
	// MustExist makes Open refuse a file-system location whose directory
	// does not exist (an error wrapping snapshot.ErrNotExist) instead of
	// creating it: for callers that read what is there (restores, the
	// stated tool's listings and inspections). Default false: the
	// directory is created. An s3:// bucket must always exist.
	MustExist bool
}

// Open opens the storage at a location (see ParseLocation): a file.Storage
// for filesystem locations (its directory is created unless
// opts.MustExist) and an s3.Storage for s3://bucket/prefix, which needs
// opts.S3.Endpoint (s3.endpoint) and a bucket that exists. stated://
// locations give an error wrapping snapshot.ErrUnsupported: the stated
// service does not exist yet. The caller closes the storage.
func Open(ctx context.Context, location string, opts Options) (snapshot.Storage, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	loc, err := ParseLocation(location)
	if err != nil {
		return nil, fmt.Errorf("open storage: %w", err)
	}
	switch loc.Scheme {
	case "file":
		if opts.MustExist {
			s, err := file.OpenExisting(loc.Path)
			if err != nil {
				return nil, fmt.Errorf("open storage: %w", err)
			}
			return s, nil
		}
		return file.New(loc.Path)
	case "s3":
		if opts.S3.Endpoint == "" {
			return nil, fmt.Errorf("open storage %q: s3.endpoint is not set (the S3 endpoint, e.g. http://localhost:9000)", location)
		}
		s, err := s3.New(ctx, loc.Host, loc.Path, opts.S3)
		if err != nil {
			return nil, fmt.Errorf("open storage %q: %w", location, err)
		}
		return s, nil
	case "stated":
		return nil, fmt.Errorf("open storage %q: stated:// locations need the stated service, which does not exist yet (the next release adds `stated serve`); use a path, file:// or s3:// for now: %w", location, snapshot.ErrUnsupported)
	default:
		return nil, fmt.Errorf("open storage %q: %s storage is not supported yet: %w", location, loc.Scheme, snapshot.ErrUnsupported)
	}
}

// OpenSnapshotPath opens the storage that holds a checkpoint or savepoint
// given as a path or URL (its directory or its _metadata) and returns the
// storage name of its directory. The storage is rooted two directories
// above it, so that a checkpoint's references into its job's shared
// directory ("../shared/...") resolve. The caller closes the storage.
// Like OpenAbove, it creates no directory.
func OpenSnapshotPath(ctx context.Context, location string, opts Options) (snapshot.Storage, string, error) {
	return OpenAbove(ctx, location, 2, opts)
}

// OpenAbove opens the storage levels directories above location (a path
// or URL; a trailing _metadata is dropped first) and returns it with the
// storage name of location in it, which has exactly levels components.
// It reads what exists: opts.MustExist is implied, so a missing directory
// gives an error wrapping snapshot.ErrNotExist and nothing is created.
func OpenAbove(ctx context.Context, location string, levels int, opts Options) (snapshot.Storage, string, error) {
	loc, err := ParseLocation(location)
	if err != nil {
		return nil, "", err
	}
	p := path.Clean("/" + loc.Path)
	if path.Base(p) == snapshot.MetadataName {
		p = path.Dir(p)
	}
	root := p
	for range levels {
		root = path.Dir(root)
	}
	name := strings.TrimPrefix(strings.TrimPrefix(p, root), "/")
	if name == "" || strings.Count(name, "/") != levels-1 {
		return nil, "", fmt.Errorf("open %s: not a checkpoint or savepoint directory: %w", location, snapshot.ErrInvalidName)
	}
	rootLoc := root
	if loc.Scheme != "file" {
		rootLoc = loc.Scheme + "://" + loc.Host + root
	}
	opts.MustExist = true
	store, err := Open(ctx, rootLoc, opts)
	if err != nil {
		return nil, "", err
	}
	return store, name, nil
}

// SnapshotOpener returns the snapshot.Opener that opens checkpoints and
// savepoints by location with opts (OpenSnapshotPath): what restores and
// the tools that judge registered savepoints need.
func SnapshotOpener(opts Options) snapshot.Opener {
	return func(ctx context.Context, location string) (snapshot.Storage, string, error) {
		return OpenSnapshotPath(ctx, location, opts)
	}
}
