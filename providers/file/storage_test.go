package file

import (
	"bytes"
	"context"
	"errors"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"

	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/snapshot/storagetest"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

func TestFileStorageBasics(t *testing.T) {
	s := storagetest.Open(t, New)
	ctx := t.Context()
	data := bytes.Repeat([]byte("0123456789"), 100_000) // larger than the write buffer
	w, err := s.Create(ctx, "job/chk-1/deep/file", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i += 7777 {
		if _, err := w.Write(data[i:min(i+7777, len(data))]); err != nil {
			t.Fatal(err)
		}
	}
	wr, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if want := (snapshot.Written{Size: int64(len(data)), CRC32C: crc32.Checksum(data, castagnoli)}); wr != want {
		t.Fatalf("Written = %+v, want %+v", wr, want)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if _, err := w.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Commit succeeded")
	}

	size, err := s.Size(ctx, "job/chk-1/deep/file")
	if err != nil || size != int64(len(data)) {
		t.Fatalf("Size = %d, %v", size, err)
	}
	rc, err := s.Open(ctx, "./job/chk-1/deep/../deep/file") // names are cleaned
	if err != nil {
		t.Fatal(err)
	}
	got, err := io.ReadAll(rc)
	rc.Close()
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("Open read %d bytes, %v", len(got), err)
	}

	ranges := []struct {
		off, length int64
		want        []byte
	}{
		{0, 10, data[:10]},
		{5, 3, data[5:8]},
		{int64(len(data)) - 4, 4, data[len(data)-4:]},
		{int64(len(data)) - 4, 100, data[len(data)-4:]}, // short read past the end
		{int64(len(data)) + 10, 5, nil},
		{999_990, -1, data[999_990:]},
		{3, 0, nil},
	}
	for _, r := range ranges {
		rc, err := s.OpenRange(ctx, "job/chk-1/deep/file", r.off, r.length)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, r.want) {
			t.Errorf("OpenRange(%d, %d) = %d bytes, %v; want %d bytes", r.off, r.length, len(got), err, len(r.want))
		}
	}
	if _, err := s.OpenRange(ctx, "job/chk-1/deep/file", -1, 3); err == nil {
		t.Error("OpenRange with a negative offset succeeded")
	}
	storagetest.Put(t, s, "job/chk-1/a", []byte("a"))
	storagetest.Put(t, s, "job/shared/x", []byte("x"))
	lists := []struct {
		dir  string
		want []string
	}{
		{"", []string{"job/"}},
		{".", []string{"job/"}},
		{"job", []string{"chk-1/", "shared/"}},
		{"job/", []string{"chk-1/", "shared/"}},
		{"job/chk-1", []string{"a", "deep/"}},
		{"missing", nil},
		{"job/chk-1/a", nil}, // a file lists as empty
	}
	for _, l := range lists {
		got, err := s.List(ctx, l.dir)
		if err != nil || len(got) != len(l.want) || (len(got) > 0 && !reflect.DeepEqual(got, l.want)) {
			t.Errorf("List(%q) = %q, %v; want %q", l.dir, got, err, l.want)
		}
	}

	if err := s.Delete(ctx, "job/chk-1/a"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "job/chk-1/a"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	for _, name := range []string{"job/chk-1/a", "never"} {
		if _, err := s.Size(ctx, name); !errors.Is(err, snapshot.ErrNotExist) {
			t.Errorf("Size(%q): %v, want ErrNotExist", name, err)
		}
		if _, err := s.Open(ctx, name); !errors.Is(err, snapshot.ErrNotExist) {
			t.Errorf("Open(%q): %v, want ErrNotExist", name, err)
		}
		if _, err := s.OpenRange(ctx, name, 0, 1); !errors.Is(err, snapshot.ErrNotExist) {
			t.Errorf("OpenRange(%q): %v, want ErrNotExist", name, err)
		}
	}
	if _, err := s.Open(ctx, "job/chk-1"); !errors.Is(err, snapshot.ErrNotExist) {
		t.Errorf("Open of a directory: %v, want ErrNotExist", err)
	}
}

func TestFileStorageNames(t *testing.T) {
	s := storagetest.Open(t, New)
	ctx := t.Context()
	bad := []string{"", ".", "..", "../x", "a/../../x", "/abs", "a/.tmp-x", ".tmp-1", "a\x00b"}
	for _, name := range bad {
		if _, err := s.Create(ctx, name, snapshot.CreateOptions{}); !errors.Is(err, snapshot.ErrInvalidName) {
			t.Errorf("Create(%q): %v, want ErrInvalidName", name, err)
		}
		if _, err := s.Open(ctx, name); !errors.Is(err, snapshot.ErrInvalidName) {
			t.Errorf("Open(%q): %v, want ErrInvalidName", name, err)
		}
		if err := s.Delete(ctx, name); !errors.Is(err, snapshot.ErrInvalidName) {
			t.Errorf("Delete(%q): %v, want ErrInvalidName", name, err)
		}
	}
	if _, err := s.List(ctx, "../"); !errors.Is(err, snapshot.ErrInvalidName) {
		t.Errorf("List(../): %v, want ErrInvalidName", err)
	}
	// Nothing was created outside the root.
	if _, err := os.Stat(filepath.Join(filepath.Dir(s.Root()), "x")); err == nil {
		t.Error("a file escaped the root")
	}
}

// TestFileStorageCrashSafety: aborted or never committed writers leave
// nothing visible, and NoOverwrite never replaces an existing file.
func TestFileStorageCrashSafety(t *testing.T) {
	s := storagetest.Open(t, New)
	ctx := t.Context()

	aborted, err := s.Create(ctx, "d/aborted", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	aborted.Write([]byte("partial"))
	if err := aborted.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := aborted.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	if _, err := aborted.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}

	pending, err := s.Create(ctx, "d/pending", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pending.Write([]byte("never committed"))

	for _, name := range []string{"d/aborted", "d/pending"} {
		if _, err := s.Size(ctx, name); !errors.Is(err, snapshot.ErrNotExist) {
			t.Errorf("%s visible: %v", name, err)
		}
	}
	if got, err := s.List(ctx, "d"); err != nil || len(got) != 0 {
		t.Errorf("List(d) = %q, %v; want nothing", got, err)
	}
	// The pending temp file exists on disk but hidden; aborting removes it.
	entries, _ := os.ReadDir(filepath.Join(s.Root(), "d"))
	if len(entries) != 1 {
		t.Errorf("%d entries on disk, want the pending temp file", len(entries))
	}
	pending.Abort()
	entries, _ = os.ReadDir(filepath.Join(s.Root(), "d"))
	if len(entries) != 0 {
		t.Errorf("%d entries left on disk after Abort", len(entries))
	}
	storagetest.Put(t, s, "d/f", []byte("original"))
	w, err := s.Create(ctx, "d/f", snapshot.CreateOptions{NoOverwrite: true})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("replacement"))
	if _, err := w.Commit(); !errors.Is(err, snapshot.ErrExist) {
		t.Fatalf("NoOverwrite Commit over an existing file: %v, want ErrExist", err)
	}
	if got := storagetest.Read(t, s, "d/f"); string(got) != "original" {
		t.Errorf("existing file changed to %q", got)
	}
	entries, _ = os.ReadDir(filepath.Join(s.Root(), "d"))
	if len(entries) != 1 {
		t.Errorf("%d entries on disk after the refused commit, want 1", len(entries))
	}
	// Without NoOverwrite the file is replaced atomically.
	storagetest.Put(t, s, "d/f", []byte("second"))
	if got := storagetest.Read(t, s, "d/f"); string(got) != "second" {
		t.Errorf("overwrite gave %q", got)
	}
}

// TestFileStorageNoOverwriteRace: of many concurrent NoOverwrite commits to
// one name exactly one wins and its content is what is stored.
func TestFileStorageNoOverwriteRace(t *testing.T) {
	s := storagetest.Open(t, New)
	ctx := t.Context()
	const n = 8
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := range n {
		w, err := s.Create(ctx, "race/_metadata", snapshot.CreateOptions{NoOverwrite: true})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte{byte('a' + i)})
		wg.Go(func() { _, errs[i] = w.Commit() })
	}
	wg.Wait()
	winner := -1
	for i, err := range errs {
		switch {
		case err == nil && winner >= 0:
			t.Fatalf("writers %d and %d both committed", winner, i)
		case err == nil:
			winner = i
		case !errors.Is(err, snapshot.ErrExist):
			t.Fatalf("writer %d: %v", i, err)
		}
	}
	if winner < 0 {
		t.Fatal("no writer committed")
	}
	if got := storagetest.Read(t, s, "race/_metadata"); string(got) != string(rune('a'+winner)) {
		t.Errorf("stored %q, winner wrote %q", got, string(rune('a'+winner)))
	}
}

