package lsm

import (
	"encoding/binary"
	"fmt"
)

// Row keys (FORMAT.md):
//
//	keyGroup (2 bytes BE) | stateID (2 bytes BE) | uvarint len | key | uvarint len | namespace [| userKey]
//
// The key group comes first so that a key-group range is one contiguous
// span; map entries of one key and namespace share the prefix up to the
// namespace and are ordered by user key.
//
// State id timerIndexSID is reserved for the timer index (timers.go), and
// indexSID for the expiry index of states with TTL and background cleanup
// (ttlindex.go):
//
//	keyGroup (2 bytes BE) | 0xFFFF | bucket (8 bytes BE) | the row key without its key group
//
// so the index rows of a key group follow its data rows, ordered by bucket.

const (
	keyGroupBytes = 2
	stateIDBytes  = 2
	headerBytes   = keyGroupBytes + stateIDBytes
	// maxStateID is the largest id of a state; ids start at 1.
	maxStateID = 1<<16 - 3
	// timerIndexSID is the state id of the rows of the timer index.
	timerIndexSID = 1<<16 - 2
	// indexSID is the state id of the rows of the expiry index.
	indexSID = 1<<16 - 1
)

// keyGroupPrefix is the first key of key group kg; keyGroupPrefix(maxP)
// is past every key group.
func keyGroupPrefix(kg int) []byte {
	return binary.BigEndian.AppendUint16(nil, uint16(kg))
}

// spanOf returns the key span [start, end) of the key groups [lo, hi].
func spanOf(lo, hi int) (start, end []byte) {
	start = keyGroupPrefix(lo)
	if hi+1 > 0xffff {
		return start, []byte{0xff, 0xff, 0xff}
	}
	return start, keyGroupPrefix(hi + 1)
}

// appendStatePrefix appends the key-group and state-id header.
func appendStatePrefix(dst []byte, kg int, sid uint16) []byte {
	dst = binary.BigEndian.AppendUint16(dst, uint16(kg))
	return binary.BigEndian.AppendUint16(dst, sid)
}

// appendRowPrefix appends the prefix of every row of (kg, sid, key, ns).
func appendRowPrefix(dst []byte, kg int, sid uint16, key []byte, ns string) []byte {
	dst = appendStatePrefix(dst, kg, sid)
	dst = binary.AppendUvarint(dst, uint64(len(key)))
	dst = append(dst, key...)
	dst = binary.AppendUvarint(dst, uint64(len(ns)))
	return append(dst, ns...)
}

// row is a parsed row key. Slices alias the key.
type row struct {
	kg      int
	sid     uint16
	key     []byte
	ns      []byte
	userKey []byte
	prefix  int // length of the row prefix, up to the namespace
}

func parseRow(k []byte) (row, error) {
	if len(k) < headerBytes {
		return row{}, fmt.Errorf("row key of %d bytes is shorter than its header", len(k))
	}
	r := row{kg: int(binary.BigEndian.Uint16(k)), sid: binary.BigEndian.Uint16(k[keyGroupBytes:])}
	off := headerBytes
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
	if r.key, err = field("key"); err != nil {
		return r, err
	}
	if r.ns, err = field("namespace"); err != nil {
		return r, err
	}
	r.prefix = off
	r.userKey = k[off:]
	return r, nil
}

// prefixEnd returns the smallest key greater than every key with prefix p.
func prefixEnd(p []byte) []byte {
	end := append([]byte(nil), p...)
	for i := len(end) - 1; i >= 0; i-- {
		if end[i] != 0xff {
			end[i]++
			return end[:i+1]
		}
	}
	return nil // p is all 0xff: no upper bound
}
