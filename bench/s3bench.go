package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/lsm"
	"github.com/stated-io/stated/internal/minio"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
)

// s3Parallel is the number of files transferred at a time on both sides
// of the S3 metrics: the LSM backend's default TransferConcurrency, which
// the benchmarks' backends keep.
const s3Parallel = 4

// s3PartSize is the multipart part size of both sides (S3Options.PartSize,
// PutObjectOptions.PartSize); the files of the benchmarks' checkpoints are
// smaller, so each goes up with one PUT.
const s3PartSize = 16 << 20

// s3Fixture is a local MinIO server with an S3Storage and a raw minio-go
// client on its bucket, and an LSM backend loaded with s3.keys keys.
type s3Fixture struct {
	srv   *minio.Server
	store *s3.Storage
	raw   *miniogo.Client
	b     *lsm.Backend[string]
	// setup is the savepoint written before the timed rounds: the
	// objects the downloads read (under setupDir of store).
	setup []snapshot.KeyedStateHandle
	// local holds the files of setup on local disk, by local name: what
	// the raw uploads send.
	local string
}

// setupDir is the storage directory of the setup savepoint.
const setupDir = "setup"

// newS3Fixture starts MinIO with its data in dir, opens the storage and
// the raw client, loads the backend, writes the setup savepoint to the
// store and copies its files to local disk. The caller closes it.
func newS3Fixture(e *env, dir string) (f *s3Fixture, err error) {
	c := e.cfg
	d := e.dataset()
	f = &s3Fixture{local: filepath.Join(dir, "local")}
	defer func() {
		if err != nil {
			err = errors.Join(err, f.close())
		}
	}()
	start := time.Now()
	if f.srv, err = minio.StartServer(minio.Options{DataDir: filepath.Join(dir, "minio")}); err != nil {
		return f, err
	}
	e.logf("s3: MinIO started in %.2f s at %s", time.Since(start).Seconds(), f.srv.Endpoint)
	ctx := context.Background()
	spool := filepath.Join(dir, "spool")
	if err := os.MkdirAll(spool, 0o755); err != nil {
		return f, err
	}
	f.store, err = s3.New(ctx, f.srv.Bucket, "bench", s3.Options{
		Endpoint: f.srv.Endpoint, AccessKey: f.srv.AccessKey, SecretKey: f.srv.SecretKey,
		PathStyle: true, PartSize: s3PartSize, Concurrency: 4, SpoolDir: spool,
		Checksum: s3.ChecksumTrailer,
	})
	if err != nil {
		return f, err
	}
	// The raw client has path style and trailing headers, so that its
	// PutObject sends the same CRC32C trailer (its default with trailing
	// headers) as the storage does in trailer mode.
	transport, err := miniogo.DefaultTransport(false)
	if err != nil {
		return f, err
	}
	f.raw, err = miniogo.New(strings.TrimPrefix(f.srv.Endpoint, "http://"), &miniogo.Options{
		Creds:           credentials.NewStaticV4(f.srv.AccessKey, f.srv.SecretKey, ""),
		Transport:       transport,
		BucketLookup:    miniogo.BucketLookupPath,
		TrailingHeaders: true,
	})
	if err != nil {
		return f, err
	}
	if f.b, err = newLSM(c.lsm, filepath.Join(dir, "lsm"), 1, 0); err != nil {
		return f, err
	}
	st, err := lsmValueState(f.b)
	if err != nil {
		return f, err
	}
	start = time.Now()
	for i, k := range d.keys[:c.s3.keys] {
		if err := f.b.SetCurrentKey(k); err != nil {
			return f, err
		}
		if err := st.Update(d.values[i]); err != nil {
			return f, err
		}
	}
	load := time.Since(start)
	waited := waitIdle(idleLimit)
	if f.setup, _, err = f.savepoint(setupDir, 1); err != nil {
		return f, err
	}
	if _, err := copyHandleFiles(f.store, setupDir, f.setup, f.local, s3Parallel, lsm.LocalName); err != nil {
		return f, err
	}
	e.logf("s3: %d keys loaded in %.2f s, %.2f s for compactions to settle; savepoint of %d files, %d bytes",
		c.s3.keys, load.Seconds(), waited.Seconds(), fileCount(f.setup), handlesSize(f.setup))
	return f, nil
}

// savepoint takes a savepoint of the backend (Snapshot, untimed) into dir
// of the store and returns its handles and the time of capture.Write,
// which uploads every file.
func (f *s3Fixture) savepoint(dir string, id int64) ([]snapshot.KeyedStateHandle, time.Duration, error) {
	capt, err := f.b.Snapshot()
	if err != nil {
		return nil, 0, err
	}
	var hs []snapshot.KeyedStateHandle
	dur, err := timed(func() error {
		var err error
		hs, err = capt.Write(context.Background(), backend.SnapshotTarget{
			Store: f.store, Dir: dir, FilePrefix: "bench-0", CheckpointID: id, Kind: snapshot.KindSavepoint,
		})
		return err
	})
	return hs, dur, err
}

