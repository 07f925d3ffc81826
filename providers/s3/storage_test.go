package s3_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"

	"github.com/stated-io/stated/internal/s3server"
	"github.com/stated-io/stated/providers"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/snapshot/storagetest"
)

// sharedS3 holds one server of each kind for the tests that do not stop
// theirs; each test works under a fresh prefix of its bucket. TestMain
// closes them.
var sharedS3 struct {
	sync.Mutex
	servers map[*s3server.Kind]*s3server.Server
}

func TestMain(m *testing.M) {
	if os.Getenv(spoolChildEnv) != "" {
		spoolChild()
		return
	}
	code := m.Run()
	sharedS3.Lock()
	for _, srv := range sharedS3.servers {
		srv.Close()
	}
	sharedS3.Unlock()
	os.Exit(code)
}

// shared returns the shared server of kind k, starting it on first use.
func shared(t *testing.T, k *s3server.Kind) *s3server.Server {
	t.Helper()
	sharedS3.Lock()
	defer sharedS3.Unlock()
	if srv := sharedS3.servers[k]; srv != nil {
		return srv
	}
	srv, err := s3server.StartServer(k, s3server.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if sharedS3.servers == nil {
		sharedS3.servers = make(map[*s3server.Kind]*s3server.Server)
	}
	sharedS3.servers[k] = srv
	return srv
}

// eachS3 runs fn as a subtest on the shared server of every kind.
func eachS3(t *testing.T, fn func(t *testing.T, srv *s3server.Server)) {
	for _, k := range s3server.Kinds {
		t.Run(k.Name, func(t *testing.T) { fn(t, shared(t, k)) })
	}
}

// eachS3Own runs fn as a subtest on a server of every kind of its own,
// which fn may stop and restart.
func eachS3Own(t *testing.T, fn func(t *testing.T, srv *s3server.Server)) {
	for _, k := range s3server.Kinds {
		t.Run(k.Name, func(t *testing.T) { fn(t, s3server.Start(t, k)) })
	}
}

// s3Options returns the options of a storage on srv with the smallest
// part size, so that multipart uploads stay small, and a spool directory
// that must be empty when the test ends (spool files removed, spool
// directories of closed storages too).
func s3Options(t *testing.T, srv *s3server.Server) s3.Options {
	spool := t.TempDir()
	t.Cleanup(func() {
		var left []string
		filepath.WalkDir(spool, func(p string, d fs.DirEntry, err error) error {
			if p != spool {
				left = append(left, strings.TrimPrefix(p, spool))
			}
			return nil
		})
		if len(left) != 0 {
			t.Errorf("spool directory not empty at the end: %q", left)
		}
	})
	return s3.Options{
		Endpoint:    srv.Endpoint,
		AccessKey:   srv.AccessKey,
		SecretKey:   srv.SecretKey,
		Region:      "us-east-1",
		PathStyle:   true,
		PartSize:    s3.MinPartSize,
		Concurrency: 3,
		MaxRetries:  3,
		SpoolDir:    spool,
	}
}

var prefixSeq atomic.Int64

// newPrefix returns a fresh key prefix.
func newPrefix() string { return fmt.Sprintf("t%d-%x/ckpt", prefixSeq.Add(1), rand.Uint32()) }

// newS3 opens a storage on a fresh prefix of srv's bucket.
func newS3(t *testing.T, srv *s3server.Server, opts s3.Options) *s3.Storage {
	t.Helper()
	s, err := s3.New(t.Context(), srv.Bucket, newPrefix(), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// rawClient returns a client of srv that reaches behind a storage's back.
func rawClient(t *testing.T, srv *s3server.Server) *miniogo.Client {
	t.Helper()
	c, err := srv.Client()
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func putS3(t *testing.T, s snapshot.Storage, name string, data []byte, opts snapshot.CreateOptions) error {
	t.Helper()
	w, err := s.Create(t.Context(), name, opts)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Write(data); err != nil {
		t.Fatal(err)
	}
	_, err = w.Commit()
	return err
}

func randomBytes(n int) []byte {
	b := make([]byte, n)
	r := rand.New(rand.NewPCG(uint64(n), 7))
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestS3StorageAcceptance runs the storage acceptance suite on every
// server, in every checksum mode it takes over plain http (versitygw
// refuses trailers there: see TestS3StorageChecksumRefused), with a large
// file of three parts.
func TestS3StorageAcceptance(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		for _, mode := range []s3.Checksum{s3.ChecksumHeader, s3.ChecksumTrailer, s3.ChecksumNone} {
			if mode == s3.ChecksumTrailer && srv.Kind != s3server.MinIO {
				continue
			}
			t.Run(mode.String(), func(t *testing.T) {
				storagetest.Run(t, func(t *testing.T) snapshot.Storage {
					opts := s3Options(t, srv)
					opts.Checksum = mode
					return newS3(t, srv, opts)
				}, storagetest.Options{LargeSize: 2*s3.MinPartSize + 17})
			})
		}
	})
}

// TestS3StoragePrefixes: storages on different prefixes of one bucket,
// and on the bucket root, do not see each other's files.
func TestS3StoragePrefixes(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		ctx := t.Context()
		opts := s3Options(t, srv)
		bucket := fmt.Sprintf("prefixes-%x", rand.Uint32())
		if err := srv.CreateBucket(ctx, bucket); err != nil {
			t.Fatal(err)
		}
		open := func(prefix string) *s3.Storage {
			s, err := s3.New(ctx, bucket, prefix, opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { s.Close() })
			return s
		}
		root, p, p2 := open(""), open("/p/"), open("p2")
		if p.Prefix() != "p" || p.String() != "s3://"+bucket+"/p" || root.String() != "s3://"+bucket {
			t.Errorf("prefix %q, %s, %s", p.Prefix(), p, root)
		}
		putS3(t, p, "f", []byte("in p"), snapshot.CreateOptions{})
		putS3(t, p2, "f", []byte("in p2"), snapshot.CreateOptions{})
		putS3(t, root, "top", []byte("top"), snapshot.CreateOptions{})
		if got, err := p.List(ctx, ""); err != nil || len(got) != 1 || got[0] != "f" {
			t.Errorf("p lists %q, %v", got, err)
		}
		if got, err := root.List(ctx, ""); err != nil || strings.Join(got, ",") != "p/,p2/,top" {
			t.Errorf("root lists %q, %v", got, err)
		}
		rc, err := root.Open(ctx, "p2/f")
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(rc)
		rc.Close()
		if string(b) != "in p2" {
			t.Errorf("root reads p2/f as %q", b)
		}
		if _, err := p.Size(ctx, "top"); !errors.Is(err, snapshot.ErrNotExist) {
			t.Errorf("p sees the root's file: %v", err)
		}
		if _, err := s3.New(ctx, bucket, "a/../..", opts); !errors.Is(err, snapshot.ErrInvalidName) {
			t.Errorf("escaping prefix: %v", err)
		}
	})
}

// TestS3StorageCheckpoint commits and finds a checkpoint through the
// package's own helpers.
func TestS3StorageCheckpoint(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		s := newS3(t, srv, s3Options(t, srv))
		ctx := t.Context()
		dir := snapshot.CheckpointDir("job", 7)
		md := &snapshot.Metadata{JobID: "job", CheckpointID: 7, Kind: snapshot.KindCheckpoint, Completed: time.Now()}
		if err := snapshot.CommitMetadata(ctx, s, dir, md); err != nil {
			t.Fatal(err)
		}
		md2 := *md
		md2.Completed = md.Completed.Add(time.Second)
		if err := snapshot.CommitMetadata(ctx, s, dir, &md2); !errors.Is(err, snapshot.ErrExist) {
			t.Fatalf("second commit: %v; want ErrExist", err)
		}
		got, gotMD, err := snapshot.LatestCheckpoint(ctx, s, "job")
		if err != nil || got != dir || gotMD.CheckpointID != 7 {
			t.Fatalf("LatestCheckpoint = %q, %+v, %v", got, gotMD, err)
		}
	})
}

