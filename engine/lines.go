package engine

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"strconv"
)

// Lines returns a source of the lines of a text file, without their line
// ends ("\n" or "\r\n"). The file is split into byte ranges; a line
// belongs to the range its first byte is in. The file must not change
// while a job reads it or between a checkpoint and its restore: each split
// stores the CRC32C of the bytes it consumed (Split.Checksum), and a
// restore refuses a file that no longer holds them, naming it, rather than
// read on from an offset into other content. (Splits of snapshots written
// before the checksum existed are restored unchecked.)
func Lines(path string) Source[string] { return linesSource{path} }

type linesSource struct{ path string }

// Splits returns max(4n, 16) ranges (fewer for a tiny file), so a job can
// later be rescaled up to four times its parallelism with every subtask
// reading.
func (l linesSource) Splits(_ context.Context, n int) ([]Split, error) {
	fi, err := os.Stat(l.path)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	if fi.IsDir() {
		return nil, fmt.Errorf("input %s is a directory, not a file", l.path)
	}
	size := fi.Size()
	k := int64(max(4*n, 16))
	if size < k {
		k = max(size, 1)
	}
	splits := make([]Split, k)
	for i := range k {
		start, end := i*size/k, (i+1)*size/k
		splits[i] = Split{ID: l.path + "@" + strconv.FormatInt(start, 10), Start: start, End: end, Offset: start}
	}
	return splits, nil
}

func (l linesSource) Open(_ context.Context, s Split) (SplitReader[string], error) {
	f, err := os.Open(l.path)
	if err != nil {
		return nil, fmt.Errorf("input: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("input: %w", err)
	}
	// The offset passes End when the last line of the split crosses it; a
	// checkpoint taken before the reader reported the end restores such a
	// split, which then has nothing left to read.
	if fi.Size() < s.End || s.Offset < s.Start || s.Offset > fi.Size() {
		f.Close()
		return nil, fmt.Errorf("input %s (%d bytes) does not hold split [%d, %d) at offset %d: the file changed since the checkpoint", l.path, fi.Size(), s.Start, s.End, s.Offset)
	}
	crc, err := l.consumedCRC(f, s)
	if err != nil {
		f.Close()
		return nil, err
	}
	pos := s.Offset
	if pos == s.Start && pos > 0 {
		// The split starts with the first line that begins at or after
		// Start: skip the tail of a line that began before it.
		var prev [1]byte
		if _, err := f.ReadAt(prev[:], pos-1); err != nil {
			f.Close()
			return nil, fmt.Errorf("input %s: %w", l.path, err)
		}
		if prev[0] != '\n' {
			br := bufio.NewReader(io.NewSectionReader(f, pos, fi.Size()-pos))
			skipped, err := br.ReadBytes('\n')
			pos += int64(len(skipped))
			crc = crc32.Update(crc, castagnoli, skipped)
			if err != nil && err != io.EOF {
				f.Close()
				return nil, fmt.Errorf("input %s: %w", l.path, err)
			}
		}
	}
	if _, err := f.Seek(pos, io.SeekStart); err != nil {
		f.Close()
		return nil, fmt.Errorf("input %s: %w", l.path, err)
	}
	return &lineReader{f: f, r: bufio.NewReaderSize(f, 64<<10), pos: pos, end: s.End, path: l.path, crc: crc}, nil
}

// consumedCRC returns the CRC32C of the bytes [s.Start, s.Offset) of f,
// which a reader of s continues from, and checks it against s.Checksum
// when the split has one.
func (l linesSource) consumedCRC(f *os.File, s Split) (uint32, error) {
	h := crc32.New(castagnoli)
	if _, err := io.Copy(h, io.NewSectionReader(f, s.Start, s.Offset-s.Start)); err != nil {
		return 0, fmt.Errorf("input %s: %w", l.path, err)
	}
	got := h.Sum32()
	if s.Checksum == "" {
		return got, nil
	}
	want, err := strconv.ParseUint(s.Checksum, 16, 32)
	if err != nil {
		return 0, fmt.Errorf("input %s: split [%d, %d): checksum %q in the checkpoint is not a CRC32C in hex", l.path, s.Start, s.End, s.Checksum)
	}
	if got != uint32(want) {
		return 0, fmt.Errorf("input %s changed since the checkpoint: its bytes [%d, %d), which the checkpoint had read, have CRC32C %08x, not %08x: restore with the file the checkpoint read, or start without restoring", l.path, s.Start, s.Offset, got, want)
	}
	return got, nil
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

type lineReader struct {
	f    *os.File
	r    *bufio.Reader
	pos  int64
	end  int64
	path string
	long []byte
	// crc is the CRC32C of the split's bytes [Start, pos).
	crc uint32
}

var _ SplitChecksummer = (*lineReader)(nil)

func (r *lineReader) Next() (string, error) {
	if r.pos >= r.end {
		return "", io.EOF
	}
	line, err := r.r.ReadSlice('\n')
	if err == bufio.ErrBufferFull {
		r.long = append(r.long[:0], line...)
		for err == bufio.ErrBufferFull {
			line, err = r.r.ReadSlice('\n')
			r.long = append(r.long, line...)
		}
		line = r.long
	}
	if err != nil && err != io.EOF {
		return "", fmt.Errorf("input %s: %w", r.path, err)
	}
	if len(line) == 0 {
		return "", io.EOF
	}
	r.pos += int64(len(line))
	r.crc = crc32.Update(r.crc, castagnoli, line)
	line = bytes.TrimSuffix(line, []byte{'\n'})
	line = bytes.TrimSuffix(line, []byte{'\r'})
	return string(line), nil
}

func (r *lineReader) Offset() int64 { return r.pos }

// Checksum implements SplitChecksummer: the CRC32C of the bytes [Start,
// Offset) of the split, as 8 hex digits.
func (r *lineReader) Checksum() string { return fmt.Sprintf("%08x", r.crc) }
func (r *lineReader) Close() error     { return r.f.Close() }
