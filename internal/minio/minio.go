// Package minio runs a real MinIO server as a separate process for the
// tests of any package and for the benchmarks. It is package s3server
// with the kind fixed to s3server.MinIO, for callers that need MinIO
// only; tests that should pass on every S3 server run over
// s3server.Kinds instead.
package minio

import (
	"testing"

	"github.com/stated-io/stated/internal/s3server"
)

// Server is a running (or stopped) MinIO server.
type Server = s3server.Server

// Options configures StartServer.
type Options = s3server.Options

// Start runs a MinIO server for the test (see s3server.Start).
func Start(tb testing.TB) *Server {
	tb.Helper()
	return s3server.Start(tb, s3server.MinIO)
}

// StartServer runs a MinIO server outside of tests (see
// s3server.StartServer).
func StartServer(opts Options) (*Server, error) { return s3server.StartServer(s3server.MinIO, opts) }
