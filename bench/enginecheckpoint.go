package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/heap"
	"github.com/stated-io/stated/backend/lsm"
	"github.com/stated-io/stated/engine"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

// checkpointSplitRecords is the length of every split of the checkpoint
// duration job's source: so long that no subtask gets past its first
// split before the job is cancelled.
const checkpointSplitRecords = 1 << 40

// checkpointJobTimeout bounds one checkpoint duration job.
const checkpointJobTimeout = 5 * time.Minute

// checkpointMetricNames returns the metric and baseline names of the
// checkpoint durations of backendType: engine.checkpoint.duration[.lsm]
// and backend.snapshot.duration[.lsm].
func checkpointMetricNames(backendType string) (metric, baseline string) {
	metric, baseline = "engine.checkpoint.duration", "backend.snapshot.duration"
	if backendType != "hashmap" {
		metric, baseline = metric+"."+backendType, baseline+"."+backendType
	}
	return metric, baseline
}

// hotKey returns the key of the n-th hot update of subtask t of p: the
// hot keys are the first hotKeys keys.
func (g engineConfig) hotKey(n int64, t int) int64 {
	return (n*int64(g.parallelism) + int64(t)) % int64(g.hotKeys)
}

// engineCheckpointDurations runs the checkpoint duration job on
// backendType in dir and returns the durations (ms) of the checkpoints
// that completed after the first one that holds all checkpointKeys keys,
// and the number of checkpoints that failed after the load. Its last
// checkpoint stays in dir/checkpoints.
//
// The job's source emits one record per subtask that a chained FlatMap
// expands into that subtask's share of the keys (key t, t+p, t+2p, ...),
// which loads the state at full speed; the source's further records,
// capped at hotRate records/s, update the hot keys. Once
// checkpointSamples checkpoints after the first one that holds all keys
// have completed, the job is cancelled.
func (e *env) engineCheckpointDurations(backendType, dir string) ([]float64, int, error) {
	c := e.cfg.engine
	p := int64(c.parallelism)
	keys := int64(c.checkpointKeys)
	splits := int64(max(4*c.parallelism, 16)) // engine.Generate's split count
	ctx, cancel := context.WithTimeout(context.Background(), checkpointJobTimeout)
	defer cancel()
	var (
		loadedAt atomic.Int64 // UnixNano when the last new key was counted
		fresh    atomic.Int64
		mu       sync.Mutex
		samples  []float64
		failed   int
		warm     bool
	)
	onCheckpoint := func(st engine.CheckpointStats) {
		if loadedAt.Load() == 0 {
			return // completed before the state was loaded
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case st.Err != nil:
			failed++
		case !warm:
			// The first checkpoint to complete after the load (usually
			// triggered during it) is the first to hold the whole state;
			// it is not timed.
			warm = true
		default:
			if samples = append(samples, ms(st.Duration)); len(samples) >= c.checkpointSamples {
				cancel()
			}
		}
	}
	j := engineJob{
		backend: backendType, parallelism: c.parallelism, interval: c.checkpointInterval,
		records: splits * checkpointSplitRecords, gen: func(i int64) int64 { return i },
		rate: c.hotRate,
		expand: func(i int64, emit func(int64)) error {
			t, q := i/checkpointSplitRecords, i%checkpointSplitRecords
			if q == 0 {
				for k := t; k < keys; k += p {
					emit(k)
				}
				return nil
			}
			emit(c.hotKey(q, int(t)))
			return nil
		},
		key: func(k int64) int64 { return k },
		counter: counter{fresh: &fresh, want: keys, loaded: func() {
			loadedAt.Store(time.Now().UnixNano())
		}},
		onCheckpoint: onCheckpoint,
	}
	start := time.Now()
	if _, err := runEngineJob(ctx, j, dir); err != nil {
		return nil, 0, err
	}
	mu.Lock()
	defer mu.Unlock()
	if errors.Is(context.Cause(ctx), context.DeadlineExceeded) || len(samples) < c.checkpointSamples {
		return nil, 0, fmt.Errorf("engine checkpoint %s: %d of %d checkpoints after the load in %v", backendType, len(samples), c.checkpointSamples, checkpointJobTimeout)
	}
	e.logf("engine checkpoint %s: state of %d keys loaded after %.2f s, %d checkpoints timed (%d failed) in %.2f s",
		backendType, keys, time.Unix(0, loadedAt.Load()).Sub(start).Seconds(), len(samples), failed, time.Since(start).Seconds())
	return samples, failed, nil
}

