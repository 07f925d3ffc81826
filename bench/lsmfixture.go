package main

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/lsm"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

// benchMaxP is the maxParallelism of every LSM backend of the benchmarks.
const benchMaxP = 128

// newLSM returns an empty LSM backend of subtask i of p in a new directory
// below dir, configured by c.
func newLSM(c lsmConfig, dir string, p, i int) (*lsm.Backend[string], error) {
	return lsm.New(lsm.Options[string]{
		KeyedOptions: backend.KeyedOptions[string]{
			OperatorUID:    "bench",
			Subtask:        i,
			MaxParallelism: benchMaxP,
			KeyGroups:      backend.KeyGroupRangeForSubtask(benchMaxP, p, i),
			KeySerializer:  serializer.String{},
		},
		Dir:          dir,
		CacheSize:    c.cacheBytes,
		MemTableSize: c.memTableBytes,
	})
}

// lsmValueState registers the value state of the benchmarks on b.
func lsmValueState(b *lsm.Backend[string]) (state.ValueState[[]byte], error) {
	return state.GetValueState(b, state.ValueDescriptor[[]byte]{Name: "value", Serializer: serializer.Bytes{}})
}

// appendRowKey appends the LSM row key of (key group, state id, key,
// namespace) as backend/lsm/keys.go lays it out: kg (2 bytes BE) | state
// id (2 bytes BE) | uvarint len | key | uvarint len | namespace. Map
// entries append the user key to it.
func appendRowKey(dst []byte, kg int, sid uint16, key, ns string) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(kg))
	dst = binary.BigEndian.AppendUint16(dst, sid)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(ns)))
	return append(dst, ns...)
}

// rowKeys returns the row keys of state id sid (namespace "") of keys,
// each followed by suffix(i) when suffix is not nil, carved with full
// slice expressions out of one backing array.
func rowKeys(keys []string, sid uint16, suffix func(i int) string) [][]byte {
	var backing []byte
	ends := make([]int, len(keys))
	for i, k := range keys {
		backing = appendRowKey(backing, backend.KeyGroupForKey([]byte(k), benchMaxP), sid, k, "")
		if suffix != nil {
			backing = append(backing, suffix(i)...)
		}
		ends[i] = len(backing)
	}
	out := make([][]byte, len(keys))
	start := 0
	for i, end := range ends {
		out[i] = backing[start:end:end]
		start = end
	}
	return out
}

// rawDB is a Pebble DB opened with the options of the LSM backend
// (backend/lsm/backend.go pebbleOptions): the baseline of the LSM metrics.
type rawDB struct {
	db    *pebble.DB
	cache interface{ Unref() }
	dir   string
}

// openRawDB opens (or creates) a Pebble DB in dir with the LSM backend's
// options: FormatNewest, the same cache and memtable sizes, no WAL, the
// backend's tuning (lsm.TunePebble: zstd, filters, level-0 compaction
// threshold), and a concatenating merge
// operator with the semantics and the name of the LSM's list merger, so
// that it also opens the files of an LSM checkpoint.
func openRawDB(c lsmConfig, dir string) (*rawDB, error) {
	cache := pebble.NewCache(c.cacheBytes)
	o := &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       uint64(c.memTableBytes),
		Merger:             lsm.ListMerger,
		DisableWAL:         true,
		Cache:              cache,
		Logger:             quietLogger{},
	}
	lsm.TunePebble(o) // the same LSM shape as the backend's
	o.EnsureDefaults()
	db, err := pebble.Open(dir, o)
	if err != nil {
		cache.Unref()
		return nil, err
	}
	return &rawDB{db: db, cache: cache, dir: dir}, nil
}

// cloneToRaw checkpoints subtask 0 of b as checkpoint id into dir of store
// and opens a raw Pebble DB on a copy of the checkpoint's files in dest:
// the raw DB then holds exactly the LSM's rows in exactly the same SST
// files and levels, so that reads compare the same LSM shape.
func cloneToRaw(c lsmConfig, b *lsm.Backend[string], store snapshot.Storage, dir string, id int64, dest string) (*rawDB, []snapshot.KeyedStateHandle, error) {
	hs, err := writeLSMCheckpoint(b, store, dir, 0, id)
	if err != nil {
		return nil, nil, err
	}
	if _, err := copyHandleFiles(store, dir, hs, dest, 4, lsm.LocalName); err != nil {
		return nil, nil, err
	}
	raw, err := openRawDB(c, dest)
	if err != nil {
		return nil, nil, err
	}
	return raw, hs, nil
}

// close closes the DB and removes its directory.
func (r *rawDB) close() error {
	err := r.db.Close()
	r.cache.Unref()
	return errors.Join(err, os.RemoveAll(r.dir))
}

// quietLogger drops Pebble's informational logs.
type quietLogger struct{}

func (quietLogger) Infof(string, ...any) {}
func (quietLogger) Errorf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "pebble: "+format+"\n", args...)
}
func (quietLogger) Fatalf(format string, args ...any) { panic(fmt.Sprintf(format, args...)) }

// scanRaw reads every key and value of r once (warms the block cache) and
// returns the number of keys.
func scanRaw(r *rawDB) (int, error) {
	it, err := r.db.NewIter(nil)
	if err != nil {
		return 0, err
	}
	n, size := 0, 0
	for valid := it.First(); valid; valid = it.Next() {
		n++
		size += len(it.Value())
	}
	sink.Add(int64(size))
	return n, errors.Join(it.Error(), it.Close())
}

// scanLSM iterates over every row of state of b once (which warms the
// block cache: values are stored next to the keys) and returns the number
// of keys.
func scanLSM(b *lsm.Backend[string], state string) (int, error) {
	n := 0
	err := b.Keys(state, "", func(string) bool { n++; return true })
	return n, err
}

