package snapshot

import (
	"bufio"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
)

const (
	keyGroupMagic   = "STKG"
	keyGroupVersion = 1
	// keyGroupHeaderSize is the size of the key-group stream header; the
	// first block starts here.
	keyGroupHeaderSize = 12
)

// streamHeader builds the 12-byte header shared by the key-group and
// operator-state streams: magic, version, compression, two zero bytes,
// CRC32C of the first 8 bytes.
func streamHeader(magic string, version byte, c Compression) [12]byte {
	var h [12]byte
	copy(h[:4], magic)
	h[4] = version
	h[5] = byte(c)
	binary.BigEndian.PutUint32(h[8:], crc32.Checksum(h[:8], castagnoli))
	return h
}

// checkStreamHeader verifies a stream header read from path against the
// expected magic, version and compression.
func checkStreamHeader(path string, h []byte, magic string, version byte, want Compression) error {
	if len(h) < 12 {
		return corrupt(path, int64(len(h)), "truncated header", nil)
	}
	if string(h[:4]) != magic {
		return corrupt(path, 0, fmt.Sprintf("bad magic %q, want %q", h[:4], magic), nil)
	}
	if got, stored := crc32.Checksum(h[:8], castagnoli), binary.BigEndian.Uint32(h[8:12]); got != stored {
		return corrupt(path, 8, fmt.Sprintf("header crc32c mismatch: computed %08x, stored %08x", got, stored), nil)
	}
	if h[4] != version {
		// The header CRC matched, so this is a real other version.
		return fmt.Errorf("%s: stream format version %d (this build reads %d): %w", path, h[4], version, ErrUnsupported)
	}
	if Compression(h[5]) != want {
		return corrupt(path, 5, fmt.Sprintf("compression %s in the file, %s in the handle", Compression(h[5]), want), nil)
	}
	if h[6] != 0 || h[7] != 0 {
		return corrupt(path, 6, "reserved header bytes are not zero", nil)
	}
	return nil
}

// KeyGroupWriter writes a key-group stream (FORMAT.md) to an io.Writer: a
// header, then one block per key group of [start, end] in order, each block
// compressed on its own. Entries are buffered per key group; a block is
// written to w with a single Write when its key group is closed.
//
// A KeyGroupWriter is not safe for concurrent use. After an error from w,
// every further call returns that error.
type KeyGroupWriter struct {
	w          io.Writer
	start, end int
	comp       Compression

	cur     int // key group being buffered, or start-1 before the first
	open    bool
	done    bool
	raw     []byte // entries of the current key group
	scratch []byte // compressed block, reused
	pos     int64
	offsets []int64
	crcs    []uint32
	err     error
}

// NewKeyGroupWriter writes the stream header to w and returns a writer for
// the key groups [start, end] (both inclusive, 0 <= start <= end <
// MaxMaxParallelism). An unknown compression gives an error wrapping
// ErrUnsupported.
func NewKeyGroupWriter(w io.Writer, start, end int, c Compression) (*KeyGroupWriter, error) {
	if start < 0 || end < start || end >= MaxMaxParallelism {
		return nil, fmt.Errorf("key-group writer: bad range [%d,%d]", start, end)
	}
	if err := checkCompression(c); err != nil {
		return nil, fmt.Errorf("key-group writer: %w", err)
	}
	n := end - start + 1
	kw := &KeyGroupWriter{
		w: w, start: start, end: end, comp: c,
		cur:     start - 1,
		offsets: make([]int64, 0, n+1),
		crcs:    make([]uint32, 0, n),
	}
	h := streamHeader(keyGroupMagic, keyGroupVersion, c)
	if _, err := w.Write(h[:]); err != nil {
		return nil, fmt.Errorf("key-group writer: write header: %w", err)
	}
	kw.pos = keyGroupHeaderSize
	return kw, nil
}

// BeginKeyGroup starts key group kg. Key groups must be strictly increasing
// and within [start, end]; the groups skipped over are written as empty
// blocks. The previous group, if any, is compressed and written.
func (w *KeyGroupWriter) BeginKeyGroup(kg int) error {
	if w.err != nil {
		return w.err
	}
	if w.done {
		return errors.New("key-group writer: BeginKeyGroup after Finish")
	}
	if kg <= w.cur || kg > w.end {
		return fmt.Errorf("key-group writer: key group %d out of order or outside [%d,%d] (last %d)", kg, w.start, w.end, w.cur)
	}
	if err := w.closeUpTo(kg); err != nil {
		return err
	}
	w.cur, w.open = kg, true
	return nil
}

