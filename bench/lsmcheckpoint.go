package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/lsm"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

// Units of the LSM checkpoint results.
const (
	unitMB      = "MB" // 10^6 bytes, lower is better
	unitSeconds = "s"  // lower is better
)

// update writes a new value to the keys of batch in the fixture's backend
// and in its raw Pebble DB alike; salt varies the values.
func (f *lsmFixture) update(d *dataset, batch []int, salt int) error {
	if err := f.updateLSMOnly(d, batch, salt); err != nil {
		return err
	}
	return f.updateRaw(d, batch, salt)
}

// updateRaw writes the values of update to the raw Pebble DB only.
func (f *lsmFixture) updateRaw(d *dataset, batch []int, salt int) error {
	n := len(d.values)
	for _, i := range batch {
		if err := f.raw.db.Set(f.rows[i], d.values[(i+1+salt)%n], pebble.NoSync); err != nil {
			return err
		}
	}
	return nil
}

// updateLSMOnly writes the values of update to the LSM backend only.
func (f *lsmFixture) updateLSMOnly(d *dataset, batch []int, salt int) error {
	n := len(d.values)
	for _, i := range batch {
		if err := f.b.SetCurrentKey(d.keys[i]); err != nil {
			return err
		}
		if err := f.st.Update(d.values[(i+1+salt)%n]); err != nil {
			return err
		}
	}
	return nil
}

// uploadedBytes returns the bytes checkpoint cur uploaded given the
// checkpoint prev before it: its shared files prev does not reference and
// all its exclusive files. total is the size of every file cur references.
func uploadedBytes(prev, cur []snapshot.KeyedStateHandle) (uploaded, total int64) {
	had := map[string]bool{}
	for _, h := range prev {
		for _, fr := range h.Files {
			if fr.Scope == snapshot.ScopeShared {
				had[fr.Path] = true
			}
		}
	}
	for _, h := range cur {
		for _, fr := range h.Files {
			total += fr.Size
			if fr.Scope != snapshot.ScopeShared || !had[fr.Path] {
				uploaded += fr.Size
			}
		}
	}
	return uploaded, total
}

// benchLSMCheckpointBytes measures what an incremental checkpoint uploads
// after updatePercent of the keys changed: checkpointPairs times, with
// background work settled before each update, it updates and checkpoints
// (Snapshot, Write, NotifyCheckpointComplete) and counts the bytes the
// checkpoint uploads (new shared SSTs + exclusive files) against the size
// of everything it references (what a full checkpoint uploads). It reports
//
//   - lsm.checkpoint.incremental.bytes: the median, the typical checkpoint
//     after such an update;
//   - lsm.checkpoint.incremental.steady.bytes: the mean, which includes the
//     checkpoints that upload the rewrites of Pebble's level-0 compactions,
//     and the largest upload in params.
func benchLSMCheckpointBytes(e *env) ([]Result, error) {
	f, err := e.lsmFixture()
	if err != nil {
		return nil, err
	}
	c := e.cfg
	d := e.dataset()
	updates := max(c.lsm.keys*c.lsm.updatePercent/100, 1)
	measure := func(p int, what string) (float64, float64, error) {
		prev := f.last
		waitIdle(idleLimit)
		batch := indices(updates, c.lsm.keys, c.seed, uint64(20+p))
		if err := f.update(d, batch, p); err != nil {
			return 0, 0, err
		}
		if err := f.checkpoint(); err != nil {
			return 0, 0, err
		}
		up, total := uploadedBytes(prev, f.last)
		e.logf("lsm checkpoint %d (%s): %d of %d bytes uploaded (%.2f%%) after updating %d keys",
			f.chkID, what, up, total, 100*float64(up)/float64(total), updates)
		return float64(up) / 1e6, float64(total) / 1e6, nil
	}
	if err := f.checkpoint(); err != nil {
		return nil, err
	}
	var inc, full []float64
	for p := range 3 * c.lsm.checkpointPairs {
		up, total, err := measure(p, "after an update")
		if err != nil {
			return nil, err
		}
		inc, full = append(inc, up), append(full, total)
	}
	params := withParams(c.lsmParams(c.lsm.keys), map[string]any{
		"update_percent": c.lsm.updatePercent, "updated_keys": updates, "pairs": len(inc), "statistic": "median"})
	steadyParams := withParams(c.lsmParams(c.lsm.keys), map[string]any{
		"update_percent": c.lsm.updatePercent, "updated_keys": updates, "pairs": len(inc), "statistic": "mean",
		"max_incremental_mb": round3(percentile(inc, 100))})
	return []Result{
		newResult("lsm.checkpoint.incremental.bytes", unitMB, "lsm.checkpoint.full.bytes", median(inc), median(full), params),
		newResult("lsm.checkpoint.incremental.steady.bytes", unitMB, "lsm.checkpoint.full.bytes", mean(inc), mean(full), steadyParams),
	}, nil
}

