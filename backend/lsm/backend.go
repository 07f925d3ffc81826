// Package lsm is the keyed state backend for state larger than memory:
// Pebble on local disk, behind the backend contract.
//
// Rows are keyed by key group first (FORMAT.md), so a key-group range is
// one contiguous span. Lists append through a Pebble merge operator; the
// WAL is off, durability comes from checkpoints. The synchronous phase of
// a snapshot flushes the memtable and takes a Pebble checkpoint (hard
// links); the asynchronous phase uploads only the SST files that the last
// confirmed checkpoint does not already have, and references the others.
// Restores download in parallel; a restore into another key-group range
// opens the handle with the largest overlap as base, excises everything
// outside the new range, and ingests SSTs built from the other handles.
//
// # TTL
//
// States with TTL (backend.ByteRegistration.TTL) store every unit stamped
// (FORMAT.md); the typed states expire units on read. The backend adds:
//
//   - Keys hides keys whose rows hold no live unit under
//     ttl.NeverReturnExpired.
//   - Full snapshots (savepoints, non-incremental checkpoints) leave expired
//     units out: the asynchronous phase deletes them from its private copy
//     of the checkpoint and compacts it before uploading. Incremental
//     checkpoints share files as they are and are not filtered.
//   - An expiry index: every write of units of a state with TTL and
//     background cleanup also writes an index row, in a key space reserved
//     inside each key group, whose key holds the time by which the earliest
//     of them expires, rounded up to a bucket of 1/16 of the TTL, and names
//     the row. The index rows of a key group are ordered by that time, so
//     the rows holding units expired by now are named by one contiguous span
//     per key group. Rows restored without an index (from key-group streams)
//     are indexed when their state registers.
//   - A background goroutine sweeps expired units out of the database
//     (ttl.BackgroundCleanup; SweepExpired runs one sweep on demand): it
//     reads the expired spans of the index and, under the backend's write
//     lock, each row they name, deletes its expired units and the index rows
//     it processed, and indexes what lives on. Every SST records, per data
//     block, the interval of the buckets of the index rows it holds (the
//     block property "stated.ttl.expiry", derived from keys only: Pebble
//     withholds values from collectors), so the sweep skips the blocks of
//     data rows and of index rows not yet due.
//
// Index rows hold the bucket computed with the TTL in force when they were
// written. After a restore that changes a state's TTL, a row is swept at its
// old bucket at the latest (a shorter TTL), or its index row is found early,
// judged by the current TTL and moved to the current bucket (a longer TTL).
// Reads and full snapshots always judge by the current TTL.
//
// # Timers
//
// The backend keeps the timers of state.TimerService itself
// (backend.TimerBackend): they are rows of the timer map states, and a
// timer index orders them by time within each key group (FORMAT.md), so
// they are bounded by disk, not memory; memory holds 16 of each key
// group's earliest timers and a heap of the key groups by their earliest.
package lsm

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/bloom"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/rowkey"
	"github.com/stated-io/stated/internal/ttlunit"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

// l0CompactionThreshold is the level-0 read amplification that triggers a
// compaction into Lbase (Pebble's default is 4).
const l0CompactionThreshold = 8

// TunePebble applies the backend's tuning of the LSM shape to o: zstd
// block compression on the lower levels, bloom filters, and a level 0 that
// collects more files before it is compacted into Lbase. Every such
// compaction rewrites the overlapping Lbase files, which the next
// incremental checkpoint must upload, and competes with the flush of the
// synchronous phase; the filters keep point reads cheap across the extra
// level-0 files. Writes stop only at a deep level 0 (8× the compaction
// threshold, Pebble's default is 3×): the flush of a snapshot's synchronous
// phase would otherwise wait out a whole level-0 compaction whenever
// writes outrun compaction for a while. Benchmarks apply it to raw Pebble
// baselines so that both sides have the same shape.
func TunePebble(o *pebble.Options) {
	o.ApplyCompressionSettings(func() pebble.DBCompressionSettings { return pebble.DBCompressionGood })
	o.L0CompactionThreshold = l0CompactionThreshold
	o.L0StopWritesThreshold = 8 * l0CompactionThreshold
	for i := range o.Levels {
		o.Levels[i].FilterPolicy = bloom.FilterPolicy(10)
	}
}

// Format is the handle format of the LSM's native snapshots: the files of
// a Pebble checkpoint (see FORMAT.md). Restores read FormatV1 as well.
const Format = "lsm/v2"

// FormatV1 is the native format before the timer index (FORMAT.md): a
// restore of it builds the index from the timers' rows.
const FormatV1 = "lsm/v1"

