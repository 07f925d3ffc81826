package snapshot

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const (
	operatorMagic      = "STOP"
	operatorVersion    = 1
	operatorHeaderSize = 12
)

// OperatorStateData is one operator state of one subtask with its elements,
// as written by WriteOperatorStates and returned by ReadOperatorStates.
type OperatorStateData struct {
	Name        string
	Mode        Mode
	Serializers []SerializerSnapshot
	Elements    [][]byte
}

// WriteOperatorStates writes an operator-state stream (FORMAT.md) holding
// states, in order, to w: a header and one payload, compressed as a whole
// with c (an empty payload is stored as zero bytes). It returns the
// OperatorStateMeta of each state for the OperatorStateHandle; the size and
// CRC32C of the file come from the FileWriter that w usually is.
//
// States need a non-empty, unique name and a known mode; an unknown
// compression gives an error wrapping ErrUnsupported. Nothing is written
// when the input is refused. The element slices are only read during the
// call.
func WriteOperatorStates(w io.Writer, c Compression, states []OperatorStateData) ([]OperatorStateMeta, error) {
	if err := checkCompression(c); err != nil {
		return nil, fmt.Errorf("write operator states: %w", err)
	}
	metas := make([]OperatorStateMeta, len(states))
	names := make(map[string]struct{}, len(states))
	size := 0
	for i := range states {
		s := &states[i]
		if s.Name == "" {
			return nil, fmt.Errorf("write operator states: state %d: empty name", i)
		}
		if _, dup := names[s.Name]; dup {
			return nil, fmt.Errorf("write operator states: duplicate state name %q", s.Name)
		}
		names[s.Name] = struct{}{}
		if s.Mode < ModeSplit || s.Mode > ModeBroadcast {
			return nil, fmt.Errorf("write operator states: state %q: unknown mode %d", s.Name, s.Mode)
		}
		for _, e := range s.Elements {
			size += binary.MaxVarintLen64 + len(e)
		}
		metas[i] = OperatorStateMeta{Name: s.Name, Mode: s.Mode, Serializers: s.Serializers, Elements: len(s.Elements)}
	}
	payload := make([]byte, 0, size)
	for i := range states {
		for _, e := range states[i].Elements {
			payload = binary.AppendUvarint(payload, uint64(len(e)))
			payload = append(payload, e...)
		}
	}
	if len(payload) > 0 {
		var err error
		payload, err = blockCodec.compress(nil, payload, c)
		if err != nil {
			return nil, fmt.Errorf("write operator states: %w", err)
		}
	}
	h := streamHeader(operatorMagic, operatorVersion, c)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("write operator states: %w", err)
	}
	if _, err := w.Write(payload); err != nil {
		return nil, fmt.Errorf("write operator states: %w", err)
	}
	return metas, nil
}

// ReadOperatorStates reads the operator-state file of h, resolving its path
// against dir (the directory of the _metadata file). It first checks the
// stored size and the CRC32C of the whole file against h.File, then the
// header, then splits the payload into the states of h.States by their
// element counts.
//
// Damage gives a *CorruptError naming the resolved path, wrapping
// ErrCorrupt; a missing file an error wrapping ErrNotExist. It never panics
// on bad input. The element slices are freshly allocated and owned by the
// caller; Serializers is shared with h.States. Safe for concurrent use if
// store is.
func ReadOperatorStates(ctx context.Context, store Storage, dir string, h *OperatorStateHandle) ([]OperatorStateData, error) {
	if h == nil {
		return nil, errors.New("read operator states: nil handle")
	}
	name, err := ResolvePath(dir, h.File.Path)
	if err != nil {
		return nil, fmt.Errorf("read operator states: %w", err)
	}
	if err := checkCompression(h.Compression); err != nil {
		return nil, fmt.Errorf("read operator states %s: %w", name, err)
	}
	size, err := store.Size(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read operator states: %w", err)
	}
	if size != h.File.Size {
		return nil, corrupt(name, size, fmt.Sprintf("size %d, want %d", size, h.File.Size), nil)
	}
	if size > int64(MaxBlockSize)+operatorHeaderSize+1<<20 {
		return nil, corrupt(name, -1, fmt.Sprintf("implausible size %d", size), nil)
	}
	rc, err := store.Open(ctx, name)
	if err != nil {
		return nil, fmt.Errorf("read operator states: %w", err)
	}
	defer rc.Close()
	b := make([]byte, size)
	if _, err := io.ReadFull(rc, b); err != nil {
		if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
			return nil, corrupt(name, -1, "file shrank while reading", err)
		}
		return nil, fmt.Errorf("read operator states %s: %w", name, err)
	}
	if n, _ := rc.Read(make([]byte, 1)); n > 0 {
		return nil, corrupt(name, size, "file grew while reading", nil)
	}
	if got := crc32.Checksum(b, castagnoli); got != h.File.CRC32C {
		return nil, corrupt(name, -1, fmt.Sprintf("crc32c mismatch: computed %08x, recorded %08x", got, h.File.CRC32C), nil)
	}
	if err := checkStreamHeader(name, b, operatorMagic, operatorVersion, h.Compression); err != nil {
		return nil, err
	}
	payload := b[operatorHeaderSize:]
	if len(payload) > 0 {
		payload, err = blockCodec.decompress(nil, payload, h.Compression)
		if err != nil {
			return nil, corrupt(name, operatorHeaderSize, fmt.Sprintf("cannot decompress %s payload", h.Compression), err)
		}
	}
	out, err := parseOperatorPayload(payload, h.States)
	if err != nil {
		var be *blockError
		if errors.As(err, &be) {
			at := int64(operatorHeaderSize)
			if h.Compression == CompressionNone {
				at += int64(be.at)
			}
			return nil, corrupt(name, at, be.msg, nil)
		}
		return nil, err
	}
	return out, nil
}

// parseOperatorPayload splits an uncompressed payload into the elements of
// states, bound-checking every length. Bad framing gives a *blockError. The
// element slices alias b.
func parseOperatorPayload(b []byte, states []OperatorStateMeta) ([]OperatorStateData, error) {
	out := make([]OperatorStateData, len(states))
	p := 0
	for i := range states {
		m := &states[i]
		if m.Elements < 0 || m.Elements > len(b)-p {
			// Every element takes at least one byte (its length).
			return nil, &blockError{p, fmt.Sprintf("state %q: %d elements cannot fit in the %d bytes left", m.Name, m.Elements, len(b)-p)}
		}
		out[i] = OperatorStateData{Name: m.Name, Mode: m.Mode, Serializers: m.Serializers}
		if m.Elements > 0 {
			out[i].Elements = make([][]byte, m.Elements)
		}
		for j := range out[i].Elements {
			l, n := binary.Uvarint(b[p:])
			if n <= 0 {
				return nil, &blockError{p, fmt.Sprintf("state %q element %d: bad length varint", m.Name, j)}
			}
			p += n
			if l > uint64(len(b)-p) {
				return nil, &blockError{p, fmt.Sprintf("state %q element %d: length %d runs past the end", m.Name, j, l)}
			}
			out[i].Elements[j] = b[p : p+int(l) : p+int(l)]
			p += int(l)
		}
	}
	if p != len(b) {
		return nil, &blockError{p, fmt.Sprintf("%d trailing bytes after the last element", len(b)-p)}
	}
	return out, nil
}
