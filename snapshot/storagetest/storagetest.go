// Package storagetest is the acceptance suite of snapshot.Storage: every
// implementation runs it to show that it keeps the whole contract
// (atomic commits, no-overwrite, ranges, listings, deletes, names, close,
// cancellation, concurrency), and the optional capabilities
// (snapshot.InfoLister, snapshot.BatchDeleter, snapshot.Leaser) where it
// has them.
//
// Use it from a test of the implementation:
//
//	func TestMyStorage(t *testing.T) {
//		storagetest.Run(t, func(t *testing.T) snapshot.Storage { return newMyStorage(t) }, storagetest.Options{})
//	}
package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"math/rand/v2"
	"path"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stated-io/stated/snapshot"
)

// Options tune Run.
type Options struct {
	// LargeSize is the size of the file of the large-file test. Set it
	// above the storage's multipart threshold (for the S3 provider its s3.Options.PartSize)
	// so that multipart uploads are exercised. Default 3 MiB + 17 bytes.
	LargeSize int
}

// Run runs the acceptance suite as subtests of t. newStorage returns a new,
// empty storage for each subtest (it may share a backing store with
// others if their namespaces do not overlap) and arranges for its cleanup;
// the suite closes it too, so Close must be idempotent as the contract
// says.
func Run(t *testing.T, newStorage func(t *testing.T) snapshot.Storage, opts Options) {
	if opts.LargeSize == 0 {
		opts.LargeSize = 3<<20 + 17
	}
	tests := []struct {
		name string
		fn   func(t *testing.T, s snapshot.Storage)
	}{
		{"CommitAndRead", testCommitAndRead},
		{"EmptyFile", testEmptyFile},
		{"InvisibleBeforeCommit", testInvisibleBeforeCommit},
		{"Abort", testAbort},
		{"WriterDoneTwice", testWriterDoneTwice},
		{"Overwrite", testOverwrite},
		{"NoOverwrite", testNoOverwrite},
		{"NoOverwriteRace", testNoOverwriteRace},
		{"Missing", testMissing},
		{"Ranges", testRanges},
		{"List", testList},
		{"ListInfo", testListInfo},
		{"Delete", testDelete},
		{"DeleteAll", testDeleteAll},
		{"InvalidNames", testInvalidNames},
		{"UnusualNames", testUnusualNames},
		{"Cancelled", testCancelled},
		{"Close", testClose},
		{"LargeFile", func(t *testing.T, s snapshot.Storage) { testLargeFile(t, s, opts.LargeSize) }},
		{"Concurrent", testConcurrent},
		{"Lease", testLease},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStorage(t)
			t.Cleanup(func() { s.Close() })
			tt.fn(t, s)
		})
	}
}

