package s3

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"path"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/stated-io/stated/internal/stagedfile"
	"github.com/stated-io/stated/snapshot"
)

// Headers and metadata of the objects Storage writes.
const (
	// checksumHeader carries a CRC32C in ChecksumHeader and
	// ChecksumTrailer modes.
	checksumHeader = "X-Amz-Checksum-Crc32c"
	// metaCRC32C is the user metadata that holds the CRC32C of every object
	// written, in every checksum mode (x-amz-meta-stated-crc32c).
	metaCRC32C = "stated-crc32c"
)

// maxS3Parts is the most parts a multipart upload may have.
const maxS3Parts = 10000

// Create implements snapshot.Storage. The file is spooled to a temporary file in
// the storage's spool directory (see Options.SpoolDir) until Commit
// uploads it; ctx also bounds that upload, so cancelling it makes Commit
// fail. Commit and Abort remove the spool file whatever the outcome; the
// spool directory of a process that died is removed by the next storage
// opened on the same SpoolDir.
func (s *Storage) Create(ctx context.Context, name string, opts snapshot.CreateOptions) (snapshot.FileWriter, error) {
	clean, key, err := s.resolve(ctx, "create", name)
	if err != nil {
		return nil, err
	}
	f, err := s.spool.create()
	if err != nil {
		return nil, fmt.Errorf("s3 create %s: spool: %w", s.where(key), err)
	}
	sf := stagedfile.New(clean, f, stagedfile.Options{PartSize: s.opts.PartSize, Removed: s.spool.release})
	return &s3Writer{File: sf, s: s, ctx: ctx, key: key, noOverwrite: opts.NoOverwrite}, nil
}

// s3Writer is the snapshot.FileWriter of Storage.
type s3Writer struct {
	stagedfile.File // the spool file
	s               *Storage
	ctx             context.Context
	key             string
	noOverwrite     bool
}

// Commit uploads the spooled file and removes it, whatever the outcome.
// A failed Commit leaves the name as it was (a multipart upload cut short
// is aborted, or, if the store is unreachable, left invisible for the
// bucket's lifecycle rules to remove); the writer cannot be committed
// again. An upload that failed with a retryable error (see
// Options.MaxRetries) is started again from the spool file; one that
// cannot succeed on retry fails at once.
//
// A file of at most Options.PartSize bytes goes up in one PUT, a larger
// one in parallel parts. A NoOverwrite file is always sent as one
// conditional PUT (If-None-Match: *; up to 5 GiB on AWS), because a
// multipart upload checks the condition only when it completes, after all
// its parts were sent. If the store refuses it because the object exists
// but the object has the size and CRC32C of this file, Commit succeeds:
// that is what a retried PUT whose first try succeeded sees. AWS's 409
// ConditionalRequestConflict (another conditional write to the name was in
// flight) is retried, and reported as snapshot.ErrExist if it persists.
//
// Then Commit checks what the server stored against what was written:
// the CRC32C the server reports for the object (from the PUT's answer,
// else a HEAD; for a multipart upload, the CRC32C of the parts' CRC32Cs
// with "-<parts>", or that of the whole object) must be the local one, or
// Commit deletes the object and fails with a *snapshot.CorruptError. A server that
// reports no CRC32C although one was sent is logged once per storage as a
// warning, and only the stored size is checked, as in ChecksumNone mode.
func (w *s3Writer) Commit() (snapshot.Written, error) {
	if err := w.Ready(); err != nil {
		if !w.Done() {
			w.Discard()
		}
		return snapshot.Written{}, err
	}
	defer w.Discard()
	if err := w.Flush(); err != nil {
		return snapshot.Written{}, fmt.Errorf("commit %s: spool: %w", w.Name(), err)
	}
	if err := w.ctx.Err(); err != nil {
		return snapshot.Written{}, fmt.Errorf("s3 put %s: %w", w.s.where(w.key), err)
	}
	if w.noOverwrite {
		if err := w.s.requireConditionalWrites(w.ctx, path.Dir(w.Name())); err != nil {
			return snapshot.Written{}, err
		}
	}
	single := w.Written().Size <= w.s.opts.PartSize || w.noOverwrite
	if !single && int64(len(w.Parts())) > maxS3Parts {
		return snapshot.Written{}, fmt.Errorf("s3 put %s: %d bytes need more than %d parts of %d bytes", w.s.where(w.key), w.Written().Size, maxS3Parts, w.s.opts.PartSize)
	}
	start := time.Now()
	attempts := min(w.s.opts.MaxRetries, maxUploadAttempts)
	var reported string
	var err error
	for attempt := 1; ; attempt++ {
		if single {
			reported, err = w.putSingle()
		} else {
			reported, err = w.putMultipart()
		}
		if err == nil || attempt >= attempts || !retryable(w.ctx, err) {
			break
		}
		w.s.log.Warn("s3 put failed; uploading again", "bucket", w.s.bucket, "key", w.key, "attempt", attempt, "err", err)
		select {
		case <-time.After(time.Duration(attempt) * 500 * time.Millisecond):
		case <-w.ctx.Done():
		}
	}
	if err != nil {
		err = w.s.putError(w.ctx, w.key, err)
		if !errors.Is(err, snapshot.ErrExist) || !w.s.holds(w.ctx, w.key, w.Written().Size, w.Written().CRC32C) {
			return snapshot.Written{}, err
		}
		w.s.log.Debug("s3 put found its own bytes already there", "bucket", w.s.bucket, "key", w.key)
		return w.Written(), nil
	}
	if err := w.verify(reported, single); err != nil {
		return snapshot.Written{}, err
	}
	w.s.log.Debug("s3 put", "bucket", w.s.bucket, "key", w.key, "size", w.Written().Size, "duration", time.Since(start))
	return w.Written(), nil
}