// Backend is the LSM keyed backend of one subtask. It implements
// backend.KeyedBackend with the capability backend.Bytes, and
// backend.TimerBackend and backend.CheckpointListener.
// It is not safe for concurrent use, except for the captures that Snapshot
// returns and for SweepExpired. Its background sweep runs on a goroutine of
// its own, which Close stops.
type Backend[K comparable] struct {
	opts    Options[K]
	groups  backend.KeyGroupRange
	keySer  serializer.Serializer[K]
	current backend.KeyContext[K]

	id    string // instance id: names the shared files this instance uploads
	dir   string // instance directory, removed on Close
	db    *pebble.DB
	cache interface{ Unref() }

	states map[string]*stateInfo
	bySID  []*stateInfo // index sid-1
	tables map[string]*table[K]
	// timerQueues are the queues TimerQueue opened, by state name.
	timerQueues map[string]*timerQueue[K]

	// sids is what the sweeps and the snapshot captures, which run on other
	// goroutines, know about each state id: an immutable table that
	// ByteTable and addState replace.
	sids atomic.Pointer[sidTable]
	// writeMu serializes the writes of the owner goroutine with the
	// read-verify-write steps of sweeps; reads do not take it.
	writeMu sync.Mutex
	// sweepMu serializes sweeps (background and SweepExpired).
	sweepMu sync.Mutex
	bg      *sweeper // the background sweep, once started
	hooks   sweepHooks
	// migrationBatch, if positive, is the batch size of migrations
	// instead of batchLimit, and migrationCommitted sees the size of
	// every batch a migration commits (tests).
	migrationBatch     int
	migrationCommitted func(bytes int)

	files  *uploads
	chkSeq int
	used   bool  // a state was registered: Restore is no longer allowed
	failed error // a Restore failed: the database is unusable
	closed bool
}

// stateInfo is a state the database holds or will hold.
type stateInfo struct {
	name        string
	sid         uint16
	kind        snapshot.StateKind
	serializers []serializer.Snapshot
	// registered says ttl is known: the state was registered through
	// ByteTable in this process (a restored state is not until then).
	registered bool
	ttl        *ttl.Config // nil: no TTL
	// unindexed says rows of the state may lack index rows: a restore
	// loaded them from a key-group stream, or the state had TTL without
	// background cleanup (now or before the checkpoint restored). The index
	// is built when the state registers with background cleanup.
	unindexed bool
	// markers are the key groups whose index holds a marker of the state
	// (ttlindex.go).
	markers []int
}

var (
	_ backend.KeyedBackend[string] = (*Backend[string])(nil)
	_ backend.ByteCapability       = (*Backend[string])(nil)
	_ backend.CheckpointListener   = (*Backend[string])(nil)
	_ backend.TimerBackend[string] = (*Backend[string])(nil)
	_ backend.ByteTable            = (*table[string])(nil)
)

// New creates an empty LSM backend in a new directory below opts.Dir.
func New[K comparable](opts Options[K]) (*Backend[K], error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	idBytes := make([]byte, 8)
	if _, err := rand.Read(idBytes); err != nil {
		return nil, err
	}
	b := &Backend[K]{
		opts:    opts,
		groups:  opts.KeyGroups,
		keySer:  opts.KeySerializer,
		current: backend.NewKeyContext(&opts.KeyedOptions),
		id:      hex.EncodeToString(idBytes),
		states:  map[string]*stateInfo{},
		tables:  map[string]*table[K]{},
		files:   newUploads(),
	}
	b.sids.Store(&sidTable{})
	operator := fileSafe(opts.OperatorUID)
	prefix := fmt.Sprintf("%s-%d-", operator, opts.Subtask)
	for _, d := range sweepStale(opts.Dir, operator) {
		opts.Logger.Info("lsm: removed the local directory of a backend that is gone", "dir", d)
	}
	b.dir = filepath.Join(opts.Dir, prefix+b.id)
	if err := os.MkdirAll(b.dir, 0o755); err != nil {
		return nil, fmt.Errorf("lsm: %w", err)
	}
	if err := b.openDB(false); err != nil {
		_ = os.RemoveAll(b.dir)
		return nil, err
	}
	return b, nil
}

// fileSafe keeps the characters of s that are safe in a file name.
func fileSafe(s string) string {
	return strings.Map(func(r rune) rune {
		if r == '-' || r == '_' || r == '.' || 'a' <= r && r <= 'z' || 'A' <= r && r <= 'Z' || '0' <= r && r <= '9' {
			return r
		}
		return '_'
	}, s)
}

