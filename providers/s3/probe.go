package s3

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http"
	"path"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/stated-io/stated/snapshot"
)

// probeResult is what a probe found out about the server's conditional
// writes: the error that refuses what the server lacks, nil where it
// honours the header.
type probeResult struct {
	ifNoneMatch error // wraps snapshot.ErrUnsupported: a second If-None-Match: * PUT went through
	ifMatch     error // wraps snapshot.ErrUnsupported: a wrong If-Match went through, or a right one failed
}

// probeAtOpen probes the server in the storage's root. A server that
// ignores If-None-Match is refused; credentials that may not write there
// leave the probe to the first NoOverwrite Commit.
func (s *Storage) probeAtOpen(ctx context.Context) error {
	r, err := s.probe(ctx, "")
	if errors.Is(err, errProbeForbidden) {
		s.log.Debug("s3: may not write the probe object; conditional writes are probed at the first conditional commit", "bucket", s.bucket, "prefix", s.prefix, "err", err)
		return nil
	}
	if err != nil {
		return fmt.Errorf("s3 storage: probe conditional writes at %s: %w", s.endpoint, err)
	}
	return r.ifNoneMatch
}

// requireConditionalWrites returns the refusal of a server that ignores
// If-None-Match, probing it in dir (a storage directory where the caller
// is about to write) if no probe ran to its end yet. It is nil with
// ConditionalWritesUnchecked.
func (s *Storage) requireConditionalWrites(ctx context.Context, dir string) error {
	if s.opts.ConditionalWrites == ConditionalWritesUnchecked {
		return nil
	}
	r, err := s.conditionalSupport(ctx, dir)
	if err != nil {
		return err
	}
	return r.ifNoneMatch
}

// requireLeaseSupport returns the refusal of a server that ignores
// If-None-Match or If-Match, which leases need, probing it in dir if no
// probe ran to its end yet. Leases are only as safe as these headers, so
// the probe runs even with ConditionalWritesUnchecked.
func (s *Storage) requireLeaseSupport(ctx context.Context, dir string) error {
	r, err := s.conditionalSupport(ctx, dir)
	if err != nil {
		return err
	}
	return errors.Join(r.ifNoneMatch, r.ifMatch)
}

// conditionalSupport returns the result of the probe, running it in dir if
// none ran to its end yet. Concurrent callers may probe at once (on objects
// of their own).
func (s *Storage) conditionalSupport(ctx context.Context, dir string) (*probeResult, error) {
	s.probeMu.Lock()
	r := s.probeDone
	s.probeMu.Unlock()
	if r != nil {
		return r, nil
	}
	r, err := s.probe(ctx, dir)
	if err != nil {
		return nil, fmt.Errorf("s3 storage: probe conditional writes at %s: %w", s.endpoint, err)
	}
	return r, nil
}

// errProbeForbidden: the credentials may not write the probe object.
var errProbeForbidden = errors.New("may not write the probe object")

