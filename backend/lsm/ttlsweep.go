package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/rowkey"
	"github.com/stated-io/stated/internal/ttlunit"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

const (
	// sweepBatch is how many index rows a sweep processes per batch
	// (holding the write lock), and how many it reads between two steps of
	// its rate limiter.
	sweepBatch = 64
	// sweepRefresh is how many index rows a sweep reads before it reopens
	// its iterator, so that a long sweep does not pin obsolete files.
	sweepRefresh = 1 << 16
)

// SweepStats describes one sweep of expired units.
type SweepStats struct {
	// BlocksRead is how many times the block filters of the sweep's
	// iterators let Pebble read from a table: the iterator over the expired
	// spans of the index passes only what holds index rows of buckets at or
	// before now, the iterators that read the rows the index names pass
	// everything. Each pass is a data block loaded, or the table-level check
	// of a table opened, or the check of a partition of a two-level index;
	// so BlocksRead bounds from above the data blocks the sweep loaded from
	// SSTs (the memtables are read too, and not counted).
	BlocksRead int64
	// TotalBlocks is how many data blocks the SSTs overlapping the backend's
	// key groups held when the sweep started.
	TotalBlocks int64
	// EntriesRead is how many index rows the sweep read (what its rate limit
	// counts).
	EntriesRead int64
	// RowsDeleted is how many rows it deleted: values and map entries that
	// expired, lists whose elements all expired.
	RowsDeleted int64
	// RowsRewritten is how many lists it rewrote without their expired
	// elements.
	RowsRewritten int64
	// UnitsRemoved is how many expired units it removed: values, list
	// elements and map entries.
	UnitsRemoved int64
	// Unreadable is how many rows of states with TTL it left alone because
	// they do not hold stamped units.
	Unreadable int64
}

// indexed reports whether a state of TTL cfg (nil: none) is indexed: its
// writes add index rows, and the background sweep covers it.
func indexed(cfg *ttl.Config) bool {
	return cfg != nil && !cfg.Cleanup.Background.Disabled
}

// sweptInBackground reports whether the background sweep (and
// SweepExpired) removes the expired units of a state: whether it is a
// registered indexed state.
func sweptInBackground(in sidInfo) bool { return in.registered && indexed(in.ttl) }

// filteredFromFullSnapshots reports whether full snapshots leave out the
// expired units of a state.
func filteredFromFullSnapshots(in sidInfo) bool {
	return in.registered && in.ttl != nil && in.ttl.Cleanup.FiltersFullSnapshots()
}

// backgroundSettings returns the smallest rate limit and interval among the
// states the background sweep covers, and false if it covers none.
func backgroundSettings(t sidTable) (rate int, interval time.Duration, ok bool) {
	for _, in := range t {
		if !sweptInBackground(in) {
			continue
		}
		bg := in.ttl.Cleanup.Background
		r, d := bg.RateLimit, bg.Interval
		if r <= 0 {
			r = ttl.DefaultBackgroundRateLimit
		}
		if d <= 0 {
			d = ttl.DefaultBackgroundInterval
		}
		if !ok || r < rate {
			rate = r
		}
		if !ok || d < interval {
			interval = d
		}
		ok = true
	}
	return rate, interval, ok
}

// sweepHooks replace the real-time parts of sweeps in tests. A nil field
// takes its default. The background goroutine copies them when it starts
// (when the first state with background cleanup registers); SweepExpired
// reads them on its caller's goroutine.
type sweepHooks struct {
	// now is the monotonic time of the rate limiter and of the background
	// schedule. Default time.Now.
	now func() time.Time
	// sleep waits for d or until ctx is done, for the rate limiter.
	// Default: a timer.
	sleep func(ctx context.Context, d time.Duration) error
	// after returns a channel that receives when the next background sweep
	// is due, d from now. Default time.After.
	after func(d time.Duration) <-chan time.Time
	// swept is called after each background sweep. Default none.
	swept func(SweepStats, error)
}

func (h *sweepHooks) nowFunc() func() time.Time {
	if h.now != nil {
		return h.now
	}
	return time.Now
}

