// Package stagedfile is the local file that the snapshot.FileWriter of a
// storage provider fills before it publishes it: the file provider's
// temporary file, the S3 provider's spool file.
package stagedfile

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"

	"github.com/stated-io/stated/snapshot"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// File is a buffered writer of a local file that counts the size and the
// CRC32C of what is written, keeps the first write error, and knows
// whether the writer is done. It implements Write and Abort for the
// writers that embed it. It is not safe for concurrent use.
type File struct {
	name string // the storage name, for errors
	f    *os.File
	bw   *bufio.Writer

	size int64
	crc  uint32
	err  error // sticky write error
	done bool  // committed or aborted

	// partSize, when > 0, makes Write also keep the CRC32C of each
	// partSize-byte part, as S3's multipart uploads send one per part.
	partSize int64
	partCRCs []uint32 // of the complete parts so far
	partCRC  uint32   // of the part being written
	// removed, if set, is called once after Discard removed the file.
	removed func()
}

// Options tune New.
type Options struct {
	// PartSize, when > 0, makes Write also keep the CRC32C of each
	// PartSize-byte part (Parts), as S3's multipart uploads send one per
	// part. Default 0: no parts.
	PartSize int64
	// Removed, if set, is called once after Discard removed the file.
	Removed func()
}

// New returns the File that writes f, a new local file; name is the
// storage name it will be published at, for errors.
func New(name string, f *os.File, opts Options) File {
	return File{name: name, f: f, bw: bufio.NewWriterSize(f, 256<<10), partSize: opts.PartSize, removed: opts.Removed}
}

// Name returns the storage name the file will be published at.
func (s *File) Name() string { return s.name }

// OS returns the local file.
func (s *File) OS() *os.File { return s.f }

// Flush writes the buffered bytes to the local file.
func (s *File) Flush() error { return s.bw.Flush() }

// Write implements io.Writer.
func (s *File) Write(p []byte) (int, error) {
	if s.done {
		return 0, fmt.Errorf("write %s: writer already committed or aborted", s.name)
	}
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.bw.Write(p)
	s.sum(p[:n])
	if err != nil {
		s.err = fmt.Errorf("write %s: %w", s.name, err)
		return n, s.err
	}
	return n, nil
}

// sum adds p to the size and the checksums.
func (s *File) sum(p []byte) {
	s.crc = crc32.Update(s.crc, castagnoli, p)
	for s.partSize > 0 && len(p) > 0 {
		inPart := s.size % s.partSize
		n := min(int64(len(p)), s.partSize-inPart)
		s.partCRC = crc32.Update(s.partCRC, castagnoli, p[:n])
		s.size += n
		p = p[n:]
		if inPart+n == s.partSize {
			s.partCRCs = append(s.partCRCs, s.partCRC)
			s.partCRC = 0
		}
	}
	s.size += int64(len(p))
}

// Parts returns the CRC32C of each PartSize-byte part of the file, the
// last one possibly shorter. It needs Options.PartSize > 0.
func (s *File) Parts() []uint32 {
	if s.size%s.partSize != 0 {
		return append(s.partCRCs[:len(s.partCRCs):len(s.partCRCs)], s.partCRC)
	}
	return s.partCRCs
}

// Ready reports why the file cannot be committed: the writer is done or a
// write failed.
func (s *File) Ready() error {
	if s.done {
		return fmt.Errorf("commit %s: writer already committed or aborted", s.name)
	}
	return s.err
}

// Written describes the file as written.
func (s *File) Written() snapshot.Written { return snapshot.Written{Size: s.size, CRC32C: s.crc} }

// Discard closes and removes the local file and marks the writer done.
func (s *File) Discard() error {
	s.done = true
	s.f.Close() // may already be closed
	err := os.Remove(s.f.Name())
	if s.removed != nil {
		s.removed()
		s.removed = nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("abort %s: %w", s.name, err)
	}
	return nil
}

// Abort implements snapshot.FileWriter: it removes the local file; it is
// a no-op after Commit or a first Abort.
func (s *File) Abort() error {
	if s.done {
		return nil
	}
	return s.Discard()
}

// Done reports whether the writer was committed or aborted.
func (s *File) Done() bool { return s.done }

// MarkCommitted records that the file was published: the writer is done,
// and Abort does nothing.
func (s *File) MarkCommitted() { s.done = true }
