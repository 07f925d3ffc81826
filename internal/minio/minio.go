// Package minio runs a real MinIO server as a separate process for the
// tests of any package: Start launches one on free loopback ports with a
// fresh data directory, random credentials and one bucket, and stops it
// when the test ends; StartServer does the same outside of tests (for the
// benchmarks) and leaves the stop to Server.Close. Stop, Kill and Restart let fault tests take the
// server away in the middle of an operation.
//
// The server binary is not part of the module (MinIO is AGPL and is only
// ever run, never imported): `make tools` installs the pinned version into
// <repo>/tools/bin/minio, and the STATED_MINIO_BIN environment variable
// overrides that path. Without a binary, or if the server does not start,
// the test fails (it is never skipped) and says how to install it;
// StartServer returns that as its error.
package minio

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
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

// EnvBinary names the environment variable that overrides the path of the
// minio server binary.
const EnvBinary = "STATED_MINIO_BIN"

// readyTimeout bounds the wait for a starting server.
const readyTimeout = 30 * time.Second

// Server is a running (or stopped) MinIO server. Its methods are safe for
// concurrent use; its fields do not change after Start or StartServer.
type Server struct {
	// Endpoint is the server's URL, "http://127.0.0.1:<port>".
	Endpoint string
	// AccessKey and SecretKey are the root credentials.
	AccessKey string
	SecretKey string
	// Bucket is an empty bucket created by Start.
	Bucket string

	tb          testing.TB // nil for a server of StartServer
	bin         string
	addr        string
	console     string
	dataDir     string
	ownsDataDir bool // created by StartServer, removed by Close

	mu     sync.Mutex
	cmd    *exec.Cmd
	exited chan struct{} // closed when cmd has exited
	output *tailBuffer   // the server's recent output, for failures
}

// Start runs a MinIO server for the test and returns it once it answers
// its readiness probe and has a bucket; it is killed at the end of the test.
// Start fails the test, with the reason and the server's output, if the
// binary is missing or the server does not start within 30 s. It is
// StartServer with a data directory in tb.TempDir().
func Start(tb testing.TB) *Server {
	tb.Helper()
	s, err := StartServer(Options{DataDir: tb.TempDir()})
	if err != nil {
		tb.Fatal(err)
	}
	s.tb = tb
	tb.Cleanup(func() { s.Close() })
	return s
}

// Options configures StartServer. Zero values take the defaults documented
// on each field.
type Options struct {
	// Binary is the path of the minio server binary. Default BinaryPath().
	Binary string
	// DataDir is the directory of the server's data, which must be empty
	// or not exist. Default: a new temporary directory that Close removes.
	DataDir string
}