func (h *sweepHooks) sleepFunc() func(context.Context, time.Duration) error {
	if h.sleep != nil {
		return h.sleep
	}
	return sleepCtx
}

func (h *sweepHooks) afterFunc() func(time.Duration) <-chan time.Time {
	if h.after != nil {
		return h.after
	}
	return time.After
}

// sleepCtx waits for d or until ctx is done.
func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// pacer is a token bucket: take(n) returns once n more entries fit under
// rate entries per second, allowing bursts of one batch. It is used by one
// goroutine.
type pacer struct {
	rate   float64 // entries per second
	burst  float64
	tokens float64 // negative: a debt to sleep off
	last   time.Time
	now    func() time.Time
	sleep  func(context.Context, time.Duration) error
}

func newPacer(rate int, now func() time.Time, sleep func(context.Context, time.Duration) error) *pacer {
	burst := float64(min(max(rate, 1), sweepBatch))
	return &pacer{rate: float64(max(rate, 1)), burst: burst, tokens: burst, last: now(), now: now, sleep: sleep}
}

// take accounts for n entries read and sleeps off what exceeds the rate. It
// returns ctx's error if ctx is done.
func (p *pacer) take(ctx context.Context, n int) error {
	t := p.now()
	p.tokens = min(p.burst, p.tokens+t.Sub(p.last).Seconds()*p.rate)
	p.last = t
	p.tokens -= float64(n)
	if p.tokens >= 0 {
		return ctx.Err()
	}
	return p.sleep(ctx, time.Duration(-p.tokens/p.rate*float64(time.Second)))
}

// sweeper is the background sweep goroutine.
type sweeper struct {
	cancel context.CancelFunc
	done   chan struct{}
}

// startSweeper starts the background sweep goroutine unless it runs. Called
// on the owner goroutine, after a restore (a restore is impossible once a
// state is registered).
func (b *Backend[K]) startSweeper() {
	if b.bg != nil {
		return
	}
	ctx, cancel := context.WithCancel(context.Background())
	b.bg = &sweeper{cancel: cancel, done: make(chan struct{})}
	go b.sweepLoop(ctx, b.hooks, b.bg.done)
}

// stopSweeper stops the background sweep and waits for it to return.
func (b *Backend[K]) stopSweeper() {
	if b.bg == nil {
		return
	}
	b.bg.cancel()
	<-b.bg.done
	b.bg = nil
}

// sweepLoop starts a sweep every interval (the smallest among the states
// it covers, re-read after each sweep) until ctx is done. Errors are
// logged.
func (b *Backend[K]) sweepLoop(ctx context.Context, hooks sweepHooks, done chan<- struct{}) {
	defer close(done)
	now, after := hooks.nowFunc(), hooks.afterFunc()
	start := now()
	for {
		_, interval, _ := backgroundSettings(*b.sids.Load())
		select {
		case <-ctx.Done():
			return
		case <-after(max(interval-now().Sub(start), 0)):
		}
		start = now()
		stats, err := b.sweep(ctx, &hooks)
		switch {
		case ctx.Err() != nil:
		case err != nil:
			b.opts.Logger.Error("lsm: ttl background sweep failed", "operator", b.opts.OperatorUID, "err", err)
		default:
			b.opts.Logger.Debug("lsm: ttl background sweep", "operator", b.opts.OperatorUID,
				"blocks_read", stats.BlocksRead, "total_blocks", stats.TotalBlocks, "entries_read", stats.EntriesRead,
				"units_removed", stats.UnitsRemoved, "took", now().Sub(start))
			if stats.Unreadable > 0 {
				b.opts.Logger.Warn("lsm: ttl background sweep left rows without stamped units", "operator", b.opts.OperatorUID, "rows", stats.Unreadable)
			}
		}
		if hooks.swept != nil {
			hooks.swept(stats, err)
		}
	}
}

