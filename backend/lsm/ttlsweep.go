package lsm

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/cockroachdb/pebble/v2"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

const (
	// sweepBatch is how many candidate rows a sweep verifies and rewrites
	// per batch (holding the write lock), and how many entries it reads
	// between two steps of its rate limiter.
	sweepBatch = 64
	// sweepRefresh is how many entries a sweep reads before it reopens its
	// iterator, so that a long sweep does not pin obsolete files.
	sweepRefresh = 1 << 16
)

// SweepStats describes one sweep of expired units.
type SweepStats struct {
	// BlocksRead is how many times the sweep's block filter let Pebble read
	// a table, an index block or a data block: the data blocks read, plus
	// the table-level and index-level checks that passed. Tables written
	// without the expiry property are read whole and not counted.
	BlocksRead int64
	// TotalBlocks is how many data blocks the SSTs overlapping the backend's
	// key groups held when the sweep started.
	TotalBlocks int64
	// EntriesRead is how many rows the sweep read (what its rate limit
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

// sweptInBackground reports whether the background sweep (and
// SweepExpired) removes the expired units of a state.
func sweptInBackground(in sidInfo) bool {
	return in.registered && in.ttl != nil && !in.ttl.Cleanup.Background.Disabled
}

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
// returns what it did. It removes the units that expired by the backend's
// clock from the states whose TTL has background cleanup enabled
// (ttl.BackgroundCleanup): it deletes expired values and map entries and
// rewrites lists without their expired elements. It reads at most
// RateLimit entries per second (the smallest among those states) and only
// the data blocks whose expiry property says they may hold expired units
// (see the package documentation for what Pebble lets that property know),
// and verifies every row it changes with a point read under the backend's
// write lock, so that writes of the owner goroutine are never lost. It
// waits for a background sweep in progress to finish.
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
	lo, hi := spanOf(b.groups.Start, b.groups.End)
	r := sweepRun{
		db: b.db, lo: lo, hi: hi, sids: sids, include: sweptInBackground, now: b.Clock().Now(),
		filtered: true, mu: &b.writeMu, pace: newPacer(rate, hooks.nowFunc(), hooks.sleepFunc()),
	}
	stats, err := r.run(ctx)
	if err != nil {
		return stats, fmt.Errorf("lsm: ttl sweep: %w", err)
	}
	return stats, nil
}

// sweepRun is one pass over a database that removes the units expired at
// now from the rows of the states that include selects.
type sweepRun struct {
	db      *pebble.DB
	lo, hi  []byte
	sids    sidTable
	include func(sidInfo) bool
	now     int64
	// filtered reads only the blocks whose expiry property intersects
	// [0, now]. Such an iterator may show stale versions of rows (a newer
	// version may sit in a block left out) and deleted rows, so every row
	// it shows with expired units is read again before it is changed.
	// Without it, rows are changed as read, which is right only if nobody
	// else writes to db.
	filtered bool
	// mu is held around the verification and the writes of each batch;
	// nil if nobody else writes to db.
	mu sync.Locker
	// pace limits the entries read per second; nil: no limit.
	pace *pacer
}

// candidate is a row holding expired units.
type candidate struct {
	key   []byte
	value []byte // as read; nil if filtered (it is read again)
	info  sidInfo
}