// cpuTime returns the CPU time the process has used so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// waitIdle waits until the process uses less than 10% of one CPU over
// 25 ms, at most limit: Pebble flushes and compactions run in the
// background, and one side of a comparison must not pay for the other
// side's debt. It returns how long it waited.
func waitIdle(limit time.Duration) time.Duration {
	start := time.Now()
	for time.Since(start) < limit {
		c0 := cpuTime()
		time.Sleep(25 * time.Millisecond)
		if cpuTime()-c0 < 2500*time.Microsecond {
			break
		}
	}
	return time.Since(start)
}

// idleLimit bounds every waitIdle of the benchmarks.
const idleLimit = 20 * time.Second

// lsmFixture is the LSM value state loaded with lsm.keys keys, next to a
// raw Pebble DB with the same rows, and the checkpoints written of it.
type lsmFixture struct {
	b    *lsm.Backend[string]
	st   state.ValueState[[]byte]
	raw  *rawDB
	rows [][]byte // row key of dataset key i

	store  *file.Storage
	chkID  int64                       // the last checkpoint written and confirmed
	chkDir string                      // its directory in store
	last   []snapshot.KeyedStateHandle // its handles
}

// lsmFixture returns the loaded LSM fixture, building it on first use.
func (e *env) lsmFixture() (*lsmFixture, error) {
	if e.lsm != nil {
		return e.lsm, nil
	}
	c := e.cfg.lsm
	d := e.dataset()
	keys := d.keys[:c.keys]
	e.logf("lsm: loading the LSM value state and a raw Pebble DB with %d keys each", len(keys))
	f := &lsmFixture{rows: rowKeys(keys, 1, nil)}
	ok := false
	defer func() {
		if !ok {
			_ = f.close()
		}
	}()
	var err error
	if f.b, err = newLSM(c, filepath.Join(e.tmp, "lsm-value"), 1, 0); err != nil {
		return nil, err
	}
	if f.st, err = lsmValueState(f.b); err != nil {
		return nil, err
	}
	if f.store, err = file.New(filepath.Join(e.tmp, "lsm-store")); err != nil {
		return nil, err
	}
	start := time.Now()
	for i, k := range keys {
		if err := f.b.SetCurrentKey(k); err != nil {
			return nil, err
		}
		if err := f.st.Update(d.values[i]); err != nil {
			return nil, err
		}
	}
	load := time.Since(start)
	waited := waitIdle(idleLimit)
	f.chkID = 1
	f.chkDir = "value/chk-1"
	if f.raw, f.last, err = cloneToRaw(c, f.b, f.store, f.chkDir, f.chkID, filepath.Join(e.tmp, "pebble-value")); err != nil {
		return nil, err
	}
	n1, err := scanLSM(f.b, "value")
	if err != nil {
		return nil, err
	}
	n2, err := scanRaw(f.raw)
	if err != nil {
		return nil, err
	}
	if n1 != len(keys) || n2 != len(keys) {
		return nil, fmt.Errorf("lsm fixture: %d keys in the LSM backend and %d in Pebble, want %d", n1, n2, len(keys))
	}
	e.logf("lsm: loaded in %.2f s, %.2f s for compactions to settle, checkpoint 1 (%d bytes) copied into a raw Pebble DB",
		load.Seconds(), waited.Seconds(), handlesSize(f.last))
	ok = true
	e.lsm = f
	return f, nil
}

// checkpoint takes a checkpoint of the fixture's backend (Snapshot, Write,
// NotifyCheckpointComplete) under job/chk-<id> and remembers it.
func (f *lsmFixture) checkpoint() error {
	f.chkID++
	dir := fmt.Sprintf("value/chk-%d", f.chkID)
	hs, err := writeLSMCheckpoint(f.b, f.store, dir, 0, f.chkID)
	if err != nil {
		return err
	}
	f.chkDir, f.last = dir, hs
	return nil
}

// writeLSMCheckpoint takes checkpoint id of subtask i of b into dir of
// store (shared files in dir/../shared) and confirms it.
func writeLSMCheckpoint(b *lsm.Backend[string], store snapshot.Storage, dir string, i int, id int64) ([]snapshot.KeyedStateHandle, error) {
	c, err := b.Snapshot()
	if err != nil {
		return nil, err
	}
	return writeLSMCapture(b, c, store, dir, i, id)
}

// writeLSMCapture writes capture c of b as checkpoint id and confirms it.
func writeLSMCapture(b *lsm.Backend[string], c backend.SnapshotCapture, store snapshot.Storage, dir string, i int, id int64) ([]snapshot.KeyedStateHandle, error) {
	hs, err := c.Write(context.Background(), backend.SnapshotTarget{
		Store: store, Dir: dir, FilePrefix: fmt.Sprintf("bench-%d", i),
		CheckpointID: id, Kind: snapshot.KindCheckpoint, SharedDir: "../shared",
	})
	if err != nil {
		return nil, err
	}
	return hs, b.NotifyCheckpointComplete(id)
}

// close closes what the fixture opened.
func (f *lsmFixture) close() error {
	var errs []error
	if f.b != nil {
		errs = append(errs, f.b.Close())
	}
	if f.raw != nil {
		errs = append(errs, f.raw.close())
	}
	if f.store != nil {
		errs = append(errs, f.store.Close(), os.RemoveAll(f.store.Root()))
	}
	return errors.Join(errs...)
}

// dropLSMFixture closes the LSM fixture and removes its files.
func (e *env) dropLSMFixture() {
	if e.lsm != nil {
		if err := e.lsm.close(); err != nil {
			e.logf("lsm: closing the fixture: %v", err)
		}
		e.lsm = nil
	}
}