// probe writes a reserved object in dir four times (If-None-Match: *,
// twice; a wrong If-Match; the right one) and deletes it, and records
// what the answers show about the server. The first PUT uses the storage's
// checksum mode, so a mode the server refuses fails here already. An
// error means the probe could not tell (a 403 wraps errProbeForbidden).
func (s *Storage) probe(ctx context.Context, dir string) (*probeResult, error) {
	key := s.key(path.Join(dir, snapshot.TempPrefix+"probe-"+randomHex(8)))
	created, err := s.putBytes(ctx, key, []byte("stated conditional write probe\n"), func(o *minio.PutObjectOptions) { o.SetMatchETagExcept("*") })
	if err != nil {
		if minio.ToErrorResponse(err).StatusCode == http.StatusForbidden {
			return nil, fmt.Errorf("%w: %w", errProbeForbidden, s.putError(ctx, key, err))
		}
		return nil, s.putError(ctx, key, err)
	}
	defer func() {
		ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), bucketCheckTimeout)
		defer cancel()
		if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
			s.log.Warn("s3: cannot delete the probe object", "bucket", s.bucket, "key", key, "err", err)
		}
	}()
	var r probeResult
	_, err = s.putBytes(ctx, key, []byte("stated conditional write probe, again\n"), func(o *minio.PutObjectOptions) { o.SetMatchETagExcept("*") })
	switch e := s.s3Error(ctx, "put", key, err); {
	case errors.Is(e, snapshot.ErrExist):
	case err == nil || errors.Is(e, snapshot.ErrNotExist):
		r.ifNoneMatch = fmt.Errorf("s3 storage: the server at %s ignores If-None-Match: a second PUT of %s with If-None-Match: * went through instead of failing with 412 Precondition Failed, "+
			"so two writers racing for a checkpoint's _metadata could both win: %w; versitygw does this with its posix backend in --nometa mode (run it without --nometa); "+
			"otherwise use a server that honours conditional writes, or set s3.conditional-writes=unchecked if one writer per job is guaranteed by other means",
			s.endpoint, s.where(key), snapshot.ErrUnsupported)
	default:
		return nil, e
	}
	wrong := "0123456789abcdef0123456789abcdef"
	if created.ETag == wrong {
		wrong = "fedcba9876543210fedcba9876543210"
	}
	_, err = s.putBytes(ctx, key, []byte("stated conditional write probe, wrong If-Match\n"), func(o *minio.PutObjectOptions) { o.SetMatchETag(wrong) })
	switch e := s.s3Error(ctx, "put", key, err); {
	case errors.Is(e, snapshot.ErrExist):
		_, err = s.putBytes(ctx, key, []byte("stated conditional write probe, right If-Match\n"), func(o *minio.PutObjectOptions) { o.SetMatchETag(created.ETag) })
		switch e := s.s3Error(ctx, "put", key, err); {
		case err == nil:
		case refusesCondition(err, e):
			r.ifMatch = fmt.Errorf("the server at %s does not honour If-Match: a PUT of %s with the ETag it gave the object was answered %v: %w",
				s.endpoint, s.where(key), err, snapshot.ErrUnsupported)
		default:
			return nil, e
		}
	case err == nil || refusesCondition(err, e):
		answer := "with success"
		if err != nil {
			answer = fmt.Sprintf("%q", err)
		}
		r.ifMatch = fmt.Errorf("the server at %s ignores If-Match: a PUT of %s with a wrong If-Match was answered %s instead of 412 Precondition Failed: %w",
			s.endpoint, s.where(key), answer, snapshot.ErrUnsupported)
	default:
		return nil, e
	}
	s.probeMu.Lock()
	s.probeDone = &r
	s.probeMu.Unlock()
	return &r, nil
}

// refusesCondition reports whether err, a failed conditional PUT (e its
// s3Error), is an answer that a server which does not support the
// condition gives: 404 (versitygw --nometa), another 4xx, or 501.
func refusesCondition(err, e error) bool {
	status := minio.ToErrorResponse(err).StatusCode
	return errors.Is(e, snapshot.ErrNotExist) || (status >= 400 && status < 500) || status == http.StatusNotImplemented
}

// putBytes PUTs data at key in the storage's checksum mode, with the
// conditions set by cond. The client retries it (Options.MaxRetries);
// in ChecksumTrailer mode, whose requests the client cannot retry,
// putBytes does.
func (s *Storage) putBytes(ctx context.Context, key string, data []byte, cond func(*minio.PutObjectOptions)) (minio.UploadInfo, error) {
	crc := crc32.Checksum(data, castagnoli)
	popts := s.putOptions(crc)
	cond(&popts)
	attempts := 1
	switch s.opts.Checksum {
	case ChecksumHeader:
		popts.UserMetadata[checksumHeader] = crc32cBase64(crc)
	case ChecksumTrailer:
		popts.Checksum = minio.ChecksumCRC32C
		attempts = s.opts.MaxRetries
	}
	for attempt := 1; ; attempt++ {
		var body io.Reader = bytes.NewReader(data)
		if s.opts.Checksum == ChecksumTrailer {
			body = struct{ io.Reader }{body} // see s3Writer.putSingle
		}
		info, err := s.core.PutObject(ctx, s.bucket, key, body, int64(len(data)), "", "", popts)
		if err == nil || attempt >= attempts || !retryable(ctx, err) {
			return info, err
		}
		select {
		case <-time.After(time.Duration(attempt) * 200 * time.Millisecond):
		case <-ctx.Done():
			return info, err
		}
	}
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}
