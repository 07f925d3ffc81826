package s3_test

import (
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/stated-io/stated/internal/s3server"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
)

// TestS3StorageRefusesIgnoredConditionalWrites: versitygw's posix backend
// with --nometa ignores If-None-Match, so a second _metadata commit would
// replace the first. Opening a storage on it fails, naming the header,
// the server option and the key that opts out; with the opt-out it opens,
// but a lease, which needs If-Match too, is still refused.
func TestS3StorageRefusesIgnoredConditionalWrites(t *testing.T) {
	srv := s3server.Start(t, s3server.VersityGWNoMeta)
	opts := s3Options(t, srv)
	_, err := s3.New(t.Context(), srv.Bucket, "ckpt", opts)
	if !errors.Is(err, snapshot.ErrUnsupported) {
		t.Fatalf("New on a server that ignores If-None-Match: %v; want ErrUnsupported", err)
	}
	for _, want := range []string{"If-None-Match", "--nometa", "s3.conditional-writes=unchecked", srv.Endpoint} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("refusal %q does not mention %q", err, want)
		}
	}
	t.Logf("refused: %v", err)

	opts.ConditionalWrites = s3.ConditionalWritesUnchecked
	s, err := s3.New(t.Context(), srv.Bucket, "ckpt", opts)
	if err != nil {
		t.Fatalf("New with s3.conditional-writes=unchecked: %v", err)
	}
	defer s.Close()
	_, err = s.AcquireLease(t.Context(), "job/_lease", snapshot.LeaseOptions{Holder: testHolder("a")})
	if !errors.Is(err, snapshot.ErrUnsupported) || !strings.Contains(err.Error(), "If-Match") {
		t.Fatalf("AcquireLease on a server that ignores If-Match: %v; want ErrUnsupported naming If-Match", err)
	}
	t.Logf("lease refused: %v", err)
	for obj := range rawClient(t, srv).ListObjects(t.Context(), srv.Bucket, miniogo.ListObjectsOptions{Recursive: true}) {
		t.Errorf("the probes left %q (%v)", obj.Key, obj.Err)
	}
}

// TestS3StorageProbeLeavesNothing: the probe at open deletes its object.
func TestS3StorageProbeLeavesNothing(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		s := newS3(t, srv, s3Options(t, srv))
		for obj := range rawClient(t, srv).ListObjects(t.Context(), srv.Bucket, miniogo.ListObjectsOptions{Prefix: s.Prefix() + "/", Recursive: true}) {
			t.Errorf("the probe left %q (%v)", obj.Key, obj.Err)
		}
	})
}

// TestS3StorageReadOnly: credentials that may read but not write (here:
// anonymous requests on a bucket whose policy allows reads) open a
// storage, which lists and reads; the probe, refused there, is left to
// the first conditional commit, which fails with the refusal, as every
// write does, without being retried.
func TestS3StorageReadOnly(t *testing.T) {
	srv := shared(t, s3server.MinIO)
	t.Setenv("AWS_ACCESS_KEY_ID", "")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	ctx := t.Context()
	bucket := fmt.Sprintf("read-only-%x", prefixSeq.Add(1))
	if err := srv.CreateBucket(ctx, bucket); err != nil {
		t.Fatal(err)
	}
	policy := fmt.Sprintf(`{"Version":"2012-10-17","Statement":[{"Effect":"Allow","Principal":{"AWS":["*"]},"Action":["s3:GetBucketLocation","s3:ListBucket","s3:GetObject"],"Resource":["arn:aws:s3:::%[1]s","arn:aws:s3:::%[1]s/*"]}]}`, bucket)
	if err := rawClient(t, srv).SetBucketPolicy(ctx, bucket, policy); err != nil {
		t.Fatal(err)
	}
	writer, err := s3.New(ctx, bucket, "ckpt", s3Options(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	defer writer.Close()
	if err := putS3(t, writer, "job/f", []byte("readable"), snapshot.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	opts := s3Options(t, srv)
	opts.AccessKey, opts.SecretKey = "", ""
	logs := &lockedBuffer{}
	opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	s, err := s3.New(ctx, bucket, "ckpt", opts)
	if err != nil {
		t.Fatalf("New with read-only access: %v", err)
	}
	defer s.Close()
	if got, err := s.List(ctx, "job"); err != nil || len(got) != 1 || got[0] != "f" {
		t.Fatalf("List with read-only access = %q, %v", got, err)
	}
	if err := putS3(t, s, "job/chk-1/_metadata", []byte("x"), snapshot.CreateOptions{NoOverwrite: true}); err == nil || !strings.Contains(err.Error(), "Access Denied") {
		t.Errorf("conditional Commit with read-only access: %v; want Access Denied", err)
	}
	if err := putS3(t, s, "job/g", []byte("x"), snapshot.CreateOptions{}); err == nil || !strings.Contains(err.Error(), "Access Denied") {
		t.Errorf("Commit with read-only access: %v; want Access Denied", err)
	}
	if strings.Contains(logs.String(), "uploading again") {
		t.Errorf("a refused upload was started again:\n%s", logs)
	}
}
