package lsm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/rowkey"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
)

// Snapshot implements backend.KeyedBackend: it flushes the memtable and
// takes a Pebble checkpoint (hard links) into a local directory. The pause
// is the flush of at most one memtable plus the links. It also notes the
// clock's now and the TTL of every state: a full snapshot leaves out the
// units expired at that time (see capture.Write).
func (b *Backend[K]) Snapshot() (backend.SnapshotCapture, error) {
	if err := b.unusable(); err != nil {
		return nil, err
	}
	if err := b.db.Flush(); err != nil {
		return nil, fmt.Errorf("lsm: snapshot: flush: %w", err)
	}
	b.chkSeq++
	dir := filepath.Join(b.dir, "chk", strconv.Itoa(b.chkSeq))
	if err := b.db.Checkpoint(dir); err != nil {
		return nil, fmt.Errorf("lsm: snapshot: checkpoint: %w", err)
	}
	c := &capture{
		uid:         b.opts.OperatorUID,
		id:          b.id,
		dir:         dir,
		groups:      b.groups,
		keySer:      b.keySer.Snapshot(),
		incremental: *b.opts.Incremental,
		parallel:    b.opts.TransferConcurrency,
		files:       b.files,
		now:         b.Clock().Now(),
		sids:        *b.sids.Load(),
		memTable:    b.opts.MemTableSize,
		logger:      b.opts.Logger,
	}
	for _, st := range b.bySID {
		c.states = append(c.states, snapshot.StateMeta{Name: st.name, Kind: st.kind, Serializers: st.serializers})
	}
	b.files.mu.Lock()
	c.confirmed = maps.Clone(b.files.confirmed)
	b.files.mu.Unlock()
	return c, nil
}

// capture is a local Pebble checkpoint waiting to be uploaded.
type capture struct {
	uid         string
	id          string
	dir         string
	groups      backend.KeyGroupRange
	keySer      serializer.Snapshot
	states      []snapshot.StateMeta
	incremental bool
	parallel    int
	confirmed   map[string]snapshot.FileRef
	files       *uploads
	release     sync.Once

	// The full-snapshot filter: the time of the synchronous phase, the
	// states' TTL then, and what opening the checkpoint takes.
	now      int64
	sids     sidTable
	memTable int64
	logger   *slog.Logger
}

// Release implements backend.SnapshotCapture: it removes the local
// checkpoint.
func (c *capture) Release() {
	c.release.Do(func() { _ = os.RemoveAll(c.dir) })
}

// transfer is one file of a snapshot: uploaded, or referenced when a
// confirmed checkpoint already holds it.
type transfer struct {
	local  string // local file name
	stored string // storage path
	ref    snapshot.FileRef
	upload bool
}

// Write implements backend.SnapshotCapture. For a checkpoint with a
// SharedDir, SST files go to the shared directory named
// "<instance id>-<checkpoint id>-<file>", and those the last confirmed
// checkpoint already uploaded are referenced instead; every other file goes
// to Dir/FilePrefix/. A savepoint holds every file, unshared. On error the
// files this call uploaded are removed.
//
// A full snapshot (a savepoint, or a checkpoint that shares no file: not
// incremental or without a SharedDir) leaves out the units that had
// expired at the synchronous phase in states whose TTL filters full
// snapshots (ttl.Cleanup.FiltersFullSnapshots), as in Flink: before the
// upload, the local checkpoint is opened as a database of its own (its SST
// files are hard links, which Pebble never modifies, so the live database
// does not change), the expired units are deleted and the key span is
// compacted, so that neither they nor their tombstones are uploaded.
// Incremental checkpoints are not filtered.
func (c *capture) Write(ctx context.Context, target backend.SnapshotTarget) ([]snapshot.KeyedStateHandle, error) {
	defer c.Release()
	h, err := c.write(ctx, target)
	if err != nil {
		return nil, fmt.Errorf("operator %q: snapshot: %w", c.uid, err)
	}
	return []snapshot.KeyedStateHandle{*h}, nil
}

