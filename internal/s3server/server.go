// Package s3server runs real S3 servers as separate processes for the tests
// of any package and for the benchmarks: Start launches one (see Kind:
// MinIO, versitygw) on free loopback ports over plain http, with a fresh
// data directory, random credentials and one bucket, and stops it when the
// test ends; StartServer does the same outside of tests and leaves the stop
// to Server.Close. Stop, Kill and Restart let fault tests take the server
// away in the middle of an operation.
//
// A server counts as started only once it serves bucket calls: Start
// creates the bucket, retrying the answers of a server that is still
// coming up (connection refused, 503, MinIO's "Server not initialized yet")
// until it succeeds or 30 s have passed; Restart waits until the bucket is
// served again. No fixed delay is involved.
//
// The server binaries are not part of the module (MinIO is AGPL; both are
// only ever run, never imported): `make tools` installs the pinned
// versions into <repo>/tools/bin, and an environment variable per kind
// (Kind.EnvBinary) overrides the path. Without a binary, or if the server
// does not start, the test fails (it is never skipped) and says how to
// install it; StartServer returns that as its error.
package s3server

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"testing"
	"time"

	miniogo "github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// readyTimeout bounds the wait for a starting server.
const readyTimeout = 30 * time.Second

// Server is a running (or stopped) S3 server. Its methods are safe for
// concurrent use; its fields do not change after Start or StartServer.
type Server struct {
	// Kind is the server implementation.
	Kind *Kind
	// Endpoint is the server's URL, "http://127.0.0.1:<port>".
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey string
	SecretKey string
	// Bucket is an empty bucket created by Start.
	Bucket string

	tb          testing.TB // nil for a server of StartServer
	bin         string
	addrs       []string // the loopback addresses it listens on; addrs[0] is the S3 API
	dataDir     string
	ownsDataDir bool // created by StartServer, removed by Close

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	output *tailBuffer   // the server's recent output, for failures
}

// Options configures StartServer. Zero values take the defaults documented
// on each field.
type Options struct {
	// Binary is the path of the server binary. Default Kind.BinaryPath().
	Binary string
	// DataDir is the directory of the server's data, which must be empty
	// or not exist. Default: a new temporary directory that Close removes.
	DataDir string
}

// Start runs a server of kind k for the test and returns it once it serves
// bucket calls and has a bucket; it is killed at the end of the test.
// Start fails the test, with the reason and the server's output, if the
// binary is missing or the server does not serve within 30 s. It is
// StartServer with a data directory in tb.TempDir().
func Start(tb testing.TB, k *Kind) *Server {
	tb.Helper()
	s, err := StartServer(k, Options{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	s.tb = tb
	tb.Cleanup(func() { s.Close() })
	return s
}

// StartServer runs a server of kind k outside of tests (the benchmarks use
// it) on free loopback ports with random credentials and returns it once
// it serves bucket calls and has an empty bucket (Server.Bucket). The
// caller must Close it. The error says how to install the binary if it is
// missing, and carries the server's output if it does not serve within
// 30 s.
func StartServer(k *Kind, opts Options) (*Server, error) {
	if opts.Binary == "" {
		bin, err := k.BinaryPath()
		if err != nil {
			return nil, fmt.Errorf("%s: %w", k.Name, err)
		}
		opts.Binary = bin
	}
	s := &Server{
		Kind:      k,
		bin:       opts.Binary,
		dataDir:   opts.DataDir,
		AccessKey: "stated" + randomHex(6),
		SecretKey: randomHex(20),
		Bucket:    "stated-test-" + randomHex(4),
	}
	if s.dataDir == "" {
		dir, err := os.MkdirTemp("", "stated-"+k.Name+"-*")
		if err != nil {
			return nil, fmt.Errorf("%s: data directory: %w", k.Name, err)
		}
		s.dataDir, s.ownsDataDir = dir, true
	}
	ok := false
	defer func() {
		if !ok {
			s.Close()
		}
	}()
	// A port picked free can be taken before the server binds it: try a
	// few times.
	var err error
	for range 3 {
		if s.addrs, err = freeAddrs(k.ports); err != nil {
			return nil, fmt.Errorf("%s: %w", k.Name, err)
		}
		s.Endpoint = "http://" + s.addrs[0]
		if err = s.start(false); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("%s: %w", k.Name, err)
	}
	ok = true
	return s, nil
}

// Close kills the server (as Kill does) and removes its data directory if
// StartServer created it. It is idempotent.
func (s *Server) Close() error {
	s.Kill()
	if s.ownsDataDir {
		return os.RemoveAll(s.dataDir)
	}
	return nil
}

// start launches the server on s.addrs and waits until it serves bucket
// calls: until it has created s.Bucket, or, on a restart (restart true),
// until it shows that the bucket exists.
func (s *Server) start(restart bool) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	args, env := s.Kind.command(s)
	cmd := exec.Command(s.bin, args...)
	cmd.Env = append(os.Environ(), env...)
	killWithParent(cmd)
	out := newTailBuffer(64 << 10)
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("start %s: %v", s.bin, err)
	}
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	s.cmd, s.exited, s.output = cmd, exited, out
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	serves := func(ctx context.Context, c *miniogo.Client) error {
		if !restart {
			return c.MakeBucket(ctx, s.Bucket, miniogo.MakeBucketOptions{})
		}
		ok, err := c.BucketExists(ctx, s.Bucket)
		if err == nil && !ok {
			err = fmt.Errorf("bucket %s is gone after the restart", s.Bucket)
		}
		return err
	}
	if err := s.waitServing(ctx, exited, serves); err != nil {
		s.killLocked()
		return fmt.Errorf("server on %s: %v\nserver output:\n%s", s.addrs[0], err, out.String())
	}
	return nil
}

