package lsm

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/objstorage/objstorageprovider"
	"github.com/cockroachdb/pebble/v2/sstable"
	"github.com/cockroachdb/pebble/v2/vfs"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/rowkey"
	"github.com/stated-io/stated/internal/statecodec"
	"github.com/stated-io/stated/snapshot"
)

// Restore implements backend.KeyedBackend. Native handles (Format) are
// restored from their files: the one that overlaps the most becomes the
// database, everything outside this backend's key groups is excised, and
// the overlapping rows of the others are ingested as new SST files. When
// a single native handle covers exactly this backend's key groups and the
// restore claims it (backend.Claim), its shared files count as confirmed,
// so the next checkpoint stays incremental; otherwise the first checkpoint
// is full. Handles in the key-group stream format (heap snapshots,
// canonical savepoints) are loaded row by row; they hold no expiry index,
// so the states they load are indexed when they register with TTL.
func (b *Backend[K]) Restore(ctx context.Context, src backend.RestoreSource) error {
	if err := b.unusable(); err != nil {
		return err
	}
	if b.used {
		return fmt.Errorf("operator %q: %w", b.opts.OperatorUID, backend.ErrRestoreAfterUse)
	}
	if err := backend.CheckRestoreMaxParallelism(b.opts.OperatorUID, src.MaxParallelism, b.opts.MaxParallelism); err != nil {
		return err
	}
	var native, streams, handles []*snapshot.KeyedStateHandle
	for i := range src.Handles {
		if h := &src.Handles[i]; !backend.HandleKeyGroups(h).Intersect(b.groups).Empty() {
			handles = append(handles, h)
		}
	}
	keySer, err := backend.RestoreKeySerializer(b.opts.OperatorUID, b.keySer, handles)
	if err != nil {
		return fmt.Errorf("restore: %w", err)
	}
	for _, h := range handles {
		switch h.Format {
		case Format, FormatV1:
			native = append(native, h)
		case snapshot.FormatKeyGroups:
			streams = append(streams, h)
		default:
			return fmt.Errorf("operator %q: restore: %w: keyed state of format %q", b.opts.OperatorUID, snapshot.ErrUnsupported, h.Format)
		}
	}
	b.keySer = keySer
	b.current.SetSerializer(keySer)
	err = b.restore(ctx, src, native, streams)
	if err == nil {
		err = b.findMarkers()
	}
	if err == nil {
		err = b.indexRestoredTimers(handles)
	}
	if err != nil {
		err = fmt.Errorf("operator %q: restore: %w", b.opts.OperatorUID, err)
		b.failed = fmt.Errorf("backend unusable after a failed restore: %w", err)
		return err
	}
	b.used = true
	return nil
}

func (b *Backend[K]) restore(ctx context.Context, src backend.RestoreSource, native, streams []*snapshot.KeyedStateHandle) error {
	if len(native) > 0 {
		overlap := func(h *snapshot.KeyedStateHandle) int { return backend.HandleKeyGroups(h).Intersect(b.groups).Len() }
		base := slices.MaxFunc(native, func(x, y *snapshot.KeyedStateHandle) int { return overlap(x) - overlap(y) })
		adopt := src.Mode == backend.Claim && len(native)+len(streams) == 1 && backend.HandleKeyGroups(base) == b.groups
		if err := b.restoreBase(ctx, src, base, adopt); err != nil {
			return err
		}
		for _, h := range native {
			if h != base {
				if err := b.ingestHandle(ctx, src, h); err != nil {
					return err
				}
			}
		}
	}
	for _, h := range streams {
		if err := b.loadStream(ctx, src, h); err != nil {
			return err
		}
	}
	return nil
}

// indexRestoredTimers builds the timer index of the timer states that
// handles without one (key-group streams, lsm/v1) loaded rows of.
func (b *Backend[K]) indexRestoredTimers(handles []*snapshot.KeyedStateHandle) error {
	var unindexed []*stateInfo
	for _, h := range handles {
		if h.Format == Format {
			continue
		}
		for _, m := range h.States {
			if st := b.states[m.Name]; isTimerState(m.Name) && st != nil && !slices.Contains(unindexed, st) {
				unindexed = append(unindexed, st)
			}
		}
	}
	for _, st := range unindexed {
		if err := b.indexTimers(st); err != nil {
			return fmt.Errorf("timer index of %q: %w", st.name, err)
		}
	}
	return nil
}

