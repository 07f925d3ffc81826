package lsm

import (
	"bytes"
	"encoding/binary"
	"errors"
	"math"
	"time"

	"github.com/cockroachdb/pebble/v2"
	"github.com/cockroachdb/pebble/v2/sstable"

	"github.com/stated-io/stated/internal/rowkey"
	"github.com/stated-io/stated/internal/ttlunit"
	"github.com/stated-io/stated/ttl"
)

// The expiry index (FORMAT.md). Every row of a state that the background
// sweep covers (a state with TTL whose background cleanup is enabled:
// sweptInBackground) has at least one index row in its key group, under
// the reserved state id indexSID:
//
//	keyGroup | 0xFFFF | bucket (8 bytes BE) | the row key without its key group
//
// with an empty value. The bucket is an expiry time in milliseconds (ts +
// ttl of a unit, clamped at 0) rounded up to a multiple of the state's
// bucket width, so the index rows of a key group are ordered by bucket and
// those that point at units expired by now are the contiguous span
// [indexPrefix(kg, 0), indexPrefix(kg, now+1)).
//
// Index rows are hints: a sweep reads the row an index row names and judges
// its units by the current TTL, so an index row may point at a row that is
// gone or that was rewritten with later expiries. What must hold is that
// every unit of a row of an indexed state is covered by an index row of
// that row whose bucket is at or before the unit's bucket: the write that
// stores units adds the index row of the earliest of them, and a sweep that
// leaves live units in a row adds the index row of the earliest before it
// deletes the one it processed.
//
// The last bucket of a key group's index, markerBucket, never due, holds
// markers: an index key whose row part is only a state id (2 bytes) says
// that rows of that state in the key group may lack index rows. A restore
// writes them for the key groups into which it loads rows without an index
// (key-group streams), and a state with TTL but without background cleanup
// (which writes no index rows) keeps one in every key group. The index of a
// state with markers is built when it registers with background cleanup,
// even in a process that restored a checkpoint taken before.

const (
	bucketBytes = 8
	// indexHeaderBytes is the length of an index key up to the row part.
	indexHeaderBytes = rowkey.HeaderBytes + bucketBytes
	// markerBytes is the length of a marker.
	markerBytes = indexHeaderBytes + rowkey.StateIDBytes
	// markerBucket is the bucket of markers, later than every expiry.
	markerBucket = math.MaxUint64
	// bucketsPerTTL is how many buckets a state's TTL spans: a unit is swept
	// at most TTL/bucketsPerTTL after it expires, and a row rewritten over
	// and over has at most bucketsPerTTL+1 index rows at once (sweeps delete
	// the older ones).
	bucketsPerTTL = 16
)

// bucketWidth returns the bucket width of a state of TTL d in
// milliseconds: d / bucketsPerTTL, at least 1.
func bucketWidth(d time.Duration) int64 {
	return max(d.Milliseconds()/bucketsPerTTL, 1)
}

// bucketOf returns the bucket of the expiry time at: at clamped at 0 and
// rounded up to a multiple of width (at most MaxInt64 + width, which does
// not overflow).
func bucketOf(at, width int64) uint64 {
	e, w := uint64(max(at, 0)), uint64(width)
	return (e + w - 1) / w * w
}

// indexBucket returns the bucket of the index rows of a state of TTL d for
// expiry time at.
func indexBucket(at int64, d time.Duration) uint64 { return bucketOf(at, bucketWidth(d)) }

// appendIndexPrefix appends the first key of bucket in key group kg's index.
func appendIndexPrefix(dst []byte, kg int, bucket uint64) []byte {
	dst = rowkey.AppendStatePrefix(dst, kg, rowkey.IndexSID)
	return binary.BigEndian.AppendUint64(dst, bucket)
}

// appendIndexKey appends the key of the index row of bucket for the row key
// row.
func appendIndexKey(dst, row []byte, bucket uint64) []byte {
	dst = append(dst, row[:rowkey.KeyGroupBytes]...)
	dst = binary.BigEndian.AppendUint16(dst, rowkey.IndexSID)
	dst = binary.BigEndian.AppendUint64(dst, bucket)
	return append(dst, row[rowkey.KeyGroupBytes:]...)
}

// appendMarker appends the marker of state sid in key group kg.
func appendMarker(dst []byte, kg int, sid uint16) []byte {
	return binary.BigEndian.AppendUint16(appendIndexPrefix(dst, kg, markerBucket), sid)
}

// indexRow is a parsed index key.
type indexRow struct {
	kg     int
	bucket uint64
	sid    uint16 // the state of the row it names, or of the marker
	marker bool
}

// parseIndexKey parses an index key; false for any other key, and for an
// index key too short to name a state.
func parseIndexKey(k []byte) (indexRow, bool) {
	if len(k) < markerBytes || binary.BigEndian.Uint16(k[rowkey.KeyGroupBytes:]) != rowkey.IndexSID {
		return indexRow{}, false
	}
	r := indexRow{
		kg:     int(binary.BigEndian.Uint16(k)),
		bucket: binary.BigEndian.Uint64(k[rowkey.HeaderBytes:]),
		sid:    binary.BigEndian.Uint16(k[indexHeaderBytes:]),
	}
	r.marker = len(k) == markerBytes && r.bucket == markerBucket
	return r, true
}

