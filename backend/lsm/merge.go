package lsm

import (
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// listMergerName is stored by Pebble in every database; it must never
// change.
const listMergerName = "stated.list.v1"

// listMerger appends list elements without reading: a list value is the
// concatenation of uvarint-length-prefixed elements, so merging operands
// is concatenating them oldest first.
var listMerger = &pebble.Merger{
	Name: listMergerName,
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		return &concatMerger{buf: append([]byte(nil), value...)}, nil
	},
}

type concatMerger struct {
	buf []byte
}

func (m *concatMerger) MergeNewer(value []byte) error {
	m.buf = append(m.buf, value...)
	return nil
}

func (m *concatMerger) MergeOlder(value []byte) error {
	m.buf = append(append(make([]byte, 0, len(value)+len(m.buf)), value...), m.buf...)
	return nil
}

func (m *concatMerger) Finish(bool) ([]byte, io.Closer, error) { return m.buf, nil, nil }