// TestS3StorageNoOverwrite: a NoOverwrite file larger than a part is
// still one conditional PUT, and a NoOverwrite commit that finds the very
// same bytes (as a retried PUT would) succeeds.
func TestS3StorageNoOverwrite(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		s := newS3(t, srv, s3Options(t, srv))
		big := randomBytes(s3.MinPartSize + 1000)
		if err := putS3(t, s, "big", big, snapshot.CreateOptions{NoOverwrite: true}); err != nil {
			t.Fatal(err)
		}
		other := bytes.Clone(big)
		other[len(other)-1] ^= 1
		if err := putS3(t, s, "big", other, snapshot.CreateOptions{NoOverwrite: true}); !errors.Is(err, snapshot.ErrExist) {
			t.Fatalf("NoOverwrite over a different file: %v; want ErrExist", err)
		}
		if err := putS3(t, s, "big", big, snapshot.CreateOptions{NoOverwrite: true}); err != nil {
			t.Fatalf("NoOverwrite over the same bytes: %v", err)
		}
		rc, err := s.Open(t.Context(), "big")
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, big) {
			t.Fatalf("read back %d bytes, %v", len(got), err)
		}
	})
}

// TestS3StorageCommitCancelled: the context of Create bounds the upload;
// a cancelled one fails Commit, publishes nothing and removes the spool
// file.
func TestS3StorageCommitCancelled(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		s := newS3(t, srv, s3Options(t, srv))
		ctx, cancel := context.WithCancel(t.Context())
		w, err := s.Create(ctx, "f", snapshot.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("data"))
		cancel()
		if _, err := w.Commit(); !errors.Is(err, context.Canceled) {
			t.Fatalf("Commit with a cancelled context: %v", err)
		}
		if _, err := s.Size(t.Context(), "f"); !errors.Is(err, snapshot.ErrNotExist) {
			t.Fatalf("Size: %v; want ErrNotExist", err)
		}
	})
}

