package snapshot

import (
	"context"
	"errors"
	"hash/crc32"
	"io"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/minio/minio-go/v7"
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
	s := &S3Storage{bucket: "b", prefix: "p"}
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
		if errors.Is(err, ErrExist) != tt.exist {
			t.Errorf("%v: %v; ErrExist %v, want %v", tt.err, err, errors.Is(err, ErrExist), tt.exist)
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

// TestStagedFileParts: the CRC32C of each part is kept whatever the
// sizes of the writes, and the whole file's too.
func TestStagedFileParts(t *testing.T) {
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, partSize := range []int64{1, 7, 100, 999, 1000, 1001} {
		for _, chunk := range []int{1, 3, 64, 1000} {
			f, err := os.Create(filepath.Join(t.TempDir(), "spool"))
			if err != nil {
				t.Fatal(err)
			}
			sf := newStagedFile("f", f)
			sf.partSize = partSize
			for off := 0; off < len(data); off += chunk {
				sf.Write(data[off:min(off+chunk, len(data))])
			}
			var want []uint32
			for off := int64(0); off < int64(len(data)); off += partSize {
				want = append(want, crc32.Checksum(data[off:min(off+partSize, int64(len(data)))], castagnoli))
			}
			if got := sf.parts(); !slices.Equal(got, want) || sf.size != int64(len(data)) || sf.crc != crc32.Checksum(data, castagnoli) {
				t.Errorf("part size %d, writes of %d: parts %v, size %d; want %v, %d", partSize, chunk, got, sf.size, want, len(data))
			}
			sf.bw.Flush()
			if b, _ := io.ReadAll(io.NewSectionReader(f, 0, 2000)); len(b) != len(data) {
				t.Errorf("spooled %d bytes", len(b))
			}
			sf.discard()
		}
	}
}