// appendIndexedRow appends the row key that the index key k names.
func appendIndexedRow(dst, k []byte) []byte {
	dst = append(dst, k[:rowkey.KeyGroupBytes]...)
	return append(dst, k[indexHeaderBytes:]...)
}

// batchLimit is the size at which one-pass writes (index builds, the
// full-snapshot filter) commit their batch and start a new one.
const batchLimit = 4 << 20

// setBounded sets k to v in batch, and commits the batch and goes on with
// it emptied once it holds batchLimit bytes.
func setBounded(batch *pebble.Batch, k, v []byte) error {
	if err := batch.Set(k, v, nil); err != nil {
		return err
	}
	if batch.Len() < batchLimit {
		return nil
	}
	if err := batch.Commit(pebble.NoSync); err != nil {
		return err
	}
	batch.Reset()
	return nil
}

// buildIndex writes an index row for every row of st that holds units,
// reading them under cfg (the TTL st registers with, before it is
// published), and deletes the markers of st. It returns how many rows it
// left without an index row because their units do not parse. It runs on
// the owner goroutine while st is not yet registered, so sweeps leave its
// index rows alone and need not be locked out.
func (b *Backend[K]) buildIndex(st *stateInfo, cfg *ttl.Config) (unreadable int, err error) {
	lo, hi := rowkey.SpanOf(b.groups.Start, b.groups.End)
	it, err := b.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return 0, err
	}
	batch := b.db.NewBatch()
	var key []byte
	werr := func() error {
		for kg := b.groups.Start; kg <= b.groups.End; kg++ {
			prefix := rowkey.AppendStatePrefix(nil, kg, st.sid)
			for valid := it.SeekGE(prefix); valid && bytes.HasPrefix(it.Key(), prefix); valid = it.Next() {
				v, err := it.ValueAndErr()
				if err != nil {
					return err
				}
				first, _, ok, err := ttlunit.RowExpiry(st.kind, v, cfg.TTL)
				if err != nil {
					unreadable++
					continue
				}
				if !ok {
					continue
				}
				key = appendIndexKey(key[:0], it.Key(), indexBucket(first, cfg.TTL))
				if err := setBounded(batch, key, nil); err != nil {
					return err
				}
			}
		}
		if err := it.Error(); err != nil {
			return err
		}
		return b.deleteMarkers(batch, st)
	}()
	if werr == nil {
		werr = batch.Commit(pebble.NoSync)
	}
	return unreadable, errors.Join(werr, it.Close(), batch.Close())
}

// deleteMarkers adds the deletion of st's markers to batch and forgets
// them.
func (b *Backend[K]) deleteMarkers(batch *pebble.Batch, st *stateInfo) error {
	var key []byte
	for _, kg := range st.markers {
		if err := batch.Delete(appendMarker(key[:0], kg, st.sid), nil); err != nil {
			return err
		}
	}
	st.markers, st.unindexed = nil, false
	return nil
}

// markAll adds to batch the markers of st that the key groups of b lack.
func (b *Backend[K]) markAll(batch *pebble.Batch, st *stateInfo) error {
	have := make(map[int]bool, len(st.markers))
	for _, kg := range st.markers {
		have[kg] = true
	}
	var key []byte
	for kg := b.groups.Start; kg <= b.groups.End; kg++ {
		if have[kg] {
			continue
		}
		if err := batch.Set(appendMarker(key[:0], kg, st.sid), nil, nil); err != nil {
			return err
		}
		st.markers = append(st.markers, kg)
	}
	st.unindexed = true
	return nil
}

// findMarkers notes the unindexed states of a restored database: those with
// a marker in a key group of this backend.
func (b *Backend[K]) findMarkers() error {
	filter := newBlockCounter(sstable.BlockInterval{Lower: markerBucket - 1, Upper: markerBucket})
	lo, hi := rowkey.SpanOf(b.groups.Start, b.groups.End)
	it, err := b.db.NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi, PointKeyFilters: filter.filters()})
	if err != nil {
		return err
	}
	var start []byte
	for kg := b.groups.Start; kg <= b.groups.End; {
		start = appendIndexPrefix(start[:0], kg, markerBucket)
		valid := it.SeekGE(start)
		for ; valid && bytes.HasPrefix(it.Key(), start); valid = it.Next() {
			r, ok := parseIndexKey(it.Key())
			if !ok || !r.marker || r.sid == 0 || int(r.sid) > len(b.bySID) {
				continue
			}
			st := b.bySID[r.sid-1]
			st.unindexed = true
			st.markers = append(st.markers, kg)
		}
		if !valid {
			break // nothing visible past this key group
		}
		kg = nextKeyGroup(kg, it.Key())
	}
	return errors.Join(it.Error(), it.Close())
}

// nextKeyGroup returns the key group whose index span a scan of key group
// kg's span, stopped at key k, continues with: the next one, or k's if
// that is later (a filtered iterator showed nothing in between).
func nextKeyGroup(kg int, k []byte) int {
	if len(k) < rowkey.KeyGroupBytes {
		return kg + 1
	}
	return max(kg+1, int(binary.BigEndian.Uint16(k)))
}