// maxUploadAttempts bounds the uploads of one Commit.
const maxUploadAttempts = 3

// putOptions returns the options of a PUT or a multipart upload of an
// object whose bytes have the CRC32C crc.
func (s *Storage) putOptions(crc uint32) minio.PutObjectOptions {
	return minio.PutObjectOptions{
		ContentType:  "application/octet-stream",
		UserMetadata: map[string]string{metaCRC32C: crc32cBase64(crc)},
	}
}

// putSingle sends the spool file in one PUT and returns the CRC32C that
// the server reports.
func (w *s3Writer) putSingle() (string, error) {
	popts := w.s.putOptions(w.Written().CRC32C)
	if w.noOverwrite {
		popts.SetMatchETagExcept("*")
	}
	var body io.Reader = io.NewSectionReader(w.OS(), 0, w.Written().Size)
	switch w.s.opts.Checksum {
	case ChecksumHeader:
		popts.UserMetadata[checksumHeader] = crc32cBase64(w.Written().CRC32C)
	case ChecksumTrailer:
		// The client computes the trailer while it sends; it would go on
		// summing over a rewound body, so it must not retry by itself:
		// hiding Seek makes Commit's loop do it, from a fresh request.
		popts.Checksum = minio.ChecksumCRC32C
		body = struct{ io.Reader }{body}
	}
	w.s.beforeUpload(w.Name(), 0)
	info, err := w.s.core.PutObject(w.ctx, w.s.bucket, w.key, body, w.Written().Size, "", "", popts)
	return info.ChecksumCRC32C, err
}

// putMultipart sends the spool file in a multipart upload of
// Options.PartSize parts, Options.Concurrency at a time, and returns
// the CRC32C that the server reports. An upload that fails is aborted.
func (w *s3Writer) putMultipart() (reported string, err error) {
	core, bucket, key := w.s.core, w.s.bucket, w.key
	popts := w.s.putOptions(w.Written().CRC32C)
	if w.s.opts.Checksum != ChecksumNone {
		popts.UserMetadata["X-Amz-Checksum-Algorithm"] = "CRC32C"
	}
	id, err := core.NewMultipartUpload(w.ctx, bucket, key, popts)
	if err != nil {
		return "", err
	}
	defer func() {
		if err != nil {
			w.s.abortUpload(w.ctx, key, id)
		}
	}()
	crcs := w.Parts()
	done := make([]minio.CompletePart, len(crcs))
	ctx, cancel := context.WithCancel(w.ctx)
	defer cancel()
	var (
		next     atomic.Int64
		wg       sync.WaitGroup
		failOnce sync.Once
		failed   error
	)
	for range min(w.s.opts.Concurrency, len(crcs)) {
		wg.Go(func() {
			for i := int(next.Add(1) - 1); i < len(crcs) && ctx.Err() == nil; i = int(next.Add(1) - 1) {
				part, err := w.putPart(ctx, id, i, crcs[i])
				if err != nil {
					failOnce.Do(func() { failed = err; cancel() })
					return
				}
				done[i] = part
			}
		})
	}
	wg.Wait()
	if failed != nil {
		return "", failed
	}
	if err := w.ctx.Err(); err != nil {
		return "", err
	}
	info, err := core.CompleteMultipartUpload(w.ctx, bucket, key, id, done, minio.PutObjectOptions{})
	return info.ChecksumCRC32C, err
}