// LocalName is the name a file of a native (Format) handle has in the
// database directory: shared files are stored as
// "<instance id>-<checkpoint id>-<name>", the others under their own name.
func LocalName(ref snapshot.FileRef) string {
	base := path.Base(ref.Path)
	if ref.Scope == snapshot.ScopeShared {
		if _, rest, ok := strings.Cut(base, "-"); ok {
			if _, name, ok := strings.Cut(rest, "-"); ok {
				return name
			}
		}
	}
	return base
}

// download copies the files of h into dest, verifying size and CRC32C of
// each, and returns the shared ones by local name with their storage path.
func (b *Backend[K]) download(ctx context.Context, src backend.RestoreSource, h *snapshot.KeyedStateHandle, dest string) (map[string]snapshot.FileRef, error) {
	if err := os.MkdirAll(dest, 0o755); err != nil {
		return nil, err
	}
	var mu sync.Mutex
	shared := map[string]snapshot.FileRef{}
	err := parallel(ctx, b.opts.TransferConcurrency, h.Files, func(ctx context.Context, ref snapshot.FileRef) error {
		stored, err := snapshot.ResolvePath(src.Dir, ref.Path)
		if err != nil {
			return &snapshot.CorruptError{Path: ref.Path, Offset: -1, Reason: "bad path in handle", Err: err}
		}
		local := LocalName(ref)
		if local == "." || local == "/" || local == "" {
			return &snapshot.CorruptError{Path: stored, Offset: -1, Reason: "no file name"}
		}
		if err := fetch(ctx, src.Store, src.Dir, ref, filepath.Join(dest, local)); err != nil {
			return fmt.Errorf("download: %w", err) // err names the file
		}
		if ref.Scope == snapshot.ScopeShared {
			mu.Lock()
			kept := ref
			kept.Path = stored
			shared[local] = kept
			mu.Unlock()
		}
		return nil
	})
	return shared, err
}

func fetch(ctx context.Context, store snapshot.Storage, dir string, ref snapshot.FileRef, local string) error {
	rc, err := snapshot.OpenVerified(ctx, store, dir, ref)
	if err != nil {
		return err
	}
	defer rc.Close()
	f, err := os.Create(local)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, rc); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// restoreBase makes h's files the database and excises every key outside
// the key groups of h that this backend owns. With adopt, h's shared files become the
// confirmed ones that the next checkpoint references.
func (b *Backend[K]) restoreBase(ctx context.Context, src backend.RestoreSource, h *snapshot.KeyedStateHandle, adopt bool) error {
	if err := b.closeDB(); err != nil {
		return err
	}
	if err := os.RemoveAll(b.dbDir()); err != nil {
		return err
	}
	shared, err := b.download(ctx, src, h, b.dbDir())
	if err != nil {
		return err
	}
	if err := b.openDB(true); err != nil {
		return err
	}
	for _, m := range h.States {
		if _, err := b.addState(m.Name, m.Kind, m.Serializers); err != nil {
			return err
		}
	}
	// Only the key groups of h that this backend owns are h's to give:
	// everything else goes, whatever the database holds.
	keep := backend.HandleKeyGroups(h).Intersect(b.groups)
	if keep.Start > 0 {
		if err := b.db.Excise(ctx, pebble.KeyRange{Start: rowkey.KeyGroupPrefix(0), End: rowkey.KeyGroupPrefix(keep.Start)}); err != nil {
			return fmt.Errorf("excise below key group %d: %w", keep.Start, err)
		}
	}
	// Up to the end of the key space: past the last key group too.
	start, end := rowkey.SpanOf(keep.End+1, 0xffff)
	if err := b.db.Excise(ctx, pebble.KeyRange{Start: start, End: end}); err != nil {
		return fmt.Errorf("excise above key group %d: %w", keep.End, err)
	}
	if adopt {
		b.files.mu.Lock()
		b.files.confirmed = shared
		b.files.mu.Unlock()
	}
	return nil
}

// stateIDs maps the state indexes of h to state ids of this backend,
// adding states it does not know yet.
func (b *Backend[K]) stateIDs(h *snapshot.KeyedStateHandle) ([]*stateInfo, error) {
	out := make([]*stateInfo, len(h.States))
	for i, m := range h.States {
		st := b.states[m.Name]
		if st == nil {
			var err error
			if st, err = b.addState(m.Name, m.Kind, m.Serializers); err != nil {
				return nil, err
			}
		} else if st.kind != m.Kind {
			return nil, b.conflict(m.Name, st.kind, m.Kind)
		}
		out[i] = st
	}
	return out, nil
}