func TestFileStorageClosed(t *testing.T) {
	s := storagetest.Open(t, New)
	ctx := t.Context()
	storagetest.Put(t, s, "a", []byte("a"))
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := s.Open(ctx, "a"); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("Open after Close: %v", err)
	}
	if _, err := s.List(ctx, ""); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("List after Close: %v", err)
	}
	if _, err := s.Create(ctx, "b", snapshot.CreateOptions{}); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("Create after Close: %v", err)
	}
}

func TestFileStorageCancelled(t *testing.T) {
	s := storagetest.Open(t, New)
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := s.Create(ctx, "a", snapshot.CreateOptions{}); !errors.Is(err, context.Canceled) {
		t.Errorf("Create: %v", err)
	}
	if _, err := s.List(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("List: %v", err)
	}
}

func TestNewFileStorageCreatesRoot(t *testing.T) {
	root := filepath.Join(t.TempDir(), "a", "b")
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() || s.Root() != root {
		t.Fatalf("root not created: %v", err)
	}
	file := filepath.Join(t.TempDir(), "f")
	os.WriteFile(file, nil, 0o644)
	if _, err := New(file); err == nil {
		t.Error("NewFileStorage on a file succeeded")
	}
}

// TestFileStorageDirectoriesFollowFiles: deleting the last file of a
// directory removes the directory (and empty parents, not the root), as
// on an object store; ListInfo gives sizes and times; DeleteAll removes
// many.
func TestFileStorageDirectoriesFollowFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s, err := New(root)
	if err != nil {
		t.Fatal(err)
	}
	put := func(name, data string) {
		w, err := s.Create(ctx, name, snapshot.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(data))
		if _, err := w.Commit(); err != nil {
			t.Fatal(err)
		}
	}
	put("job/chk-1/a", "12345")
	put("job/chk-1/sub/b", "1")
	put("job/shared/c", "12")
	infos, err := s.ListInfo(ctx, "job/chk-1")
	if err != nil || len(infos) != 2 || infos[0].Name != "a" || infos[0].Size != 5 || infos[0].ModTime.IsZero() || infos[1].Name != "sub/" {
		t.Fatalf("ListInfo: %+v, %v", infos, err)
	}
	if err := snapshot.DeleteAll(ctx, s, []string{"job/chk-1/a", "job/chk-1/sub/b", "job/chk-1/missing"}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "job", "chk-1")); !os.IsNotExist(err) {
		t.Fatalf("empty chk-1 kept: %v", err)
	}
	if err := s.Delete(ctx, "job/shared/c"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "job")); !os.IsNotExist(err) {
		t.Fatalf("empty job dir kept: %v", err)
	}
	if _, err := os.Stat(root); err != nil {
		t.Fatalf("root removed: %v", err)
	}
	put("job/chk-2/a", "x") // directories come back
}