// benchLSMCheckpointSync times the synchronous phase of LSM checkpoints
// (Backend.Snapshot: flush + Pebble checkpoint) against db.Flush +
// db.Checkpoint on the raw Pebble DB with the same rows, syncRounds
// times, after the same syncWrites random updates on both; the two sides
// alternate which goes first. Every syncWriteEvery-th LSM capture is
// written and confirmed (so later ones stay incremental), the others
// released; every raw checkpoint directory is removed.
func benchLSMCheckpointSync(e *env) ([]Result, error) {
	f, err := e.lsmFixture()
	if err != nil {
		return nil, err
	}
	c := e.cfg
	d := e.dataset()
	l := c.lsm
	rawChk := filepath.Join(e.tmp, "pebble-chk")
	if err := os.MkdirAll(rawChk, 0o755); err != nil {
		return nil, err
	}
	defer os.RemoveAll(rawChk)
	writes := indices(l.syncRounds*l.syncWrites, l.keys, c.seed, 30)
	var lsmMs, rawMs []float64
	var writeSecs float64
	e.logf("lsm checkpoint sync: %d checkpoints, %d random writes before each", l.syncRounds, l.syncWrites)
	waitIdle(idleLimit)
	runtime.GC()
	for r := range l.syncRounds {
		batch := writes[r*l.syncWrites : (r+1)*l.syncWrites]
		lsmSide := func() error {
			if err := f.updateLSMOnly(d, batch, 100+r); err != nil {
				return err
			}
			start := time.Now()
			capt, err := f.b.Snapshot()
			lsmMs = append(lsmMs, ms(time.Since(start)))
			if err != nil {
				return err
			}
			if (r+1)%l.syncWriteEvery != 0 {
				capt.Release()
				return nil
			}
			start = time.Now()
			f.chkID++
			dir := fmt.Sprintf("value/chk-%d", f.chkID)
			hs, err := writeLSMCapture(f.b, capt, f.store, dir, 0, f.chkID)
			if err != nil {
				return err
			}
			f.chkDir, f.last = dir, hs
			writeSecs += time.Since(start).Seconds()
			return nil
		}
		rawSide := func() error {
			if err := f.updateRaw(d, batch, 100+r); err != nil {
				return err
			}
			dir := filepath.Join(rawChk, strconv.Itoa(r))
			start := time.Now()
			err := f.raw.db.Flush()
			if err == nil {
				err = f.raw.db.Checkpoint(dir)
			}
			rawMs = append(rawMs, ms(time.Since(start)))

			return errors.Join(err, os.RemoveAll(dir))
		}
		first, second := lsmSide, rawSide
		if r%2 == 1 {
			first, second = rawSide, lsmSide
		}
		if err := first(); err != nil {
			return nil, err
		}
		if err := second(); err != nil {
			return nil, err
		}
	}
	e.logf("lsm checkpoint sync: p50/p90/p99/max %.3g/%.3g/%.3g/%.3g ms; pebble flush+checkpoint %.3g/%.3g/%.3g/%.3g ms; %.1f s in Write",
		percentile(lsmMs, 50), percentile(lsmMs, 90), percentile(lsmMs, 99), percentile(lsmMs, 100),
		percentile(rawMs, 50), percentile(rawMs, 90), percentile(rawMs, 99), percentile(rawMs, 100), writeSecs)
	params := func(p int) map[string]any {
		return withParams(c.lsmParams(l.keys), map[string]any{"percentile": p, "checkpoints": l.syncRounds,
			"writes_between": l.syncWrites, "write_every": l.syncWriteEvery})
	}
	return []Result{
		newResult("lsm.checkpoint.sync.p50", unitMs, "pebble.flush+checkpoint",
			percentile(lsmMs, 50), percentile(rawMs, 50), params(50)),
		newResult("lsm.checkpoint.sync.p99", unitMs, "pebble.flush+checkpoint",
			percentile(lsmMs, 99), percentile(rawMs, 99), params(99)),
	}, nil
}

