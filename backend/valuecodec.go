package backend

import (
	"encoding/binary"
	"fmt"
)

// The canonical value encodings of list and map states (FORMAT.md). Value,
// Reducing and Aggregating states store the bytes of their serializer.

func appendElement(dst, elem []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(elem)))
	return append(dst, elem...)
}

// elementReader reads uvarint-length-prefixed elements from b.
type elementReader struct {
	b   []byte
	off int
}

func (r *elementReader) uvarint(what string) (uint64, error) {
	v, n := binary.Uvarint(r.b[r.off:])
	if n <= 0 {
		return 0, fmt.Errorf("%w: bad %s at offset %d", ErrDecode, what, r.off)
	}
	r.off += n
	return v, nil
}

func (r *elementReader) count() (int, error) {
	n, err := r.uvarint("count")
	if err != nil {
		return 0, err
	}
	// Every element takes at least one byte: a larger count is corrupt.
	if n > uint64(len(r.b)-r.off) {
		return 0, fmt.Errorf("%w: count %d exceeds the remaining %d bytes", ErrDecode, n, len(r.b)-r.off)
	}
	return int(n), nil
}

func (r *elementReader) element() ([]byte, error) {
	n, err := r.uvarint("element length")
	if err != nil {
		return nil, err
	}
	if n > uint64(len(r.b)-r.off) {
		return nil, fmt.Errorf("%w: element of %d bytes at offset %d overruns %d bytes", ErrDecode, n, r.off, len(r.b))
	}
	e := r.b[r.off : r.off+int(n)]
	r.off += int(n)
	return e, nil
}

func (r *elementReader) done() error {
	if r.off != len(r.b) {
		return fmt.Errorf("%w: %d trailing bytes", ErrDecode, len(r.b)-r.off)
	}
	return nil
}

// encodeList writes uvarint count, then each element length-prefixed.
func encodeList[V any](dst []byte, s Serializer[V], list []V) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(list)))
	var scratch []byte
	for _, v := range list {
		var err error
		if scratch, err = s.Append(scratch[:0], v); err != nil {
			return dst, err
		}
		dst = appendElement(dst, scratch)
	}
	return dst, nil
}

func decodeList[V any](b []byte, read func([]byte) (V, error)) ([]V, error) {
	r := elementReader{b: b}
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	list := make([]V, 0, n)
	for range n {
		e, err := r.element()
		if err != nil {
			return nil, err
		}
		v, err := read(e)
		if err != nil {
			return nil, err
		}
		list = append(list, v)
	}
	return list, r.done()
}

// encodeMap writes uvarint count, then each key and value length-prefixed.
func encodeMap[UK comparable, UV any](dst []byte, ks Serializer[UK], vs Serializer[UV], m map[UK]UV) ([]byte, error) {
	dst = binary.AppendUvarint(dst, uint64(len(m)))
	var scratch []byte
	for k, v := range m {
		var err error
		if scratch, err = ks.Append(scratch[:0], k); err != nil {
			return dst, err
		}
		dst = appendElement(dst, scratch)
		if scratch, err = vs.Append(scratch[:0], v); err != nil {
			return dst, err
		}
		dst = appendElement(dst, scratch)
	}
	return dst, nil
}

func decodeMap[UK comparable, UV any](b []byte, readK func([]byte) (UK, error), readV func([]byte) (UV, error)) (map[UK]UV, error) {
	r := elementReader{b: b}
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	m := make(map[UK]UV, n)
	for range n {
		kb, err := r.element()
		if err != nil {
			return nil, err
		}
		vb, err := r.element()
		if err != nil {
			return nil, err
		}
		k, err := readK(kb)
		if err != nil {
			return nil, err
		}
		if _, dup := m[k]; dup {
			return nil, fmt.Errorf("%w: two entries of one map read as the same user key %v (a user-key serializer may not merge keys)", ErrIncompatibleSerializer, k)
		}
		if m[k], err = readV(vb); err != nil {
			return nil, err
		}
	}
	return m, r.done()
}

// RangeElements calls fn for each element of b, a concatenation of
// uvarint-length-prefixed elements (how byte backends store lists).
func RangeElements(b []byte, fn func(elem []byte) error) error {
	r := elementReader{b: b}
	for r.off < len(b) {
		e, err := r.element()
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
	r := elementReader{b: b}
	n, err := r.count()
	if err != nil {
		return nil, err
	}
	start := r.off
	for range n {
		if _, err := r.element(); err != nil {
			return nil, err
		}
	}
	return b[start:], r.done()
}

// RangeCanonicalMap calls fn for each entry of the canonical map encoding
// b.
func RangeCanonicalMap(b []byte, fn func(userKey, value []byte) error) error {
	r := elementReader{b: b}
	n, err := r.count()
	if err != nil {
		return err
	}
	for range n {
		k, err := r.element()
		if err != nil {
			return err
		}
		v, err := r.element()
		if err != nil {
			return err
		}
		if err := fn(k, v); err != nil {
			return err
		}
	}
	return r.done()
}
