package s3_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stated-io/stated/internal/golden"
	"github.com/stated-io/stated/internal/s3server"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
)

func testHolder(run string) snapshot.LeaseHolder {
	return snapshot.LeaseHolder{Host: "host-" + run, PID: 4000 + len(run), Started: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC), Run: run}
}

// leaseClock is the clocks and the renewal ticker of the leases of one
// storage in a test: its local clock runs ahead of the wall clock by what
// advance and skew added, the server's clock as it sees it by what
// advance added; renewals run when tick says, which waits for their
// outcome.
type leaseClock struct {
	t       *testing.T
	local   atomic.Int64 // ns ahead of the wall clock
	server  atomic.Int64 // ns ahead of the server's Date
	ticks   chan time.Time
	renewed chan error
}

func (c *leaseClock) now() time.Time { return time.Now().Add(time.Duration(c.local.Load())) }

func (c *leaseClock) serverTime(date time.Time) time.Time {
	return date.Add(time.Duration(c.server.Load()))
}

// advance moves the clocks d ahead, as if d had passed.
func (c *leaseClock) advance(d time.Duration) {
	c.local.Add(int64(d))
	c.server.Add(int64(d))
}

// skew moves the local clock d ahead of the server's.
func (c *leaseClock) skew(d time.Duration) { c.local.Add(int64(d)) }

// tick runs one renewal of the storage's lease and returns its outcome.
func (c *leaseClock) tick() error {
	c.t.Helper()
	select {
	case c.ticks <- c.now():
	case <-time.After(30 * time.Second):
		c.t.Fatal("no renewal loop took the tick")
	}
	select {
	case err := <-c.renewed:
		return err
	case <-time.After(30 * time.Second):
		c.t.Fatal("the renewal did not end")
	}
	return nil
}

// leaseStorage opens a storage on prefix of srv whose leases run on a
// leaseClock.
func leaseStorage(t *testing.T, srv *s3server.Server, prefix string) (*s3.Storage, *leaseClock) {
	t.Helper()
	s, err := s3.New(t.Context(), srv.Bucket, prefix, s3Options(t, srv))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	c := &leaseClock{t: t, ticks: make(chan time.Time), renewed: make(chan error, 1)}
	s3.SetLeaseEnv(s, c.now, c.serverTime, func(time.Duration) (<-chan time.Time, func()) { return c.ticks, func() {} }, func(err error) { c.renewed <- err })
	return s, c
}

// leaseRace is two instances of a job on one prefix: a, which holds the
// lease, and b.
type leaseRace struct {
	prefix string
	a, b   *s3.Storage
	ca, cb *leaseClock
	la     snapshot.Lease
}

// startLeaseRace opens two storages on a fresh prefix of srv; a acquires
// the lease.
func startLeaseRace(t *testing.T, srv *s3server.Server) *leaseRace {
	t.Helper()
	r := &leaseRace{prefix: newPrefix()}
	r.a, r.ca = leaseStorage(t, srv, r.prefix)
	r.b, r.cb = leaseStorage(t, srv, r.prefix)
	var err error
	if r.la, err = acquire(t, r.a, "a"); err != nil {
		t.Fatal(err)
	}
	return r
}

func acquire(t *testing.T, s *s3.Storage, run string) (snapshot.Lease, error) {
	t.Helper()
	l, err := s.AcquireLease(t.Context(), "job/_lease", snapshot.LeaseOptions{Holder: testHolder(run), TTL: 30 * time.Second})
	if err == nil {
		t.Cleanup(func() { l.Release(t.Context()) })
	}
	return l, err
}

// wantHeld fails unless err refuses the lease because holder has it.
func wantHeld(t *testing.T, err error, holder snapshot.LeaseHolder) {
	t.Helper()
	var held *snapshot.LeaseHeldError
	if !errors.Is(err, snapshot.ErrLeaseHeld) || !errors.As(err, &held) {
		t.Fatalf("AcquireLease: %v; want a *LeaseHeldError", err)
	}
	if held.Holder != holder || !strings.HasPrefix(held.Name, "s3://") || !strings.HasSuffix(held.Name, "/job/_lease") {
		t.Errorf("LeaseHeldError %+v; want holder %+v and the lease's s3:// URL", held, holder)
	}
	if until := time.Until(held.Expires); until <= 0 || until > 32*time.Second {
		t.Errorf("the lease expires in %v; want within its TTL of 30 s and a second", until)
	}
	if !strings.Contains(err.Error(), holder.Host) || !strings.Contains(err.Error(), holder.Run) {
		t.Errorf("error %q does not name the holder", err)
	}
}

// wantLost fails unless the lease is lost, with a reason that contains
// why.
func wantLost(t *testing.T, l snapshot.Lease, why string) {
	t.Helper()
	select {
	case <-l.Lost():
	default:
		t.Fatal("Lost is not closed")
	}
	if err := l.Err(); !errors.Is(err, snapshot.ErrLeaseLost) || !strings.Contains(err.Error(), why) {
		t.Fatalf("Err() = %v; want ErrLeaseLost saying %q", err, why)
	}
}

