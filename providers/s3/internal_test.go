package s3

import (
	"context"
	"errors"
	"hash/crc32"
	"net/url"
	"testing"

	"github.com/minio/minio-go/v7"

	"github.com/stated-io/stated/snapshot"
)

// TestS3Retryable: only answers a later try can change are retried.
func TestS3Retryable(t *testing.T) {
	cancelled, cancel := context.WithCancel(context.Background())
	cancel()
	for _, tt := range []struct {
		name string
		ctx  context.Context
		err  error
		want bool
	}{
		{"connection refused", context.Background(), &url.Error{Op: "Put", URL: "http://x", Err: errors.New("connection refused")}, true},
		{"cancelled", cancelled, &url.Error{Op: "Put", URL: "http://x", Err: context.Canceled}, false},
		{"500", context.Background(), minio.ErrorResponse{StatusCode: 500, Code: "InternalError"}, true},
		{"503 not initialized", context.Background(), minio.ErrorResponse{StatusCode: 503, Code: "XMinioServerNotInitialized"}, true},
		{"503 slow down", context.Background(), minio.ErrorResponse{StatusCode: 503, Code: "SlowDown"}, true},
		{"429", context.Background(), minio.ErrorResponse{StatusCode: 429}, true},
		{"409 conditional conflict", context.Background(), minio.ErrorResponse{StatusCode: 409, Code: "ConditionalRequestConflict"}, true},
		{"400 BadDigest", context.Background(), minio.ErrorResponse{StatusCode: 400, Code: "BadDigest"}, false},
		{"400 checksum mismatch", context.Background(), minio.ErrorResponse{StatusCode: 400, Code: "XAmzContentChecksumMismatch"}, false},
		{"400 InvalidDigest", context.Background(), minio.ErrorResponse{StatusCode: 400, Code: "InvalidDigest"}, false},
		{"501", context.Background(), minio.ErrorResponse{StatusCode: 501, Code: "NotImplemented"}, false},
		{"403", context.Background(), minio.ErrorResponse{StatusCode: 403, Code: "AccessDenied"}, false},
		{"412", context.Background(), minio.ErrorResponse{StatusCode: 412, Code: "PreconditionFailed"}, false},
		{"404 bucket", context.Background(), minio.ErrorResponse{StatusCode: 404, Code: "NoSuchBucket"}, false},
		{"400", context.Background(), minio.ErrorResponse{StatusCode: 400, Code: "InvalidRequest"}, false},
		{"a part stored with another CRC32C", context.Background(), corrupt("b/k", 0, "the server stored part 1 with CRC32C x", nil), false},
	} {
		if got := retryable(tt.ctx, tt.err); got != tt.want {
			t.Errorf("%s: retryable = %v; want %v", tt.name, got, tt.want)
		}
	}
}

// TestS3ErrorConditionalConflict: AWS's 409 ConditionalRequestConflict
// is a lost race, ErrExist, like 412; other answers are not.
func TestS3ErrorConditionalConflict(t *testing.T) {
	s := &Storage{bucket: "b", prefix: "p"}
	ctx := context.Background()
	for _, tt := range []struct {
		err   error
		exist bool
	}{
		{minio.ErrorResponse{StatusCode: 409, Code: "ConditionalRequestConflict"}, true},
		{minio.ErrorResponse{StatusCode: 412, Code: "PreconditionFailed"}, true},
		{minio.ErrorResponse{StatusCode: 409, Code: "BucketNotEmpty"}, false},
		{minio.ErrorResponse{StatusCode: 403, Code: "AccessDenied"}, false},
	} {
		err := s.s3Error(ctx, "put", "p/k", tt.err)
		if errors.Is(err, snapshot.ErrExist) != tt.exist {
			t.Errorf("%v: %v; ErrExist %v, want %v", tt.err, err, errors.Is(err, snapshot.ErrExist), tt.exist)
		}
	}
}

// TestCompositeCRC32C: the composite checksum of a two-part upload as
// MinIO and versitygw report it for these bytes.
func TestCompositeCRC32C(t *testing.T) {
	part := make([]byte, 0, 5<<20)
	for len(part) < 5<<20 {
		part = append(part, "abcdefgh"...)
	}
	got := compositeCRC32C([]uint32{crc32.Checksum(part, castagnoli), crc32.Checksum([]byte("tail"), castagnoli)})
	if got != "DN+hXQ==-2" {
		t.Fatalf("composite CRC32C = %s; want DN+hXQ==-2", got)
	}
}