// Open returns the storage that open opens on a new temporary directory
// of t, and closes it when t ends: the storage of a test.
func Open[S snapshot.Storage](t testing.TB, open func(root string) (S, error)) S {
	t.Helper()
	s, err := open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// Put commits data at name of s and returns what was written; it fails t
// on any error.
func Put(t testing.TB, s snapshot.Storage, name string, data []byte) snapshot.Written {
	t.Helper()
	w, err := s.Create(t.Context(), name, snapshot.CreateOptions{})
	if err != nil {
		t.Fatalf("Create(%q): %v", name, err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatalf("Write(%q): %v", name, err)
	}
	wr, err := w.Commit()
	if err != nil {
		t.Fatalf("Commit(%q): %v", name, err)
	}
	return wr
}

// Read returns the whole content of name of s; it fails t on any error.
func Read(t testing.TB, s snapshot.Storage, name string) []byte {
	t.Helper()
	rc, err := s.Open(t.Context(), name)
	if err != nil {
		t.Fatalf("Open(%q): %v", name, err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatalf("read %q: %v", name, err)
	}
	return b
}

// wantMissing fails unless name is invisible to Size and Open, with errors
// that wrap ErrNotExist and name the file.
func wantMissing(t *testing.T, s snapshot.Storage, name string) {
	t.Helper()
	ctx := t.Context()
	if n, err := s.Size(ctx, name); !errors.Is(err, snapshot.ErrNotExist) {
		t.Errorf("Size(%q) = %d, %v; want ErrNotExist", name, n, err)
	} else if !strings.Contains(err.Error(), name) {
		t.Errorf("Size(%q) error %q does not name the file", name, err)
	}
	if rc, err := s.Open(ctx, name); !errors.Is(err, snapshot.ErrNotExist) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Open(%q): %v; want ErrNotExist", name, err)
	}
}

func wantList(t *testing.T, s snapshot.Storage, dir string, want ...string) {
	t.Helper()
	got, err := s.List(t.Context(), dir)
	if err != nil {
		t.Errorf("List(%q): %v", dir, err)
		return
	}
	if len(got) != len(want) || (len(got) > 0 && !slices.Equal(got, want)) {
		t.Errorf("List(%q) = %q; want %q", dir, got, want)
	}
}

func pattern(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 0x5eed))
	b := make([]byte, n)
	for i := 0; i < n; i += 8 {
		v := r.Uint64()
		for j := 0; j < 8 && i+j < n; j++ {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	return b
}

func written(b []byte) snapshot.Written {
	return snapshot.Written{Size: int64(len(b)), CRC32C: crc32.Checksum(b, crc32.MakeTable(crc32.Castagnoli))}
}

// testCommitAndRead: a file written in pieces reads back whole, with the
// size and CRC32C Commit reported; unclean names are cleaned.
func testCommitAndRead(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	data := pattern(300_000, 1)
	w, err := s.Create(ctx, "job/chk-1/deep/file", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); i += 7777 {
		if n, err := w.Write(data[i:min(i+7777, len(data))]); err != nil || n != min(7777, len(data)-i) {
			t.Fatalf("Write = %d, %v", n, err)
		}
	}
	wr, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if want := written(data); wr != want {
		t.Fatalf("Commit = %+v; want %+v", wr, want)
	}
	if size, err := s.Size(ctx, "job/chk-1/deep/file"); err != nil || size != int64(len(data)) {
		t.Fatalf("Size = %d, %v; want %d", size, err, len(data))
	}
	if got := Read(t, s, "job/chk-1/deep/file"); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	if got := Read(t, s, "./job/chk-1/deep/../deep/file"); !bytes.Equal(got, data) {
		t.Fatal("an unclean name did not reach the file")
	}
}

// testEmptyFile: a file of zero bytes exists, is listed and reads empty.
func testEmptyFile(t *testing.T, s snapshot.Storage) {
	wr := Put(t, s, "d/empty", nil)
	if wr != (snapshot.Written{}) {
		t.Errorf("Commit of an empty file = %+v", wr)
	}
	if size, err := s.Size(t.Context(), "d/empty"); err != nil || size != 0 {
		t.Errorf("Size = %d, %v", size, err)
	}
	if got := Read(t, s, "d/empty"); len(got) != 0 {
		t.Errorf("read %d bytes", len(got))
	}
	wantList(t, s, "d", "empty")
}

// testInvisibleBeforeCommit: a file being written is neither visible nor
// listed. (Its directory may show, empty: the file provider creates directories
// at Create.)
func testInvisibleBeforeCommit(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	w, err := s.Create(ctx, "pending/dir/f", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer w.Abort()
	if _, err := w.Write([]byte("not yet")); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, s, "pending/dir/f")
	wantList(t, s, "pending/dir")
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if got := Read(t, s, "pending/dir/f"); string(got) != "not yet" {
		t.Errorf("read %q", got)
	}
	wantList(t, s, "pending/dir", "f")
	wantList(t, s, "", "pending/")
}

// testAbort: an aborted file leaves nothing, and the writer refuses
// further use.
func testAbort(t *testing.T, s snapshot.Storage) {
	w, err := s.Create(t.Context(), "d/aborted", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("partial"))
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Abort succeeded")
	}
	wantMissing(t, s, "d/aborted")
	wantList(t, s, "d")
}

// testWriterDoneTwice: Commit and Abort may be called again, in any order,
// without harm: a second Abort or an Abort after Commit is a no-op, a
// second Commit fails and changes nothing.
func testWriterDoneTwice(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	w, err := s.Create(ctx, "twice/committed", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("one"))
	if _, err := w.Commit(); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Commit(); err == nil {
		t.Error("second Commit succeeded")
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Commit: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("second Abort after Commit: %v", err)
	}
	if _, err := w.Write([]byte("x")); err == nil {
		t.Error("Write after Commit succeeded")
	}
	if got := Read(t, s, "twice/committed"); string(got) != "one" {
		t.Errorf("committed file reads %q after the extra calls", got)
	}

	w, err = s.Create(ctx, "twice/aborted", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("second Abort: %v", err)
	}
	if _, err := w.Commit(); err == nil {
		t.Error("Commit after Abort succeeded")
	}
	wantMissing(t, s, "twice/aborted")
}

// testOverwrite: without NoOverwrite a commit replaces the file whole.
func testOverwrite(t *testing.T, s snapshot.Storage) {
	Put(t, s, "d/f", []byte("first version, longer"))
	Put(t, s, "d/f", []byte("second"))
	if got := Read(t, s, "d/f"); string(got) != "second" {
		t.Errorf("read %q after the overwrite", got)
	}
	wantList(t, s, "d", "f")
}

// testNoOverwrite: NoOverwrite publishes a new name, refuses an existing
// one with ErrExist and leaves the existing file intact.
func testNoOverwrite(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	create := func(name, data string) error {
		w, err := s.Create(ctx, name, snapshot.CreateOptions{NoOverwrite: true})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(data))
		_, err = w.Commit()
		return err
	}
	if err := create("chk-1/_metadata", "original"); err != nil {
		t.Fatalf("NoOverwrite Commit of a new name: %v", err)
	}
	err := create("chk-1/_metadata", "replacement, different")
	if !errors.Is(err, snapshot.ErrExist) {
		t.Fatalf("NoOverwrite Commit over an existing file: %v; want ErrExist", err)
	}
	if !strings.Contains(err.Error(), "chk-1/_metadata") {
		t.Errorf("error %q does not name the file", err)
	}
	if got := Read(t, s, "chk-1/_metadata"); string(got) != "original" {
		t.Errorf("the existing file reads %q", got)
	}
	wantList(t, s, "chk-1", "_metadata")
}

