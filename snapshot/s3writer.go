package snapshot

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/minio/minio-go/v7"
)

// Create implements Storage. The file is spooled to a temporary file in
// S3Options.SpoolDir until Commit uploads it; ctx also bounds that upload,
// so cancelling it makes Commit fail. Spool files are removed by Commit and
// Abort; a crash leaves them behind in SpoolDir as "stated-s3-*.spool".
func (s *S3Storage) Create(ctx context.Context, name string, opts CreateOptions) (FileWriter, error) {
	clean, key, err := s.resolve(ctx, "create", name)
	if err != nil {
		return nil, err
	}
	f, err := os.CreateTemp(s.opts.SpoolDir, "stated-s3-*.spool")
	if err != nil {
		return nil, fmt.Errorf("s3 create %s: spool: %w", s.where(key), err)
	}
	return &s3Writer{stagedFile: newStagedFile(clean, f), s: s, ctx: ctx, key: key, noOverwrite: opts.NoOverwrite}, nil
}

// s3Writer is the FileWriter of S3Storage.
type s3Writer struct {
	stagedFile  // the spool file
	s           *S3Storage
	ctx         context.Context
	key         string
	noOverwrite bool
}

// Commit uploads the spooled file and removes it, whatever the outcome.
// A failed Commit leaves the name as it was (a multipart upload cut short
// is aborted, or, if the store is unreachable, left invisible for the
// bucket's lifecycle rules to remove); the writer cannot be committed
// again. A transport failure or a server error is retried from the spool
// file (see S3Options.MaxRetries).
//
// A NoOverwrite file is always sent as one conditional PUT (up to 5 GiB on
// AWS), because the client sends If-None-Match only with the first request
// of a multipart upload, which would leave a window between the check and
// the publish. If the store refuses the PUT because the object exists but
// the object has the size and CRC32C of this file, Commit succeeds: that is
// what a retried PUT whose first try succeeded sees.
func (w *s3Writer) Commit() (Written, error) {
	if err := w.ready(); err != nil {
		if !w.done {
			w.discard()
		}
		return Written{}, err
	}
	defer w.discard()
	if err := w.bw.Flush(); err != nil {
		return Written{}, fmt.Errorf("commit %s: spool: %w", w.name, err)
	}
	if err := w.ctx.Err(); err != nil {
		return Written{}, fmt.Errorf("s3 put %s: %w", w.s.where(w.key), err)
	}
	start := time.Now()
	attempts := min(w.s.opts.MaxRetries, maxUploadAttempts)
	var err error
	for attempt := 1; ; attempt++ {
		if err = w.upload(); err == nil || attempt >= attempts || !retryableUpload(w.ctx, err) {
			break
		}
		w.s.log.Warn("s3 put failed; uploading again", "bucket", w.s.bucket, "key", w.key, "attempt", attempt, "err", err)
		select {
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		case <-w.ctx.Done():
		}
	}
	if err != nil {
		err = w.s.s3Error(w.ctx, "put", w.key, err)
		if !errors.Is(err, ErrExist) || !w.s.holds(w.ctx, w.key, w.size, w.crc) {
			return Written{}, err
		}
	}
	w.s.log.Debug("s3 put", "bucket", w.s.bucket, "key", w.key, "size", w.size, "duration", time.Since(start))
	return w.written(), nil
}

// maxUploadAttempts bounds the uploads of one Commit.
const maxUploadAttempts = 3

// upload sends the spool file once.
func (w *s3Writer) upload() error {
	var body io.Reader = io.NewSectionReader(w.f, 0, w.size)
	if hook := w.s.readHook; hook != nil {
		body = hookedReader{io.NewSectionReader(w.f, 0, w.size), func(off int64) { hook(w.name, off) }}
	}
	popts := minio.PutObjectOptions{
		ContentType: "application/octet-stream",
		PartSize:    uint64(w.s.opts.PartSize),
		NumThreads:  uint(w.s.opts.Concurrency),
		Checksum:    minio.ChecksumCRC32C,
	}
	if w.noOverwrite {
		popts.SetMatchETagExcept("*")
		popts.DisableMultipart = true
	}
	_, err := w.s.client.PutObject(w.ctx, w.s.bucket, w.key, body, w.size, popts)
	return err
}

// retryableUpload reports whether a failed upload is worth starting again.
// The client retries a request only if it can rewind its body, which it
// cannot for checksummed parts, and a rewound checksummed PUT carries a
// wrong checksum: so a transport failure, a server error or a checksum
// refusal after a partial send is retried here, from the spool file.
func retryableUpload(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.StatusCode == 0 && resp.Code == "":
		return true // not an answer of the store: the connection failed
	case resp.StatusCode >= 500:
		return true
	case resp.Code == "BadDigest" || resp.Code == "XAmzContentChecksumMismatch" || resp.Code == "InvalidDigest":
		return true
	}
	return false
}

// holds reports whether the object at key has the given size and CRC32C
// (as recorded by a CRC32C-checksummed single PUT).
func (s *S3Storage) holds(ctx context.Context, key string, size int64, crc uint32) bool {
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil || info.Size != size {
		return false
	}
	var want [4]byte
	binary.BigEndian.PutUint32(want[:], crc)
	return info.ChecksumCRC32C == base64.StdEncoding.EncodeToString(want[:])
}

// hookedReader calls hook before each ReadAt (tests use it to stop the
// store in the middle of an upload).
type hookedReader struct {
	*io.SectionReader
	hook func(off int64)
}

func (r hookedReader) ReadAt(p []byte, off int64) (int, error) {
	r.hook(off)
	return r.SectionReader.ReadAt(p, off)
}