// ingestHandle writes the rows of h inside this backend's key groups into
// an SST file, with state ids translated, and ingests it. The state ids
// that the rows of the timer and expiry indexes embed are translated too.
func (b *Backend[K]) ingestHandle(ctx context.Context, src backend.RestoreSource, h *snapshot.KeyedStateHandle) error {
	b.chkSeq++
	tmp := filepath.Join(b.dir, "restore", strconv.Itoa(b.chkSeq))
	defer os.RemoveAll(tmp)
	dbDir := filepath.Join(tmp, "db")
	if _, err := b.download(ctx, src, h, dbDir); err != nil {
		return err
	}
	o := b.pebbleOptions(true)
	o.ErrorIfNotExists = true
	other, err := pebble.Open(dbDir, o)
	if err != nil {
		return fmt.Errorf("open handle of key groups %v: %w", backend.HandleKeyGroups(h), err)
	}
	defer other.Close()
	targets, err := b.stateIDs(h)
	if err != nil {
		return err
	}
	// Rows are written in key order: key group, then target state id.
	order := make([]int, len(targets))
	for i := range order {
		order[i] = i
	}
	slices.SortFunc(order, func(x, y int) int { return int(targets[x].sid) - int(targets[y].sid) })

	sstPath := filepath.Join(tmp, "ingest.sst")
	f, err := vfs.Default.Create(sstPath, vfs.WriteCategoryUnspecified)
	if err != nil {
		return err
	}
	// The writer options carry the block-property collectors, so the SST
	// records the buckets of its index rows too.
	w := sstable.NewWriter(objstorageprovider.NewFileWritable(f), b.pebbleOptions(false).MakeWriterOptions(0, b.db.TableFormat()))
	r := backend.HandleKeyGroups(h).Intersect(b.groups)
	lo, hi := rowkey.SpanOf(r.Start, r.End)
	it, err := other.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		w.Close()
		return err
	}
	rows := 0
	var key []byte
	werr := func() error {
		for kg := r.Start; kg <= r.End; kg++ {
			for _, i := range order {
				prefix := rowkey.AppendStatePrefix(nil, kg, uint16(i+1))
				for valid := it.SeekGE(prefix); valid && bytes.HasPrefix(it.Key(), prefix); valid = it.Next() {
					key = append(rowkey.AppendStatePrefix(key[:0], kg, targets[i].sid), it.Key()[rowkey.HeaderBytes:]...)
					v, err := it.ValueAndErr()
					if err != nil {
						return err
					}
					if err := w.Set(key, v); err != nil {
						return err
					}
					rows++
				}
			}
			for _, i := range order {
				prefix := appendTimerIndexPrefix(nil, kg, uint16(i+1))
				for valid := it.SeekGE(prefix); valid && bytes.HasPrefix(it.Key(), prefix); valid = it.Next() {
					key = append(appendTimerIndexPrefix(key[:0], kg, targets[i].sid), it.Key()[timerIndexHeaderBytes:]...)
					if err := w.Set(key, nil); err != nil {
						return err
					}
					rows++
				}
			}
			n, err := ingestIndex(w, it, kg, targets)
			if err != nil {
				return err
			}
			rows += n
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		return it.Error()
	}()
	if err := errors.Join(werr, it.Close(), w.Close()); err != nil {
		return err
	}
	if rows == 0 {
		return nil
	}
	return b.db.Ingest(ctx, []string{sstPath})
}

// ingestIndex writes the index rows of key group kg of the database that
// it iterates to w, with the state ids they embed translated to targets,
// and returns how many. Index rows of a state the handle does not list are
// left out. Translation may reorder the rows of one bucket, so those are
// sorted before they are written.
func ingestIndex(w *sstable.Writer, it *pebble.Iterator, kg int, targets []*stateInfo) (int, error) {
	var (
		bucket []byte   // the bucket of the rows in keys
		keys   [][]byte // translated, not yet written
		n      int
	)
	flush := func() error {
		slices.SortFunc(keys, bytes.Compare)
		for i, k := range keys {
			if i > 0 && bytes.Equal(k, keys[i-1]) {
				continue
			}
			if err := w.Set(k, nil); err != nil {
				return err
			}
			n++
		}
		keys = keys[:0]
		return nil
	}
	prefix := rowkey.AppendStatePrefix(nil, kg, rowkey.IndexSID)
	for valid := it.SeekGE(prefix); valid && bytes.HasPrefix(it.Key(), prefix); valid = it.Next() {
		r, ok := parseIndexKey(it.Key())
		if !ok || r.sid == 0 || int(r.sid) > len(targets) {
			continue
		}
		k := it.Key()
		if !bytes.Equal(k[rowkey.HeaderBytes:indexHeaderBytes], bucket) {
			if err := flush(); err != nil {
				return n, err
			}
			bucket = append(bucket[:0], k[rowkey.HeaderBytes:indexHeaderBytes]...)
		}
		nk := slices.Clone(k)
		binary.BigEndian.PutUint16(nk[indexHeaderBytes:], targets[r.sid-1].sid)
		keys = append(keys, nk)
	}
	if err := it.Error(); err != nil {
		return n, err
	}
	return n, flush()
}

