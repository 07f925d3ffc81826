package snapshot_test

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
)

// overwrite replaces the bytes of a committed file behind the storage's
// back, as disk corruption would.
func overwrite(t *testing.T, s *file.Storage, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.Root(), filepath.FromSlash(name)), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// wantCorrupt fails unless err is a corruption error that names name.
func wantCorrupt(t *testing.T, err error, name string, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	if !errors.Is(err, snapshot.ErrCorrupt) {
		t.Fatalf("%s: error %v is not ErrCorrupt", what, err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Fatalf("%s: error %q does not name %q", what, err, name)
	}
}

// rangeRecorder records the ranged reads made through a Storage.
type rangeRecorder struct {
	snapshot.Storage

	mu     sync.Mutex
	ranges [][2]int64
}

func (r *rangeRecorder) OpenRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	r.mu.Lock()
	r.ranges = append(r.ranges, [2]int64{off, length})
	r.mu.Unlock()
	return r.Storage.OpenRange(ctx, name, off, length)
}