func (b *Backend[K]) dbDir() string { return filepath.Join(b.dir, "db") }

// pebbleOptions are the options of every database of this backend.
func (b *Backend[K]) pebbleOptions(readOnly bool) *pebble.Options {
	return newPebbleOptions(b.opts.MemTableSize, b.opts.Logger, readOnly)
}

// newPebbleOptions returns the options of a database of the backend.
func newPebbleOptions(memTableSize int64, logger *slog.Logger, readOnly bool) *pebble.Options {
	o := &pebble.Options{
		FormatMajorVersion: pebble.FormatNewest,
		MemTableSize:       uint64(memTableSize),
		Merger:             ListMerger,
		DisableWAL:         true,
		ReadOnly:           readOnly,
		Logger:             pebbleLogger{logger},
		FS:                 noSyncFS{vfs.Default},
	}
	o.BlockPropertyCollectors = []func() pebble.BlockPropertyCollector{newExpiryCollector()}
	TunePebble(o)
	o.EnsureDefaults()
	return o
}

// openDB opens the database in dbDir (creating it if empty).
func (b *Backend[K]) openDB(existing bool) error {
	o := b.pebbleOptions(false)
	c := pebble.NewCache(b.opts.CacheSize)
	o.Cache = c
	o.ErrorIfNotExists = existing
	db, err := pebble.Open(b.dbDir(), o)
	if err != nil {
		c.Unref()
		return fmt.Errorf("lsm: open database: %w", err)
	}
	b.db, b.cache = db, c
	return nil
}

func (b *Backend[K]) closeDB() error {
	if b.db == nil {
		return nil
	}
	err := b.db.Close()
	b.cache.Unref()
	b.db, b.cache = nil, nil
	return err
}

// unusable returns why the backend cannot be used, or nil.
func (b *Backend[K]) unusable() error {
	if b.closed {
		return backend.ErrClosed
	}
	return b.failed
}

// Capability implements backend.KeyedBackend: the LSM keeps bytes.
func (b *Backend[K]) Capability() backend.Capability[K] { return backend.Bytes[K](b) }

// SetCurrentKey implements backend.KeyedBackend.
func (b *Backend[K]) SetCurrentKey(key K) error {
	if err := b.unusable(); err != nil {
		return err
	}
	return b.current.Set(key)
}

// CurrentKey implements backend.KeyedBackend.
func (b *Backend[K]) CurrentKey() K { return b.current.Key() }

// CurrentKeyGroup implements backend.KeyedBackend.
func (b *Backend[K]) CurrentKeyGroup() int { return b.current.KeyGroup() }

// KeyGroups implements backend.KeyedBackend.
func (b *Backend[K]) KeyGroups() backend.KeyGroupRange { return b.groups }

// MaxParallelism implements backend.KeyedBackend.
func (b *Backend[K]) MaxParallelism() int { return b.opts.MaxParallelism }

// Clock implements backend.ByteCapability.
func (b *Backend[K]) Clock() ttl.Clock { return b.current.Clock() }

// addState gives a new state the next state id: ids run from 1 to
// maxStateID (indexSID is the expiry index's).
func (b *Backend[K]) addState(name string, kind snapshot.StateKind, sers []serializer.Snapshot) (*stateInfo, error) {
	if len(b.bySID) >= rowkey.MaxStateID {
		return nil, fmt.Errorf("lsm: operator %q: more than %d states", b.opts.OperatorUID, rowkey.MaxStateID)
	}
	st := &stateInfo{name: name, sid: uint16(len(b.bySID) + 1), kind: kind, serializers: sers}
	b.states[name] = st
	b.bySID = append(b.bySID, st)
	b.publishSIDs()
	return st, nil
}

func (b *Backend[K]) conflict(name string, had, want snapshot.StateKind) error {
	return fmt.Errorf("%w: operator %q state %q is a %s state, not a %s state",
		backend.ErrStateConflict, b.opts.OperatorUID, name, had, want)
}

