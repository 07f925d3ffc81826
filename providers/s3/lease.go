package s3

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"path"
	"sync"
	"time"

	"github.com/minio/minio-go/v7"

	"github.com/stated-io/stated/snapshot"
)

// s3LeaseVersion is the version of the lease object's format (FORMAT.md,
// "S3 lease object").
const s3LeaseVersion = 1

// leaseClockSlack is added to a lease's TTL before another instance takes
// it over: S3 gives Last-Modified and Date in whole seconds.
const leaseClockSlack = time.Second

// minS3LeaseTTL is the shortest snapshot.LeaseOptions.TTL on S3, a few times the
// resolution of S3's timestamps.
const minS3LeaseTTL = 3 * time.Second

// maxLeaseRaces bounds the attempts of AcquireLease that another instance
// writing the lease object at the same moment can cost.
const maxLeaseRaces = 5

// s3LeaseRecord is the content of a lease object, JSON (FORMAT.md, "S3
// lease object"). Every write of it differs from the one before (Seq), so
// that its ETag does too.
type s3LeaseRecord struct {
	Version int                  `json:"version"`
	Holder  snapshot.LeaseHolder `json:"holder"`
	// Token is random per acquisition: a holder recognises its own writes
	// by it.
	Token string `json:"token"`
	// Seq is 0 when the lease is acquired and counts its renewals.
	Seq uint64 `json:"seq"`
	// TTLMillis is how long after the object's Last-Modified (server time)
	// the lease expires unless renewed.
	TTLMillis int64 `json:"ttl_ms"`
	// Written is the holder's clock when it wrote the record, for people;
	// expiry is judged by the server's clock.
	Written time.Time `json:"written"`
}

func (r *s3LeaseRecord) ttl() time.Duration { return time.Duration(r.TTLMillis) * time.Millisecond }

// encodeS3Lease returns the lease object of r.
func encodeS3Lease(r *s3LeaseRecord) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		panic(err) // a struct of strings, numbers and times always encodes
	}
	return append(b, '\n')
}

// decodeS3Lease parses a lease object; where names it in errors. A bad
// object is a *snapshot.CorruptError; an unknown version wraps snapshot.ErrUnsupported.
func decodeS3Lease(where string, b []byte) (*s3LeaseRecord, error) {
	var r s3LeaseRecord
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&r); err != nil {
		return nil, corrupt(where, -1, "not a lease object", err)
	}
	switch {
	case r.Version != s3LeaseVersion:
		return nil, fmt.Errorf("lease object %s: version %d: %w", where, r.Version, snapshot.ErrUnsupported)
	case r.Token == "" || r.TTLMillis <= 0 || r.Holder == (snapshot.LeaseHolder{}):
		return nil, corrupt(where, -1, "lease object without a holder, token or TTL", nil)
	}
	return &r, nil
}

// leaseEnv is the clocks and the renewal ticker of the leases of an
// Storage. Tests replace them so that they never wait for time to pass.
type leaseEnv struct {
	// now is the local clock, which counts the time since the last
	// renewal.
	now func() time.Time
	// serverTime returns the server's time when it answered with a Date
	// header of date: date itself; tests move it ahead, as if time had
	// passed on the server.
	serverTime func(date time.Time) time.Time
	// newTicker returns the ticks of a renewal loop every d and its stop.
	newTicker func(d time.Duration) (<-chan time.Time, func())
	// renewed, if set, is called after each renewal with its outcome.
	renewed func(err error)
}

var systemLeaseEnv = leaseEnv{
	now:        time.Now,
	serverTime: func(date time.Time) time.Time { return date },
	newTicker: func(d time.Duration) (<-chan time.Time, func()) {
		t := time.NewTicker(d)
		return t.C, t.Stop
	},
}

// AcquireLease implements snapshot.Leaser with a lease object at name: a JSON
// record of the holder (FORMAT.md, "S3 lease object") created with a
// conditional PUT (If-None-Match: *) and renewed every TTL/3 with a PUT
// conditional on the ETag of the holder's last write (If-Match). It
// expires TTL (plus a second, the resolution of S3's timestamps) after
// its Last-Modified, by the server's clock (the Date of its answers), so
// that skewed local clocks do not steal leases: AcquireLease takes an
// expired lease over with a PUT conditional on the ETag it found, and
// returns a *snapshot.LeaseHeldError (snapshot.ErrLeaseHeld) naming the holder of one that
// has not expired. Of instances racing for the object, exactly one wins.
//
// A server that does not honour If-None-Match and If-Match is refused
// with an error wrapping snapshot.ErrUnsupported (the storage probes it once, even
// with ConditionalWritesUnchecked). TTL must be at least 3 s. A record
// that is not a lease object is an error naming it (delete the object if
// no instance runs).
//
// The lease is lost (Lost closed, Err wrapping snapshot.ErrLeaseLost) when a
// renewal finds that another instance wrote the object, that it was
// deleted, or when renewals failed for a whole TTL since the last one that
// succeeded (by the local clock, counted from when that renewal was sent).
// Release writes the record once more, conditional on its ETag, and then
// deletes it: a lease no longer held is left alone.
func (s *Storage) AcquireLease(ctx context.Context, name string, opts snapshot.LeaseOptions) (snapshot.Lease, error) {
	opts.EnsureDefaults()
	clean, key, err := s.resolve(ctx, "lease", name)
	if err != nil {
		return nil, err
	}
	switch {
	case opts.Holder == (snapshot.LeaseHolder{}):
		return nil, fmt.Errorf("s3 lease %s: missing LeaseOptions.Holder", s.where(key))
	case opts.TTL < minS3LeaseTTL:
		return nil, fmt.Errorf("s3 lease %s: TTL %v is below the %v that S3's one-second timestamps allow", s.where(key), opts.TTL, minS3LeaseTTL)
	}
	if err := s.requireLeaseSupport(ctx, path.Dir(clean)); err != nil {
		return nil, fmt.Errorf("s3 lease %s: %w", s.where(key), err)
	}
	l := &s3Lease{
		s:      s,
		key:    key,
		holder: opts.Holder,
		ttl:    opts.TTL,
		token:  randomHex(16),
		lost:   make(chan struct{}),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
	}
	if err := l.acquire(ctx); err != nil {
		return nil, err
	}
	go l.renewLoop()
	return l, nil
}

