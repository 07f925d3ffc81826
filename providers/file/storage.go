package file

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"sort"
	"strings"
	"sync/atomic"
	"syscall"

	"github.com/stated-io/stated/internal/stagedfile"
	"github.com/stated-io/stated/snapshot"
)

// Storage is a snapshot.Storage on a local filesystem directory.
//
// Create writes to a hidden temporary file (".tmp-...") in the target
// directory; Commit flushes and fsyncs it, publishes it with rename (or,
// with NoOverwrite, a hard link, so an existing file is never replaced) and
// fsyncs the directory. Parent directories are created as needed and
// fsynced. Temporary files left by a crash are never listed; an orphan
// sweeper may delete them by age. Safe for concurrent use.
type Storage struct {
	root   string
	closed atomic.Bool
}

var _ snapshot.Storage = (*Storage)(nil)

// New returns a Storage rooted at root, creating the directory if it is
// missing.
func New(root string) (*Storage, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("file storage %q: %w", root, err)
	}
	if err := os.MkdirAll(abs, 0o755); err != nil {
		return nil, fmt.Errorf("file storage: %w", err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return nil, fmt.Errorf("file storage: %w", err)
	}
	if !fi.IsDir() {
		return nil, fmt.Errorf("file storage: %s is not a directory", abs)
	}
	return &Storage{root: abs}, nil
}

// OpenExisting returns a Storage rooted at root, which must be an existing
// directory: otherwise the error wraps snapshot.ErrNotExist and names it.
// Nothing is created.
func OpenExisting(root string) (*Storage, error) {
	abs, err := filepath.Abs(root)
	if err != nil {
		return nil, fmt.Errorf("file storage %q: %w", root, err)
	}
	if err := checkDirExists(abs); err != nil {
		return nil, err
	}
	return &Storage{root: abs}, nil
}

// Root returns the absolute directory the storage is rooted at.
func (s *Storage) Root() string { return s.root }

// resolve cleans name, checks that it stays inside the root and returns
// the clean name and the filesystem path.
func (s *Storage) resolve(ctx context.Context, name string) (string, string, error) {
	if err := ctx.Err(); err != nil {
		return "", "", err
	}
	if s.closed.Load() {
		return "", "", snapshot.ErrClosed
	}
	clean := path.Clean(name)
	if err := snapshot.CheckName(clean); err != nil {
		return "", "", fmt.Errorf("%w %q: %v", snapshot.ErrInvalidName, name, err)
	}
	return clean, filepath.Join(s.root, filepath.FromSlash(clean)), nil
}

func notExist(name string) error {
	return fmt.Errorf("%s: %w", name, snapshot.ErrNotExist)
}

// Create implements snapshot.Storage.
func (s *Storage) Create(ctx context.Context, name string, opts snapshot.CreateOptions) (snapshot.FileWriter, error) {
	clean, full, err := s.resolve(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("create: %w", err)
	}
	dir := filepath.Dir(full)
	if err := s.mkdirAll(dir); err != nil {
		return nil, fmt.Errorf("create %s: %w", clean, err)
	}
	base := filepath.Base(full)
	if len(base) > 64 {
		base = base[:64]
	}
	f, err := os.CreateTemp(dir, snapshot.TempPrefix+base+"-*")
	for try := 0; errors.Is(err, fs.ErrNotExist) && try < 3; try++ {
		// A Delete pruned the directory after mkdirAll: make it again.
		if err = s.mkdirAll(dir); err == nil {
			f, err = os.CreateTemp(dir, snapshot.TempPrefix+base+"-*")
		}
	}
	if err != nil {
		return nil, fmt.Errorf("create %s: %w", clean, err)
	}
	return &fileWriter{File: stagedfile.New(clean, f, stagedfile.Options{}), final: full, dir: dir, noOverwrite: opts.NoOverwrite}, nil
}

// mkdirAll creates dir and its missing parents below the root, fsyncing the
// parent of every directory it creates.
func (s *Storage) mkdirAll(dir string) error {
	if fi, err := os.Stat(dir); err == nil && fi.IsDir() {
		return nil
	}
	rel, err := filepath.Rel(s.root, dir)
	if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
		return fmt.Errorf("directory %s outside the root", dir)
	}
	cur := s.root
	for _, part := range strings.Split(rel, string(filepath.Separator)) {
		parent := cur
		cur = filepath.Join(cur, part)
		switch err := os.Mkdir(cur, 0o755); {
		case err == nil:
			if err := SyncDir(parent); err != nil {
				return err
			}
		case errors.Is(err, fs.ErrExist):
		default:
			return err
		}
	}
	return nil
}

// SyncDir fsyncs a directory of the local filesystem, so that the
// creation, renaming or removal of its entries is durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("fsync directory %s: %w", dir, err)
	}
	return nil
}

// Open implements snapshot.Storage.
func (s *Storage) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	f, _, err := s.openFile(ctx, name)
	if err != nil {
		return nil, err
	}
	return f, nil
}

func (s *Storage) openFile(ctx context.Context, name string) (*os.File, int64, error) {
	_, full, err := s.resolve(ctx, name)
	if err != nil {
		return nil, 0, fmt.Errorf("open: %w", err)
	}
	f, err := os.Open(full)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, notExist(full)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("open: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("open: %w", err)
	}
	if fi.IsDir() {
		f.Close()
		return nil, 0, fmt.Errorf("%s is a directory: %w", full, snapshot.ErrNotExist)
	}
	return f, fi.Size(), nil
}

// OpenRange implements snapshot.Storage.
func (s *Storage) OpenRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	if off < 0 {
		return nil, fmt.Errorf("open %s: negative offset %d", name, off)
	}
	f, size, err := s.openFile(ctx, name)
	if err != nil {
		return nil, err
	}
	if length < 0 {
		length = max(size-off, 0)
	}
	return &rangeReader{SectionReader: io.NewSectionReader(f, off, length), f: f}, nil
}

