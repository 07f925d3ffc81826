package snapshot

import "time"

// SetS3UploadHook makes the uploads of s call hook with the file's name
// and the offset of the data before every PUT of a file or of a part, so
// that tests can stop the store in the middle of an upload. Not safe to
// call concurrently with uploads.
func SetS3UploadHook(s *S3Storage, hook func(name string, off int64)) { s.uploadHook = hook }

// SetS3LeaseEnv replaces the local clock, the server's clock (given the
// Date of an answer) and the renewal ticker of the leases of s, and sets a
// hook called after each renewal with its outcome. Call it before
// AcquireLease.
func SetS3LeaseEnv(s *S3Storage, now func() time.Time, serverTime func(date time.Time) time.Time, newTicker func(time.Duration) (<-chan time.Time, func()), renewed func(error)) {
	s.lease = leaseEnv{now: now, serverTime: serverTime, newTicker: newTicker, renewed: renewed}
}

// S3SpoolDir returns the spool directory of s ("" before its first
// Create).
func S3SpoolDir(s *S3Storage) string {
	s.spool.mu.Lock()
	defer s.spool.mu.Unlock()
	return s.spool.path
}

// Internals of S3Storage for unit tests.
var (
	S3Retryable     = retryable
	CompositeCRC32C = compositeCRC32C
	EncodeS3Lease   = func(holder LeaseHolder, token string, seq uint64, ttl time.Duration, written time.Time) []byte {
		return encodeS3Lease(&s3LeaseRecord{Version: s3LeaseVersion, Holder: holder, Token: token, Seq: seq, TTLMillis: ttl.Milliseconds(), Written: written})
	}
	DecodeS3Lease = func(b []byte) (LeaseHolder, error) {
		r, err := decodeS3Lease("lease", b)
		if err != nil {
			return LeaseHolder{}, err
		}
		return r.Holder, nil
	}
)