// testNoOverwriteRace: of concurrent NoOverwrite commits to one name
// exactly one wins, and its content is what is stored.
func testNoOverwriteRace(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	const n = 6
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		w, err := s.Create(ctx, "race/_metadata", snapshot.CreateOptions{NoOverwrite: true})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte(fmt.Sprintf("writer %d", i)))
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
	if got, want := string(Read(t, s, "race/_metadata")), fmt.Sprintf("writer %d", winner); got != want {
		t.Errorf("stored %q, the winner wrote %q", got, want)
	}
}

// testMissing: reads of missing files and of directories fail with
// ErrNotExist naming the file.
func testMissing(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	Put(t, s, "dir/present", []byte("x"))
	for _, name := range []string{"never", "dir/never", "no/such/dir/f", "dir"} {
		wantMissing(t, s, name)
		if rc, err := s.OpenRange(ctx, name, 0, 1); !errors.Is(err, snapshot.ErrNotExist) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("OpenRange(%q, 0, 1): %v; want ErrNotExist", name, err)
		}
		if rc, err := s.OpenRange(ctx, name, 0, 0); !errors.Is(err, snapshot.ErrNotExist) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("OpenRange(%q, 0, 0): %v; want ErrNotExist", name, err)
		}
	}
}

// testRanges: ranged reads, including ones that reach past the end, which
// give short reads ending in io.EOF.
func testRanges(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	data := pattern(100_000, 2)
	Put(t, s, "r/f", data)
	n := int64(len(data))
	ranges := []struct {
		off, length int64
		want        []byte
	}{
		{0, 10, data[:10]},
		{5, 3, data[5:8]},
		{0, -1, data},
		{99_990, -1, data[99_990:]},
		{n - 4, 4, data[n-4:]},
		{n - 4, 100, data[n-4:]},
		{n, 5, nil},
		{n, -1, nil},
		{n + 10, 5, nil},
		{n + 10, -1, nil},
		{3, 0, nil},
		{0, n, data},
		{0, n + 1, data},
	}
	for _, r := range ranges {
		rc, err := s.OpenRange(ctx, "r/f", r.off, r.length)
		if err != nil {
			t.Errorf("OpenRange(%d, %d): %v", r.off, r.length, err)
			continue
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if err != nil || !bytes.Equal(got, r.want) {
			t.Errorf("OpenRange(%d, %d) read %d bytes, %v; want %d bytes", r.off, r.length, len(got), err, len(r.want))
		}
	}
	// io.ReadFull on a short range reports the shortfall.
	rc, err := s.OpenRange(ctx, "r/f", n-4, 8)
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 8)
	if k, err := io.ReadFull(rc, buf); k != 4 || !errors.Is(err, io.ErrUnexpectedEOF) {
		t.Errorf("ReadFull of a range past the end = %d, %v; want 4, io.ErrUnexpectedEOF", k, err)
	}
	rc.Close()
	if rc, err := s.OpenRange(ctx, "r/f", -1, 3); err == nil {
		rc.Close()
		t.Error("OpenRange with a negative offset succeeded")
	}
	// An unread, closed reader is fine.
	rc, err = s.OpenRange(ctx, "r/f", 0, -1)
	if err != nil {
		t.Fatal(err)
	}
	if err := rc.Close(); err != nil {
		t.Errorf("Close of an unread reader: %v", err)
	}
}

