package snapshot

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
)

// newTestStorage returns a FileStorage on a fresh temporary directory.
func newTestStorage(t *testing.T) *FileStorage {
	t.Helper()
	s, err := NewFileStorage(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// putFile commits b at name and returns what was written.
func putFile(t *testing.T, s Storage, name string, b []byte) Written {
	t.Helper()
	w, err := s.Create(context.Background(), name, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(b); err != nil {
		t.Fatal(err)
	}
	wr, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return wr
}

// overwrite replaces the bytes of a committed file behind the storage's
// back, as disk corruption would.
func overwrite(t *testing.T, s *FileStorage, name string, b []byte) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(s.Root(), filepath.FromSlash(name)), b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func readAllFile(t *testing.T, s *FileStorage, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(s.Root(), filepath.FromSlash(name)))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// wantCorrupt fails unless err is a corruption error that names name.
func wantCorrupt(t *testing.T, err error, name string, what string) {
	t.Helper()
	if err == nil {
		t.Fatalf("%s: no error", what)
	}
	if !errors.Is(err, ErrCorrupt) {
		t.Fatalf("%s: error %v is not ErrCorrupt", what, err)
	}
	if !strings.Contains(err.Error(), name) {
		t.Fatalf("%s: error %q does not name %q", what, err, name)
	}
}

// rangeRecorder records the ranged reads made through a Storage.
type rangeRecorder struct {
	Storage
	mu     sync.Mutex
	ranges [][2]int64
}

func (r *rangeRecorder) OpenRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	r.mu.Lock()
	r.ranges = append(r.ranges, [2]int64{off, length})
	r.mu.Unlock()
	return r.Storage.OpenRange(ctx, name, off, length)
}