// WriteEntry adds one entry to the current key group. stateIndex indexes the
// States of the handle the stream will be described by. key, namespace and
// value are only read during the call.
func (w *KeyGroupWriter) WriteEntry(stateIndex int, key, namespace, value []byte) error {
	if w.err != nil {
		return w.err
	}
	if !w.open {
		return errors.New("key-group writer: WriteEntry outside a key group")
	}
	if stateIndex < 0 {
		return fmt.Errorf("key-group writer: negative state index %d", stateIndex)
	}
	b := binary.AppendUvarint(w.raw, uint64(stateIndex))
	b = binary.AppendUvarint(b, uint64(len(key)))
	b = append(b, key...)
	b = binary.AppendUvarint(b, uint64(len(namespace)))
	b = append(b, namespace...)
	b = binary.AppendUvarint(b, uint64(len(value)))
	w.raw = append(b, value...)
	return nil
}

// Finish closes the current key group and writes empty blocks for the
// remaining ones up to end. It returns the offsets (end-start+2 entries:
// block i spans [offsets[i], offsets[i+1]); offsets[0] is the header size
// and the last entry is the stream size) and the CRC32C of each stored
// block, as recorded in a KeyedStateHandle. It does not close the
// underlying writer.
func (w *KeyGroupWriter) Finish() (offsets []int64, crcs []uint32, err error) {
	if w.err != nil {
		return nil, nil, w.err
	}
	if w.done {
		return nil, nil, errors.New("key-group writer: Finish called twice")
	}
	if err := w.closeUpTo(w.end + 1); err != nil {
		return nil, nil, err
	}
	w.done, w.open = true, false
	w.offsets = append(w.offsets, w.pos)
	w.raw, w.scratch = nil, nil
	return w.offsets, w.crcs, nil
}

// closeUpTo writes the block of the open key group and empty blocks for
// every key group below next that has none yet.
func (w *KeyGroupWriter) closeUpTo(next int) error {
	if w.open {
		if err := w.writeBlock(); err != nil {
			w.err = err
			return err
		}
		w.open = false
	}
	for kg := max(w.cur+1, w.start); kg < next; kg++ {
		w.offsets = append(w.offsets, w.pos)
		w.crcs = append(w.crcs, 0) // CRC32C of no bytes
	}
	return nil
}

func (w *KeyGroupWriter) writeBlock() error {
	w.offsets = append(w.offsets, w.pos)
	if len(w.raw) == 0 {
		w.crcs = append(w.crcs, 0)
		return nil
	}
	block, err := blockCodec.compress(w.scratch, w.raw, w.comp)
	if err != nil {
		return fmt.Errorf("key-group writer: key group %d: %w", w.cur, err)
	}
	if w.comp != CompressionNone {
		w.scratch = block
	}
	w.crcs = append(w.crcs, crc32.Checksum(block, castagnoli))
	if _, err := w.w.Write(block); err != nil {
		return fmt.Errorf("key-group writer: key group %d: %w", w.cur, err)
	}
	w.pos += int64(len(block))
	w.raw = w.raw[:0]
	return nil
}