// loadStream writes the rows of a key-group stream handle (canonical
// encodings) into the database. Such a handle holds no expiry index: a
// marker in each key group that received rows of a state notes that the
// state is unindexed (findMarkers).
func (b *Backend[K]) loadStream(ctx context.Context, src backend.RestoreSource, h *snapshot.KeyedStateHandle) error {
	targets, err := b.stateIDs(h)
	if err != nil {
		return err
	}
	file := h.Files[0].Path
	r := backend.HandleKeyGroups(h).Intersect(b.groups)
	batch := b.db.NewBatch()
	var key []byte
	type loaded struct {
		kg  int
		sid uint16
	}
	seen := map[loaded]bool{}
	err = snapshot.ReadKeyGroups(ctx, src.Store, src.Dir, h, r.Start, r.End, func(kg, si int, k, ns, value []byte) error {
		if si < 0 || si >= len(targets) {
			return &snapshot.CorruptError{Path: file, Offset: -1, Reason: fmt.Sprintf("state index %d of key group %d is not among the %d states of the handle", si, kg, len(targets))}
		}
		if backend.KeyGroupForKey(k, b.opts.MaxParallelism) != kg {
			return &snapshot.CorruptError{Path: file, Offset: -1, Reason: fmt.Sprintf("a key does not belong to key group %d", kg)}
		}
		st := targets[si]
		if l := (loaded{kg, st.sid}); !seen[l] {
			seen[l] = true
			if err := batch.Set(appendMarker(nil, kg, st.sid), nil, nil); err != nil {
				return err
			}
		}
		key = rowkey.AppendRowPrefix(key[:0], kg, st.sid, k, string(ns))
		switch st.kind {
		case snapshot.StateList:
			elems, err := statecodec.CanonicalListElements(value)
			if err != nil {
				return &snapshot.CorruptError{Path: file, Offset: -1, Reason: fmt.Sprintf("list of state %q", st.name), Err: err}
			}
			err = batch.Set(key, elems, nil)
			if err != nil {
				return err
			}
		case snapshot.StateMap:
			n := len(key)
			err := statecodec.RangeCanonicalMap(value, func(uk, uv []byte) error {
				key = append(key[:n], uk...)
				return batch.Set(key, uv, nil)
			})
			if err != nil {
				return &snapshot.CorruptError{Path: file, Offset: -1, Reason: fmt.Sprintf("map of state %q", st.name), Err: err}
			}
		default:
			if err := batch.Set(key, value, nil); err != nil {
				return err
			}
		}
		if batch.Len() > 4<<20 {
			if err := batch.Commit(pebble.NoSync); err != nil {
				return err
			}
			batch = b.db.NewBatch()
		}
		return nil
	})
	if err != nil {
		batch.Close()
		return err
	}
	return batch.Commit(pebble.NoSync)
}

// migrate rewrites every row of st that m changes. It reads a Pebble
// snapshot taken first, so that nothing it writes feeds back into what it
// reads, and it goes twice through the rows: the first pass only rewrites
// them in memory, so that data m cannot read fails the registration with
// the database untouched; the second writes them in batches of about
// batchLimit bytes (b.migrationBatch in tests). A migration of map user
// keys first deletes the state's rows in every key group: a migrated key
// may be the bytes of another old key, whose own rewrite would otherwise
// delete it. Once the second pass has begun, a failure leaves the backend
// unusable.
func (b *Backend[K]) migrate(st *stateInfo, m backend.ByteMigration) error {
	if m.Value == nil && m.UserKey == nil {
		return nil
	}
	snap := b.db.NewSnapshot()
	defer snap.Close()
	if err := b.rewriteRows(snap, st, m, newMergedKeyCheck(st, m)); err != nil {
		return err
	}
	err := b.writeMigration(snap, st, m)
	if err != nil {
		b.failed = fmt.Errorf("backend unusable after a failed migration of state %q: %w", st.name, err)
	}
	return err
}

