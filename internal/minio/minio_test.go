package minio

import (
	"context"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"
)

func ready(endpoint string) bool {
	c := &http.Client{Timeout: time.Second}
	resp, err := c.Get(endpoint + "/minio/health/ready")
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// TestServer: a server starts with a bucket, goes away on Stop and Kill
// and comes back with its data on Restart.
func TestServer(t *testing.T) {
	start := time.Now()
	s := Start(t)
	t.Logf("started in %v at %s", time.Since(start), s.Endpoint)
	if !strings.HasPrefix(s.Endpoint, "http://127.0.0.1:") || s.AccessKey == "" || s.SecretKey == "" || s.Bucket == "" {
		t.Fatalf("server %+v", s)
	}
	ctx := context.Background()
	if err := s.CreateBucket(ctx, s.Bucket); err == nil {
		t.Error("creating the existing bucket again succeeded")
	}
	s.Stop()
	if ready(s.Endpoint) {
		t.Fatal("ready after Stop")
	}
	s.Stop() // no-op
	s.Restart()
	if !ready(s.Endpoint) {
		t.Fatal("not ready after Restart")
	}
	if err := s.CreateBucket(ctx, s.Bucket); err == nil {
		t.Error("the bucket did not survive the restart")
	}
	s.Kill()
	if ready(s.Endpoint) {
		t.Fatal("ready after Kill")
	}
	s.Restart()
	if err := s.CreateBucket(ctx, "second"); err != nil {
		t.Fatal(err)
	}
}

func TestBinaryPathMissing(t *testing.T) {
	t.Setenv(EnvBinary, "/nonexistent/minio")
	_, err := BinaryPath()
	if err == nil || !strings.Contains(err.Error(), "make tools") {
		t.Fatalf("BinaryPath with a missing binary: %v", err)
	}
}

// TestStartServer: a server started outside of a test has a bucket and a
// data directory of its own, which Close removes.
func TestStartServer(t *testing.T) {
	s, err := StartServer(Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if !ready(s.Endpoint) {
		t.Fatal("not ready after StartServer")
	}
	if err := s.CreateBucket(context.Background(), s.Bucket); err == nil {
		t.Error("creating the existing bucket again succeeded")
	}
	dir := s.dataDir
	if _, err := os.Stat(dir); err != nil {
		t.Fatalf("data directory: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if ready(s.Endpoint) {
		t.Error("ready after Close")
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("data directory %s left after Close: %v", dir, err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestStartServerMissingBinary(t *testing.T) {
	t.Setenv(EnvBinary, "/nonexistent/minio")
	if s, err := StartServer(Options{}); err == nil || !strings.Contains(err.Error(), "make tools") {
		if s != nil {
			s.Close()
		}
		t.Fatalf("StartServer with a missing binary: %v", err)
	}
}