// TestS3StorageServerDies: a store that goes away between Create and
// Commit, or in the middle of a multipart upload, fails Commit in bounded
// time with an error naming the endpoint and the file; once the store is
// back nothing is visible and the same name can be uploaded again.
func TestS3StorageServerDies(t *testing.T) {
	eachS3Own(t, func(t *testing.T, srv *s3server.Server) {
		opts := s3Options(t, srv)
		opts.Concurrency = 1 // parts go in order: the kill comes after the first
		opts.MaxRetries = 2
		logs := &lockedBuffer{}
		opts.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
		s := newS3(t, srv, opts)
		ctx := t.Context()
		host := strings.TrimPrefix(srv.Endpoint, "http://")

		wantFailure := func(what string, err error, elapsed time.Duration, name string) {
			t.Helper()
			if err == nil {
				t.Fatalf("%s succeeded with the server down", what)
			}
			if !strings.Contains(err.Error(), host) || !strings.Contains(err.Error(), name) {
				t.Errorf("%s error %q does not name the endpoint %s and the file %s", what, err, host, name)
			}
			if elapsed > 20*time.Second {
				t.Errorf("%s took %v to fail", what, elapsed)
			}
			t.Logf("%s failed after %v: %v", what, elapsed.Round(time.Millisecond), err)
		}
		wantNothing := func(name string) {
			t.Helper()
			if _, err := s.Size(ctx, name); !errors.Is(err, snapshot.ErrNotExist) {
				t.Errorf("Size(%s) after the failed upload: %v; want ErrNotExist", name, err)
			}
			if got, err := s.List(ctx, "job"); err != nil || len(got) != 0 {
				t.Errorf("List(job) after the failed upload = %q, %v", got, err)
			}
		}

		// Between Create and Commit.
		w, err := s.Create(ctx, "job/small", snapshot.CreateOptions{NoOverwrite: true})
		if err != nil {
			t.Fatal(err)
		}
		w.Write([]byte("small"))
		srv.Kill()
		start := time.Now()
		_, err = w.Commit()
		wantFailure("Commit", err, time.Since(start), "job/small")
		start = time.Now()
		_, err = s.Size(ctx, "job/small")
		wantFailure("Size", err, time.Since(start), "job/small")
		srv.Restart()
		wantNothing("job/small")

		// In the middle of a multipart upload: the server dies when the upload
		// starts reading the second part.
		data := randomBytes(4 * s3.MinPartSize)
		var killed sync.Once
		s3.SetUploadHook(s, func(name string, off int64) {
			if name == "job/big" && off >= s3.MinPartSize {
				killed.Do(srv.Kill)
			}
		})
		w, err = s.Create(ctx, "job/big", snapshot.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		w.Write(data)
		start = time.Now()
		_, err = w.Commit()
		wantFailure("multipart Commit", err, time.Since(start), "job/big")
		s3.SetUploadHook(s, nil)
		srv.Restart()
		wantNothing("job/big")

		// The same names upload fine afterwards.
		if err := putS3(t, s, "job/small", []byte("small"), snapshot.CreateOptions{NoOverwrite: true}); err != nil {
			t.Fatal(err)
		}
		if err := putS3(t, s, "job/big", data, snapshot.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		wantContent := func(name string, want []byte) {
			t.Helper()
			rc, err := s.Open(ctx, name)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, want) {
				t.Fatalf("%s reads back %d bytes, %v; want the %d written", name, len(got), err, len(want))
			}
		}
		wantContent("job/big", data)

		// A server that restarts in the middle of a multipart upload (its
		// connections cut, the next part sent on a dead one): the part is
		// sent again, from the spool file, and Commit succeeds.
		var restarted sync.Once
		s3.SetUploadHook(s, func(name string, off int64) {
			if name == "job/again" && off >= s3.MinPartSize {
				restarted.Do(srv.Restart)
			}
		})
		defer s3.SetUploadHook(s, nil)
		if err := putS3(t, s, "job/again", data, snapshot.CreateOptions{}); err != nil {
			t.Fatalf("Commit across a restart: %v", err)
		}
		wantContent("job/again", data)
		t.Logf("logs:\n%s", logs)
	})
}

// lockedBuffer is a bytes.Buffer safe for concurrent use.
type lockedBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *lockedBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *lockedBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestS3StorageUnreachable: opening a storage on an endpoint where nothing
// listens fails quickly with an error naming the endpoint and the bucket.
func TestS3StorageUnreachable(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close()
	start := time.Now()
	_, err = s3.New(t.Context(), "some-bucket", "p", s3.Options{Endpoint: endpoint, SpoolDir: t.TempDir()})
	elapsed := time.Since(start)
	if err == nil || !strings.Contains(err.Error(), endpoint) || !strings.Contains(err.Error(), "some-bucket") {
		t.Fatalf("New on %s: %v; want an error naming the endpoint and the bucket", endpoint, err)
	}
	if elapsed > 15*time.Second {
		t.Errorf("took %v to fail", elapsed)
	}
	t.Logf("failed after %v: %v", elapsed.Round(time.Millisecond), err)
}

// TestS3StorageMissingBucket: buckets are never created implicitly.
func TestS3StorageMissingBucket(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		_, err := s3.New(t.Context(), "no-such-bucket", "", s3Options(t, srv))
		if err == nil || !strings.Contains(err.Error(), `bucket "no-such-bucket" does not exist`) {
			t.Fatalf("New on a missing bucket: %v", err)
		}
		opts := s3Options(t, srv)
		opts.SecretKey = "wrong-secret"
		if _, err := s3.New(t.Context(), srv.Bucket, "", opts); err == nil {
			t.Fatal("New with a wrong secret key succeeded")
		}
	})
}

