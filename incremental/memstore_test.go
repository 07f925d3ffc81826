package incremental

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"path"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/stated-io/stated/snapshot"
)

// memStore is an in-memory snapshot.Storage with InfoLister and
// BatchDeleter. Files get their ModTime from now at commit; setModTime
// changes it. failDelete, if set, may refuse deletions.
type memStore struct {
	mu    sync.Mutex
	now   func() time.Time
	files map[string]*memFile
	// children maps a directory ("" is the root) to its entries: file base
	// names and directory base names with a trailing "/".
	children   map[string]map[string]struct{}
	failDelete func(name string) error
	// deleted logs the names of the files deleted, in order.
	deleted []string
}

type memFile struct {
	data []byte
	mod  time.Time
}

var (
	_ snapshot.Storage      = (*memStore)(nil)
	_ snapshot.InfoLister   = (*memStore)(nil)
	_ snapshot.BatchDeleter = (*memStore)(nil)
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func newMemStore(now func() time.Time) *memStore {
	return &memStore{now: now, files: map[string]*memFile{}, children: map[string]map[string]struct{}{}}
}

func checkMemName(name string) error {
	if name == "" || strings.HasPrefix(name, "/") || path.Clean(name) != name || name == ".." || strings.HasPrefix(name, "../") ||
		strings.HasPrefix(path.Base(name), ".tmp-") {
		return fmt.Errorf("mem: %q: %w", name, snapshot.ErrInvalidName)
	}
	return nil
}

func (s *memStore) Create(_ context.Context, name string, opts snapshot.CreateOptions) (snapshot.FileWriter, error) {
	if err := checkMemName(name); err != nil {
		return nil, err
	}
	return &memWriter{s: s, name: name, noOverwrite: opts.NoOverwrite}, nil
}

type memWriter struct {
	s           *memStore
	name        string
	noOverwrite bool
	buf         bytes.Buffer
	done        bool
}

func (w *memWriter) Write(p []byte) (int, error) { return w.buf.Write(p) }

func (w *memWriter) Commit() (snapshot.Written, error) {
	if w.done {
		return snapshot.Written{}, errors.New("mem: committed twice")
	}
	w.done = true
	s := w.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.files[w.name]; ok && w.noOverwrite {
		return snapshot.Written{}, fmt.Errorf("mem: %s: %w", w.name, snapshot.ErrExist)
	}
	data := slices.Clone(w.buf.Bytes())
	if _, ok := s.files[w.name]; !ok {
		s.index(w.name)
	}
	s.files[w.name] = &memFile{data: data, mod: s.now()}
	return snapshot.Written{Size: int64(len(data)), CRC32C: crc32.Checksum(data, castagnoli)}, nil
}

func (w *memWriter) Abort() error { w.done = true; return nil }

// index adds name and its parent directories to children.
func (s *memStore) index(name string) {
	entry := path.Base(name)
	for dir := name; ; {
		dir = path.Dir(dir)
		if dir == "." {
			dir = ""
		}
		kids := s.children[dir]
		if kids == nil {
			kids = map[string]struct{}{}
			s.children[dir] = kids
		}
		_, had := kids[entry]
		kids[entry] = struct{}{}
		if had || dir == "" {
			return
		}
		entry = path.Base(dir) + "/"
	}
}

// unindex removes name and the directories it leaves empty.
func (s *memStore) unindex(name string) {
	entry := path.Base(name)
	for dir := name; ; {
		dir = path.Dir(dir)
		if dir == "." {
			dir = ""
		}
		kids := s.children[dir]
		delete(kids, entry)
		if len(kids) > 0 || dir == "" {
			return
		}
		delete(s.children, dir)
		entry = path.Base(dir) + "/"
	}
}

func (s *memStore) get(name string) (*memFile, error) {
	if err := checkMemName(name); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	f, ok := s.files[name]
	if !ok {
		return nil, fmt.Errorf("mem: %s: %w", name, snapshot.ErrNotExist)
	}
	return f, nil
}

func (s *memStore) Open(_ context.Context, name string) (io.ReadCloser, error) {
	f, err := s.get(name)
	if err != nil {
		return nil, err
	}
	return io.NopCloser(bytes.NewReader(f.data)), nil
}

func (s *memStore) OpenRange(_ context.Context, name string, off, length int64) (io.ReadCloser, error) {
	f, err := s.get(name)
	if err != nil {
		return nil, err
	}
	b := f.data[min(off, int64(len(f.data))):]
	if length >= 0 && length < int64(len(b)) {
		b = b[:length]
	}
	return io.NopCloser(bytes.NewReader(b)), nil
}

func (s *memStore) Size(_ context.Context, name string) (int64, error) {
	f, err := s.get(name)
	if err != nil {
		return 0, err
	}
	return int64(len(f.data)), nil
}

func (s *memStore) List(ctx context.Context, dir string) ([]string, error) {
	infos, err := s.ListInfo(ctx, dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(infos))
	for i, fi := range infos {
		names[i] = fi.Name
	}
	return names, nil
}

func (s *memStore) ListInfo(_ context.Context, dir string) ([]snapshot.FileInfo, error) {
	dir = strings.TrimSuffix(dir, "/")
	if dir != "" {
		if err := checkMemName(dir); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []snapshot.FileInfo
	for e := range s.children[dir] {
		fi := snapshot.FileInfo{Name: e}
		if !strings.HasSuffix(e, "/") {
			f := s.files[path.Join(dir, e)]
			fi.Size, fi.ModTime = int64(len(f.data)), f.mod
		}
		out = append(out, fi)
	}
	slices.SortFunc(out, func(a, b snapshot.FileInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (s *memStore) Delete(_ context.Context, name string) error {
	if err := checkMemName(name); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.failDelete != nil {
		if err := s.failDelete(name); err != nil {
			return err
		}
	}
	if _, ok := s.files[name]; ok {
		delete(s.files, name)
		s.unindex(name)
		s.deleted = append(s.deleted, name)
	}
	return nil
}

func (s *memStore) DeleteAll(ctx context.Context, names []string) error {
	var errs []error
	for _, n := range names {
		if err := s.Delete(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func (s *memStore) Close() error { return nil }

// setModTime changes the modification time of an existing file.
func (s *memStore) setModTime(name string, t time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.files[name].mod = t
}

// takeDeleted returns and forgets the names deleted since the last call.
func (s *memStore) takeDeleted() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	d := s.deleted
	s.deleted = nil
	return d
}

// names returns every file name, sorted.
func (s *memStore) names() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.files))
	for n := range s.files {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

// plainStore hides every optional capability of a Storage.
type plainStore struct{ snapshot.Storage }