// run sweeps [lo, hi). On error the batches committed so far stay.
func (r *sweepRun) run(ctx context.Context) (stats SweepStats, _ error) {
	opts := pebble.IterOptions{LowerBound: r.lo, UpperBound: r.hi}
	if r.filtered {
		filter := newCountingFilter(expiredBy(r.now))
		defer func() { stats.BlocksRead = filter.hits.Load() }()
		// One spare slot: Pebble appends to the slice.
		opts.PointKeyFilters = append(make([]pebble.BlockPropertyFilter, 0, 2), filter)
		n, err := dataBlocks(r.db, r.lo, r.hi)
		if err != nil {
			return stats, err
		}
		stats.TotalBlocks = n
	}
	it, err := r.db.NewIter(&opts)
	if err != nil {
		return stats, err
	}
	defer func() {
		if it != nil {
			it.Close()
		}
	}()
	var cands []candidate
	unpaced, sinceOpen := 0, 0
	for valid := it.First(); valid; {
		k := it.Key()
		stats.EntriesRead++
		if sid, ok := rowSID(k); ok {
			if info := r.sids.info(sid); r.include(info) {
				v, err := it.ValueAndErr()
				if err != nil {
					return stats, err
				}
				switch expired, err := holdsExpired(info, v, r.now); {
				case err != nil:
					stats.Unreadable++
				case expired:
					c := candidate{key: bytes.Clone(k), info: info}
					if !r.filtered {
						c.value = bytes.Clone(v)
					}
					cands = append(cands, c)
				}
			}
		}
		if len(cands) == sweepBatch {
			if err := r.apply(cands, &stats); err != nil {
				return stats, err
			}
			cands = cands[:0]
		}
		if unpaced++; unpaced == sweepBatch {
			if err := r.step(ctx, unpaced); err != nil {
				return stats, err
			}
			unpaced = 0
		}
		if sinceOpen++; sinceOpen < sweepRefresh {
			valid = it.Next()
			continue
		}
		// Reopen after the current key, to see a fresh version of the
		// database.
		next := append(bytes.Clone(k), 0)
		if err := it.Close(); err != nil {
			it = nil
			return stats, err
		}
		if it, err = r.db.NewIter(&opts); err != nil {
			return stats, err
		}
		valid, sinceOpen = it.SeekGE(next), 0
	}
	if err := it.Error(); err != nil {
		return stats, err
	}
	if err := r.apply(cands, &stats); err != nil {
		return stats, err
	}
	if err := r.step(ctx, unpaced); err != nil {
		return stats, err
	}
	return stats, nil
}

// step paces n entries read and checks ctx.
func (r *sweepRun) step(ctx context.Context, n int) error {
	if r.pace != nil && n > 0 {
		return r.pace.take(ctx, n)
	}
	return ctx.Err()
}

// apply removes the expired units of the candidates in one batch, reading
// each again first if the iterator was filtered, all under r.mu.
func (r *sweepRun) apply(cands []candidate, stats *SweepStats) error {
	if len(cands) == 0 {
		return nil
	}
	if r.mu != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
	}
	batch := r.db.NewBatch()
	defer batch.Close()
	for _, c := range cands {
		if !r.filtered {
			if err := removeExpired(batch, c.info, c.key, c.value, r.now, stats); err != nil {
				return err
			}
			continue
		}
		v, closer, err := r.db.Get(c.key)
		if errors.Is(err, pebble.ErrNotFound) {
			continue // deleted meanwhile, or a deleted row that the filter showed
		}
		if err != nil {
			return err
		}
		err = removeExpired(batch, c.info, c.key, v, r.now, stats)
		if cerr := closer.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			return err
		}
	}
	if batch.Empty() {
		return nil
	}
	return batch.Commit(pebble.NoSync)
}

// removeExpired adds to batch what removes the expired units of the row
// key whose current value is v: a deletion, or for a list with live
// elements left, the list without the expired ones. It copies what it
// keeps of key and v.
func removeExpired(batch *pebble.Batch, info sidInfo, key, v []byte, now int64, stats *SweepStats) error {
	if info.kind == snapshot.StateList {
		live, dropped, err := backend.LiveElements(nil, v, info.ttl, now)
		switch {
		case err != nil:
			stats.Unreadable++
			return nil
		case dropped == 0:
			return nil
		}
		stats.UnitsRemoved += int64(dropped)
		if len(live) > 0 {
			stats.RowsRewritten++
			return batch.Set(key, live, nil)
		}
		stats.RowsDeleted++
		return batch.Delete(key, nil)
	}
	dead, err := backend.ExpiredUnit(info.ttl, v, now)
	switch {
	case err != nil:
		stats.Unreadable++
		return nil
	case !dead:
		return nil
	}
	stats.UnitsRemoved++
	stats.RowsDeleted++
	return batch.Delete(key, nil)
}

// errStop ends a range of list elements early.
var errStop = errors.New("stop")

// holdsExpired reports whether a row of a state with TTL holds a unit
// expired at now.
func holdsExpired(info sidInfo, v []byte, now int64) (bool, error) {
	if info.kind != snapshot.StateList {
		return backend.ExpiredUnit(info.ttl, v, now)
	}
	expired := false
	err := backend.RangeElements(v, func(e []byte) error {
		dead, err := backend.ExpiredUnit(info.ttl, e, now)
		if err == nil && dead {
			expired = true
			return errStop
		}
		return err
	})
	if err == errStop {
		err = nil
	}
	return expired, err
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
