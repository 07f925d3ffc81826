package lsm

import (
	"encoding/binary"
	"sync/atomic"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/stated-io/stated/internal/rowkey"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

// expiryProperty names the block property of index buckets (FORMAT.md).
// It is stored in every SST; it must never change.
const expiryProperty = "stated.ttl.expiry"

// sidInfo is what the goroutines other than the owner (sweeps, snapshot
// captures) know about one state id.
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
	if len(key) < rowkey.HeaderBytes {
		return 0, false
	}
	return binary.BigEndian.Uint16(key[rowkey.KeyGroupBytes:]), true
}

// emptyInterval is the block interval of keys that are not index rows.
var emptyInterval = sstable.BlockInterval{}

// expiredBy returns the interval of the buckets at or before now.
func expiredBy(now int64) sstable.BlockInterval {
	return sstable.BlockInterval{Lower: 0, Upper: uint64(max(now, 0)) + 1}
}

// newExpiryCollector returns the factory of the block-property collector
// "stated.ttl.expiry".
func newExpiryCollector() func() pebble.BlockPropertyCollector {
	return func() pebble.BlockPropertyCollector {
		return sstable.NewBlockIntervalCollector(expiryProperty, expiryMapper{}, nil)
	}
}

// expiryMapper maps the key of an index row, of any kind, to the interval
// [bucket, bucket+1) of its bucket, and every other key to the empty
// interval, so that the property of a block, an index block or a table is
// the interval of the buckets of the index rows it holds, and an iterator
// over the index spans that filters on [0, now+1) (expiredBy) reads only
// the blocks that hold index rows of buckets at or before now.
//
// It reads keys only. Values cannot serve: Pebble v2 passes a nil value to
// collectors for every SET key (sstable/colblk_writer.go, add), and
// compactions at the bottom of the LSM turn MERGE keys into SET keys
// (internal/compact/iterator.go). Deletions of index rows map to their
// bucket too, so that a filtered iterator never shows an index row whose
// deletion it skipped.
type expiryMapper struct{}

// MapPointKey implements sstable.IntervalMapper.
func (expiryMapper) MapPointKey(key sstable.InternalKey, _ []byte) (sstable.BlockInterval, error) {
	r, ok := parseIndexKey(key.UserKey)
	if !ok {
		return emptyInterval, nil
	}
	bucket := min(r.bucket, markerBucket-1) // markers: the last bucket
	return sstable.BlockInterval{Lower: bucket, Upper: bucket + 1}, nil
}

// MapRangeKeys implements sstable.IntervalMapper: the backend writes no
// range keys.
func (expiryMapper) MapRangeKeys(sstable.Span) (sstable.BlockInterval, error) {
	return emptyInterval, nil
}

// blockCounter is a block-property filter on "stated.ttl.expiry" that
// counts the checks it passes. With an interval it passes the tables,
// index partitions and data blocks whose interval intersects it; without
// one it passes everything (and only counts). Pebble calls it once per
// table an iterator opens (the table-level check), once per partition of
// a two-level index it steps into, and once per data block it loads
// (stepping within a loaded block calls nothing), so the count is the data
// blocks loaded plus those table and partition checks. Tables written
// without the property are read without a check and not counted. A
// property that does not decode passes. It is safe for concurrent use.
type blockCounter struct {
	within *sstable.BlockIntervalFilter // nil: pass every block
	hits   atomic.Int64
}

// newBlockCounter returns a counter that passes the blocks whose interval
// intersects within.
func newBlockCounter(within sstable.BlockInterval) *blockCounter {
	f := &blockCounter{within: &sstable.BlockIntervalFilter{}}
	f.within.Init(expiryProperty, within.Lower, within.Upper, nil)
	return f
}

var _ pebble.BlockPropertyFilter = (*blockCounter)(nil)

// Name implements pebble.BlockPropertyFilter.
func (*blockCounter) Name() string { return expiryProperty }

// Intersects implements pebble.BlockPropertyFilter.
func (f *blockCounter) Intersects(prop []byte) (bool, error) {
	if f.within != nil {
		if ok, err := f.within.Intersects(prop); err == nil && !ok {
			return false, nil
		}
	}
	f.hits.Add(1)
	return true, nil
}

// SyntheticSuffixIntersects implements pebble.BlockPropertyFilter. The
// backend never ingests tables with a synthetic suffix; it behaves as
// Intersects.
func (f *blockCounter) SyntheticSuffixIntersects(prop, _ []byte) (bool, error) {
	return f.Intersects(prop)
}

// filters returns f as the PointKeyFilters of an iterator, with the spare
// slot Pebble asks for.
func (f *blockCounter) filters() []pebble.BlockPropertyFilter {
	return append(make([]pebble.BlockPropertyFilter, 0, 2), f)
}