// putPart sends part i (0-based) of the spool file, whose CRC32C is crc.
func (w *s3Writer) putPart(ctx context.Context, id string, i int, crc uint32) (minio.CompletePart, error) {
	off := int64(i) * w.s.opts.PartSize
	n := min(w.s.opts.PartSize, w.Written().Size-off)
	sum := crc32cBase64(crc)
	var popts minio.PutObjectPartOptions
	switch w.s.opts.Checksum {
	case ChecksumHeader:
		popts.CustomHeader = http.Header{checksumHeader: {sum}}
	case ChecksumTrailer:
		// Known in advance, so a retried request sends it right too.
		popts.Trailer = http.Header{checksumHeader: {sum}}
	}
	w.s.beforeUpload(w.Name(), off)
	p, err := w.s.core.PutObjectPart(ctx, w.s.bucket, w.key, id, i+1, io.NewSectionReader(w.OS(), off, n), n, popts)
	if err != nil {
		return minio.CompletePart{}, err
	}
	if p.ChecksumCRC32C != "" && p.ChecksumCRC32C != sum {
		return minio.CompletePart{}, corrupt(w.s.where(w.key), off, fmt.Sprintf("the server stored part %d with CRC32C %s, the file written has %s", i+1, p.ChecksumCRC32C, sum), nil)
	}
	part := minio.CompletePart{PartNumber: i + 1, ETag: p.ETag}
	if w.s.opts.Checksum != ChecksumNone {
		part.ChecksumCRC32C = sum
	}
	return part, nil
}

// abortUpload aborts a failed multipart upload, even when ctx was
// cancelled, so that its parts do not linger (a bucket lifecycle rule
// removes them if this fails too).
func (s *Storage) abortUpload(ctx context.Context, key, id string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bucketCheckTimeout)
	defer cancel()
	if err := s.core.AbortMultipartUpload(ctx, s.bucket, key, id); err != nil {
		s.log.Warn("s3 put: cannot abort a failed multipart upload; a lifecycle rule must remove its parts", "bucket", s.bucket, "key", key, "upload", id, "err", err)
	}
}

// verify checks the CRC32C the server reported for the object just
// uploaded (or, if it reported none, the one a HEAD shows) against the
// local one; see Commit. On a mismatch the object is deleted.
func (w *s3Writer) verify(reported string, single bool) error {
	wants := []string{crc32cBase64(w.Written().CRC32C)}
	if !single {
		wants = append(wants, compositeCRC32C(w.Parts()))
	}
	if reported == "" {
		info, err := w.s.client.StatObject(w.ctx, w.s.bucket, w.key, minio.StatObjectOptions{Checksum: w.s.opts.Checksum != ChecksumNone})
		if err != nil {
			return fmt.Errorf("check the upload: %w", w.s.s3Error(w.ctx, "stat", w.key, err))
		}
		if info.Size != w.Written().Size {
			return w.mismatch(fmt.Sprintf("the server stored %d bytes, %d were written", info.Size, w.Written().Size))
		}
		reported = info.ChecksumCRC32C
		if reported == "" {
			if w.s.opts.Checksum != ChecksumNone {
				w.s.noChecksums.Do(func() {
					w.s.log.Warn("s3: the server reports no CRC32C for what it stored although one was sent; only sizes are checked (set s3.checksum=none to say so)",
						"endpoint", w.s.endpoint, "bucket", w.s.bucket, "checksum", w.s.opts.Checksum.String())
				})
			}
			return nil
		}
	}
	for _, want := range wants {
		if reported == want {
			return nil
		}
	}
	return w.mismatch(fmt.Sprintf("the server reports CRC32C %s, the file written has %s", reported, wants[len(wants)-1]))
}

// mismatch deletes the object just uploaded, which is not what was
// written, and returns the *snapshot.CorruptError that says why.
func (w *s3Writer) mismatch(reason string) error {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(w.ctx), bucketCheckTimeout)
	defer cancel()
	err := w.s.client.RemoveObject(ctx, w.s.bucket, w.key, minio.RemoveObjectOptions{})
	if err != nil {
		err = fmt.Errorf("and deleting it failed: %w", err)
	}
	return corrupt(w.s.where(w.key), -1, reason, err)
}

// holds reports whether the object at key has the given size and CRC32C
// (by the metadata of this package's writers, or the server's checksum).
func (s *Storage) holds(ctx context.Context, key string, size int64, crc uint32) bool {
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{Checksum: true})
	if err != nil || info.Size != size {
		return false
	}
	want := crc32cBase64(crc)
	return info.Metadata.Get("X-Amz-Meta-"+metaCRC32C) == want || info.ChecksumCRC32C == want
}

// beforeUpload calls the test hook, if any.
func (s *Storage) beforeUpload(name string, off int64) {
	if hook := s.uploadHook; hook != nil {
		hook(name, off)
	}
}

// crc32cBase64 is the form S3 gives a CRC32C in: the base64 of its four
// big-endian bytes.
func crc32cBase64(crc uint32) string {
	var b [4]byte
	binary.BigEndian.PutUint32(b[:], crc)
	return base64.StdEncoding.EncodeToString(b[:])
}

// compositeCRC32C is the checksum S3 reports for a multipart object
// uploaded with a CRC32C per part (the COMPOSITE checksum type): the
// CRC32C of the parts' big-endian CRC32Cs, "-", the number of parts.
func compositeCRC32C(parts []uint32) string {
	b := make([]byte, 0, 4*len(parts))
	for _, c := range parts {
		b = binary.BigEndian.AppendUint32(b, c)
	}
	return fmt.Sprintf("%s-%d", crc32cBase64(crc32.Checksum(b, castagnoli)), len(parts))
}
