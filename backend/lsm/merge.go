package lsm

import (
	"io"

	"github.com/cockroachdb/pebble/v2"
)

// listMergerName is stored by Pebble in every database; it must never
// change.
const listMergerName = "stated.list.v1"

// ListMerger is the merge operator of every database of the backend: it
// appends list elements without reading. A list value is the concatenation
// of uvarint-length-prefixed elements, so merging operands is
// concatenating them, oldest first. Tools that open a database or a native
// checkpoint of the backend with Pebble need it (Pebble refuses a database
// whose merger name differs).
var ListMerger = &pebble.Merger{
	Name: listMergerName,
	Merge: func(_, value []byte) (pebble.ValueMerger, error) {
		return &concatMerger{newer: [][]byte{append([]byte(nil), value...)}}, nil
	},
}

// concatMerger collects operands; the caller keeps ownership of the slices
// it passes, so they are copied.
type concatMerger struct {
	older [][]byte // newest first
	newer [][]byte // oldest first; newer[0] is the first operand
}

func (m *concatMerger) MergeNewer(value []byte) error {
	m.newer = append(m.newer, append([]byte(nil), value...))
	return nil
}

func (m *concatMerger) MergeOlder(value []byte) error {
	m.older = append(m.older, append([]byte(nil), value...))
	return nil
}

func (m *concatMerger) Finish(bool) ([]byte, io.Closer, error) {
	n := 0
	for _, p := range m.older {
		n += len(p)
	}
	for _, p := range m.newer {
		n += len(p)
	}
	out := make([]byte, 0, n)
	for i := len(m.older) - 1; i >= 0; i-- {
		out = append(out, m.older[i]...)
	}
	for _, p := range m.newer {
		out = append(out, p...)
	}
	return out, nil, nil
}
