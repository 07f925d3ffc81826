// Package statecodec holds the canonical value encodings of list and map
// states (backend/FORMAT.md): what snapshots in the key-group stream
// format hold whatever the backend, what the object states encode and
// decode, and what byte backends convert on restore. It also holds the
// uvarint-length-prefixed element framing that byte backends store lists
// in. Value, Reducing and Aggregating states store the bytes of their
// serializer and need nothing of it.
package statecodec

import (
	"encoding/binary"
	"fmt"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
)

// AppendElement appends elem with its uvarint length before it.
func AppendElement(dst, elem []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(elem)))
	return append(dst, elem...)
}

// Reader reads uvarint-length-prefixed elements from the bytes it was
// made with (NewReader). Every error wraps serializer.ErrDecode.
type Reader struct {
	b   []byte
	off int
}

// NewReader returns a Reader of b; use it as a local variable.
func NewReader(b []byte) Reader { return Reader{b: b} }

// More reports whether bytes are left.
func (r *Reader) More() bool { return r.off < len(r.b) }

func (r *Reader) uvarint(what string) (uint64, error) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad %s at offset %d", serializer.ErrDecode, what, r.off)
	}
	r.off += n
	return v, nil
}

// Count reads a uvarint element count; a count larger than the bytes
// left can hold is corrupt.
func (r *Reader) Count() (int, error) {
	n, err := r.uvarint("count")
	if err != nil {
		return 0, err
	}
	// Every element takes at least one byte: a larger count is corrupt.
	if n > uint64(len(r.b)-r.off) {
		return 0, fmt.Errorf("%w: count %d exceeds the remaining %d bytes", serializer.ErrDecode, n, len(r.b)-r.off)
	}
	return int(n), nil
}

// Element reads one element; the slice aliases the reader's bytes.
func (r *Reader) Element() ([]byte, error) {
	n, err := r.uvarint("element length")
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("%w: element of %d bytes at offset %d overruns %d bytes", serializer.ErrDecode, n, r.off, len(r.b))
	}
	e := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return e, nil
}

// Done fails if bytes are left.
func (r *Reader) Done() error {
	if r.off != len(r.b) {
		return fmt.Errorf("%w: %d trailing bytes", serializer.ErrDecode, len(r.b)-r.off)
	}
	return nil
}

// EncodeList appends the canonical encoding of list: the uvarint count,
// then each element length-prefixed.
func EncodeList[V any](dst []byte, s serializer.Serializer[V], list []V) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(list)))
	var scratch []byte
	for _, v := range list {
		var err error
		if scratch, err = s.Append(scratch[:0], v); err != nil {
			return dst, err
		}
		dst = AppendElement(dst, scratch)
	}
	return dst, nil
}

// DecodeList decodes a canonical list encoding that fills b, each element
// with read.
func DecodeList[V any](b []byte, read func([]byte) (V, error)) ([]V, error) {
	r := Reader{b: b}
	n, err := r.Count()
	if err != nil {
		return nil, err
	}
	list := make([]V, 0, n)
	for range n {
		e, err := r.Element()
		if err != nil {
			return nil, err
		}
		v, err := read(e)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, r.Done()
}

// EncodeMap appends the canonical encoding of m: the uvarint count, then
// each key and value length-prefixed.
func EncodeMap[UK comparable, UV any](dst []byte, ks serializer.Serializer[UK], vs serializer.Serializer[UV], m map[UK]UV) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	var scratch []byte
	for k, v := range m {
		var err error
		if scratch, err = ks.Append(scratch[:0], k); err != nil {
			return dst, err
		}
		dst = AppendElement(dst, scratch)
		if scratch, err = vs.Append(scratch[:0], v); err != nil {
			return dst, err
		}
		dst = AppendElement(dst, scratch)
	}
	return dst, nil
}

// DecodeMap decodes a canonical map encoding that fills b, keys with
// readK and values with readV. Two entries whose keys read as one fail
// with backend.ErrIncompatibleSerializer: a migrated user-key serializer
// may not merge keys.
func DecodeMap[UK comparable, UV any](b []byte, readK func([]byte) (UK, error), readV func([]byte) (UV, error)) (map[UK]UV, error) {
	r := Reader{b: b}
	n, err := r.Count()
	if err != nil {
		return nil, err
	}
	m := make(map[UK]UV, n)
	for range n {
		kb, err := r.Element()
		if err != nil {
			return nil, err
		}
		vb, err := r.Element()
		if err != nil {
			return nil, err
		}
		k, err := readK(kb)
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%w: two entries of one map read as the same user key %v (a user-key serializer may not merge keys)", backend.ErrIncompatibleSerializer, k)
		}
		if m[k], err = readV(vb); err != nil {
			return nil, err
		}
	}
	return m, r.Done()
}

// RangeElements calls fn for each element of b, a concatenation of
// uvarint-length-prefixed elements (how byte backends store lists).
func RangeElements(b []byte, fn func(elem []byte) error) error {
	r := Reader{b: b}
	for r.More() {
		e, err := r.Element()
		if err != nil {
			return err
		}
		if err := fn(e); err != nil {
			return err
		}
	}
	return nil
}

// CanonicalListElements checks the canonical list encoding b (count, then
// elements) and returns its elements part.
func CanonicalListElements(b []byte) ([]byte, error) {
	r := Reader{b: b}
	n, err := r.Count()
	if err != nil {
		return nil, err
	}
	start := r.off
	for range n {
		if _, err := r.Element(); err != nil {
			return nil, err
		}
	}
	return b[start:], r.Done()
}

// RangeCanonicalMap calls fn for each entry of the canonical map encoding
// b.
func RangeCanonicalMap(b []byte, fn func(userKey, value []byte) error) error {
	r := Reader{b: b}
	n, err := r.Count()
	if err != nil {
		return err
	}
	for range n {
		k, err := r.Element()
		if err != nil {
			return err
		}
		v, err := r.Element()
		if err != nil {
			return err
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return r.Done()
}
