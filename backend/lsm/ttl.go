package lsm

import (
	"encoding/binary"
	"math"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

// expiryProperty names the block property of expiry times (FORMAT.md). It
// is stored in every SST; it must never change.
const expiryProperty = "stated.ttl.expiry"

// sidInfo is what the goroutines other than the owner (Pebble's flushes and
// compactions, sweeps, snapshot captures) know about one state id.
type sidInfo struct {
	// registered says kind and ttl are known: the state was registered
	// through ByteTable. The rows of a state that is not (restored data
	// waiting for its state, say) may be stamped or not.
	registered bool
	kind       snapshot.StateKind
	ttl        *ttl.Config // nil: no TTL; never modified once published
}

// sidTable is indexed by state id (index 0 is unused). A published table is
// never modified: it is replaced as a whole.
type sidTable []sidInfo

// info returns what is known about sid; the zero sidInfo (not registered)
// for an id out of range.
func (t sidTable) info(sid uint16) sidInfo {
	if int(sid) >= len(t) {
		return sidInfo{}
	}
	return t[sid]
}

// publishSIDs replaces the table of state ids with one built from the
// states of b. Called on the owner goroutine when a state is added or
// registered.
func (b *Backend[K]) publishSIDs() {
	t := make(sidTable, len(b.bySID)+1)
	for _, st := range b.bySID {
		t[st.sid] = sidInfo{registered: st.registered, kind: st.kind, ttl: st.ttl}
	}
	b.sids.Store(&t)
}

// rowSID returns the state id of a row key, false for a key too short to
// hold one.
func rowSID(key []byte) (uint16, bool) {
	if len(key) < headerBytes {
		return 0, false
	}
	return binary.BigEndian.Uint16(key[keyGroupBytes:]), true
}

// Block intervals of the expiry collector: expiry times in milliseconds
// since the epoch, negative ones clamped to 0.
var (
	emptyInterval     = sstable.BlockInterval{}
	universalInterval = sstable.BlockInterval{Lower: 0, Upper: math.MaxUint64}
)

// expiryInterval returns the interval [first, last+1) of expiry times.
func expiryInterval(first, last int64) sstable.BlockInterval {
	return sstable.BlockInterval{Lower: uint64(max(first, 0)), Upper: uint64(max(last, 0)) + 1}
}

// expiredBy returns the interval of the expiry times at or before now.
func expiredBy(now int64) sstable.BlockInterval {
	return sstable.BlockInterval{Lower: 0, Upper: uint64(max(now, 0)) + 1}
}

// newExpiryCollector returns the factory of the block-property collector
// "stated.ttl.expiry" over the state ids published in sids.
func newExpiryCollector(sids *atomic.Pointer[sidTable]) func() pebble.BlockPropertyCollector {
	m := expiryMapper{sids: sids}
	return func() pebble.BlockPropertyCollector {
		return sstable.NewBlockIntervalCollector(expiryProperty, m, nil)
	}
}

// expiryMapper maps each point key to the interval of the expiry times of
// the units its value holds, so that a block's property is the interval
// [earliest, latest+1) over its rows and a sweep at time now reads only the
// blocks whose interval intersects [0, now+1). It must over-approximate:
// a block left out holds no unit that expired by now.
//
//   - Deletions hold no unit: empty interval.
//   - Rows of a registered state without TTL: empty interval.
//   - Rows of a state with TTL whose value is shown: the expiry times of its
//     units. Pebble shows the collector the values of MERGE keys (list
//     operands not yet merged into their base) but withholds those of SET
//     keys (the columnar and value-block table formats may not even read
//     them during a compaction), and a compaction turns the MERGE keys of
//     the bottom of the LSM into SET keys. A row whose value is withheld gets
//     the universal interval.
//   - Rows of a state id not registered in this process (restored data that
//     no state claimed yet), keys or values that do not parse, and any other
//     key kind: the universal interval. Mapping never fails, so it never
//     fails a flush or a compaction.
//
// It runs on Pebble's goroutines and reads the state ids through an atomic
// pointer to an immutable table.
type expiryMapper struct {
	sids *atomic.Pointer[sidTable]
}

// MapPointKey implements sstable.IntervalMapper.
func (m expiryMapper) MapPointKey(key sstable.InternalKey, value []byte) (sstable.BlockInterval, error) {
	switch key.Kind() {
	case pebble.InternalKeyKindSet, pebble.InternalKeyKindSetWithDelete, pebble.InternalKeyKindMerge:
	case pebble.InternalKeyKindDelete, pebble.InternalKeyKindSingleDelete, pebble.InternalKeyKindDeleteSized:
		return emptyInterval, nil
	default:
		return universalInterval, nil
	}
	sid, ok := rowSID(key.UserKey)
	if !ok {
		return universalInterval, nil
	}
	info := m.sids.Load().info(sid)
	switch {
	case !info.registered:
		return universalInterval, nil
	case info.ttl == nil:
		return emptyInterval, nil
	case len(value) == 0:
		// Withheld: a unit with TTL is never empty, nor is a stored list.
		return universalInterval, nil
	}
	first, last, ok, err := backend.RowExpiry(info.kind, value, info.ttl.TTL)
	switch {
	case err != nil:
		return universalInterval, nil
	case !ok:
		return emptyInterval, nil // a list operand without elements
	}
	return expiryInterval(first, last), nil
}

// MapRangeKeys implements sstable.IntervalMapper: the backend writes no
// range keys.
func (expiryMapper) MapRangeKeys(sstable.Span) (sstable.BlockInterval, error) {
	return emptyInterval, nil
}

// countingFilter is the block-property filter of a sweep: it passes the
// tables, index blocks and data blocks whose expiry interval intersects
// the filter's, and counts them. The count includes the table-level and
// index-level checks, so it over-counts the data blocks read; tables
// written without the collector are read whole without a check and are
// not counted. A property that does not decode passes (the block is read).
// It is safe for concurrent use.
type countingFilter struct {
	inner sstable.BlockIntervalFilter // only read after newCountingFilter
	hits  atomic.Int64
}

// newCountingFilter returns a filter that passes the blocks holding units
// whose expiry times lie in within.
func newCountingFilter(within sstable.BlockInterval) *countingFilter {
	f := &countingFilter{}
	f.inner.Init(expiryProperty, within.Lower, within.Upper, nil)
	return f
}

var _ pebble.BlockPropertyFilter = (*countingFilter)(nil)

// Name implements pebble.BlockPropertyFilter.
func (*countingFilter) Name() string { return expiryProperty }

// Intersects implements pebble.BlockPropertyFilter.
func (f *countingFilter) Intersects(prop []byte) (bool, error) {
	ok, err := f.inner.Intersects(prop)
	if err != nil || ok {
		f.hits.Add(1)
		return true, nil
	}
	return false, nil
}

// SyntheticSuffixIntersects implements pebble.BlockPropertyFilter. The
// backend never ingests tables with a synthetic suffix; it behaves as
// Intersects.
func (f *countingFilter) SyntheticSuffixIntersects(prop, _ []byte) (bool, error) {
	return f.Intersects(prop)
}
