package s3

import (
	"time"

	"github.com/stated-io/stated/snapshot"
)

// SetS3UploadHook makes the uploads of s call hook with the file's name
// and the offset of the data before every PUT of a file or of a part, so
// that tests can stop the store in the middle of an upload. Not safe to
// call concurrently with uploads.
func SetUploadHook(s *Storage, hook func(name string, off int64)) { s.uploadHook = hook }

// SetS3LeaseEnv replaces the local clock, the server's clock (given the
// Date of an answer) and the renewal ticker of the leases of s, and sets a
// hook called after each renewal with its outcome. Call it before
// AcquireLease.
func SetLeaseEnv(s *Storage, now func() time.Time, serverTime func(date time.Time) time.Time, newTicker func(time.Duration) (<-chan time.Time, func()), renewed func(error)) {
	s.lease = leaseEnv{now: now, serverTime: serverTime, newTicker: newTicker, renewed: renewed}
}

// SpoolDir returns the spool directory of s ("" before its first
// Create).
func SpoolDir(s *Storage) string {
	s.spool.mu.Lock()
	defer s.spool.mu.Unlock()
	return s.spool.path
}

// Internals of Storage for unit tests.
var (
	Retryable       = retryable
	CompositeCRC32C = compositeCRC32C
	EncodeLease     = func(holder snapshot.LeaseHolder, token string, seq uint64, ttl time.Duration, written time.Time) []byte {
		return encodeS3Lease(&s3LeaseRecord{Version: s3LeaseVersion, Holder: holder, Token: token, Seq: seq, TTLMillis: ttl.Milliseconds(), Written: written})
	}
	DecodeLease = func(b []byte) (snapshot.LeaseHolder, error) {
		r, err := decodeS3Lease("lease", b)
		if err != nil {
			return snapshot.LeaseHolder{}, err
		}
		return r.Holder, nil
	}
)
