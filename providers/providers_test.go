package providers

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
)

func TestParseLocation(t *testing.T) {
	wd, err := os.Getwd()
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in    string
		want  Location
		err   bool
		unsup bool
	}{
		{in: "file:///var/ckpt", want: Location{Scheme: "file", Path: "/var/ckpt"}},
		{in: "file:///var/ckpt/", want: Location{Scheme: "file", Path: "/var/ckpt"}},
		{in: "FILE:///a/b/../c", want: Location{Scheme: "file", Path: "/a/c"}},
		{in: "file://localhost/x", want: Location{Scheme: "file", Path: "/x"}},
		{in: "file:/x", want: Location{Scheme: "file", Path: "/x"}},
		{in: "/abs/dir", want: Location{Scheme: "file", Path: "/abs/dir"}},
		{in: "rel/dir", want: Location{Scheme: "file", Path: filepath.Join(wd, "rel/dir")}},
		{in: "odd:name", want: Location{Scheme: "file", Path: filepath.Join(wd, "odd:name")}},
		{in: "s3://bucket/pre/fix/", want: Location{Scheme: "s3", Host: "bucket", Path: "pre/fix"}},
		{in: "stated://host:7070", want: Location{Scheme: "stated", Host: "host:7070"}},
		{in: "", err: true},
		{in: "file://otherhost/x", err: true, unsup: true},
		{in: "file:rel", err: true},
		{in: "s3:///nobucket", err: true},
		{in: "hdfs://nn/x", err: true, unsup: true},
		{in: "s3://b/x?versionId=1", err: true},
	}
	for _, tt := range tests {
		got, err := ParseLocation(tt.in)
		if tt.err {
			if err == nil || errors.Is(err, snapshot.ErrUnsupported) != tt.unsup {
				t.Errorf("ParseLocation(%q) = %+v, %v; want error (unsupported: %v)", tt.in, got, err, tt.unsup)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ParseLocation(%q) = %+v, %v; want %+v", tt.in, got, err, tt.want)
		}
	}
}

func TestOpenStorage(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	for _, loc := range []string{"file://" + dir, dir} {
		s, err := Open(ctx, loc, Options{})
		if err != nil {
			t.Fatalf("OpenStorage(%q): %v", loc, err)
		}
		if fs, ok := s.(*file.Storage); !ok || fs.Root() != dir {
			t.Errorf("OpenStorage(%q) = %#v", loc, s)
		}
		s.Close()
	}
	for _, loc := range []string{"stated://localhost:7070", "gs://b"} {
		if _, err := Open(ctx, loc, Options{}); !errors.Is(err, snapshot.ErrUnsupported) {
			t.Errorf("OpenStorage(%q): %v, want ErrUnsupported", loc, err)
		}
	}
	if _, err := Open(ctx, "s3://bucket/prefix", Options{}); err == nil || !strings.Contains(err.Error(), "s3.endpoint") {
		t.Errorf("OpenStorage(s3://...) without an endpoint: %v, want an error naming s3.endpoint", err)
	}
}

// Readers open what exists: with MustExist, and always through OpenAbove,
// a missing directory is an error naming it and nothing is created.
func TestOpenStorageMustExist(t *testing.T) {
	ctx := t.Context()
	missing := filepath.Join(t.TempDir(), "a", "b")
	if _, err := Open(ctx, missing, Options{MustExist: true}); !errors.Is(err, snapshot.ErrNotExist) || !strings.Contains(err.Error(), missing) {
		t.Errorf("OpenStorage of a missing dir with MustExist: %v, want ErrNotExist naming %s", err, missing)
	}
	if _, _, err := OpenSnapshotPath(ctx, filepath.Join(missing, "job", "chk-1"), Options{}); !errors.Is(err, snapshot.ErrNotExist) {
		t.Errorf("OpenSnapshotPath under a missing dir: %v, want ErrNotExist", err)
	}
	if _, err := os.Stat(filepath.Dir(missing)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("a reader created %s", filepath.Dir(missing))
	}
	s, err := Open(ctx, missing, Options{})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	if _, err := os.Stat(missing); err != nil {
		t.Fatalf("a writer's OpenStorage did not create its directory: %v", err)
	}
}