func (c *capture) write(ctx context.Context, target backend.SnapshotTarget) (*snapshot.KeyedStateHandle, error) {
	shared := c.incremental && target.Kind == snapshot.KindCheckpoint && target.SharedDir != ""
	if !shared && slices.ContainsFunc(c.sids, filteredFromFullSnapshots) {
		if err := c.filterExpired(ctx); err != nil {
			return nil, fmt.Errorf("leave out expired state: %w", err)
		}
	}
	entries, err := os.ReadDir(c.dir)
	if err != nil {
		return nil, err
	}
	var jobs []*transfer
	for _, e := range entries {
		name := e.Name()
		t := &transfer{local: name, upload: true}
		switch {
		case shared && strings.HasSuffix(name, ".sst"):
			t.ref.Scope = snapshot.ScopeShared
			if ref, ok := c.confirmed[name]; ok && insideJob(ref.Path, target.Dir) {
				t.stored, t.ref, t.upload = ref.Path, ref, false
				break
			}
			// The checkpoint id makes the name unique to this upload, so
			// removing it after a failure never touches a file that
			// another checkpoint committed.
			t.stored = path.Join(target.Dir, target.SharedDir, fmt.Sprintf("%s-%d-%s", c.id, target.CheckpointID, name))
		default:
			t.stored = path.Join(target.Dir, target.FilePrefix, name)
			t.ref.Scope = snapshot.ScopeExclusive
		}
		rel, err := filepath.Rel(target.Dir, t.stored)
		if err != nil {
			return nil, err
		}
		t.ref.Path = filepath.ToSlash(rel)
		jobs = append(jobs, t)
	}
	err = parallel(ctx, c.parallel, jobs, func(ctx context.Context, t *transfer) error {
		if !t.upload {
			return nil
		}
		w, err := upload(ctx, target.Store, filepath.Join(c.dir, t.local), t.stored)
		t.ref.Size, t.ref.CRC32C = w.Size, w.CRC32C
		return err
	})
	if err != nil {
		for _, t := range jobs {
			if t.upload {
				_ = target.Store.Delete(context.WithoutCancel(ctx), t.stored)
			}
		}
		return nil, err
	}
	h := &snapshot.KeyedStateHandle{
		Format:        Format,
		BackendID:     c.id,
		KeyGroupStart: c.groups.Start,
		KeyGroupEnd:   c.groups.End,
		KeySerializer: c.keySer,
		States:        c.states,
	}
	ssts := map[string]snapshot.FileRef{}
	for _, t := range jobs {
		h.Files = append(h.Files, t.ref)
		if t.ref.Scope == snapshot.ScopeShared {
			stored := t.ref
			stored.Path = t.stored
			ssts[t.local] = stored
		}
	}
	if shared {
		c.files.mu.Lock()
		c.files.pending[target.CheckpointID] = ssts
		c.files.mu.Unlock()
	}
	return h, nil
}

// filterExpired deletes the units expired at c.now from the local
// checkpoint, in the states whose TTL filters full snapshots, and compacts
// its key span so that the files hold neither them nor tombstones. It reads
// every row (a full snapshot holds no expired unit, even one whose index
// row is not due yet), then processes the expired spans of the expiry index
// as a sweep does: index rows of those states that pointed at the units
// removed go, rows that keep live units get the index row of the earliest,
// and stale index rows (of registered states that are no longer indexed)
// go. The other index rows stay as they are.
func (c *capture) filterExpired(ctx context.Context) (err error) {
	o := newPebbleOptions(c.memTable, c.logger, false)
	o.ErrorIfNotExists = true
	cache := pebble.NewCache(8 << 20)
	defer cache.Unref()
	o.Cache = cache
	db, err := pebble.Open(c.dir, o)
	if err != nil {
		return fmt.Errorf("open checkpoint: %w", err)
	}
	defer func() {
		err = errors.Join(err, db.Close())
		// Opening made a lock file, which is no part of the checkpoint.
		if rerr := os.Remove(filepath.Join(c.dir, "LOCK")); rerr != nil && !os.IsNotExist(rerr) {
			err = errors.Join(err, rerr)
		}
	}()
	lo, hi := rowkey.SpanOf(c.groups.Start, c.groups.End)
	stats, err := expireRows(ctx, db, lo, hi, c.sids, filteredFromFullSnapshots, c.now)
	if err != nil {
		return err
	}
	s := indexSweep{db: db, groups: c.groups, sids: c.sids, include: filteredFromFullSnapshots, now: c.now}
	if _, err := s.run(ctx); err != nil {
		return fmt.Errorf("expiry index: %w", err)
	}
	if stats.RowsDeleted+stats.RowsRewritten == 0 && s.indexWrites == 0 {
		return nil
	}
	if err := db.Compact(ctx, lo, hi, true); err != nil {
		return fmt.Errorf("compact: %w", err)
	}
	return nil
}

// insideJob reports whether the stored file p is reachable from dir with at
// most one "..": a checkpoint references only files of its own job (a
// checkpoint restored from another job's directory is not referenced but
// uploaded again).
func insideJob(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && !strings.HasPrefix(filepath.ToSlash(rel), "../../")
}

// upload copies a local file to name in store.
func upload(ctx context.Context, store snapshot.Storage, local, name string) (snapshot.Written, error) {
	f, err := os.Open(local)
	if err != nil {
		return snapshot.Written{}, err
	}
	defer f.Close()
	w, err := store.Create(ctx, name, snapshot.CreateOptions{})
	if err != nil {
		return snapshot.Written{}, err
	}
	if _, err := io.Copy(w, f); err != nil {
		return snapshot.Written{}, errors.Join(fmt.Errorf("upload %s: %w", name, err), w.Abort())
	}
	return w.Commit()
}

// parallel runs fn for every job with at most n at a time and returns the
// first error; after an error no new job starts.
func parallel[T any](ctx context.Context, n int, jobs []T, fn func(context.Context, T) error) error {
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	sem := make(chan struct{}, max(n, 1))
	var wg sync.WaitGroup
	for _, j := range jobs {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := fn(ctx, j); err != nil {
				cancel(err)
			}
		})
	}
	wg.Wait()
	if err := context.Cause(ctx); err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	return ctx.Err()
}
