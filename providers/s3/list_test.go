package s3_test

import (
	"bytes"
	"slices"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/stated-io/stated/internal/s3server"
	"github.com/stated-io/stated/snapshot"
)

// TestS3StorageListSkipsEmptyPrefixes: prefixes that hold no file (only
// directory markers, as other tools write and as SeaweedFS shows a
// deleted chk-N/ for minutes) are not listed as directories, so they
// never look like incomplete checkpoints; markers beside files change
// nothing.
func TestS3StorageListSkipsEmptyPrefixes(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		s := newS3(t, srv, s3Options(t, srv))
		ctx := t.Context()
		md := &snapshot.Metadata{JobID: "job", CheckpointID: 1, Kind: snapshot.KindCheckpoint, Completed: time.Now()}
		if err := snapshot.CommitMetadata(ctx, s, snapshot.CheckpointDir("job", 1), md); err != nil {
			t.Fatal(err)
		}
		putS3(t, s, "job/shared/x", []byte("x"), snapshot.CreateOptions{})
		raw := rawClient(t, srv)
		for _, marker := range []string{"job/chk-1/", "job/chk-2/", "job/chk-3/sub/", "job/shared/deep/"} {
			if _, err := raw.PutObject(ctx, srv.Bucket, s.Prefix()+"/"+marker, bytes.NewReader(nil), 0, miniogo.PutObjectOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		for dir, want := range map[string][]string{
			"job":           {"chk-1/", "shared/"},
			"job/chk-1":     {"_metadata"},
			"job/chk-2":     nil,
			"job/shared":    {"x"},
			"":              {"job/"},
			"job/chk-3/sub": nil,
		} {
			got, err := s.List(ctx, dir)
			if err != nil || !slices.Equal(got, want) {
				t.Errorf("List(%q) = %q, %v; want %q", dir, got, err, want)
			}
			infos, err := s.ListInfo(ctx, dir)
			if err != nil || len(infos) != len(want) {
				t.Errorf("ListInfo(%q) = %+v, %v; want %q", dir, infos, err, want)
			}
		}
		if got, _, err := snapshot.LatestCheckpoint(ctx, s, "job"); err != nil || got != "job/chk-1" {
			t.Errorf("LatestCheckpoint = %q, %v", got, err)
		}
	})
}