// TestS3LeaseHeld: a second instance is refused while the first renews,
// however long that goes on, with an error naming the holder.
func TestS3LeaseHeld(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		r := startLeaseRace(t, srv)
		b, ca, cb, la := r.b, r.ca, r.cb, r.la
		if la.Holder() != testHolder("a") || la.Err() != nil {
			t.Fatalf("lease of a: holder %+v, err %v", la.Holder(), la.Err())
		}
		_, err := acquire(t, b, "b")
		wantHeld(t, err, testHolder("a"))
		t.Logf("refused: %v", err)
		// a renews every TTL/3; b, seeing a lease renewed no TTL ago, is
		// refused again and again, also when it looks later.
		for range 4 {
			ca.advance(10 * time.Second)
			if err := ca.tick(); err != nil {
				t.Fatalf("renewal: %v", err)
			}
			_, err = acquire(t, b, "b")
			wantHeld(t, err, testHolder("a"))
		}
		cb.advance(29 * time.Second)
		_, err = acquire(t, b, "b")
		wantHeld(t, err, testHolder("a"))
		// The same holder through another storage is refused too.
		_, err = acquire(t, b, "a")
		wantHeld(t, err, testHolder("a"))
		if la.Err() != nil {
			t.Fatalf("lease of a after the refusals: %v", la.Err())
		}
	})
}

// TestS3LeaseExpiryAndTakeover: a lease not renewed for its TTL (its
// holder died, or stalls) is taken over by the next instance; the old
// holder's next renewal finds it taken over and loses it, naming the new
// holder; its Release then leaves the new holder's lease alone.
func TestS3LeaseExpiryAndTakeover(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		r := startLeaseRace(t, srv)
		b, ca, cb, la := r.b, r.ca, r.cb, r.la
		c, _ := leaseStorage(t, srv, r.prefix)
		cb.advance(29 * time.Second) // not yet expired: TTL and a second of slack
		_, err := acquire(t, b, "b")
		wantHeld(t, err, testHolder("a"))
		cb.advance(3 * time.Second)
		lb, err := acquire(t, b, "b")
		if err != nil {
			t.Fatalf("AcquireLease of an expired lease: %v", err)
		}
		select {
		case <-la.Lost():
			t.Fatal("a's lease is lost before a learnt of the takeover")
		default:
		}
		if err := ca.tick(); !errors.Is(err, snapshot.ErrLeaseLost) {
			t.Fatalf("a's renewal after the takeover: %v; want ErrLeaseLost", err)
		}
		wantLost(t, la, "taken over by "+testHolder("b").String())
		t.Logf("lost: %v", la.Err())
		if err := la.Release(t.Context()); err != nil {
			t.Fatalf("Release of a lost lease: %v", err)
		}
		_, err = acquire(t, c, "c")
		wantHeld(t, err, testHolder("b"))
		if lb.Err() != nil {
			t.Fatalf("b's lease: %v", lb.Err())
		}
	})
}

// TestS3LeaseSkewedClock: an instance whose clock is far ahead of the
// server's (or behind it) judges a lease by the server's clock: it does not
// take over a fresh lease, and takes over an expired one.
func TestS3LeaseSkewedClock(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		r := startLeaseRace(t, srv)
		b, cb := r.b, r.cb
		cb.skew(time.Hour)
		_, err := acquire(t, b, "b")
		wantHeld(t, err, testHolder("a"))
		cb.skew(-3 * time.Hour)
		cb.advance(32 * time.Second)
		if _, err := acquire(t, b, "b"); err != nil {
			t.Fatalf("AcquireLease of a lease expired by the server's clock, with a clock 2 h behind: %v", err)
		}
	})
}

// TestS3LeaseRelease: a released lease can be taken at once, without
// waiting for it to expire; Release is idempotent and does not close Lost.
func TestS3LeaseRelease(t *testing.T) {
	eachS3(t, func(t *testing.T, srv *s3server.Server) {
		r := startLeaseRace(t, srv)
		a, b, la := r.a, r.b, r.la
		if err := la.Release(t.Context()); err != nil {
			t.Fatal(err)
		}
		if err := la.Release(t.Context()); err != nil {
			t.Fatalf("second Release: %v", err)
		}
		select {
		case <-la.Lost():
			t.Fatal("Release closed Lost")
		default:
		}
		if _, err := a.Size(t.Context(), "job/_lease"); !errors.Is(err, snapshot.ErrNotExist) {
			t.Fatalf("the lease object after Release: %v; want ErrNotExist", err)
		}
		if _, err := acquire(t, b, "b"); err != nil {
			t.Fatalf("AcquireLease after Release: %v", err)
		}
	})
}

