package snapshot

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"sync"
)

// verifyConcurrency is how many files Verify reads at once.
const verifyConcurrency = 4

// Verify reads every file referenced by md (resolved against dir) in full
// and checks its size and CRC32C. It returns one error per bad file, in the
// order the files appear in md: a *CorruptError (errors.Is ErrCorrupt) for
// a size or CRC mismatch, an error wrapping ErrNotExist for a missing file;
// nil if all are good. A file referenced several times is read once; two
// references to one file that disagree on size or CRC are reported as
// corrupt. If ctx is cancelled the context error is among the results.
func Verify(ctx context.Context, store Storage, dir string, md *Metadata) []error {
	type job struct {
		name string
		ref  FileRef
		err  error // decided without reading
	}
	var jobs []job
	seen := make(map[string]FileRef)
	add := func(ref FileRef) {
		name, err := ResolvePath(dir, ref.Path)
		if err != nil {
			jobs = append(jobs, job{err: err})
			return
		}
		if prev, ok := seen[name]; ok {
			if prev.Size != ref.Size || prev.CRC32C != ref.CRC32C {
				jobs = append(jobs, job{err: corrupt(name, -1, fmt.Sprintf("referenced with size %d crc32c %08x and with size %d crc32c %08x", prev.Size, prev.CRC32C, ref.Size, ref.CRC32C), nil)})
			}
			return
		}
		seen[name] = ref
		jobs = append(jobs, job{name: name, ref: ref})
	}
	md.EachFile(func(f FileRef) error { add(f); return nil })

	results := make([]error, len(jobs))
	var wg sync.WaitGroup
	next := make(chan int)
	for range min(verifyConcurrency, len(jobs)) {
		wg.Go(func() {
			for i := range next {
				if jobs[i].err != nil {
					results[i] = jobs[i].err
					continue
				}
				results[i] = verifyFile(ctx, store, jobs[i].name, jobs[i].ref)
			}
		})
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	var errs []error
	for _, err := range results {
		if err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func verifyFile(ctx context.Context, store Storage, name string, ref FileRef) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	rc, err := store.Open(ctx, name)
	if err != nil {
		return err // names the file; the caller knows it verifies
	}
	defer rc.Close()
	r := &verifyingReader{r: rc, name: name, want: ref}
	if _, err := io.Copy(io.Discard, r); err != nil {
		return err
	}
	return nil
}

// OpenVerified opens the file of ref, resolved against dir, for reading.
// The reader checks what it returns against ref: Read fails with a
// *CorruptError as soon as the file proves longer than ref.Size, and at the
// end of the file if the size or the CRC32C differ; io.EOF is returned only
// for a file that matches. A missing file gives an error wrapping
// ErrNotExist. Not safe for concurrent use; Close closes the file.
func OpenVerified(ctx context.Context, store Storage, dir string, ref FileRef) (io.ReadCloser, error) {
	name, err := ResolvePath(dir, ref.Path)
	if err != nil {
		return nil, fmt.Errorf("open verified: %w", err)
	}
	rc, err := store.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("open verified: %w", err)
	}
	return &verifyingReader{r: rc, name: name, want: ref}, nil
}

// verifyingReader checks the size and CRC32C of what passes through it.
type verifyingReader struct {
	r    io.ReadCloser
	name string
	want FileRef
	n    int64
	crc  uint32
	err  error // sticky result once decided
}

func (v *verifyingReader) Read(p []byte) (int, error) {
	if v.err != nil {
		return 0, v.err
	}
	n, err := v.r.Read(p)
	if left := v.want.Size - v.n; int64(n) > left {
		// Hand out only the expected bytes, then fail.
		n = int(max(left, 0))
		v.crc = crc32.Update(v.crc, castagnoli, p[:n])
		v.n += int64(n)
		v.err = corrupt(v.name, v.want.Size, fmt.Sprintf("longer than the recorded %d bytes", v.want.Size), nil)
		return n, v.err
	}
	v.crc = crc32.Update(v.crc, castagnoli, p[:n])
	v.n += int64(n)
	switch {
	case errors.Is(err, io.EOF):
		v.err = v.check()
		return n, v.err
	case err != nil:
		v.err = fmt.Errorf("read %s: %w", v.name, err)
		return n, v.err
	}
	return n, nil
}

// check decides the result at the end of the file.
func (v *verifyingReader) check() error {
	if v.n != v.want.Size {
		return corrupt(v.name, v.n, fmt.Sprintf("truncated: %d bytes, recorded %d", v.n, v.want.Size), nil)
	}
	if v.crc != v.want.CRC32C {
		return corrupt(v.name, -1, fmt.Sprintf("crc32c mismatch: computed %08x, recorded %08x", v.crc, v.want.CRC32C), nil)
	}
	return io.EOF
}

func (v *verifyingReader) Close() error { return v.r.Close() }