type rangeReader struct {
	*io.SectionReader
	f *os.File
}

func (r *rangeReader) Close() error { return r.f.Close() }

// Size implements snapshot.Storage.
func (s *Storage) Size(ctx context.Context, name string) (int64, error) {
	_, full, err := s.resolve(ctx, name)
	if err != nil {
		return 0, fmt.Errorf("size: %w", err)
	}
	fi, err := os.Stat(full)
	if errors.Is(err, fs.ErrNotExist) {
		return 0, notExist(full)
	}
	if err != nil {
		return 0, fmt.Errorf("size: %w", err)
	}
	if fi.IsDir() {
		return 0, fmt.Errorf("%s is a directory: %w", full, snapshot.ErrNotExist)
	}
	return fi.Size(), nil
}

// List implements snapshot.Storage.
func (s *Storage) List(ctx context.Context, dir string) ([]string, error) {
	full := s.root
	if dir != "" && dir != "." && dir != "/" {
		var err error
		if _, full, err = s.resolve(ctx, strings.TrimSuffix(dir, "/")); err != nil {
			return nil, fmt.Errorf("list: %w", err)
		}
	} else if err := ctx.Err(); err != nil {
		return nil, err
	} else if s.closed.Load() {
		return nil, fmt.Errorf("list: %w", snapshot.ErrClosed)
	}
	entries, err := os.ReadDir(full)
	if errors.Is(err, fs.ErrNotExist) || errors.Is(err, syscall.ENOTDIR) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("list: %w", err)
	}
	names := make([]string, 0, len(entries))
	for _, e := range entries {
		n := e.Name()
		if strings.HasPrefix(n, snapshot.TempPrefix) {
			continue
		}
		if e.IsDir() {
			n += "/"
		}
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

// Delete implements snapshot.Storage.
func (s *Storage) Delete(ctx context.Context, name string) error {
	_, full, err := s.resolve(ctx, name)
	if err != nil {
		return fmt.Errorf("delete: %w", err)
	}
	if err := os.Remove(full); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete: %w", err)
	}
	s.pruneEmpty(filepath.Dir(full))
	return nil
}

// pruneEmpty removes dir and its parents below the root while they are
// empty, so that a directory, as on an object store, exists only while it
// holds files. A failure (a directory not empty, or being written) stops
// it quietly.
func (s *Storage) pruneEmpty(dir string) {
	for dir != s.root && strings.HasPrefix(dir, s.root+string(filepath.Separator)) {
		if os.Remove(dir) != nil {
			return
		}
		dir = filepath.Dir(dir)
	}
}

// DeleteAll implements snapshot.BatchDeleter.
func (s *Storage) DeleteAll(ctx context.Context, names []string) error {
	var errs []error
	for _, n := range names {
		if err := s.Delete(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// ListInfo implements snapshot.InfoLister.
func (s *Storage) ListInfo(ctx context.Context, dir string) ([]snapshot.FileInfo, error) {
	names, err := s.List(ctx, dir)
	if err != nil {
		return nil, err
	}
	infos := make([]snapshot.FileInfo, 0, len(names))
	for _, n := range names {
		info := snapshot.FileInfo{Name: n}
		if !strings.HasSuffix(n, "/") {
			_, full, err := s.resolve(ctx, path.Join(dir, n))
			if err != nil {
				return nil, fmt.Errorf("list: %w", err)
			}
			fi, err := os.Stat(full)
			if errors.Is(err, fs.ErrNotExist) {
				continue // deleted since List
			}
			if err != nil {
				return nil, fmt.Errorf("list: %w", err)
			}
			info.Size, info.ModTime = fi.Size(), fi.ModTime()
		}
		infos = append(infos, info)
	}
	return infos, nil
}

// Close implements snapshot.Storage. Writers already created may still commit or
// abort; new calls fail with snapshot.ErrClosed.
func (s *Storage) Close() error {
	s.closed.Store(true)
	return nil
}

// fileWriter is the snapshot.FileWriter of Storage.
type fileWriter struct {
	stagedfile.File
	// the temporary file, in the final directory
	final, dir  string
	noOverwrite bool
}

func (w *fileWriter) Commit() (snapshot.Written, error) {
	if err := w.Ready(); err != nil {
		if !w.Done() {
			w.Discard()
		}
		return snapshot.Written{}, err
	}
	if err := w.publish(); err != nil {
		w.Discard()
		return snapshot.Written{}, err
	}
	w.MarkCommitted()
	return w.Written(), nil
}

func (w *fileWriter) publish() error {
	if err := w.Flush(); err != nil {
		return fmt.Errorf("commit %s: %w", w.Name(), err)
	}
	if err := w.OS().Sync(); err != nil {
		return fmt.Errorf("commit %s: fsync: %w", w.Name(), err)
	}
	if err := w.OS().Close(); err != nil {
		return fmt.Errorf("commit %s: %w", w.Name(), err)
	}
	tmp := w.OS().Name()
	if w.noOverwrite {
		if err := os.Link(tmp, w.final); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("commit %s: %w", w.Name(), snapshot.ErrExist)
			}
			return fmt.Errorf("commit %s: %w", w.Name(), err)
		}
		// The file is published; a temporary name left behind by a failed
		// remove is hidden and swept like any crash leftover.
		_ = os.Remove(tmp)
	} else if err := os.Rename(tmp, w.final); err != nil {
		return fmt.Errorf("commit %s: %w", w.Name(), err)
	}
	if err := SyncDir(w.dir); err != nil {
		return fmt.Errorf("commit %s: %w", w.Name(), err)
	}
	return nil
}