// SweepExpired runs one sweep now, as the background sweep does, and
// returns what it did. It removes units that expired by the backend's clock
// from the states whose TTL has background cleanup enabled
// (ttl.BackgroundCleanup): it deletes expired values and map entries and
// rewrites lists without their expired elements. It finds them through the
// expiry index (see the package documentation), reading only the index
// rows of buckets at or before now and the rows they name, at most
// RateLimit index rows per second (the smallest among those states). A
// unit's bucket is at most a bucket width (TTL/16, at least 1 ms) after its
// expiry, so every sweep that starts that long after a unit expired removes
// it; an earlier one may not. It verifies and rewrites each row under the
// backend's write lock, so that writes of the owner goroutine are never
// lost. It waits for a background sweep in progress to finish.
//
// SweepExpired may run on any goroutine, concurrently with the owner
// goroutine's use of the backend but not with Restore or Close. It returns
// ctx's error if ctx is done first (the batches committed until then stay).
func (b *Backend[K]) SweepExpired(ctx context.Context) (SweepStats, error) {
	if err := b.unusable(); err != nil {
		return SweepStats{}, err
	}
	return b.sweep(ctx, &b.hooks)
}

// sweep runs one sweep of the live database.
func (b *Backend[K]) sweep(ctx context.Context, hooks *sweepHooks) (SweepStats, error) {
	b.sweepMu.Lock()
	defer b.sweepMu.Unlock()
	sids := *b.sids.Load()
	rate, _, ok := backgroundSettings(sids)
	if !ok {
		return SweepStats{}, nil
	}
	s := indexSweep{
		db: b.db, groups: b.groups, sids: sids, include: sweptInBackground, now: b.Clock().Now(),
		mu: &b.writeMu, pace: newPacer(rate, hooks.nowFunc(), hooks.sleepFunc()), count: true,
	}
	stats, err := s.run(ctx)
	if err != nil {
		return stats, fmt.Errorf("lsm: ttl sweep: %w", err)
	}
	return stats, nil
}

// indexSweep is one pass over the expired spans of the expiry index of a
// database: it processes every index row of a bucket at or before now, of
// the states that include selects among the indexed ones, and deletes the
// index rows of registered states that are not indexed (written under an
// earlier configuration). An index row of a state not registered in this
// process, or indexed but not selected, is left alone.
type indexSweep struct {
	db      *pebble.DB
	groups  backend.KeyGroupRange
	sids    sidTable
	include func(sidInfo) bool
	now     int64
	// mu is held around the verification and the writes of each batch;
	// nil if nobody else writes to db.
	mu sync.Locker
	// pace limits the index rows read per second; nil: no limit.
	pace *pacer
	// count fills in BlocksRead and TotalBlocks.
	count bool

	lo, hi []byte
	verify *blockCounter // the filter of the row reads: counts only
	// indexWrites counts the index rows set or deleted.
	indexWrites int
}

// run sweeps. On error the batches committed so far stay.
func (s *indexSweep) run(ctx context.Context) (stats SweepStats, err error) {
	s.lo, s.hi = rowkey.SpanOf(s.groups.Start, s.groups.End)
	expired := newBlockCounter(expiredBy(s.now))
	s.verify = &blockCounter{}
	if s.count {
		defer func() { stats.BlocksRead = expired.hits.Load() + s.verify.hits.Load() }()
		if stats.TotalBlocks, err = dataBlocks(s.db, s.lo, s.hi); err != nil {
			return stats, err
		}
	}
	opts := pebble.IterOptions{LowerBound: s.lo, UpperBound: s.hi, PointKeyFilters: expired.filters()}
	it, err := s.db.NewIter(&opts)
	if err != nil {
		return stats, err
	}
	defer func() {
		if it != nil {
			err = errors.Join(err, it.Close())
		}
	}()
	var (
		cands      [][]byte
		start, end []byte
		sinceOpen  int
	)
	for kg := s.groups.Start; kg <= s.groups.End; {
		start, end = appendIndexPrefix(start[:0], kg, 0), appendIndexPrefix(end[:0], kg, uint64(max(s.now, 0))+1)
		valid := it.SeekGE(start)
		for valid && bytes.Compare(it.Key(), end) < 0 {
			stats.EntriesRead++
			cands = append(cands, bytes.Clone(it.Key()))
			if len(cands) == sweepBatch {
				if err := s.apply(cands, &stats); err != nil {
					return stats, err
				}
				if err := s.step(ctx, len(cands)); err != nil {
					return stats, err
				}
				cands = cands[:0]
			}
			if sinceOpen++; sinceOpen < sweepRefresh {
				valid = it.Next()
				continue
			}
			// Reopen after the current key, to see a fresh version of the
			// database.
			next := append(bytes.Clone(it.Key()), 0)
			if err := it.Close(); err != nil {
				it = nil
				return stats, err
			}
			if it, err = s.db.NewIter(&opts); err != nil {
				return stats, err
			}
			valid, sinceOpen = it.SeekGE(next), 0
		}
		if err := it.Error(); err != nil {
			return stats, err
		}
		if !valid {
			break // no index row of an expired bucket in a later key group
		}
		kg = nextKeyGroup(kg, it.Key())
		if err := ctx.Err(); err != nil {
			return stats, err
		}
	}
	if err := s.apply(cands, &stats); err != nil {
		return stats, err
	}
	return stats, s.step(ctx, len(cands))
}

