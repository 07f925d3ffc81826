package s3server

import (
	"context"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
)

// serves reports whether the server answers a bucket call for its bucket.
func serves(t *testing.T, s *Server) bool {
	t.Helper()
	c, err := s.client(1)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ok, err := c.BucketExists(ctx, s.Bucket)
	return err == nil && ok
}

// TestServer: a server of every kind starts with a bucket it serves at
// once, goes away on Stop and Kill and comes back with its data on
// Restart, serving at once again.
func TestServer(t *testing.T) {
	for _, k := range append(Kinds, VersityGWNoMeta) {
		t.Run(k.Name, func(t *testing.T) {
			start := time.Now()
			s := Start(t, k)
			t.Logf("started in %v at %s", time.Since(start), s.Endpoint)
			if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") || s.AccessKey == "" || s.SecretKey == "" || s.Bucket == "" || s.Kind != k {
				t.Fatalf("server %+v", s)
			}
			if !serves(t, s) {
				t.Fatal("the bucket is not served right after Start")
			}
			ctx := context.Background()
			if err := s.CreateBucket(ctx, s.Bucket); err == nil {
				t.Error("creating the existing bucket again succeeded")
			}
			s.Stop()
			if serves(t, s) {
				t.Fatal("serving after Stop")
			}
			s.Stop() // no-op
			s.Restart()
			if !serves(t, s) {
				t.Fatal("the bucket is not served right after Restart")
			}
			s.Kill()
			if serves(t, s) {
				t.Fatal("serving after Kill")
			}
			s.Restart()
			if !serves(t, s) {
				t.Fatal("the bucket is not served right after a Restart from a kill")
			}
			if err := s.CreateBucket(ctx, "second"); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestBinaryPathMissing: a missing binary is an error that says how to
// install it, for Start and StartServer alike (never a skip).
func TestBinaryPathMissing(t *testing.T) {
	for _, k := range Kinds {
		t.Run(k.Name, func(t *testing.T) {
			t.Setenv(k.EnvBinary, "/nonexistent/"+k.Name)
			if _, err := k.BinaryPath(); err == nil || !strings.Contains(err.Error(), "make tools") || !strings.Contains(err.Error(), k.EnvBinary) {
				t.Fatalf("BinaryPath with a missing binary: %v", err)
			}
			if s, err := StartServer(k, Options{}); err == nil || !strings.Contains(err.Error(), "make tools") {
				if s != nil {
					s.Close()
				}
				t.Fatalf("StartServer with a missing binary: %v", err)
			}
		})
	}
}

// TestStartServer: a server started outside of a test has a bucket and a
// data directory of its own, which Close removes.
func TestStartServer(t *testing.T) {
	for _, k := range Kinds {
		t.Run(k.Name, func(t *testing.T) {
			s, err := StartServer(k, Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer s.Close()
			if !serves(t, s) {
				t.Fatal("not serving after StartServer")
			}
			dir := s.DataDir()
			if _, err := os.Stat(dir); err != nil {
				t.Fatalf("data directory: %v", err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			if serves(t, s) {
				t.Error("serving after Close")
			}
			if _, err := os.Stat(dir); !os.IsNotExist(err) {
				t.Errorf("data directory %s left after Close: %v", dir, err)
			}
			if err := s.Close(); err != nil {
				t.Errorf("second Close: %v", err)
			}
		})
	}
}

// TestStartingAnswer: the answers of a server still coming up are waited
// out, MinIO's "Server not initialized yet" among them (it answers its
// readiness probe before it serves bucket calls); a refusal is not.
func TestStartingAnswer(t *testing.T) {
	for _, tt := range []struct {
		err  error
		want bool
	}{
		{&url.Error{Op: "Put", URL: "http://127.0.0.1:1/b", Err: syscall.ECONNREFUSED}, true},
		{miniogo.ErrorResponse{StatusCode: 503, Code: "XMinioServerNotInitialized", Message: "Server not initialized yet, please try again."}, true},
		{miniogo.ErrorResponse{StatusCode: 503, Code: "SlowDown"}, true},
		{miniogo.ErrorResponse{StatusCode: 403, Code: "AccessDenied"}, false},
		{miniogo.ErrorResponse{StatusCode: 409, Code: "BucketAlreadyOwnedByYou"}, false},
	} {
		if got := startingAnswer(tt.err); got != tt.want {
			t.Errorf("startingAnswer(%v) = %v; want %v", tt.err, got, tt.want)
		}
	}
}