// close stops the server and closes what the fixture opened.
func (f *s3Fixture) close() error {
	var errs []error
	if f.b != nil {
		errs = append(errs, f.b.Close())
	}
	if f.store != nil {
		errs = append(errs, f.store.Close())
	}
	if f.srv != nil {
		errs = append(errs, f.srv.Close())
	}
	return errors.Join(errs...)
}

// fileCount returns the number of files of handles.
func fileCount(handles []snapshot.KeyedStateHandle) int {
	n := 0
	for _, h := range handles {
		n += len(h.Files)
	}
	return n
}

// forEachParallel runs fn for each of items, n at a time, and returns the
// first error.
func forEachParallel[T any](items []T, n int, fn func(T) error) error {
	var mu sync.Mutex
	var firstErr error
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, it := range items {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(it); err != nil {
				mu.Lock()
				if firstErr == nil {
					firstErr = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return firstErr
}

// rawPut uploads every file of the local directory with PutObject under
// prefix, s3Parallel files at a time, and returns the bytes sent.
func (f *s3Fixture) rawPut(prefix string) (int64, error) {
	entries, err := os.ReadDir(f.local)
	if err != nil {
		return 0, err
	}
	var mu sync.Mutex
	var total int64
	err = forEachParallel(entries, s3Parallel, func(e os.DirEntry) error {
		file, err := os.Open(filepath.Join(f.local, e.Name()))
		if err != nil {
			return err
		}
		defer file.Close()
		fi, err := file.Stat()
		if err != nil {
			return err
		}
		info, err := f.raw.PutObject(context.Background(), f.srv.Bucket, path.Join(prefix, e.Name()), file, fi.Size(),
			miniogo.PutObjectOptions{ContentType: "application/octet-stream", PartSize: s3PartSize, NumThreads: 4})
		mu.Lock()
		total += info.Size
		mu.Unlock()
		return err
	})
	return total, err
}

// rawGet downloads the objects of the setup savepoint with GetObject into
// local files in dest, s3Parallel at a time, and returns the bytes
// received.
func (f *s3Fixture) rawGet(dest string) (int64, error) {
	return f.fetchAll(dest, func(ref snapshot.FileRef) (io.ReadCloser, error) {
		name, err := snapshot.ResolvePath(setupDir, ref.Path)
		if err != nil {
			return nil, err
		}
		return f.raw.GetObject(context.Background(), f.srv.Bucket, path.Join(f.store.Prefix(), name), miniogo.GetObjectOptions{})
	})
}

// download reads the files of the setup savepoint from the storage into
// local files in dest as the LSM restore does (Backend.download):
// s3Parallel at a time, each through snapshot.OpenVerified, which checks
// size and CRC32C, and io.Copy into a new file. It returns the bytes read.
func (f *s3Fixture) download(dest string) (int64, error) {
	return f.fetchAll(dest, func(ref snapshot.FileRef) (io.ReadCloser, error) {
		return snapshot.OpenVerified(context.Background(), f.store, setupDir, ref)
	})
}

// fetchAll copies every file of the setup savepoint, as open reads it,
// into a new local file in dest, s3Parallel at a time, and returns the
// bytes copied. The measured path and its baseline share it, so they pay
// the same local writes.
func (f *s3Fixture) fetchAll(dest string, open func(snapshot.FileRef) (io.ReadCloser, error)) (int64, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return 0, err
	}
	var refs []snapshot.FileRef
	for _, h := range f.setup {
		refs = append(refs, h.Files...)
	}
	var mu sync.Mutex
	var total int64
	err := forEachParallel(refs, s3Parallel, func(ref snapshot.FileRef) error {
		rc, err := open(ref)
		if err != nil {
			return err
		}
		defer rc.Close()
		w, err := os.Create(filepath.Join(dest, lsm.LocalName(ref)))
		if err != nil {
			return err
		}
		n, err := io.Copy(w, rc)
		mu.Lock()
		total += n
		mu.Unlock()
		return errors.Join(err, w.Close())
	})
	return total, err
}

// removeObjects deletes every object under prefix (a key prefix of the
// bucket, without the storage's prefix).
func (f *s3Fixture) removeObjects(prefix string) error {
	ctx := context.Background()
	objs := f.raw.ListObjects(ctx, f.srv.Bucket, miniogo.ListObjectsOptions{Prefix: prefix + "/", Recursive: true})
	for res := range f.raw.RemoveObjects(ctx, f.srv.Bucket, objs, miniogo.RemoveObjectsOptions{}) {
		if res.Err != nil {
			return res.Err
		}
	}
	return nil
}

// mbps returns the rate of bytes in dur in MB/s (10^6 bytes).
func mbps(bytes int64, dur time.Duration) float64 {
	return float64(bytes) / 1e6 / dur.Seconds()
}

// benchS3 measures checkpoint transfers to and from S3 on a local MinIO
// server (started for the benchmark, stopped after it), with the LSM
// backend's state of s3.keys keys:
//
//   - s3.checkpoint.upload: capture.Write of a savepoint (every file
//     uploaded through S3Storage: spooled, CRC32C, one PUT per file, 4
//     files at a time) against minio-go PutObject of the same files from
//     local disk, 4 at a time, in MB/s;
//   - s3.restore.download: reading the savepoint's files through
//     S3Storage with snapshot.OpenVerified into local files, 4 at a time,
//     as Backend.Restore downloads them, against minio-go GetObject of the
//     same objects into local files, 4 at a time, in MB/s. The full
//     Restore (download, then open the DB) is timed too; its rate is
//     reported in params, since its local part dominates on loopback.
//
// The sides alternate; every round uploads to a new directory, which is
// deleted untimed after it.
func benchS3(e *env) ([]Result, error) {
	c := e.cfg
	dir := filepath.Join(e.tmp, "s3")
	defer os.RemoveAll(dir)
	f, err := newS3Fixture(e, dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err := f.close(); err != nil {
			e.logf("s3: closing: %v", err)
		}
	}()
	size := handlesSize(f.setup)
	files := fileCount(f.setup)

	round := int64(1)
	upload := func() (float64, error) {
		round++
		waitIdle(idleLimit)
		name := "up-" + strconv.FormatInt(round, 10)
		hs, dur, err := f.savepoint(name, round)
		if err != nil {
			return 0, err
		}
		return mbps(handlesSize(hs), dur), f.removeObjects(path.Join(f.store.Prefix(), name))
	}
	put := func() (float64, error) {
		round++
		waitIdle(idleLimit)
		prefix := "raw-" + strconv.FormatInt(round, 10)
		var n int64
		dur, err := timed(func() error {
			var err error
			n, err = f.rawPut(prefix)
			return err
		})
		if err == nil && n != size {
			err = fmt.Errorf("raw put sent %d bytes, want %d", n, size)
		}
		if err != nil {
			return 0, err
		}
		return mbps(n, dur), f.removeObjects(prefix)
	}
	ups, puts, err := interleave(c.s3.rounds, upload, put)
	if err != nil {
		return nil, fmt.Errorf("s3 upload: %w", err)
	}
	e.logf("s3.checkpoint.upload: %.0f MB/s (%.0f), minio.put: %.0f MB/s (%.0f)", median(ups), ups, median(puts), puts)

	// fetch times one download side into a new local directory, checks
	// the bytes and removes the directory.
	fetch := func(get func(dest string) (int64, error)) side {
		return func() (float64, error) {
			round++
			dest := filepath.Join(dir, "get-"+strconv.FormatInt(round, 10))
			defer os.RemoveAll(dest)
			waitIdle(idleLimit)
			var n int64
			dur, err := timed(func() error {
				var err error
				n, err = get(dest)
				return err
			})
			if err == nil && n != size {
				err = fmt.Errorf("downloaded %d bytes, want %d", n, size)
			}
			return mbps(n, dur), err
		}
	}
	downs, gets, err := interleave(c.s3.rounds, fetch(f.download), fetch(f.rawGet))
	if err != nil {
		return nil, fmt.Errorf("s3 download: %w", err)
	}
	restore, err := f.restoreRate(e, dir)
	if err != nil {
		return nil, fmt.Errorf("s3 restore: %w", err)
	}
	e.logf("s3.restore.download: %.0f MB/s (%.0f), minio.get: %.0f MB/s (%.0f); full Restore %.0f MB/s",
		median(downs), downs, median(gets), gets, restore)

	params := func(extra map[string]any) map[string]any {
		return withParams(c.lsmParams(c.s3.keys), withParams(map[string]any{
			"files": files, "checkpoint_bytes": size, "rounds": c.s3.rounds,
			"parallel": s3Parallel, "part_mib": s3PartSize >> 20,
		}, extra))
	}
	return []Result{
		newResult("s3.checkpoint.upload", unitMBps, "minio.put", median(ups), median(puts),
			params(map[string]any{"kind": "savepoint"})),
		newResult("s3.restore.download", unitMBps, "minio.get", median(downs), median(gets),
			params(map[string]any{"measured": "download as Restore does it (OpenVerified)",
				"restore_mbps": round3(restore)})),
	}, nil
}

// restoreRate restores the setup savepoint into a new backend once
// (Backend.Restore: download, open the DB) and returns its rate in MB/s
// after checking the keys.
func (f *s3Fixture) restoreRate(e *env, dir string) (float64, error) {
	c := e.cfg
	b, err := newLSM(c.lsm, filepath.Join(dir, "restore"), 1, 0)
	if err != nil {
		return 0, err
	}
	defer b.Close()
	src := backend.RestoreSource{Store: f.store, Dir: setupDir, MaxParallelism: benchMaxP, Handles: f.setup}
	waitIdle(idleLimit)
	dur, err := timed(func() error { return b.Restore(context.Background(), src) })
	if err != nil {
		return 0, err
	}
	if n, err := countLSMKeys(b); err != nil || n != c.s3.keys {
		return 0, fmt.Errorf("restored %d keys (%v), want %d", n, err, c.s3.keys)
	}
	return mbps(handlesSize(f.setup), dur), nil
}