// step paces n index rows read and checks ctx.
func (s *indexSweep) step(ctx context.Context, n int) error {
	if s.pace != nil && n > 0 {
		return s.pace.take(ctx, n)
	}
	return ctx.Err()
}

// verification is an index row to verify against the row it names.
type verification struct {
	index, row []byte
	info       sidInfo
}

// apply processes the index rows cands in one batch, under s.mu: for the
// selected states, it reads the rows they name (through one iterator, in
// key order), removes their expired units, indexes the earliest unit left
// and deletes the index rows.
func (s *indexSweep) apply(cands [][]byte, stats *SweepStats) error {
	if len(cands) == 0 {
		return nil
	}
	if s.mu != nil {
		s.mu.Lock()
		defer s.mu.Unlock()
	}
	batch := s.db.NewBatch()
	defer batch.Close()
	var targets []verification
	for _, k := range cands {
		r, ok := parseIndexKey(k)
		if !ok || r.marker {
			continue
		}
		info := s.sids.info(r.sid)
		switch {
		case !info.registered:
			// Judged once its state registers in a process.
		case !sweptInBackground(info):
			// Written while the state had TTL and background cleanup.
			if err := s.deleteIndex(batch, k); err != nil {
				return err
			}
		case s.include(info):
			targets = append(targets, verification{index: k, row: appendIndexedRow(nil, k), info: info})
		}
	}
	if len(targets) > 0 {
		slices.SortStableFunc(targets, func(x, y verification) int { return bytes.Compare(x.row, y.row) })
		it, err := s.db.NewIter(&pebble.IterOptions{LowerBound: s.lo, UpperBound: s.hi, PointKeyFilters: s.verify.filters()})
		if err != nil {
			return err
		}
		for i := 0; i < len(targets); {
			j := i + 1
			for j < len(targets) && bytes.Equal(targets[j].row, targets[i].row) {
				j++
			}
			if err := s.verifyRow(batch, it, targets[i:j], stats); err != nil {
				return errors.Join(err, it.Close())
			}
			i = j
		}
		if err := it.Close(); err != nil {
			return err
		}
	}
	if batch.Empty() {
		return nil
	}
	return batch.Commit(pebble.NoSync)
}

// verifyRow processes the index rows of group, which name the same row:
// it reads the row, removes its expired units, sets the index row of the
// earliest unit left under the current TTL, and deletes the index rows of
// group. A row that is gone or does not hold stamped units keeps no index
// row.
func (s *indexSweep) verifyRow(batch *pebble.Batch, it *pebble.Iterator, group []verification, stats *SweepStats) error {
	row, info := group[0].row, group[0].info
	var keep []byte // the index row to keep
	if it.SeekPrefixGE(row) {
		v, err := it.ValueAndErr()
		if err != nil {
			return err
		}
		first, live, err := removeExpired(batch, info, row, v, s.now, stats)
		if err != nil {
			return err
		}
		if live {
			keep = appendIndexKey(nil, row, indexBucket(first, info.ttl.TTL))
			if err := batch.Set(keep, nil, nil); err != nil {
				return err
			}
			s.indexWrites++
		}
	} else if err := it.Error(); err != nil {
		return err
	}
	for _, t := range group {
		if !bytes.Equal(t.index, keep) {
			if err := s.deleteIndex(batch, t.index); err != nil {
				return err
			}
		}
	}
	return nil
}