// copyHandleFiles copies every file of handles from dir of store into the
// local directory dest under the name nameOf gives it, n files at a time,
// and returns the bytes copied.
func copyHandleFiles(store snapshot.Storage, dir string, handles []snapshot.KeyedStateHandle, dest string, n int,
	nameOf func(snapshot.FileRef) string) (int64, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return 0, err
	}
	var refs []snapshot.FileRef
	for _, h := range handles {
		refs = append(refs, h.Files...)
	}
	var mu sync.Mutex
	var total int64
	var firstErr error
	sem := make(chan struct{}, n)
	var wg sync.WaitGroup
	for _, ref := range refs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			size, err := copyFile(store, dir, ref, filepath.Join(dest, nameOf(ref)))
			mu.Lock()
			total += size
			if firstErr == nil {
				firstErr = err
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	return total, firstErr
}

// copyFile copies one file of a handle to the local path dest: read and
// write through a 32 KiB buffer in user space (no copy_file_range), no
// sync, no checksum.
func copyFile(store snapshot.Storage, dir string, ref snapshot.FileRef, dest string) (int64, error) {
	name, err := snapshot.ResolvePath(dir, ref.Path)
	if err != nil {
		return 0, err
	}
	rc, err := store.Open(context.Background(), name)
	if err != nil {
		return 0, err
	}
	defer rc.Close()
	w, err := os.Create(dest)
	if err != nil {
		return 0, err
	}
	size, err := io.Copy(struct{ io.Writer }{w}, struct{ io.Reader }{rc})
	return size, errors.Join(err, w.Close())
}

// countLSMKeys counts the keys of the value state of a restored backend.
func countLSMKeys(b *lsm.Backend[string]) (int, error) {
	if _, err := lsmValueState(b); err != nil {
		return 0, err
	}
	n := 0
	err := b.Keys("value", "", func(string) bool { n++; return true })
	return n, err
}

// benchLSMRestore: Restore of the fixture's last checkpoint into a new
// backend of the same key groups against copying the same files from the
// checkpoint storage to a local directory (4 at a time, as the backend's
// TransferConcurrency), in seconds; background work settles before each.
func benchLSMRestore(e *env) ([]Result, error) {
	f, err := e.lsmFixture()
	if err != nil {
		return nil, err
	}
	c := e.cfg
	if f.last == nil {
		if err := f.checkpoint(); err != nil {
			return nil, err
		}
	}
	src := backend.RestoreSource{Store: f.store, Dir: f.chkDir, MaxParallelism: benchMaxP, Handles: f.last}
	size := handlesSize(f.last)
	files := 0
	for _, h := range f.last {
		files += len(h.Files)
	}
	round := 0
	lsmRestore := func() (float64, error) {
		round++
		b, err := newLSM(c.lsm, filepath.Join(e.tmp, "lsm-restore"), 1, 0)
		if err != nil {
			return 0, err
		}
		defer b.Close()
		waitIdle(idleLimit)
		dur, err := timed(func() error { return b.Restore(context.Background(), src) })
		if err != nil {
			return 0, err
		}
		if round == 1 {
			if n, err := countLSMKeys(b); err != nil || n != c.lsm.keys {
				return 0, fmt.Errorf("restored %d keys (%v), want %d", n, err, c.lsm.keys)
			}
		}
		return dur.Seconds(), nil
	}
	fileCopy := func() (float64, error) {
		round++
		dest := filepath.Join(e.tmp, "copy-"+strconv.Itoa(round))
		defer os.RemoveAll(dest)
		var n int64
		waitIdle(idleLimit)
		dur, err := timed(func() error {
			var err error
			n, err = copyHandleFiles(f.store, f.chkDir, f.last, dest, 4, lsm.LocalName)
			return err
		})
		if err == nil && n != size {
			err = fmt.Errorf("copied %d bytes, want %d", n, size)
		}
		return dur.Seconds(), err
	}
	as, bs, err := interleave(c.rounds, lsmRestore, fileCopy)
	if err != nil {
		return nil, fmt.Errorf("lsm restore: %w", err)
	}
	e.logf("lsm.restore.seconds: %.3g s, file.copy.seconds: %.3g s (medians of %d, %d files, %d bytes)",
		median(as), median(bs), len(as), files, size)
	return []Result{newResult("lsm.restore.seconds", unitSeconds, "file.copy.seconds", median(as), median(bs),
		withParams(c.lsmParams(c.lsm.keys), map[string]any{"files": files, "checkpoint_bytes": size, "rounds": len(as)}))}, nil
}