// ByteTable implements backend.ByteCapability.
func (b *Backend[K]) ByteTable(reg backend.ByteRegistration) (backend.ByteTable, error) {
	if err := b.unusable(); err != nil {
		return nil, err
	}
	st := b.states[reg.Name]
	if t, ok := b.tables[reg.Name]; ok {
		if t.kind != reg.Kind {
			return nil, b.conflict(reg.Name, t.kind, reg.Kind)
		}
		if !sameSerializers(st.serializers, reg.Serializers) {
			// Let the new handle judge the serializers in use (and adopt a
			// reconfigured one); the data was rewritten already.
			m, err := b.resolve(reg, st)
			if err != nil {
				return nil, err
			}
			if m.Value != nil || m.UserKey != nil {
				return nil, fmt.Errorf("%w: operator %q state %q is in use with serializers that the new ones would migrate",
					backend.ErrStateConflict, b.opts.OperatorUID, reg.Name)
			}
		}
		return t, nil
	}
	rewritten := false
	if st == nil {
		var err error
		if st, err = b.addState(reg.Name, reg.Kind, reg.Serializers); err != nil {
			return nil, err
		}
	} else {
		if st.kind != reg.Kind {
			return nil, b.conflict(reg.Name, st.kind, reg.Kind)
		}
		m, err := b.resolve(reg, st)
		if err != nil {
			return nil, err
		}
		if err := b.migrate(st, m); err != nil {
			return nil, fmt.Errorf("operator %q state %q: migrate: %w", b.opts.OperatorUID, reg.Name, err)
		}
		st.serializers = m.Serializers
		rewritten = m.Value != nil || m.UserKey != nil
	}
	b.used = true
	// The TTL of the first registration in this process stays: the table
	// returned to later ones is the same.
	var cfg *ttl.Config
	if reg.TTL != nil {
		c := *reg.TTL
		c.EnsureDefaults()
		cfg = &c
	}
	if err := b.indexRestored(st, cfg, rewritten); err != nil {
		return nil, fmt.Errorf("lsm: operator %q state %q: %w", b.opts.OperatorUID, reg.Name, err)
	}
	st.registered, st.ttl = true, cfg
	b.publishSIDs()
	t := &table[K]{b: b, name: st.name, sid: st.sid, kind: reg.Kind}
	if indexed(cfg) {
		t.ttl = cfg
	}
	b.tables[reg.Name] = t
	if indexed(cfg) {
		b.startSweeper()
	}
	return t, nil
}

// indexRestored brings the expiry index of st, about to register with TTL
// cfg (nil: none), up to date with its restored rows. A state that the
// background sweep will cover gets the index rows of its rows built in one
// pass if some may lack them: rows restored without an index
// (st.unindexed) or rewritten by a migration. A state with TTL but without
// background cleanup writes no index rows, so it keeps a marker in every
// key group, for a later restore with background cleanup. A state without
// TTL needs no markers. Index rows left from an earlier configuration are
// stale, and sweeps delete them.
func (b *Backend[K]) indexRestored(st *stateInfo, cfg *ttl.Config, rewritten bool) error {
	if indexed(cfg) {
		if !st.unindexed && !rewritten {
			return nil
		}
		unreadable, err := b.buildIndex(st, cfg)
		if err != nil {
			return fmt.Errorf("build the expiry index: %w", err)
		}
		if unreadable > 0 {
			b.opts.Logger.Warn("lsm: rows of a state with ttl hold no stamped units; they are never swept",
				"operator", b.opts.OperatorUID, "state", st.name, "rows", unreadable)
		}
		return nil
	}
	batch := b.db.NewBatch()
	defer batch.Close()
	var err error
	if cfg != nil {
		err = b.markAll(batch, st)
	} else {
		err = b.deleteMarkers(batch, st)
	}
	if err != nil {
		return err
	}
	if batch.Empty() {
		return nil
	}
	return batch.Commit(pebble.NoSync)
}

// resolve asks the registration how to read the data of st.
func (b *Backend[K]) resolve(reg backend.ByteRegistration, st *stateInfo) (backend.ByteMigration, error) {
	m, err := reg.Migrate(append([]serializer.Snapshot{}, st.serializers...))
	if err != nil {
		var ie *backend.IncompatibleStateError
		if errors.As(err, &ie) {
			ie.Operator, ie.State = b.opts.OperatorUID, reg.Name
		}
	}
	return m, err
}

func sameSerializers(a, b []serializer.Snapshot) bool {
	return slices.EqualFunc(a, b, func(x, y serializer.Snapshot) bool {
		return x.Name == y.Name && x.Version == y.Version && bytes.Equal(x.Config, y.Config)
	})
}

