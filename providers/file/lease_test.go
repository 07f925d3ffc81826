//go:build unix

package file_test

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/snapshot/storagetest"
)

func holder(run string) snapshot.LeaseHolder {
	return snapshot.LeaseHolder{Host: "testhost", PID: os.Getpid(), Started: time.UnixMilli(1_700_000_000_000).UTC(), Run: run}
}

// checkHeld asserts that err refuses a lease of name held by want.
func checkHeld(t *testing.T, err error, s *file.Storage, name string, want snapshot.LeaseHolder) {
	t.Helper()
	var he *snapshot.LeaseHeldError
	if !errors.Is(err, snapshot.ErrLeaseHeld) || !errors.As(err, &he) {
		t.Fatalf("second acquire: %v, want a LeaseHeldError", err)
	}
	if path := filepath.Join(s.Root(), filepath.FromSlash(name)); he.Name != path || !he.Expires.IsZero() {
		t.Errorf("refusal names %s (expires %v), want %s and no expiry", he.Name, he.Expires, path)
	}
	if he.Holder != want || !strings.Contains(err.Error(), fmt.Sprintf("pid %d", want.PID)) {
		t.Errorf("refusal %q names holder %+v, want %+v", err, he.Holder, want)
	}
}

func TestFileLease(t *testing.T) {
	s := storagetest.Open(t, file.New)
	ctx := t.Context()
	first, err := s.AcquireLease(ctx, "job/_lease", snapshot.LeaseOptions{Holder: holder("first")})
	if err != nil {
		t.Fatal(err)
	}
	if first.Holder() != holder("first") || first.Err() != nil {
		t.Fatalf("holder %+v, err %v", first.Holder(), first.Err())
	}
	_, err = s.AcquireLease(ctx, "job/_lease", snapshot.LeaseOptions{Holder: holder("second")})
	checkHeld(t, err, s, "job/_lease", holder("first"))

	// Other names are other leases, and listings see no lease.
	other, err := s.AcquireLease(ctx, "job2/_lease", snapshot.LeaseOptions{Holder: holder("other")})
	if err != nil {
		t.Fatal(err)
	}
	defer other.Release(ctx)
	if points, err := snapshot.ListRestorePoints(ctx, s, "job"); err != nil || len(points) != 0 {
		t.Fatalf("restore points of a job with only a lease: %v, %v", points, err)
	}

	if err := first.Release(ctx); err != nil {
		t.Fatal(err)
	}
	if err := first.Release(ctx); err != nil {
		t.Fatalf("second release: %v", err)
	}
	select {
	case <-first.Lost():
		t.Fatal("Release closed Lost")
	default:
	}
	second, err := s.AcquireLease(ctx, "job/_lease", snapshot.LeaseOptions{Holder: holder("second")})
	if err != nil {
		t.Fatalf("acquire after release: %v", err)
	}
	second.Release(ctx)

	if _, err := s.AcquireLease(ctx, "job/_lease", snapshot.LeaseOptions{}); err == nil {
		t.Fatal("acquired a lease without a holder")
	}
	if _, err := s.AcquireLease(ctx, "../_lease", snapshot.LeaseOptions{Holder: holder("x")}); !errors.Is(err, snapshot.ErrInvalidName) {
		t.Fatalf("lease outside the root: %v", err)
	}
}

// TestFileLeaseLostWhenReplaced removes the lock file of a held lease:
// the lease is lost, since a successor would lock a new file.
func TestFileLeaseLostWhenReplaced(t *testing.T) {
	s := storagetest.Open(t, file.New)
	ctx := t.Context()
	l, err := s.AcquireLease(ctx, "job/_lease", snapshot.LeaseOptions{Holder: holder("h"), TTL: 30 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer l.Release(ctx)
	if err := os.Remove(filepath.Join(s.Root(), "job", "_lease")); err != nil {
		t.Fatal(err)
	}
	select {
	case <-l.Lost():
	case <-time.After(20 * time.Second):
		t.Fatal("the lease was not lost 20 s after its lock file was removed")
	}
	if err := l.Err(); !errors.Is(err, snapshot.ErrLeaseLost) || !strings.Contains(err.Error(), "_lease") {
		t.Fatalf("Err %v, want ErrLeaseLost naming the lock file", err)
	}
}

// TestFileLeaseOtherProcess holds a lease in a child process: it is
// refused here naming the child, and free at once after a kill -9.
func TestFileLeaseOtherProcess(t *testing.T) {
	s := storagetest.Open(t, file.New)
	cmd := exec.Command(os.Args[0], "-test.run=^TestFileLeaseHelperProcess$")
	cmd.Env = append(os.Environ(), "STATED_LEASE_HELPER_ROOT="+s.Root())
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cmd.Process.Kill(); cmd.Wait() }()
	line, err := bufio.NewReader(out).ReadString('\n')
	if err != nil || line != "locked\n" {
		t.Fatalf("helper said %q, %v", line, err)
	}
	_, err = s.AcquireLease(t.Context(), "job/_lease", snapshot.LeaseOptions{Holder: holder("parent")})
	want := holder("child")
	want.PID = cmd.Process.Pid
	checkHeld(t, err, s, "job/_lease", want)

	cmd.Process.Kill()
	cmd.Wait()
	l, err := s.AcquireLease(t.Context(), "job/_lease", snapshot.LeaseOptions{Holder: holder("parent")})
	if err != nil {
		t.Fatalf("acquire after the holder was killed: %v", err)
	}
	l.Release(t.Context())
}

// TestFileLeaseHelperProcess is the child of TestFileLeaseOtherProcess.
func TestFileLeaseHelperProcess(t *testing.T) {
	root := os.Getenv("STATED_LEASE_HELPER_ROOT")
	if root == "" {
		t.Skip("helper process of TestFileLeaseOtherProcess")
	}
	s, err := file.New(root)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(t.Context(), "job/_lease", snapshot.LeaseOptions{Holder: holder("child")}); err != nil {
		t.Fatal(err)
	}
	fmt.Println("locked")
	select {} // until killed
}