// TestS3LeaseRenewalsFail: while the store is unreachable renewals fail
// and the lease is held on, until the TTL since the last renewal that
// succeeded ran out: then it is lost, saying so. A successor takes it
// over once it expired by the server's clock.
func TestS3LeaseRenewalsFail(t *testing.T) {
	eachS3Own(t, func(t *testing.T, srv *s3server.Server) {
		prefix := newPrefix()
		a, ca := leaseStorage(t, srv, prefix)
		la, err := acquire(t, a, "a")
		if err != nil {
			t.Fatal(err)
		}
		srv.Kill()
		ca.advance(10 * time.Second)
		if err := ca.tick(); err == nil || errors.Is(err, snapshot.ErrLeaseLost) {
			t.Fatalf("renewal with the store down: %v; want a failure that keeps the lease", err)
		}
		if la.Err() != nil {
			t.Fatalf("lost after one failed renewal: %v", la.Err())
		}
		ca.advance(20 * time.Second)
		if err := ca.tick(); !errors.Is(err, snapshot.ErrLeaseLost) {
			t.Fatalf("renewal a TTL after the last one: %v; want ErrLeaseLost", err)
		}
		wantLost(t, la, "not renewed for")
		t.Logf("lost: %v", la.Err())
		srv.Restart()
		b, cb := leaseStorage(t, srv, prefix)
		_, err = acquire(t, b, "b")
		wantHeld(t, err, testHolder("a"))
		cb.advance(32 * time.Second)
		if _, err := acquire(t, b, "b"); err != nil {
			t.Fatalf("AcquireLease of the expired lease: %v", err)
		}
	})
}

// TestS3LeaseOptions: a lease needs a holder, a TTL S3 can keep, a valid
// name and a lease object, or none, in its place.
func TestS3LeaseOptions(t *testing.T) {
	srv := shared(t, s3server.MinIO)
	s, _ := leaseStorage(t, srv, newPrefix())
	if _, err := s.AcquireLease(t.Context(), "job/_lease", snapshot.LeaseOptions{}); err == nil || !strings.Contains(err.Error(), "Holder") {
		t.Errorf("AcquireLease without a holder: %v", err)
	}
	if _, err := s.AcquireLease(t.Context(), "job/_lease", snapshot.LeaseOptions{Holder: testHolder("a"), TTL: time.Second}); err == nil || !strings.Contains(err.Error(), "TTL") {
		t.Errorf("AcquireLease with a TTL of 1 s: %v", err)
	}
	if _, err := s.AcquireLease(t.Context(), "../x", snapshot.LeaseOptions{Holder: testHolder("a")}); !errors.Is(err, snapshot.ErrInvalidName) {
		t.Errorf("AcquireLease of an invalid name: %v", err)
	}
	// An object in the lease's place that is not a lease is never taken
	// over: the error names it and says what to do.
	if err := putS3(t, s, "job/_lease", []byte("not a lease"), snapshot.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.AcquireLease(t.Context(), "job/_lease", snapshot.LeaseOptions{Holder: testHolder("a")}); !errors.Is(err, snapshot.ErrCorrupt) ||
		!strings.Contains(err.Error(), "job/_lease") || !strings.Contains(err.Error(), "delete it") {
		t.Errorf("AcquireLease over an object that is not a lease: %v; want ErrCorrupt naming it", err)
	}
}

// TestS3LeaseFormat pins the lease object's format (FORMAT.md, "S3 lease
// object") and checks that it decodes, and that other versions and
// content are refused.
func TestS3LeaseFormat(t *testing.T) {
	b := s3.EncodeLease(testHolder("r1"), "0123456789abcdef", 7, 30*time.Second, time.Date(2026, 5, 6, 7, 8, 9, 0, time.UTC))
	b = golden.Check(t, "testdata/s3lease-v1.json", b, "the S3 lease object")
	if h, err := s3.DecodeLease(b); err != nil || h != testHolder("r1") {
		t.Fatalf("decode of the golden lease = %+v, %v", h, err)
	}
	v2 := strings.Replace(string(b), `"version":1`, `"version":2`, 1)
	if _, err := s3.DecodeLease([]byte(v2)); !errors.Is(err, snapshot.ErrUnsupported) {
		t.Errorf("version 2: %v; want ErrUnsupported", err)
	}
	for _, bad := range []string{"", "{", "not json", `{"version":1}`, `{"version":1,"holder":{"host":"h"},"token":"t","ttl_ms":0}`, strings.Replace(string(b), `"seq"`, `"sequence"`, 1)} {
		if _, err := s3.DecodeLease([]byte(bad)); !errors.Is(err, snapshot.ErrCorrupt) {
			t.Errorf("decode of %q: %v; want ErrCorrupt", bad, err)
		}
	}
}

func FuzzDecodeS3Lease(f *testing.F) {
	f.Add(s3.EncodeLease(testHolder("r1"), "token", 1, 30*time.Second, time.Unix(0, 0)))
	f.Add([]byte(`{"version":1}`))
	f.Fuzz(func(t *testing.T, b []byte) {
		h, err := s3.DecodeLease(b)
		if err != nil {
			if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrUnsupported) {
				t.Fatalf("error %v is neither ErrCorrupt nor ErrUnsupported", err)
			}
			return
		}
		if h == (snapshot.LeaseHolder{}) {
			t.Fatal("decoded a lease without a holder")
		}
	})
}