// testList: listings give the direct children, directories with a
// trailing "/", sorted; a missing directory or a file lists as empty.
func testList(t *testing.T, s snapshot.Storage) {
	for _, name := range []string{
		"job/chk-2/b", "job/chk-2/a", "job/chk-2/sub/c", "job/chk-10/x",
		"job/shared/s1", "job/shared/deep/s2", "job/taskowned/t", "top",
		"job/chk-2/a-b", "job/chk-2/a.b",
	} {
		Put(t, s, name, []byte(name))
	}
	wantList(t, s, "", "job/", "top")
	wantList(t, s, ".", "job/", "top")
	wantList(t, s, "/", "job/", "top")
	wantList(t, s, "job", "chk-10/", "chk-2/", "shared/", "taskowned/")
	wantList(t, s, "job/", "chk-10/", "chk-2/", "shared/", "taskowned/")
	wantList(t, s, "job/chk-2", "a", "a-b", "a.b", "b", "sub/")
	wantList(t, s, "job/shared", "deep/", "s1")
	wantList(t, s, "job/chk-2/sub", "c")
	wantList(t, s, "missing")
	wantList(t, s, "job/missing/deeper")
	wantList(t, s, "job/chk-2/a") // a file lists as empty
	wantList(t, s, "jo")          // a name prefix is not a directory
}