// interleaveN measures the sides for the given number of rounds, rotating
// which goes first, and returns every sample of each side.
func interleaveN(rounds int, sides ...side) ([][]float64, error) {
	out := make([][]float64, len(sides))
	for r := range rounds {
		for j := range sides {
			k := (r + j) % len(sides)
			x, err := sides[k]()
			if err != nil {
				return nil, err
			}
			out[k] = append(out[k], x)
		}
	}
	return out, nil
}

// benchLSMRescale writes rescaleKeys keys over 4 subtasks (each key to
// its owner), checkpoints the 4 and then times, rotating the order:
//
//   - rescale: restoring 3 new subtasks from the 4 handles (Excise +
//     Ingest), sequentially, summed;
//   - reinsert: for each of the 3, restoring every old subtask that
//     overlaps it into a backend of its old range, reading its keys
//     (Keys + Value) and writing those in the new range into a fresh
//     backend (SetCurrentKey + Update), all timed, summed;
//   - same: restoring the 4 handles into 4 subtasks of the same ranges,
//     summed.
func benchLSMRescale(e *env) ([]Result, error) {
	c := e.cfg
	d := e.dataset()
	keys := d.keys[:c.lsm.rescaleKeys]
	ctx := context.Background()
	root := filepath.Join(e.tmp, "rescale")
	defer os.RemoveAll(root)
	store, err := file.New(filepath.Join(root, "store"))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	work := filepath.Join(root, "work")
	const oldP, newP = 4, 3
	e.logf("lsm rescale: loading %d keys over %d subtasks", len(keys), oldP)
	var handles []snapshot.KeyedStateHandle
	err = func() error {
		olds := make([]*lsm.Backend[string], oldP)
		sts := make([]state.ValueState[[]byte], oldP)
		defer func() {
			for _, b := range olds {
				if b != nil {
					b.Close()
				}
			}
		}()
		for i := range olds {
			var err error
			if olds[i], err = newLSM(c.lsm, work, oldP, i); err != nil {
				return err
			}
			if sts[i], err = lsmValueState(olds[i]); err != nil {
				return err
			}
		}
		for x, k := range keys {
			s := backend.SubtaskForKeyGroup(benchMaxP, oldP, backend.KeyGroupForKey([]byte(k), benchMaxP))
			if err := olds[s].SetCurrentKey(k); err != nil {
				return err
			}
			if err := sts[s].Update(d.values[x]); err != nil {
				return err
			}
		}
		for i, b := range olds {
			hs, err := writeLSMCheckpoint(b, store, "rescale/chk-1", i, 1)
			if err != nil {
				return err
			}
			handles = append(handles, hs...)
		}
		return nil
	}()
	if err != nil {
		return nil, err
	}
	src := backend.RestoreSource{Store: store, Dir: "rescale/chk-1", MaxParallelism: benchMaxP, Handles: handles}
	waitIdle(idleLimit)

	// restoreAll restores p subtasks from src one after the other and
	// returns the summed time of the Restore calls; check counts the keys.
	restoreAll := func(p int, check bool) (float64, error) {
		waitIdle(idleLimit)
		var sum time.Duration
		total := 0
		for i := range p {
			b, err := newLSM(c.lsm, work, p, i)
			if err != nil {
				return 0, err
			}
			dur, err := timed(func() error { return b.Restore(ctx, src) })
			if err == nil && check {
				var n int
				n, err = countLSMKeys(b)
				total += n
			}
			err = errors.Join(err, b.Close())
			if err != nil {
				return 0, err
			}
			sum += dur
		}
		if check && total != len(keys) {
			return 0, fmt.Errorf("restore into %d subtasks: %d keys, want %d", p, total, len(keys))
		}
		return sum.Seconds(), nil
	}
	rounds := 0
	rescale := func() (float64, error) {
		rounds++
		return restoreAll(newP, rounds <= 3)
	}
	same := func() (float64, error) { return restoreAll(oldP, false) }
	reinsert := func() (float64, error) {
		waitIdle(idleLimit)
		var sum time.Duration
		total := 0
		for i := range newP {
			n, dur, err := reinsertSubtask(c.lsm, work, src, oldP, newP, i)
			if err != nil {
				return 0, err
			}
			total += n
			sum += dur
		}
		if total != len(keys) {
			return 0, fmt.Errorf("reinsert: %d keys, want %d", total, len(keys))
		}
		return sum.Seconds(), nil
	}
	samples, err := interleaveN(c.lsm.rescaleRounds, rescale, reinsert, same)
	if err != nil {
		return nil, fmt.Errorf("lsm rescale: %w", err)
	}
	rs, ri, sm := median(samples[0]), median(samples[1]), median(samples[2])
	e.logf("lsm rescale %d→%d: %.3g s, reinsert %.3g s, same-range restore %d→%d %.3g s (medians of %d)",
		oldP, newP, rs, ri, oldP, oldP, sm, len(samples[0]))
	params := func(extra map[string]any) map[string]any {
		return withParams(c.lsmParams(len(keys)), withParams(map[string]any{
			"from": oldP, "to": newP, "max_parallelism": benchMaxP, "rounds": len(samples[0]),
			"checkpoint_bytes": handlesSize(handles), "timing": "sum of sequential restores"}, extra))
	}
	return []Result{
		newResult("lsm.rescale.4to3.seconds", unitSeconds, "lsm.rescale.reinsert.seconds", rs, ri, params(map[string]any{
			"reinsert_timed": "restore of each overlapping old subtask + Keys/Value + SetCurrentKey/Update, summed"})),
		newResult("lsm.rescale.4to3.seconds", unitSeconds, "lsm.restore.same.seconds", rs, sm, params(map[string]any{
			"same": "restore of the 4 handles into 4 subtasks of the same ranges, summed"})),
	}, nil
}