// waitServing calls call until it succeeds, fails with an answer that a
// starting server does not give, the server exits or ctx ends. The
// client does not retry by itself: a failed call is tried again after
// 20 ms.
func (s *Server) waitServing(ctx context.Context, exited <-chan struct{}, call func(context.Context, *miniogo.Client) error) error {
	c, err := s.client(1)
	if err != nil {
		return err
	}
	for {
		err := call(ctx, c)
		if err == nil {
			return nil
		}
		if !startingAnswer(err) {
			return err
		}
		select {
		case <-exited:
			return fmt.Errorf("exited before it served bucket calls (last answer: %v)", err)
		case <-ctx.Done():
			return fmt.Errorf("not serving bucket calls after %v (last answer: %v)", readyTimeout, err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// startingAnswer reports whether err is what a server that is still
// starting answers: no answer at all (connection refused or reset), a
// server error (503 Service Unavailable), or MinIO's "Server not
// initialized yet, please try again".
func startingAnswer(err error) bool {
	resp := miniogo.ToErrorResponse(err)
	return resp.StatusCode == 0 || resp.StatusCode >= 500 || resp.Code == "XMinioServerNotInitialized"
}

// client returns a client of the server with the root credentials that
// tries each request maxRetries times.
func (s *Server) client(maxRetries int) (*miniogo.Client, error) {
	return miniogo.New(s.addrs[0], &miniogo.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		Region:       "us-east-1",
		BucketLookup: miniogo.BucketLookupPath,
		MaxRetries:   maxRetries,
	})
}

// Client returns a minio-go client of the server with the root
// credentials, path-style bucket lookup and the client's default retries,
// for tests that need to reach behind a storage's back.
func (s *Server) Client() (*miniogo.Client, error) { return s.client(0) }

// Stop shuts the server down gracefully (SIGTERM, then SIGKILL after
// 10 s). Its data survives for Restart. Stopping a stopped server does
// nothing.
func (s *Server) Stop() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		s.cmd.Process.Kill()
		<-s.exited
	}
	s.cmd = nil
}

// Kill kills the server at once (SIGKILL), as a crash would. Its data
// survives for Restart. Killing a stopped server does nothing.
func (s *Server) Kill() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.killLocked()
}

func (s *Server) killLocked() {
	if s.cmd == nil {
		return
	}
	s.cmd.Process.Kill()
	<-s.exited
	s.cmd = nil
}

// Restart starts a stopped or killed server again on the same address,
// credentials and data, and waits until it serves the bucket again; it
// fails the test if the server does not come back (a server of
// StartServer panics). A running server is restarted.
func (s *Server) Restart() {
	if s.tb != nil {
		s.tb.Helper()
	}
	s.Kill()
	if err := s.start(true); err != nil {
		if s.tb == nil {
			panic(fmt.Sprintf("%s: restart: %v", s.Kind.Name, err))
		}
		s.tb.Fatalf("%s: restart: %v", s.Kind.Name, err)
	}
}

// CreateBucket creates a bucket on the server.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	c, err := s.client(3)
	if err != nil {
		return err
	}
	return c.MakeBucket(ctx, name, miniogo.MakeBucketOptions{})
}

// Output returns the server's recent output (the last 64 KiB).
func (s *Server) Output() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.output == nil {
		return ""
	}
	return s.output.String()
}

// DataDir returns the server's data directory.
func (s *Server) DataDir() string { return s.dataDir }

// freeAddrs picks n free loopback ports.
func freeAddrs(n int) ([]string, error) {
	addrs := make([]string, n)
	ls := make([]net.Listener, 0, n)
	defer func() {
		for _, l := range ls {
			l.Close()
		}
	}()
	for i := range addrs {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return nil, fmt.Errorf("pick a free port: %v", err)
		}
		ls = append(ls, l)
		addrs[i] = l.Addr().String()
	}
	return addrs, nil
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// tailBuffer keeps the last max bytes written to it. Safe for concurrent
// use.
type tailBuffer struct {
	mu  sync.Mutex
	max int
	buf bytes.Buffer
}

func newTailBuffer(max int) *tailBuffer { return &tailBuffer{max: max} }

func (b *tailBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Write(p)
	if extra := b.buf.Len() - b.max; extra > 0 {
		b.buf.Next(extra)
	}
	return len(p), nil
}

func (b *tailBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// findRepoFile returns <repo>/rel for the repository that holds the
// working directory (found by walking up to go.mod).
func findRepoFile(rel string) (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return filepath.Join(dir, filepath.FromSlash(rel)), nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory to find %s", rel)
		}
		dir = parent
	}
}