// snapshotSubtasks are the keyed backends of the subtasks of a
// parallelism, each with the count state, as the engine job has them.
type snapshotSubtasks struct {
	backends []backend.KeyedBackend[int64]
	states   []state.ValueState[int64]
}

// restoreSnapshotSubtasks opens one backend of backendType per subtask of
// c.parallelism with the options the engine gives them (the LSM ones in
// directories below dir), restores into each its key groups of the
// operator "count" of md, the checkpoint in chkDir of store, and
// registers the count state.
func restoreSnapshotSubtasks(c engineConfig, backendType, dir string, store snapshot.Storage, chkDir string, md *snapshot.Metadata) (*snapshotSubtasks, error) {
	var op *snapshot.OperatorState
	for i := range md.Operators {
		if md.Operators[i].UID == "count" {
			op = &md.Operators[i]
		}
	}
	if op == nil {
		return nil, fmt.Errorf("checkpoint %s has no state of operator \"count\"", chkDir)
	}
	s := &snapshotSubtasks{}
	for i := range c.parallelism {
		opts := backend.KeyedOptions[int64]{
			OperatorUID: "count", Subtask: i, MaxParallelism: benchMaxP,
			KeyGroups:     backend.KeyGroupRangeForSubtask(benchMaxP, c.parallelism, i),
			KeySerializer: serializer.Int64{},
		}
		var (
			b   backend.KeyedBackend[int64]
			err error
		)
		switch backendType {
		case "hashmap":
			b, err = heap.New(opts)
		case "lsm":
			incremental := true
			b, err = lsm.New(lsm.Options[int64]{KeyedOptions: opts, Dir: dir, Incremental: &incremental})
		default:
			err = fmt.Errorf("unknown backend %q", backendType)
		}
		if err != nil {
			return nil, errors.Join(err, s.close())
		}
		s.backends = append(s.backends, b)
		if err := b.Restore(context.Background(), backend.KeyedRestoreSource(store, chkDir, op)); err != nil {
			return nil, errors.Join(err, s.close())
		}
		st, err := state.GetValueState(b, state.ValueDescriptor[int64]{Name: "count", Serializer: serializer.Int64{}})
		if err != nil {
			return nil, errors.Join(err, s.close())
		}
		s.states = append(s.states, st)
	}
	return s, nil
}

// keys returns the number of keys with a count in every subtask.
func (s *snapshotSubtasks) keys() (int, error) {
	n := 0
	for _, b := range s.backends {
		if err := b.Keys("count", "", func(int64) bool { n++; return true }); err != nil {
			return 0, err
		}
	}
	return n, nil
}

// increment adds one to the count of key in the backend of its subtask.
func (s *snapshotSubtasks) increment(key int64, buf []byte) ([]byte, error) {
	buf, err := serializer.Int64{}.Append(buf[:0], key)
	if err != nil {
		return buf, err
	}
	t := backend.SubtaskForKeyGroup(benchMaxP, len(s.backends), backend.KeyGroupForKey(buf, benchMaxP))
	if err := s.backends[t].SetCurrentKey(key); err != nil {
		return buf, err
	}
	n, _, err := s.states[t].Value()
	if err != nil {
		return buf, err
	}
	return buf, s.states[t].Update(n + 1)
}

// checkpoint takes checkpoint id of every subtask into dir of store as the
// engine does: every subtask snapshots and writes on a goroutine of its
// own; when all are written, each is notified of the completion. It
// returns the time from the first Snapshot to the last Write.
func (s *snapshotSubtasks) checkpoint(store snapshot.Storage, dir string, id int64) (time.Duration, error) {
	errs := make([]error, len(s.backends))
	var wg sync.WaitGroup
	start := time.Now()
	for i, b := range s.backends {
		wg.Go(func() {
			capt, err := b.Snapshot()
			if err != nil {
				errs[i] = err
				return
			}
			_, errs[i] = capt.Write(context.Background(), backend.SnapshotTarget{
				Store: store, Dir: dir, FilePrefix: fmt.Sprintf("count-%d", i),
				CheckpointID: id, Kind: snapshot.KindCheckpoint, SharedDir: "../shared",
			})
		})
	}
	wg.Wait()
	d := time.Since(start)
	if err := errors.Join(errs...); err != nil {
		return 0, err
	}
	for _, b := range s.backends {
		if l, ok := b.(backend.CheckpointListener); ok {
			if err := l.NotifyCheckpointComplete(id); err != nil {
				return 0, err
			}
		}
	}
	return d, nil
}