// Keys implements backend.KeyedBackend. For a state with TTL under
// ttl.NeverReturnExpired it leaves out the keys whose rows in namespace
// hold no unit that is live at the clock's now: a value whose unit expired,
// a list whose elements all expired, a map whose entries all expired.
func (b *Backend[K]) Keys(state, namespace string, fn func(K) bool) error {
	if err := b.unusable(); err != nil {
		return err
	}
	st := b.states[state]
	if st == nil {
		return nil
	}
	hide := st.ttl != nil && st.ttl.Visibility == ttl.NeverReturnExpired
	now := b.current.Clock().Now()
	lo, hi := rowkey.SpanOf(b.groups.Start, b.groups.End)
	it, err := b.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	defer it.Close()
	// last is the key of the rows met last in this key group (if
	// haveLast); reported says whether it was reported already, so that
	// the remaining entries of its map are skipped.
	var last []byte
	for kg := b.groups.Start; kg <= b.groups.End; kg++ {
		haveLast, reported := false, false
		prefix := rowkey.AppendStatePrefix(nil, kg, st.sid)
		for valid := it.SeekGE(prefix); valid; valid = it.Next() {
			k := it.Key()
			if len(k) < rowkey.HeaderBytes || string(k[:rowkey.HeaderBytes]) != string(prefix) {
				break
			}
			r, err := rowkey.Parse(k)
			if err != nil {
				return &snapshot.CorruptError{Path: b.dbDir(), Offset: -1, Reason: "row key", Err: err}
			}
			if string(r.Namespace) != namespace {
				continue
			}
			if haveLast && string(r.Key) == string(last) {
				if reported {
					continue // another entry of a map reported already
				}
			} else {
				last, haveLast, reported = append(last[:0], r.Key...), true, false
			}
			if hide {
				v, err := it.ValueAndErr()
				if err != nil {
					return err
				}
				live, err := ttlunit.LiveRow(st.kind, v, st.ttl, now)
				if err != nil {
					return fmt.Errorf("lsm: state %q: %w", state, err)
				}
				if !live {
					continue
				}
			}
			reported = true
			key, err := b.keySer.Decode(r.Key)
			if err != nil {
				return fmt.Errorf("lsm: decode key: %w", err)
			}
			if !fn(key) {
				return nil
			}
		}
	}
	return it.Error()
}

// Close implements backend.KeyedBackend: it stops the background sweep,
// closes the coarse clock the backend may have opened (Clock), closes the
// database and removes the instance directory. Captures not yet
// written fail.
func (b *Backend[K]) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	b.stopSweeper()
	b.current.CloseClock()
	err := b.closeDB()
	if rerr := os.RemoveAll(b.dir); err == nil {
		err = rerr
	}
	return err
}

// pebbleLogger sends Pebble's logs to slog.
type pebbleLogger struct {
	l interface {
		Debug(string, ...any)
		Error(string, ...any)
	}
}

func (p pebbleLogger) Infof(format string, args ...any) {
	p.l.Debug("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Errorf(format string, args ...any) {
	p.l.Error("pebble: " + fmt.Sprintf(format, args...))
}
func (p pebbleLogger) Fatalf(format string, args ...any) {
	p.l.Error("pebble fatal: " + fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}

// uploads is the incremental bookkeeping, shared with captures writing on
// other goroutines.
type uploads struct {
	mu sync.Mutex
	// confirmed maps the local name of every SST of the last confirmed
	// checkpoint to its durable copy (storage path, size, CRC).
	confirmed map[string]snapshot.FileRef
	// pending holds the same for checkpoints written but not confirmed.
	pending map[int64]map[string]snapshot.FileRef
}

func newUploads() *uploads {
	return &uploads{confirmed: map[string]snapshot.FileRef{}, pending: map[int64]map[string]snapshot.FileRef{}}
}

// NotifyCheckpointComplete implements backend.CheckpointListener.
func (b *Backend[K]) NotifyCheckpointComplete(id int64) error {
	u := b.files
	u.mu.Lock()
	defer u.mu.Unlock()
	if files, ok := u.pending[id]; ok {
		u.confirmed = files
	}
	for p := range u.pending {
		if p <= id {
			delete(u.pending, p)
		}
	}
	return nil
}

// NotifyCheckpointAborted implements backend.CheckpointListener.
func (b *Backend[K]) NotifyCheckpointAborted(id int64) error {
	b.files.mu.Lock()
	delete(b.files.pending, id)
	b.files.mu.Unlock()
	return nil
}

// Compact compacts the whole key space of this backend into the bottom
// level of the LSM and waits for it, reclaiming the space of excised or
// overwritten data (after a rescale, say). It leaves every row in one
// level, so the next level-0 compaction rewrites much of the database:
// do not call it routinely.
func (b *Backend[K]) Compact(ctx context.Context) error {
	if err := b.unusable(); err != nil {
		return err
	}
	lo, hi := rowkey.SpanOf(b.groups.Start, b.groups.End)
	if err := b.db.Compact(ctx, lo, hi, true); err != nil {
		return fmt.Errorf("lsm: compact: %w", err)
	}
	return nil
}