// testListInfo: ListInfo, where available, gives the names of List with
// sizes and commit times of files, and zero for directories.
func testListInfo(t *testing.T, s snapshot.Storage) {
	il, ok := s.(snapshot.InfoLister)
	if !ok {
		t.Skip("the storage does not implement snapshot.InfoLister")
	}
	before := time.Now()
	Put(t, s, "d/a", []byte("12345"))
	Put(t, s, "d/b", nil)
	Put(t, s, "d/sub/c", []byte("1"))
	infos, err := il.ListInfo(t.Context(), "d")
	if err != nil {
		t.Fatal(err)
	}
	names, _ := s.List(t.Context(), "d")
	if len(infos) != 3 || len(names) != 3 {
		t.Fatalf("ListInfo = %+v; List = %q", infos, names)
	}
	wantSizes := []int64{5, 0, 0}
	for i, fi := range infos {
		if fi.Name != names[i] || fi.Size != wantSizes[i] {
			t.Errorf("ListInfo[%d] = %+v; want name %q size %d", i, fi, names[i], wantSizes[i])
		}
		isDir := strings.HasSuffix(fi.Name, "/")
		switch {
		case isDir && !fi.ModTime.IsZero():
			t.Errorf("directory %q has ModTime %v", fi.Name, fi.ModTime)
		case !isDir && (fi.ModTime.Before(before.Add(-time.Hour)) || fi.ModTime.After(time.Now().Add(time.Hour))):
			t.Errorf("file %q has ModTime %v, not about now (%v)", fi.Name, fi.ModTime, before)
		}
	}
	if infos, err := il.ListInfo(t.Context(), "missing"); err != nil || len(infos) != 0 {
		t.Errorf("ListInfo(missing) = %+v, %v", infos, err)
	}
}

// testDelete: Delete removes a file, a missing file is no error, and a
// directory goes away with its last file.
func testDelete(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	Put(t, s, "job/chk-1/a", []byte("a"))
	Put(t, s, "job/chk-1/sub/b", []byte("b"))
	Put(t, s, "job/keep", []byte("k"))
	if err := s.Delete(ctx, "job/chk-1/a"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, s, "job/chk-1/a")
	if err := s.Delete(ctx, "job/chk-1/a"); err != nil {
		t.Errorf("second Delete: %v", err)
	}
	if err := s.Delete(ctx, "never/was"); err != nil {
		t.Errorf("Delete of a missing file: %v", err)
	}
	wantList(t, s, "job/chk-1", "sub/")
	if err := s.Delete(ctx, "job/chk-1/sub/b"); err != nil {
		t.Fatal(err)
	}
	wantList(t, s, "job/chk-1")
	wantList(t, s, "job", "keep")
	if got := Read(t, s, "job/keep"); string(got) != "k" {
		t.Errorf("job/keep reads %q", got)
	}
	Put(t, s, "job/chk-1/a", []byte("again")) // directories come back
	wantList(t, s, "job", "chk-1/", "keep")
}

// testDeleteAll: snapshot.DeleteAll (and BatchDeleter where available)
// removes many files, ignores missing ones and reports invalid names
// while still deleting the valid ones.
func testDeleteAll(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	var names []string
	for i := range 25 {
		n := fmt.Sprintf("many/%02d/f", i%5) + fmt.Sprint(i)
		Put(t, s, n, []byte(n))
		names = append(names, n)
	}
	Put(t, s, "many/keep", []byte("k"))
	all := append(slices.Clone(names), "many/missing", names[0]) // a missing and a repeated name
	if err := snapshot.DeleteAll(ctx, s, all); err != nil {
		t.Fatal(err)
	}
	for _, n := range names {
		if _, err := s.Size(ctx, n); !errors.Is(err, snapshot.ErrNotExist) {
			t.Errorf("%s still there: %v", n, err)
		}
	}
	wantList(t, s, "many", "keep")
	if err := snapshot.DeleteAll(ctx, s, nil); err != nil {
		t.Errorf("DeleteAll of nothing: %v", err)
	}

	Put(t, s, "bad/a", []byte("a"))
	Put(t, s, "bad/b", []byte("b"))
	err := snapshot.DeleteAll(ctx, s, []string{"bad/a", "../escape", "bad/b"})
	if !errors.Is(err, snapshot.ErrInvalidName) || !strings.Contains(err.Error(), "../escape") {
		t.Errorf("DeleteAll with an invalid name: %v; want ErrInvalidName naming it", err)
	}
	wantList(t, s, "bad")
}

