// Package rowkey is the key-group-first layout of the keys of state rows in
// a Pebble database (backend/lsm/FORMAT.md, "Row keys"): what the lsm
// backend writes, and what any other store of keyed state rows in Pebble
// shares with it rather than copying it.
//
//	keyGroup (2 bytes BE) | stateID (2 bytes BE) | uvarint len | key | uvarint len | namespace [| userKey]
//
// The key group comes first so that a key-group range is one contiguous
// span; map entries of one key and namespace share the prefix up to the
// namespace and are ordered by user key.
//
// State id TimerIndexSID is reserved for the timer index of the lsm
// backend, and IndexSID for its expiry index of states with TTL and
// background cleanup:
//
//	keyGroup (2 bytes BE) | 0xFFFF | bucket (8 bytes BE) | the row key without its key group
//
// so the index rows of a key group follow its data rows, ordered by bucket.
package rowkey

import (
	"encoding/binary"
	"fmt"
)

// The sizes of the header of a row key and the reserved state ids.
const (
	KeyGroupBytes = 2
	StateIDBytes  = 2
	HeaderBytes   = KeyGroupBytes + StateIDBytes
	// MaxStateID is the largest id of a state; ids start at 1.
	MaxStateID = 1<<16 - 3
	// TimerIndexSID is the state id of the rows of the timer index.
	TimerIndexSID = 1<<16 - 2
	// IndexSID is the state id of the rows of the expiry index.
	IndexSID = 1<<16 - 1
)

// KeyGroupPrefix is the first key of key group kg; KeyGroupPrefix(maxP)
// is past every key group.
func KeyGroupPrefix(kg int) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(kg))
}

// SpanOf returns the key span [start, end) of the key groups [lo, hi].
func SpanOf(lo, hi int) (start, end []byte) {
	start = KeyGroupPrefix(lo)
	if hi+1 > 0xffff {
		return start, []byte{0xff, 0xff, 0xff}
	}
	return start, KeyGroupPrefix(hi + 1)
}

// AppendStatePrefix appends the key-group and state-id header.
func AppendStatePrefix(dst []byte, kg int, sid uint16) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(kg))
	return binary.BigEndian.AppendUint16(dst, sid)
}

// AppendRowPrefix appends the prefix of every row of (kg, sid, key, ns).
func AppendRowPrefix(dst []byte, kg int, sid uint16, key []byte, ns string) []byte {
	dst = AppendStatePrefix(dst, kg, sid)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(ns)))
	return append(dst, ns...)
}

// Row is a parsed row key. Slices alias the key.
type Row struct {
	KeyGroup  int
	StateID   uint16
	Key       []byte
	Namespace []byte
	UserKey   []byte // map rows only; empty for the others
	PrefixLen int    // length of the row prefix, up to the namespace
}

// Parse parses the row key k. A key too short for its header or a length
// that overruns it is an error; the bytes after the namespace are the
// user key.
func Parse(k []byte) (Row, error) {
	if len(k) < HeaderBytes {
		return Row{}, fmt.Errorf("row key of %d bytes is shorter than its header", len(k))
	}
	r := Row{KeyGroup: int(binary.BigEndian.Uint16(k)), StateID: binary.BigEndian.Uint16(k[KeyGroupBytes:])}
	off := HeaderBytes
	field := func(what string) ([]byte, error) {
		n, w := binary.Uvarint(k[off:])
		if w <= 0 || n > uint64(len(k)-off-w) {
			return nil, fmt.Errorf("row key: bad %s length at offset %d", what, off)
		}
		off += w
		f := k[off : off+int(n)]
		off += int(n)
		return f, nil
	}
	var err error
	if r.Key, err = field("key"); err != nil {
		return r, err
	}
	if r.Namespace, err = field("namespace"); err != nil {
		return r, err
	}
	r.PrefixLen = off
	r.UserKey = k[off:]
	return r, nil
}

// PrefixEnd returns the smallest key greater than every key with prefix p.
func PrefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}