// StartServer runs a MinIO server outside of tests (the benchmarks use it)
// on free loopback ports with random credentials and returns it once it
// answers its readiness probe and has an empty bucket (Server.Bucket).
// The caller must Close it. The error says how to install the binary if
// it is missing, and carries the server's output if it does not start
// within 30 s.
func StartServer(opts Options) (*Server, error) {
	if opts.Binary == "" {
		bin, err := BinaryPath()
		if err != nil {
			return nil, fmt.Errorf("minio: %w", err)
		}
		opts.Binary = bin
	}
	s := &Server{
		bin:       opts.Binary,
		dataDir:   opts.DataDir,
		AccessKey: "stated" + randomHex(6),
		SecretKey: randomHex(20),
		Bucket:    "stated-test-" + randomHex(4),
	}
	if s.dataDir == "" {
		dir, err := os.MkdirTemp("", "stated-minio-*")
		if err != nil {
			return nil, fmt.Errorf("minio: data directory: %w", err)
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
		if s.addr, s.console, err = freeAddrs(); err != nil {
			return nil, fmt.Errorf("minio: %w", err)
		}
		s.Endpoint = "http://" + s.addr
		if err = s.start(); err == nil {
			break
		}
	}
	if err != nil {
		return nil, fmt.Errorf("minio: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), readyTimeout)
	defer cancel()
	if err := s.CreateBucket(ctx, s.Bucket); err != nil {
		return nil, fmt.Errorf("minio: create bucket %s: %v\nserver output:\n%s", s.Bucket, err, s.output.String())
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

// BinaryPath returns the path of the minio server binary: $STATED_MINIO_BIN
// if set, else tools/bin/minio in the repository that holds the working
// directory (found by walking up to go.mod). The error says how to install
// the binary.
func BinaryPath() (string, error) {
	const hint = "run `make tools` (or `make test`, which installs it) to install the pinned MinIO server into tools/bin, or set " + EnvBinary
	if p := os.Getenv(EnvBinary); p != "" {
		if _, err := os.Stat(p); err != nil {
			return "", fmt.Errorf("%s=%s: %v; %s", EnvBinary, p, err, hint)
		}
		return p, nil
	}
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			break
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("no go.mod above the working directory to find tools/bin/minio; %s", hint)
		}
		dir = parent
	}
	p := filepath.Join(dir, "tools", "bin", "minio")
	if _, err := os.Stat(p); err != nil {
		return "", fmt.Errorf("server binary %s not found; %s", p, hint)
	}
	return p, nil
}

// start launches the server on s.addr and waits until it is ready.
func (s *Server) start() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cmd != nil {
		return errors.New("already running")
	}
	cmd := exec.Command(s.bin, "server", filepath.Join(s.dataDir, "data"),
		"--address", s.addr, "--console-address", s.console,
		"--certs-dir", filepath.Join(s.dataDir, "certs"), "--quiet")
	cmd.Env = append(os.Environ(),
		"MINIO_ROOT_USER="+s.AccessKey,
		"MINIO_ROOT_PASSWORD="+s.SecretKey,
		"MINIO_BROWSER=off",
		"MINIO_UPDATE=off",
		"MINIO_CI_CD=on", // allow a data directory on the root disk
		"HOME="+s.dataDir,
	)
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
	if err := waitReady(s.Endpoint, exited); err != nil {
		s.killLocked()
		return fmt.Errorf("server on %s: %v\nserver output:\n%s", s.addr, err, out.String())
	}
	return nil
}

func waitReady(endpoint string, exited <-chan struct{}) error {
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(readyTimeout)
	for time.Now().Before(deadline) {
		resp, err := client.Get(endpoint + "/minio/health/ready")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-exited:
			return errors.New("exited before it was ready")
		case <-time.After(50 * time.Millisecond):
		}
	}
	return fmt.Errorf("not ready after %v", readyTimeout)
}

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
// credentials and data, and waits until it is ready; it fails the test if
// the server does not come back (a server of StartServer panics). A
// running server is restarted.
func (s *Server) Restart() {
	if s.tb != nil {
		s.tb.Helper()
	}
	s.Kill()
	if err := s.start(); err != nil {
		if s.tb == nil {
			panic(fmt.Sprintf("minio: restart: %v", err))
		}
		s.tb.Fatalf("minio: restart: %v", err)
	}
}

// CreateBucket creates a bucket on the server.
func (s *Server) CreateBucket(ctx context.Context, name string) error {
	client, err := miniogo.New(s.addr, &miniogo.Options{
		Creds:        credentials.NewStaticV4(s.AccessKey, s.SecretKey, ""),
		BucketLookup: miniogo.BucketLookupPath,
		MaxRetries:   3,
	})
	if err != nil {
		return err
	}
	return client.MakeBucket(ctx, name, miniogo.MakeBucketOptions{})
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

// freeAddrs picks two free loopback ports, for the API and the console.
func freeAddrs() (string, string, error) {
	var addrs [2]string
	var ls [2]net.Listener
	for i := range ls {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", fmt.Errorf("pick a free port: %v", err)
		}
		ls[i] = l
		addrs[i] = l.Addr().String()
	}
	for _, l := range ls {
		l.Close()
	}
	return addrs[0], addrs[1], nil
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