// TestOpenStorageS3: s3:// locations open a Storage on the bucket and
// prefix of the URL.
func TestOpenStorageS3(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		opts := s3Options(t, srv)
		s, err := providers.Open(t.Context(), "s3://"+srv.Bucket+"/a/b/", providers.Options{S3: opts})
		if err != nil {
			t.Fatal(err)
		}
		defer s.Close()
		s3, ok := s.(*s3.Storage)
		if !ok || s3.Bucket() != srv.Bucket || s3.Prefix() != "a/b" {
			t.Fatalf("OpenStorage = %#v", s)
		}
		_, err = providers.Open(t.Context(), "s3://"+srv.Bucket+"/a", providers.Options{})
		if err == nil || !strings.Contains(err.Error(), "s3.endpoint") {
			t.Fatalf("OpenStorage without an endpoint: %v; want an error naming s3.endpoint", err)
		}
	})
}

// TestS3OptionsValidate: every problem is reported at once, with the
// configuration key where there is one.
func TestS3OptionsValidate(t *testing.T) {
	o := s3.Options{Endpoint: "ftp://x/y", AccessKey: "only", PartSize: 1, Concurrency: -1, MaxRetries: -1, SpoolDir: "/nonexistent/spool",
		Checksum: s3.ChecksumNone + 1, ConditionalWrites: s3.ConditionalWritesUnchecked + 1}
	o.EnsureDefaults()
	err := o.Validate()
	if err == nil {
		t.Fatal("Validate accepted bad options")
	}
	for _, want := range []string{"s3.endpoint", "s3.secret-key", "PartSize", "Concurrency", "MaxRetries", "SpoolDir", "s3.checksum", "s3.conditional-writes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
	for _, ep := range []string{"http://127.0.0.1:9000", "https://s3.amazonaws.com/", "https://s3.eu-west-1.amazonaws.com:443"} {
		o := s3.Options{Endpoint: ep}
		o.EnsureDefaults()
		if err := o.Validate(); err != nil {
			t.Errorf("endpoint %q: %v", ep, err)
		}
	}
	// A bare host:port was taken to mean https: it is refused, saying
	// what to write.
	for _, ep := range []string{"localhost:9000", "s3.amazonaws.com"} {
		err := s3.CheckEndpoint(ep)
		if err == nil || !strings.Contains(err.Error(), "s3.endpoint") || !strings.Contains(err.Error(), "missing scheme") || !strings.Contains(err.Error(), "http://"+ep) {
			t.Errorf("endpoint %q without a scheme: %v", ep, err)
		}
	}
	var empty s3.Options
	empty.EnsureDefaults()
	if err := empty.Validate(); err == nil || !strings.Contains(err.Error(), "s3.endpoint") {
		t.Errorf("empty options: %v", err)
	}
}

// TestS3StorageMultipart: a file above the part size goes up in parts,
// in parallel; a NoOverwrite one as one conditional PUT.
func TestS3StorageMultipart(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		s := newS3(t, srv, s3Options(t, srv))
		data := randomBytes(2*s3.MinPartSize + 1)
		if err := putS3(t, s, "multi", data, snapshot.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := putS3(t, s, "single", data, snapshot.CreateOptions{NoOverwrite: true}); err != nil {
			t.Fatal(err)
		}
		client := rawClient(t, srv)
		for name, wantParts := range map[string]string{"multi": "-3", "single": ""} {
			info, err := client.StatObject(t.Context(), srv.Bucket, s.Prefix()+"/"+name, miniogo.StatObjectOptions{})
			if err != nil {
				t.Fatal(err)
			}
			_, parts, _ := strings.Cut(info.ETag, "-")
			if parts != strings.TrimPrefix(wantParts, "-") || info.Size != int64(len(data)) {
				t.Errorf("%s: ETag %q, size %d; want %d bytes in parts %q", name, info.ETag, info.Size, len(data), wantParts)
			}
		}
	})
}

// TestS3StorageDeleteAllBatches: DeleteAll deletes more keys than one
// multi-object delete takes.
func TestS3StorageDeleteAllBatches(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		s := newS3(t, srv, s3Options(t, srv))
		ctx := t.Context()
		const n = 1001
		names := make([]string, n)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range names {
			names[i] = fmt.Sprintf("d/%04d", i)
			sem <- struct{}{}
			wg.Go(func() {
				defer func() { <-sem }()
				w, err := s.Create(ctx, names[i], snapshot.CreateOptions{})
				if err != nil {
					t.Error(err)
					return
				}
				if _, err := w.Commit(); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		if got, err := s.List(ctx, "d"); err != nil || len(got) != n {
			t.Fatalf("List lists %d files, %v; want %d", len(got), err, n)
		}
		if err := snapshot.DeleteAll(ctx, s, names); err != nil {
			t.Fatal(err)
		}
		if got, err := s.List(ctx, "d"); err != nil || len(got) != 0 {
			t.Fatalf("List after DeleteAll lists %d files, %v", len(got), err)
		}
	})
}