func (s *indexSweep) deleteIndex(batch *pebble.Batch, k []byte) error {
	s.indexWrites++
	return batch.Delete(k, nil)
}

// removeExpired adds to batch what removes the units expired at now from
// the row key whose current value is v: a deletion, or for a list with live
// elements left, the list without the expired ones. It returns the earliest
// expiry time among the units left, and live=false if none is left or the
// row does not hold stamped units (counted as Unreadable, left as is). It
// copies what it keeps of key and v.
func removeExpired(batch *pebble.Batch, info sidInfo, key, v []byte, now int64, stats *SweepStats) (first int64, live bool, err error) {
	if info.kind == snapshot.StateList {
		kept, dropped, err := ttlunit.LiveElements(nil, v, info.ttl, now)
		if err != nil {
			stats.Unreadable++
			return 0, false, nil
		}
		if dropped > 0 {
			stats.UnitsRemoved += int64(dropped)
			if len(kept) == 0 {
				stats.RowsDeleted++
				return 0, false, batch.Delete(key, nil)
			}
			stats.RowsRewritten++
			if err := batch.Set(key, kept, nil); err != nil {
				return 0, false, err
			}
		}
		first, _, live, err = ttlunit.RowExpiry(info.kind, kept, info.ttl.TTL)
		return first, live, err
	}
	ts, err := ttlunit.Timestamp(v)
	if err != nil {
		stats.Unreadable++
		return 0, false, nil
	}
	if !ttl.Expired(ts, info.ttl.TTL, now) {
		return ttl.ExpiresAt(ts, info.ttl.TTL), true, nil
	}
	stats.UnitsRemoved++
	stats.RowsDeleted++
	return 0, false, batch.Delete(key, nil)
}

// expireRows removes the units expired at now from every row in [lo, hi) of
// the states that include selects, reading every row: the full-snapshot
// filter, on a private copy of a checkpoint that nobody else writes. It
// leaves the expiry index alone.
func expireRows(ctx context.Context, db *pebble.DB, lo, hi []byte, sids sidTable, include func(sidInfo) bool, now int64) (stats SweepStats, err error) {
	it, err := db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return stats, err
	}
	batch := db.NewBatch()
	defer func() { err = errors.Join(err, it.Close(), batch.Close()) }()
	for valid := it.First(); valid; valid = it.Next() {
		stats.EntriesRead++
		sid, ok := rowSID(it.Key())
		if !ok {
			continue
		}
		info := sids.info(sid)
		if !include(info) {
			continue
		}
		v, err := it.ValueAndErr()
		if err != nil {
			return stats, err
		}
		if _, _, err := removeExpired(batch, info, it.Key(), v, now, &stats); err != nil {
			return stats, err
		}
		if batch.Len() >= batchLimit {
			if err := batch.Commit(pebble.NoSync); err != nil {
				return stats, err
			}
			batch.Reset()
			if err := ctx.Err(); err != nil {
				return stats, err
			}
		}
	}
	if err := it.Error(); err != nil {
		return stats, err
	}
	return stats, batch.Commit(pebble.NoSync)
}

// dataBlocks returns the number of data blocks of the SSTs of db that
// overlap [lo, hi).
func dataBlocks(db *pebble.DB, lo, hi []byte) (int64, error) {
	levels, err := db.SSTables(pebble.WithProperties(), pebble.WithKeyRangeFilter(lo, hi))
	if err != nil {
		return 0, err
	}
	var n int64
	for _, level := range levels {
		for _, t := range level {
			if t.Properties != nil {
				n += int64(t.Properties.NumDataBlocks)
			}
		}
	}
	return n, nil
}
