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
	s.crc = crc32.Update(s.crc, castagnoli, p[:n])
	s.size += int64(n)
	if err != nil {
		s.err = fmt.Errorf("write %s: %w", s.name, err)
		return n, s.err
	}
	return n, nil
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
	if err := os.Remove(s.f.Name()); err != nil && !errors.Is(err, fs.ErrNotExist) {
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