// newMergedKeyCheck returns the check of migrate's first pass: a
// migration of map user keys may not give two entries of one key and
// namespace the same new user key (one would silently replace the other).
// Rows come in key order, so the entries of one key and namespace are
// consecutive and only their new user keys are kept.
func newMergedKeyCheck(st *stateInfo, m backend.ByteMigration) func(k, v []byte) error {
	if m.UserKey == nil || st.kind != snapshot.StateMap {
		return func([]byte, []byte) error { return nil }
	}
	var prefix []byte
	seen := map[string]struct{}{}
	return func(k, _ []byte) error {
		r, err := rowkey.Parse(k)
		if err != nil {
			return err
		}
		if !bytes.Equal(prefix, k[:r.PrefixLen]) {
			prefix = append(prefix[:0], k[:r.PrefixLen]...)
			clear(seen)
		}
		if _, dup := seen[string(r.UserKey)]; dup {
			return fmt.Errorf("%w: two entries of one map migrate to the same user key %x (a user-key serializer may not merge keys)", backend.ErrIncompatibleSerializer, r.UserKey)
		}
		seen[string(r.UserKey)] = struct{}{}
		return nil
	}
}

// writeMigration is the second pass of migrate.
func (b *Backend[K]) writeMigration(snap *pebble.Snapshot, st *stateInfo, m backend.ByteMigration) error {
	limit := batchLimit
	if b.migrationBatch > 0 {
		limit = b.migrationBatch
	}
	batch := b.db.NewBatch()
	defer func() { batch.Close() }()
	commit := func() error {
		b.writeMu.Lock()
		defer b.writeMu.Unlock()
		if b.migrationCommitted != nil {
			b.migrationCommitted(batch.Len())
		}
		if err := batch.Commit(pebble.NoSync); err != nil {
			return err
		}
		batch.Reset()
		return nil
	}
	if m.UserKey != nil && st.kind == snapshot.StateMap {
		for kg := b.groups.Start; kg <= b.groups.End; kg++ {
			prefix := rowkey.AppendStatePrefix(nil, kg, st.sid)
			if err := batch.DeleteRange(prefix, rowkey.PrefixEnd(prefix), nil); err != nil {
				return err
			}
		}
		if err := commit(); err != nil {
			return err
		}
	}
	err := b.rewriteRows(snap, st, m, func(k, v []byte) error {
		if err := batch.Set(k, v, nil); err != nil {
			return err
		}
		if batch.Len() >= limit {
			return commit()
		}
		return nil
	})
	if err != nil {
		return err
	}
	return commit()
}

// rewriteRows calls set with the rewritten key and value of every row of
// st in snap that m changes.
func (b *Backend[K]) rewriteRows(snap *pebble.Snapshot, st *stateInfo, m backend.ByteMigration, set func(k, v []byte) error) error {
	lo, hi := rowkey.SpanOf(b.groups.Start, b.groups.End)
	it, err := snap.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	var out []byte
	rewrite := func(k, v []byte) error {
		switch st.kind {
		case snapshot.StateList:
			out = out[:0]
			err := statecodec.RangeElements(v, func(e []byte) error {
				ne, err := m.Value(e)
				out = binary.AppendUvarint(out, uint64(len(ne)))
				out = append(out, ne...)
				return err
			})
			if err != nil {
				return err
			}
			return set(k, out)
		case snapshot.StateMap:
			nk, nv := k, v
			if m.UserKey != nil {
				r, err := rowkey.Parse(k)
				if err != nil {
					return err
				}
				uk, err := m.UserKey(r.UserKey)
				if err != nil {
					return err
				}
				nk = append(append([]byte(nil), k[:r.PrefixLen]...), uk...)
			}
			if m.Value != nil {
				var err error
				if nv, err = m.Value(v); err != nil {
					return err
				}
			}
			return set(nk, nv)
		default:
			nv, err := m.Value(v)
			if err != nil {
				return err
			}
			return set(k, nv)
		}
	}
	werr := func() error {
		for kg := b.groups.Start; kg <= b.groups.End; kg++ {
			prefix := rowkey.AppendStatePrefix(nil, kg, st.sid)
			for valid := it.SeekGE(prefix); valid && bytes.HasPrefix(it.Key(), prefix); valid = it.Next() {
				v, err := it.ValueAndErr()
				if err != nil {
					return err
				}
				if err := rewrite(it.Key(), v); err != nil {
					return fmt.Errorf("key group %d: %w", kg, err)
				}
			}
		}
		return it.Error()
	}()
	return errors.Join(werr, it.Close())
}