var invalidNames = []string{"", ".", "..", "../x", "a/../../x", "/abs", "a/.tmp-x", ".tmp-1", "a\x00b"}

// testInvalidNames: malformed names are refused by every call with
// ErrInvalidName, and nothing escapes the storage.
func testInvalidNames(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	for _, name := range invalidNames {
		if w, err := s.Create(ctx, name, snapshot.CreateOptions{}); !errors.Is(err, snapshot.ErrInvalidName) {
			if err == nil {
				w.Abort()
			}
			t.Errorf("Create(%q): %v; want ErrInvalidName", name, err)
		}
		if rc, err := s.Open(ctx, name); !errors.Is(err, snapshot.ErrInvalidName) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("Open(%q): %v; want ErrInvalidName", name, err)
		}
		if rc, err := s.OpenRange(ctx, name, 0, 1); !errors.Is(err, snapshot.ErrInvalidName) {
			if err == nil {
				rc.Close()
			}
			t.Errorf("OpenRange(%q): %v; want ErrInvalidName", name, err)
		}
		if _, err := s.Size(ctx, name); !errors.Is(err, snapshot.ErrInvalidName) {
			t.Errorf("Size(%q): %v; want ErrInvalidName", name, err)
		}
		if err := s.Delete(ctx, name); !errors.Is(err, snapshot.ErrInvalidName) {
			t.Errorf("Delete(%q): %v; want ErrInvalidName", name, err)
		}
	}
	for _, dir := range []string{"..", "../", "../x", "a/../../x"} {
		if _, err := s.List(ctx, dir); !errors.Is(err, snapshot.ErrInvalidName) {
			t.Errorf("List(%q): %v; want ErrInvalidName", dir, err)
		}
	}
	wantList(t, s, "")
}

// testUnusualNames: names with spaces, punctuation and non-ASCII letters
// round-trip and list as written.
func testUnusualNames(t *testing.T, s snapshot.Storage) {
	names := []string{"u/a b", "u/plus+equals=", "u/percent%20", "u/ünïcödé", "u/q?hash#amp&", "u/tab\tx", "u/x.tmp-not-a-prefix"}
	for _, n := range names {
		Put(t, s, n, []byte(n))
	}
	for _, n := range names {
		if got := Read(t, s, n); string(got) != n {
			t.Errorf("%q reads %q", n, got)
		}
	}
	want := make([]string, len(names))
	for i, n := range names {
		want[i] = path.Base(n)
	}
	slices.Sort(want)
	wantList(t, s, "u", want...)
}

// testCancelled: every call with a cancelled context fails with
// context.Canceled and does nothing.
func testCancelled(t *testing.T, s snapshot.Storage) {
	Put(t, s, "c/f", []byte("x"))
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if w, err := s.Create(ctx, "c/new", snapshot.CreateOptions{}); !errors.Is(err, context.Canceled) {
		if err == nil {
			w.Abort()
		}
		t.Errorf("Create: %v", err)
	}
	if rc, err := s.Open(ctx, "c/f"); !errors.Is(err, context.Canceled) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Open: %v", err)
	}
	if rc, err := s.OpenRange(ctx, "c/f", 0, 1); !errors.Is(err, context.Canceled) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("OpenRange: %v", err)
	}
	if _, err := s.Size(ctx, "c/f"); !errors.Is(err, context.Canceled) {
		t.Errorf("Size: %v", err)
	}
	if _, err := s.List(ctx, "c"); !errors.Is(err, context.Canceled) {
		t.Errorf("List: %v", err)
	}
	if _, err := s.List(ctx, ""); !errors.Is(err, context.Canceled) {
		t.Errorf("List of the root: %v", err)
	}
	if err := s.Delete(ctx, "c/f"); !errors.Is(err, context.Canceled) {
		t.Errorf("Delete: %v", err)
	}
	if err := snapshot.DeleteAll(ctx, s, []string{"c/f"}); !errors.Is(err, context.Canceled) {
		t.Errorf("DeleteAll: %v", err)
	}
	if il, ok := s.(snapshot.InfoLister); ok {
		if _, err := il.ListInfo(ctx, "c"); !errors.Is(err, context.Canceled) {
			t.Errorf("ListInfo: %v", err)
		}
	}
	if got := Read(t, s, "c/f"); string(got) != "x" {
		t.Errorf("c/f reads %q", got)
	}
}

