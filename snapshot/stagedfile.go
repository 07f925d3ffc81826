package snapshot

import (
	"bufio"
	"errors"
	"fmt"
	"hash/crc32"
	"io/fs"
	"os"
)

// stagedFile is the local file a FileWriter fills before it publishes it
// (FileStorage's temporary file, S3Storage's spool file): a buffered
// writer that counts the size and the CRC32C of what is written, keeps
// the first write error, and knows whether the writer is done. It
// implements Write and Abort for the writers that embed it.
type stagedFile struct {
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
	// removed, if set, is called once after discard removed the file.
	removed func()
}

func newStagedFile(name string, f *os.File) stagedFile {
	return stagedFile{name: name, f: f, bw: bufio.NewWriterSize(f, 256<<10)}
}

func (s *stagedFile) Write(p []byte) (int, error) {
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
func (s *stagedFile) sum(p []byte) {
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

// parts returns the CRC32C of each partSize-byte part of the file, the
// last one possibly shorter. It needs partSize > 0.
func (s *stagedFile) parts() []uint32 {
	if s.size%s.partSize != 0 {
		return append(s.partCRCs[:len(s.partCRCs):len(s.partCRCs)], s.partCRC)
	}
	return s.partCRCs
}

// ready reports why the file cannot be committed: the writer is done or a
// write failed.
func (s *stagedFile) ready() error {
	if s.done {
		return fmt.Errorf("commit %s: writer already committed or aborted", s.name)
	}
	return s.err
}

// written describes the file as written.
func (s *stagedFile) written() Written { return Written{Size: s.size, CRC32C: s.crc} }

// discard closes and removes the local file and marks the writer done.
func (s *stagedFile) discard() error {
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

// Abort implements FileWriter: it removes the local file; it is a no-op
// after Commit or a first Abort.
func (s *stagedFile) Abort() error {
	if s.done {
		return nil
	}
	return s.discard()
}
