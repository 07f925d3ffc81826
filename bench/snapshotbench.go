package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"runtime"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
)

// benchSnapshotSync times the synchronous phase of heap snapshots of the
// loaded value state, N times:
//
//  1. Update snapshotWrites random keys with no capture held (timed: the
//     baseline of the copy-on-write metric);
//  2. Snapshot (timed: the sync phase);
//  3. Update the same keys in the same order while the capture is held, so
//     copy-on-write clones what the capture shares (timed);
//  4. Release the capture, or every writeEvery-th one, Write it to a
//     FileStorage and remove the file;
//  5. clone the whole Go map with maps.Clone (timed: the pause of a
//     snapshot that copies in its sync phase).
//
// runtime.GC runs once before the loop, not before each of the N samples:
// the percentiles are meant to include the collector's interference.
func benchSnapshotSync(e *env) ([]Result, error) {
	f, err := e.valueFixture()
	if err != nil {
		return nil, err
	}
	d := e.dataset()
	c := e.cfg
	store, err := file.New(filepath.Join(e.tmp, "sync"))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	writes := indices(c.snapshots*c.snapshotWrites, len(d.keys), c.seed, 5)
	put := func(batch []int) (time.Duration, error) {
		start := time.Now()
		for _, i := range batch {
			if err := f.b.SetCurrentKey(d.keys[i]); err != nil {
				return 0, err
			}
			if err := f.st.Update(d.values[(i+1)%len(d.values)]); err != nil {
				return 0, err
			}
		}
		return time.Since(start), nil
	}
	var syncMs, copyMs, cowUs, plainUs []float64
	var writeSecs float64
	e.logf("snapshot sync: %d snapshots, %d random writes between", c.snapshots, c.snapshotWrites)
	runtime.GC()
	for s := range c.snapshots {
		batch := writes[s*c.snapshotWrites : (s+1)*c.snapshotWrites]
		plain, err := put(batch)
		if err != nil {
			return nil, err
		}
		start := time.Now()
		capt, err := f.b.Snapshot()
		syncDur := time.Since(start)
		if err != nil {
			return nil, err
		}
		cow, err := put(batch)
		if err != nil {
			capt.Release()
			return nil, err
		}
		if (s+1)%c.writeEvery == 0 {
			start := time.Now()
			if err := writeAndRemove(store, capt, fmt.Sprintf("sync-%d", s)); err != nil {
				return nil, err
			}
			writeSecs += time.Since(start).Seconds()
		} else {
			capt.Release()
		}
		start = time.Now()
		clone := maps.Clone(f.m)
		copyDur := time.Since(start)
		sink.Add(int64(len(clone)))
		syncMs, copyMs = append(syncMs, ms(syncDur)), append(copyMs, ms(copyDur))
		cowUs = append(cowUs, usPerOp(cow, len(batch)))
		plainUs = append(plainUs, usPerOp(plain, len(batch)))
	}
	e.logf("snapshot sync: p50/p90/p99/max %.3g/%.3g/%.3g/%.3g ms; full copy %.3g/%.3g/%.3g/%.3g ms",
		percentile(syncMs, 50), percentile(syncMs, 90), percentile(syncMs, 99), percentile(syncMs, 100),
		percentile(copyMs, 50), percentile(copyMs, 90), percentile(copyMs, 99), percentile(copyMs, 100))
	e.logf("snapshot sync: put with capture held p50/p99 %.3g/%.3g us/op, without %.3g/%.3g us/op; %.1f s in Write",
		median(cowUs), percentile(cowUs, 99), median(plainUs), percentile(plainUs, 99), writeSecs)
	params := func(p int) map[string]any {
		return withParams(c.baseParams(), map[string]any{"percentile": p, "snapshots": c.snapshots,
			"writes_between": c.snapshotWrites, "write_every": c.writeEvery})
	}
	return []Result{
		newResult("heap.snapshot.sync.p50", unitMs, "heap.snapshot.sync.fullcopy",
			percentile(syncMs, 50), percentile(copyMs, 50), params(50)),
		newResult("heap.snapshot.sync.p99", unitMs, "heap.snapshot.sync.fullcopy",
			percentile(syncMs, 99), percentile(copyMs, 99), params(99)),
		newResult("heap.snapshot.cow.put", unitUsPerOp, "heap.value.put.nocapture",
			median(cowUs), median(plainUs), withParams(c.baseParams(), map[string]any{
				"writes": c.snapshotWrites, "batches": c.snapshots})),
	}, nil
}