// testClose: Close is idempotent; afterwards every call fails with
// ErrClosed; a writer created before may still be aborted.
func testClose(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	Put(t, s, "a", []byte("a"))
	w, err := s.Create(ctx, "pending", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if err := w.Abort(); err != nil {
		t.Errorf("Abort after Close: %v", err)
	}
	if w, err := s.Create(ctx, "b", snapshot.CreateOptions{}); !errors.Is(err, snapshot.ErrClosed) {
		if err == nil {
			w.Abort()
		}
		t.Errorf("Create after Close: %v", err)
	}
	if rc, err := s.Open(ctx, "a"); !errors.Is(err, snapshot.ErrClosed) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("Open after Close: %v", err)
	}
	if rc, err := s.OpenRange(ctx, "a", 0, 1); !errors.Is(err, snapshot.ErrClosed) {
		if err == nil {
			rc.Close()
		}
		t.Errorf("OpenRange after Close: %v", err)
	}
	if _, err := s.Size(ctx, "a"); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("Size after Close: %v", err)
	}
	for _, dir := range []string{"", "d"} {
		if _, err := s.List(ctx, dir); !errors.Is(err, snapshot.ErrClosed) {
			t.Errorf("List(%q) after Close: %v", dir, err)
		}
	}
	if err := s.Delete(ctx, "a"); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("Delete after Close: %v", err)
	}
	if err := snapshot.DeleteAll(ctx, s, []string{"a"}); !errors.Is(err, snapshot.ErrClosed) {
		t.Errorf("DeleteAll after Close: %v", err)
	}
	if il, ok := s.(snapshot.InfoLister); ok {
		if _, err := il.ListInfo(ctx, ""); !errors.Is(err, snapshot.ErrClosed) {
			t.Errorf("ListInfo after Close: %v", err)
		}
	}
}