// reinsertSubtask builds subtask i of newP by re-inserting keys: for each
// old subtask of oldP overlapping it, it restores the old subtask into a
// backend of its old range, reads its keys and values and writes those of
// the new range into a fresh backend. It returns the keys written and the
// time from the first restore to the last write (backend creation and
// Close untimed).
func reinsertSubtask(c lsmConfig, work string, src backend.RestoreSource, oldP, newP, i int) (int, time.Duration, error) {
	nb, err := newLSM(c, work, newP, i)
	if err != nil {
		return 0, 0, err
	}
	defer nb.Close()
	nst, err := lsmValueState(nb)
	if err != nil {
		return 0, 0, err
	}
	r := backend.KeyGroupRangeForSubtask(benchMaxP, newP, i)
	var olds []*lsm.Backend[string]
	defer func() {
		for _, ob := range olds {
			ob.Close()
		}
	}()
	for j := range oldP {
		if backend.KeyGroupRangeForSubtask(benchMaxP, oldP, j).Intersect(r).Empty() {
			continue
		}
		ob, err := newLSM(c, work, oldP, j)
		if err != nil {
			return 0, 0, err
		}
		olds = append(olds, ob)
	}
	n := 0
	dur, err := timed(func() error {
		for _, ob := range olds {
			if err := ob.Restore(context.Background(), src); err != nil {
				return err
			}
			ost, err := lsmValueState(ob)
			if err != nil {
				return err
			}
			var ierr error
			err = ob.Keys("value", "", func(k string) bool {
				if !r.Contains(backend.KeyGroupForKey([]byte(k), benchMaxP)) {
					return true
				}
				if ierr = ob.SetCurrentKey(k); ierr != nil {
					return false
				}
				var v []byte
				var ok bool
				if v, ok, ierr = ost.Value(); ierr != nil || !ok {
					if ierr == nil {
						ierr = errMissing
					}
					return false
				}
				if ierr = nb.SetCurrentKey(k); ierr != nil {
					return false
				}
				ierr = nst.Update(v)
				n++
				return ierr == nil
			})
			if err := errors.Join(err, ierr); err != nil {
				return err
			}
		}
		return nil
	})
	return n, dur, err
}