// s3Lease is the Lease of Storage.
type s3Lease struct {
	s      *Storage
	key    string
	holder snapshot.LeaseHolder
	ttl    time.Duration
	token  string
	lost   chan struct{} // closed when lost
	stop   chan struct{} // closed by Release
	done   chan struct{} // closed when renewLoop returned

	mu      sync.Mutex
	etag    string    // of the last write that was ours
	seq     uint64    // of that write
	renewed time.Time // local clock when that write was sent
	err     error     // why the lease was lost

	releaseOnce sync.Once
	releaseErr  error
}

var _ snapshot.Lease = (*s3Lease)(nil)

// url names the lease object as users see it.
func (l *s3Lease) url() string { return "s3://" + l.s.where(l.key) }

// acquire creates the lease object, or takes over an expired one.
func (l *s3Lease) acquire(ctx context.Context) error {
	for range maxLeaseRaces {
		sent := l.s.lease.now()
		etag, err := l.write(ctx, 0, func(o *minio.PutObjectOptions) { o.SetMatchETagExcept("*") })
		if err == nil {
			l.held(etag, 0, sent)
			return nil
		}
		if !errors.Is(err, snapshot.ErrExist) {
			return err
		}
		cur, err := l.read(ctx)
		if errors.Is(err, snapshot.ErrNotExist) {
			continue // released in between
		}
		if err != nil {
			return err
		}
		if cur.serverNow.Before(cur.expires) {
			return &snapshot.LeaseHeldError{Name: l.url(), Holder: cur.rec.Holder, Expires: cur.expires}
		}
		sent = l.s.lease.now()
		etag, err = l.write(ctx, 0, func(o *minio.PutObjectOptions) { o.SetMatchETag(cur.etag) })
		switch {
		case err == nil:
			l.s.log.Info("s3 lease: took over an expired lease", "lease", l.url(), "previous", cur.rec.Holder.String(), "expired", cur.expires)
			l.held(etag, 0, sent)
			return nil
		case errors.Is(err, snapshot.ErrExist), errors.Is(err, snapshot.ErrNotExist):
			continue // renewed, taken or released in between
		default:
			return err
		}
	}
	return fmt.Errorf("s3 lease %s: other instances kept writing it; try again", l.url())
}

// held records a write of the lease object that succeeded.
func (l *s3Lease) held(etag string, seq uint64, sent time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.etag, l.seq, l.renewed = etag, seq, sent
}

// write PUTs the record with sequence number seq under the conditions of
// cond and returns its ETag.
func (l *s3Lease) write(ctx context.Context, seq uint64, cond func(*minio.PutObjectOptions)) (string, error) {
	rec := &s3LeaseRecord{
		Version:   s3LeaseVersion,
		Holder:    l.holder,
		Token:     l.token,
		Seq:       seq,
		TTLMillis: l.ttl.Milliseconds(),
		Written:   l.s.lease.now().UTC(),
	}
	info, err := l.s.putBytes(ctx, l.key, encodeS3Lease(rec), cond)
	if err != nil {
		return "", fmt.Errorf("lease: %w", l.s.s3Error(ctx, "put", l.key, err))
	}
	return info.ETag, nil
}

// leaseState is the lease object as read.
type leaseState struct {
	rec       *s3LeaseRecord
	etag      string
	expires   time.Time // server time
	serverNow time.Time // server time when it was read
}