// close closes every backend.
func (s *snapshotSubtasks) close() error {
	var errs []error
	for _, b := range s.backends {
		errs = append(errs, b.Close())
	}
	return errors.Join(errs...)
}

// backendSnapshotDurations is the baseline of the checkpoint durations:
// the state of the engine job's last checkpoint (in dir/checkpoints),
// restored into one backend of backendType per subtask with the engine's
// options, then snapshotted directly through the backend API,
// checkpointSamples times after an untimed first one, with as many hot
// updates before each (untimed) as the job makes in one interval and a
// wait (at most one interval) for background work to settle. It returns
// the durations in ms. Each checkpoint is removed after the next one
// completes, as the engine's num-retained 1 does.
func (e *env) backendSnapshotDurations(backendType, dir string) ([]float64, error) {
	c := e.cfg.engine
	start := time.Now()
	store, err := file.New(filepath.Join(dir, "checkpoints"))
	if err != nil {
		return nil, err
	}
	defer store.Close()
	chkDir, md, err := snapshot.LatestCheckpoint(context.Background(), store, engineJobName)
	if err != nil {
		return nil, err
	}
	s, err := restoreSnapshotSubtasks(c, backendType, filepath.Join(dir, "baseline-lsm"), store, chkDir, md)
	if err != nil {
		return nil, err
	}
	defer s.close()
	if n, err := s.keys(); err != nil || n != c.checkpointKeys {
		return nil, errors.Join(err, fmt.Errorf("restored %d keys from %s, want %d", n, chkDir, c.checkpointKeys))
	}
	restored := time.Since(start)
	hot := int64(c.hotRate * c.checkpointInterval.Seconds())
	var (
		samples []float64
		buf     []byte
		n       int64
	)
	p := int64(c.parallelism)
	for id := range int64(c.checkpointSamples) + 1 {
		for range hot {
			if buf, err = s.increment(c.hotKey(n/p, int(n%p)), buf); err != nil {
				return nil, err
			}
			n++
		}
		waitIdle(c.checkpointInterval)
		name := fmt.Sprintf("baseline/chk-%d", id+1)
		d, err := s.checkpoint(store, name, id+1)
		if err != nil {
			return nil, err
		}
		if id > 0 {
			samples = append(samples, ms(d))
			if err := os.RemoveAll(filepath.Join(store.Root(), "baseline", fmt.Sprintf("chk-%d", id))); err != nil {
				return nil, err
			}
		}
	}
	e.logf("backend snapshot %s: %s restored in %.2f s, %d checkpoints timed in %.2f s",
		backendType, chkDir, restored.Seconds(), len(samples), (time.Since(start) - restored).Seconds())
	return samples, nil
}

// benchEngineCheckpoint measures, per backend, the duration of the
// engine's checkpoints (trigger to commit of _metadata) of a state of
// checkpointKeys keys, against snapshotting the same state through the
// backend API, and reports the p50 and p99 of each.
func benchEngineCheckpoint(e *env) ([]Result, error) {
	c := e.cfg.engine
	var results []Result
	for _, bt := range engineBackends {
		dir := filepath.Join(e.tmp, "engine-checkpoint-"+bt)
		eng, failed, err := e.engineCheckpointDurations(bt, dir)
		if err != nil {
			os.RemoveAll(dir)
			return nil, err
		}
		base, err := e.backendSnapshotDurations(bt, dir)
		os.RemoveAll(dir)
		if err != nil {
			return nil, fmt.Errorf("backend snapshot %s: %w", bt, err)
		}
		e.logf("engine checkpoint %s: p50/p99/max %.3g/%.3g/%.3g ms; backend snapshot %.3g/%.3g/%.3g ms",
			bt, percentile(eng, 50), percentile(eng, 99), percentile(eng, 100),
			percentile(base, 50), percentile(base, 99), percentile(base, 100))
		metric, baseline := checkpointMetricNames(bt)
		for _, pct := range []int{50, 99} {
			suffix := fmt.Sprintf(".p%d", pct)
			results = append(results, newResult(metric+suffix, unitMs, baseline+suffix,
				percentile(eng, float64(pct)), percentile(base, float64(pct)), map[string]any{
					"keys": c.checkpointKeys, "value_bytes": engineValueBytes, "parallelism": c.parallelism,
					"backend": bt, "interval_ms": c.checkpointInterval.Milliseconds(),
					"samples": len(eng), "failed": failed, "percentile": pct,
					"hot_keys": c.hotKeys, "hot_rate": c.hotRate,
				}))
		}
	}
	return results, nil
}