// writeAndRemove writes a capture under dir of store, then removes what
// it wrote.
func writeAndRemove(store *file.Storage, capt backend.SnapshotCapture, dir string) error {
	handles, err := writeCapture(store, capt, dir)
	if err != nil {
		return err
	}
	return removeCapture(store, dir, handles)
}

// writeCapture writes a capture under dir of store.
func writeCapture(store *file.Storage, capt backend.SnapshotCapture, dir string) ([]snapshot.KeyedStateHandle, error) {
	return capt.Write(context.Background(), backend.SnapshotTarget{Store: store, Dir: dir, FilePrefix: "bench-0"})
}

// handlesSize returns the total size of the files of handles.
func handlesSize(handles []snapshot.KeyedStateHandle) int64 {
	var size int64
	for _, h := range handles {
		for _, fr := range h.Files {
			size += fr.Size
		}
	}
	return size
}

// removeCapture deletes the files of handles and the directory dir.
func removeCapture(store *file.Storage, dir string, handles []snapshot.KeyedStateHandle) error {
	for _, h := range handles {
		for _, fr := range h.Files {
			if err := store.Delete(context.Background(), dir+"/"+fr.Path); err != nil {
				return err
			}
		}
	}
	return os.RemoveAll(filepath.Join(store.Root(), filepath.FromSlash(dir)))
}

// benchSnapshotWrite times capture.Write of the loaded value state into a
// FileStorage (no compression) against writing as many bytes with
// os.File.Write in 1 MiB chunks and Sync, in MB/s. An untimed first write
// learns the file size.
func benchSnapshotWrite(e *env) ([]Result, error) {
	f, err := e.valueFixture()
	if err != nil {
		return nil, err
	}
	store, err := file.New(filepath.Join(e.tmp, "write"))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	round := 0
	heapWrite := func() (float64, int64, error) {
		capt, err := f.b.Snapshot()
		if err != nil {
			return 0, 0, err
		}
		round++
		dir := fmt.Sprintf("write-%d", round)
		var handles []snapshot.KeyedStateHandle
		dur, err := timed(func() error {
			var err error
			handles, err = writeCapture(store, capt, dir)
			return err
		})
		if err != nil {
			return 0, 0, err
		}
		size := handlesSize(handles)
		return float64(size) / 1e6 / dur.Seconds(), size, removeCapture(store, dir, handles)
	}
	e.logf("snapshot write: warm-up")
	_, size, err := heapWrite()
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, errors.New("snapshot write: empty snapshot file")
	}
	buf := make([]byte, size)
	fillRandom(buf, e.cfg.seed+1)
	plainPath := filepath.Join(e.tmp, "file-write.bin")
	heapSide := func() (float64, error) {
		mbps, n, err := heapWrite()
		if err == nil && n != size {
			err = fmt.Errorf("snapshot write: file size changed from %d to %d", size, n)
		}
		return mbps, err
	}
	fileSide := func() (float64, error) {
		dur, err := timed(func() error { return writeFile(plainPath, buf) })
		if err != nil {
			return 0, err
		}
		return float64(size) / 1e6 / dur.Seconds(), os.Remove(plainPath)
	}
	as, bs, err := interleave(e.cfg.rounds, heapSide, fileSide)
	if err != nil {
		return nil, fmt.Errorf("snapshot write: %w", err)
	}
	e.logf("heap.snapshot.write: %.3g MB/s, file.write: %.3g MB/s (medians of %d, %d bytes)", median(as), median(bs), len(as), size)
	return []Result{newResult("heap.snapshot.write", unitMBps, "file.write", median(as), median(bs),
		withParams(e.cfg.baseParams(), map[string]any{"file_bytes": size, "compression": "none"}))}, nil
}

// writeFile writes buf to a new file at path in 1 MiB chunks, then syncs
// and closes it.
func writeFile(path string, buf []byte) (err error) {
	fh, err := os.Create(path)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := fh.Close(); err == nil {
			err = cerr
		}
	}()
	for off := 0; off < len(buf); off += 1 << 20 {
		if _, err := fh.Write(buf[off:min(off+1<<20, len(buf))]); err != nil {
			return err
		}
	}
	return fh.Sync()
}