// read GETs the lease object.
func (l *s3Lease) read(ctx context.Context) (*leaseState, error) {
	body, info, header, err := l.s.core.GetObject(ctx, l.s.bucket, l.key, minio.GetObjectOptions{})
	if err != nil {
		return nil, fmt.Errorf("lease: %w", l.s.s3Error(ctx, "get", l.key, err))
	}
	b, err := io.ReadAll(io.LimitReader(body, 64<<10))
	body.Close()
	if err != nil {
		return nil, fmt.Errorf("lease: s3 read %s: %w", l.s.where(l.key), err)
	}
	rec, err := decodeS3Lease(l.url(), b)
	if err != nil {
		return nil, fmt.Errorf("%w (delete it if no instance of the job runs)", err)
	}
	serverNow := l.s.lease.now() // a server that sends no Date: the local clock
	if date, err := http.ParseTime(header.Get("Date")); err == nil {
		serverNow = l.s.lease.serverTime(date)
	}
	return &leaseState{rec: rec, etag: info.ETag, expires: info.LastModified.Add(rec.ttl() + leaseClockSlack), serverNow: serverNow}, nil
}

// renewLoop renews the lease at every tick until it is released or lost.
func (l *s3Lease) renewLoop() {
	defer close(l.done)
	ticks, stop := l.s.lease.newTicker(l.ttl / 3)
	defer stop()
	for {
		select {
		case <-l.stop:
			return
		case <-ticks:
		}
		err := l.renew()
		if hook := l.s.lease.renewed; hook != nil {
			hook(err)
		}
		if l.Err() != nil {
			return
		}
	}
}

// renew writes the lease object again if it is still ours, and declares
// the lease lost if it is not or if renewals failed for a TTL.
func (l *s3Lease) renew() error {
	l.mu.Lock()
	etag, seq, last := l.etag, l.seq, l.renewed
	l.mu.Unlock()
	if since := l.s.lease.now().Sub(last); since >= l.ttl {
		return l.lose(fmt.Errorf("not renewed for %v, more than its TTL of %v", since, l.ttl))
	}
	// A renewal that outlived a quarter of the TTL is given up, so that
	// the check above runs again in time.
	ctx, cancel := context.WithTimeout(context.Background(), l.ttl/4)
	defer cancel()
	sent := l.s.lease.now()
	newETag, err := l.write(ctx, seq+1, func(o *minio.PutObjectOptions) { o.SetMatchETag(etag) })
	switch {
	case err == nil:
		l.held(newETag, seq+1, sent)
		return nil
	case errors.Is(err, snapshot.ErrExist):
		// Someone else wrote it, or an earlier renewal of ours succeeded
		// but its answer was lost.
		cur, rerr := l.read(ctx)
		switch {
		case rerr == nil && cur.rec.Token == l.token:
			l.held(cur.etag, cur.rec.Seq, last)
			return fmt.Errorf("s3 lease %s: a renewal found its own earlier write: %w", l.url(), err)
		case rerr == nil:
			return l.lose(fmt.Errorf("taken over by %s", cur.rec.Holder))
		case errors.Is(rerr, snapshot.ErrNotExist):
			return l.lose(errors.New("its object was deleted"))
		}
		err = rerr
	case errors.Is(err, snapshot.ErrNotExist):
		return l.lose(errors.New("its object was deleted"))
	}
	l.s.log.Warn("s3 lease: renewal failed", "lease", l.url(), "err", err)
	if since := l.s.lease.now().Sub(last); since >= l.ttl {
		return l.lose(fmt.Errorf("renewals failed for %v, more than its TTL of %v: %w", since, l.ttl, err))
	}
	return err
}

// lose declares the lease lost because of why.
func (l *s3Lease) lose(why error) error {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.err == nil {
		l.err = fmt.Errorf("s3 lease %s: %w: %w", l.url(), snapshot.ErrLeaseLost, why)
		close(l.lost)
		l.s.log.Error("s3 lease lost", "lease", l.url(), "err", l.err)
	}
	return l.err
}

// Holder implements Lease.
func (l *s3Lease) Holder() snapshot.LeaseHolder { return l.holder }

// Lost implements Lease.
func (l *s3Lease) Lost() <-chan struct{} { return l.lost }

// Err implements Lease.
func (l *s3Lease) Err() error {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.err
}

// Release implements Lease: it stops the renewals, writes the record once
// more conditional on its ETag (which shows the lease is still ours and
// keeps it from expiring in between) and deletes the object. A lease that
// was lost is left alone. The first call's result is returned by every
// later one.
func (l *s3Lease) Release(ctx context.Context) error {
	l.releaseOnce.Do(func() {
		close(l.stop)
		<-l.done
		if l.Err() != nil {
			return
		}
		l.mu.Lock()
		etag, seq := l.etag, l.seq
		l.mu.Unlock()
		if _, err := l.write(ctx, seq+1, func(o *minio.PutObjectOptions) { o.SetMatchETag(etag) }); err != nil {
			if errors.Is(err, snapshot.ErrExist) || errors.Is(err, snapshot.ErrNotExist) {
				return // no longer ours
			}
			l.releaseErr = fmt.Errorf("s3 lease %s: release: %w", l.url(), err)
			return
		}
		if err := l.s.client.RemoveObject(ctx, l.s.bucket, l.key, minio.RemoveObjectOptions{}); err != nil {
			l.releaseErr = fmt.Errorf("s3 lease %s: release: %w", l.url(), l.s.s3Error(ctx, "delete", l.key, err))
		}
	})
	return l.releaseErr
}