// ReadKeyGroups reads the key groups [start, end] ∩ [h.KeyGroupStart,
// h.KeyGroupEnd] of a FormatKeyGroups handle from store, resolving
// h.Files[0].Path against dir (the directory of the _metadata file).
//
// It checks that the stored size equals Files[0].Size, verifies the stream
// header, reads only the byte span of the wanted key groups (one ranged
// read), verifies each block's CRC32C, decompresses it and calls fn for
// each entry in order. The slices passed to fn are valid only during the
// call. An error from fn stops the read and is returned as is.
//
// Damage (size, header, CRC, decompression, entry framing, a state index
// outside h.States) is reported as a *CorruptError naming the resolved path
// and the offset, wrapping ErrCorrupt. A missing file gives an error
// wrapping ErrNotExist; a handle of another format one wrapping
// ErrUnsupported. It never panics on bad input. Safe for concurrent use if
// store is.
func ReadKeyGroups(ctx context.Context, store Storage, dir string, h *KeyedStateHandle, start, end int, fn func(kg, stateIndex int, key, namespace, value []byte) error) error {
	if h == nil {
		return errors.New("read key groups: nil handle")
	}
	if h.Format != FormatKeyGroups {
		return fmt.Errorf("read key groups: handle format %q: %w", h.Format, ErrUnsupported)
	}
	if len(h.Files) != 1 {
		return fmt.Errorf("read key groups: %w: %d files in a %s handle", ErrCorrupt, len(h.Files), FormatKeyGroups)
	}
	name, err := ResolvePath(dir, h.Files[0].Path)
	if err != nil {
		return fmt.Errorf("read key groups: %w", err)
	}
	if err := checkCompression(h.Compression); err != nil {
		return fmt.Errorf("read key groups %s: %w", name, err)
	}
	if h.KeyGroupStart < 0 || h.KeyGroupEnd < h.KeyGroupStart {
		return corrupt(name, -1, fmt.Sprintf("handle has bad key-group range [%d,%d]", h.KeyGroupStart, h.KeyGroupEnd), nil)
	}
	if err := validateKeyGroupLayout(h); err != nil {
		return corrupt(name, -1, "handle does not describe the file", err)
	}
	lo, hi := max(start, h.KeyGroupStart), min(end, h.KeyGroupEnd)
	if lo > hi {
		return nil
	}
	size, err := store.Size(ctx, name)
	if err != nil {
		return fmt.Errorf("read key groups: %w", err)
	}
	if size != h.Files[0].Size {
		return corrupt(name, size, fmt.Sprintf("size %d, want %d", size, h.Files[0].Size), nil)
	}
	if err := readRangeHeader(ctx, store, name, keyGroupMagic, keyGroupVersion, h.Compression); err != nil {
		return err
	}

	first, last := lo-h.KeyGroupStart, hi-h.KeyGroupStart
	spanOff := h.KeyGroupOffsets[first]
	spanEnd := h.KeyGroupOffsets[last+1]
	if spanEnd == spanOff {
		return nil // only empty key groups
	}
	rc, err := store.OpenRange(ctx, name, spanOff, spanEnd-spanOff)
	if err != nil {
		return fmt.Errorf("read key groups: %w", err)
	}
	defer rc.Close()
	r := bufio.NewReaderSize(rc, 64<<10)

	var stored, plain []byte
	for i := first; i <= last; i++ {
		if err := ctx.Err(); err != nil {
			return err
		}
		kg := h.KeyGroupStart + i
		off, blen := h.KeyGroupOffsets[i], h.KeyGroupOffsets[i+1]-h.KeyGroupOffsets[i]
		if blen == 0 {
			continue
		}
		if blen > int64(MaxBlockSize)+1<<20 {
			return corrupt(name, off, fmt.Sprintf("key group %d: block of %d bytes is implausibly large", kg, blen), nil)
		}
		if int64(cap(stored)) < blen {
			stored = make([]byte, blen)
		}
		stored = stored[:blen]
		if _, err := io.ReadFull(r, stored); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return corrupt(name, off, fmt.Sprintf("key group %d: truncated block", kg), err)
			}
			return fmt.Errorf("read key groups %s: %w", name, err)
		}
		if got := crc32.Checksum(stored, castagnoli); got != h.KeyGroupCRCs[i] {
			return corrupt(name, off, fmt.Sprintf("key group %d: crc32c mismatch: computed %08x, recorded %08x", kg, got, h.KeyGroupCRCs[i]), nil)
		}
		block, err := blockCodec.decompress(plain, stored, h.Compression)
		if err != nil {
			return corrupt(name, off, fmt.Sprintf("key group %d: cannot decompress %s block", kg, h.Compression), err)
		}
		if h.Compression != CompressionNone {
			plain = block
		}
		err = parseKeyGroupBlock(block, len(h.States), func(stateIndex int, key, ns, value []byte) error {
			return fn(kg, stateIndex, key, ns, value)
		})
		if err != nil {
			var be *blockError
			if errors.As(err, &be) {
				at := off
				if h.Compression == CompressionNone {
					at += int64(be.at)
				}
				return corrupt(name, at, fmt.Sprintf("key group %d: %s", kg, be.msg), nil)
			}
			return err
		}
	}
	return nil
}

// readRangeHeader reads and checks the 12-byte header of a stream.
func readRangeHeader(ctx context.Context, store Storage, name, magic string, version byte, c Compression) error {
	rc, err := store.OpenRange(ctx, name, 0, 12)
	if err != nil {
		return fmt.Errorf("read %s header: %w", name, err)
	}
	defer rc.Close()
	var hdr [12]byte
	n, err := io.ReadFull(rc, hdr[:])
	if err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("read %s header: %w", name, err)
	}
	return checkStreamHeader(name, hdr[:n], magic, version, c)
}

// blockError reports bad framing inside an uncompressed block at byte at.
type blockError struct {
	at  int
	msg string
}

func (e *blockError) Error() string { return fmt.Sprintf("offset %d in block: %s", e.at, e.msg) }

// parseKeyGroupBlock calls fn for each entry of an uncompressed key-group
// block. Every length is bound-checked; bad framing gives a *blockError,
// errors from fn are returned as is. numStates bounds the state index.
func parseKeyGroupBlock(b []byte, numStates int, fn func(stateIndex int, key, namespace, value []byte) error) error {
	for p := 0; p < len(b); {
		start := p
		idx, n := binary.Uvarint(b[p:])
		if n <= 0 {
			return &blockError{start, "bad state index varint"}
		}
		p += n
		if idx >= uint64(numStates) {
			return &blockError{start, fmt.Sprintf("state index %d outside the handle's %d states", idx, numStates)}
		}
		var fields [3][]byte
		for f := range fields {
			l, n := binary.Uvarint(b[p:])
			if n <= 0 {
				return &blockError{p, "bad length varint"}
			}
			p += n
			if l > uint64(len(b)-p) {
				return &blockError{p, fmt.Sprintf("length %d runs past the block end", l)}
			}
			fields[f] = b[p : p+int(l) : p+int(l)]
			p += int(l)
		}
		if err := fn(int(idx), fields[0], fields[1], fields[2]); err != nil {
			return err
		}
	}
	return nil
}