// testLargeFile: a file above the multipart threshold, written in odd
// pieces, reads back whole and by ranges across part boundaries.
func testLargeFile(t *testing.T, s snapshot.Storage, size int) {
	ctx := t.Context()
	data := pattern(size, 3)
	w, err := s.Create(ctx, "large/f", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := 0; i < len(data); {
		n := min(len(data)-i, 1+(i*7919)%(1<<20))
		if _, err := w.Write(data[i : i+n]); err != nil {
			t.Fatal(err)
		}
		i += n
	}
	wr, err := w.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if want := written(data); wr != want {
		t.Fatalf("Commit = %+v; want %+v", wr, want)
	}
	if size, err := s.Size(ctx, "large/f"); err != nil || size != int64(len(data)) {
		t.Fatalf("Size = %d, %v", size, err)
	}
	if got := Read(t, s, "large/f"); !bytes.Equal(got, data) {
		t.Fatalf("read back %d bytes that differ from the %d written", len(got), len(data))
	}
	for _, off := range []int{1, len(data) / 3, len(data)/2 - 3, len(data) - 1000} {
		rc, err := s.OpenRange(ctx, "large/f", int64(off), 5000)
		if err != nil {
			t.Fatal(err)
		}
		got, err := io.ReadAll(rc)
		rc.Close()
		if want := data[off:min(off+5000, len(data))]; err != nil || !bytes.Equal(got, want) {
			t.Errorf("OpenRange(%d, 5000) read %d bytes, %v; want %d bytes", off, len(got), err, len(want))
		}
	}
}

// testConcurrent: many writers and readers at once, on one storage.
func testConcurrent(t *testing.T, s snapshot.Storage) {
	ctx := t.Context()
	const n = 8
	Put(t, s, "conc/shared", pattern(50_000, 99))
	var wg sync.WaitGroup
	errs := make(chan error, 4*n)
	for i := range n {
		wg.Go(func() {
			name := fmt.Sprintf("conc/w%d/f", i)
			data := pattern(20_000+i*1000, uint64(i))
			w, err := s.Create(ctx, name, snapshot.CreateOptions{})
			if err != nil {
				errs <- err
				return
			}
			for off := 0; off < len(data); off += 4096 {
				if _, err := w.Write(data[off:min(off+4096, len(data))]); err != nil {
					errs <- err
					return
				}
			}
			if _, err := w.Commit(); err != nil {
				errs <- err
			}
		})
		wg.Go(func() {
			rc, err := s.Open(ctx, "conc/shared")
			if err != nil {
				errs <- err
				return
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if err != nil || !bytes.Equal(got, pattern(50_000, 99)) {
				errs <- fmt.Errorf("concurrent read: %d bytes, %v", len(got), err)
			}
			if _, err := s.List(ctx, "conc"); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	for i := range n {
		name := fmt.Sprintf("conc/w%d/f", i)
		if got := Read(t, s, name); !bytes.Equal(got, pattern(20_000+i*1000, uint64(i))) {
			t.Errorf("%s reads %d bytes that differ", name, len(got))
		}
	}
	want := []string{"shared"}
	for i := range n {
		want = append(want, fmt.Sprintf("w%d/", i))
	}
	slices.Sort(want)
	wantList(t, s, "conc", want...)
}

// testLease: where the storage is a snapshot.Leaser, one holder at a time
// has a lease; a second one (also the same holder through another Lease
// value) is refused with a *LeaseHeldError naming the holder; a released
// lease can be acquired at once; Release is idempotent and does not close
// Lost.
func testLease(t *testing.T, s snapshot.Storage) {
	l, ok := s.(snapshot.Leaser)
	if !ok {
		t.Skip("the storage does not implement snapshot.Leaser")
	}
	ctx := t.Context()
	holder := func(run string) snapshot.LeaseHolder {
		return snapshot.LeaseHolder{Host: "host-" + run, PID: 100, Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Run: run}
	}
	a, err := l.AcquireLease(ctx, "job/_lease", snapshot.LeaseOptions{Holder: holder("a")})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Release(ctx)
	if a.Holder() != holder("a") || a.Err() != nil {
		t.Fatalf("lease: holder %+v, err %v", a.Holder(), a.Err())
	}
	for _, run := range []string{"b", "a"} {
		_, err := l.AcquireLease(ctx, "job/_lease", snapshot.LeaseOptions{Holder: holder(run)})
		var held *snapshot.LeaseHeldError
		if !errors.Is(err, snapshot.ErrLeaseHeld) || !errors.As(err, &held) || held.Holder != holder("a") || !strings.Contains(held.Name, "_lease") {
			t.Fatalf("second AcquireLease by %s: %v; want a *LeaseHeldError naming holder a and the lease", run, err)
		}
	}
	other, err := l.AcquireLease(ctx, "other/_lease", snapshot.LeaseOptions{Holder: holder("b")})
	if err != nil {
		t.Fatalf("AcquireLease of another name: %v", err)
	}
	if err := other.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := a.Release(ctx); err != nil {
		t.Errorf("second Release: %v", err)
	}
	select {
	case <-a.Lost():
		t.Error("Release closed Lost")
	default:
	}
	b, err := l.AcquireLease(ctx, "job/_lease", snapshot.LeaseOptions{Holder: holder("b")})
	if err != nil {
		t.Fatalf("AcquireLease after Release: %v", err)
	}
	if err := b.Release(ctx); err != nil {
		t.Fatal(err)
	}
}
