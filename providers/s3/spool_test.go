package s3_test

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stated-io/stated/internal/s3server"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
)

// spoolChildEnv makes the test binary run spoolChild instead of the tests:
// its value is the JSON of the child's Options and bucket.
const spoolChildEnv = "STATED_TEST_SPOOL_CHILD"

type spoolChildConfig struct {
	Opts   s3.Options
	Bucket string
}

// spoolChild opens a storage, starts writing a file, says "spooling" on
// stdout and waits to be killed, as a job killed in the middle of a
// checkpoint would be.
func spoolChild() {
	var cfg spoolChildConfig
	if err := json.Unmarshal([]byte(os.Getenv(spoolChildEnv)), &cfg); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	ctx := context.Background()
	s, err := s3.New(ctx, cfg.Bucket, "spool-child", cfg.Opts)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	w, err := s.Create(ctx, "chk-1/f", snapshot.CreateOptions{})
	if err == nil {
		_, err = w.Write([]byte("half a checkpoint"))
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(2)
	}
	fmt.Println("spooling")
	select {}
}

// spoolDirs returns the storage spool directories in dir.
func spoolDirs(t *testing.T, dir string) []string {
	t.Helper()
	m, err := filepath.Glob(filepath.Join(dir, "stated-s3-spool-*"))
	if err != nil {
		t.Fatal(err)
	}
	return m
}

// TestS3StorageSpoolSweep: the spool directory of a process killed while
// it wrote a file is removed by the next storage opened on the same
// SpoolDir, while the spool directory of a live storage, with a file being
// written, is kept and its file commits. Spool files of old versions are
// removed once they are a day old.
func TestS3StorageSpoolSweep(t *testing.T) {
	srv := shared(t, s3server.MinIO)
	opts := s3Options(t, srv)
	spool := opts.SpoolDir

	// A process killed in the middle of writing a file.
	b, err := json.Marshal(spoolChildConfig{Opts: opts, Bucket: srv.Bucket})
	if err != nil {
		t.Fatal(err)
	}
	child := exec.Command(os.Args[0], "-test.run=^$")
	child.Env = append(os.Environ(), spoolChildEnv+"="+string(b))
	child.Stderr = os.Stderr
	out, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	if line, err := bufio.NewReader(out).ReadString('\n'); err != nil || line != "spooling\n" {
		child.Process.Kill()
		child.Wait()
		t.Fatalf("child said %q, %v", line, err)
	}
	dead := spoolDirs(t, spool)
	if len(dead) != 1 {
		t.Fatalf("spool directories of the child: %q", dead)
	}
	if files, _ := filepath.Glob(filepath.Join(dead[0], "*.spool")); len(files) != 1 {
		t.Fatalf("spool files of the child: %q", files)
	}
	child.Process.Kill()
	child.Wait()

	// Spool files of old versions, one of them old.
	oldFile := filepath.Join(spool, "stated-s3-123.spool")
	newFile := filepath.Join(spool, "stated-s3-456.spool")
	for _, f := range []string{oldFile, newFile} {
		if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	dayAgo := time.Now().Add(-25 * time.Hour)
	if err := os.Chtimes(oldFile, dayAgo, dayAgo); err != nil {
		t.Fatal(err)
	}

	// A live storage with a file being written. Opening it sweeps too:
	// the child's directory goes.
	live := newS3(t, srv, opts)
	w, err := live.Create(t.Context(), "chk-1/f", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("live"))
	liveDir := s3.SpoolDir(live)
	if got := spoolDirs(t, spool); len(got) != 1 || got[0] != liveDir {
		t.Fatalf("spool directories after a sweep: %q; want only the live one %s (the dead one was %s)", got, liveDir, dead[0])
	}
	if _, err := os.Stat(oldFile); !os.IsNotExist(err) {
		t.Errorf("the day-old spool file of an old version is still there: %v", err)
	}
	if _, err := os.Stat(newFile); err != nil {
		t.Errorf("a fresh spool file of an old version was removed: %v", err)
	}
	os.Remove(newFile)

	// Another storage's sweep leaves the live directory alone; a storage
	// that has not written makes none.
	other := newS3(t, srv, opts)
	if _, err := other.List(t.Context(), ""); err != nil {
		t.Fatal(err)
	}
	if got := spoolDirs(t, spool); len(got) != 1 || got[0] != liveDir {
		t.Fatalf("spool directories with two live storages, one that wrote: %q; want %s", got, liveDir)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatalf("Commit of the live storage's file after another storage's sweep: %v", err)
	}
	// Closing a storage removes its directory.
	live.Close()
	other.Close()
	if got := spoolDirs(t, spool); len(got) != 0 {
		t.Fatalf("spool directories after both storages closed: %q", got)
	}
}

// TestS3StorageSpoolAfterClose: a writer created before Close keeps its
// spool directory until it is done, and then the directory goes.
func TestS3StorageSpoolAfterClose(t *testing.T) {
	srv := shared(t, s3server.MinIO)
	opts := s3Options(t, srv)
	s := newS3(t, srv, opts)
	w, err := s.Create(t.Context(), "f", snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w.Write([]byte("data"))
	s.Close()
	if got := spoolDirs(t, opts.SpoolDir); len(got) != 1 {
		t.Fatalf("spool directories with a writer in flight after Close: %q", got)
	}
	if _, err := w.Commit(); err != nil {
		t.Fatalf("Commit after Close: %v", err)
	}
	if got := spoolDirs(t, opts.SpoolDir); len(got) != 0 {
		t.Fatalf("spool directories after the last writer: %q", got)
	}
}
