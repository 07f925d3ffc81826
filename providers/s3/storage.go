package s3

import (
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"log/slog"
	"net"
	"net/http"
	"path"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/stated-io/stated/snapshot"
)

// bucketCheckTimeout bounds the check that the bucket exists when a
// Storage is opened, so that a wrong or unreachable endpoint fails the
// start of a job quickly rather than after every retry of every call.
const bucketCheckTimeout = 15 * time.Second

// Storage is a snapshot.Storage on an S3 bucket (AWS S3, MinIO, versitygw or
// another S3-compatible store), under a key prefix: the file
// "job/chk-3/_metadata" of a storage on s3://bucket/ckpt is the object
// "ckpt/job/chk-3/_metadata".
//
// Create spools the file to a local file (see Options.SpoolDir) while
// computing its size and CRC32C (and that of each part); Commit uploads it
// with one PUT, or a parallel multipart upload above Options.PartSize,
// each request carrying its CRC32C for the server to check (see
// Checksum), and then checks the CRC32C the server reports against the
// local one. A PUT is atomic, so nothing is visible until Commit returns
// and readers never see a partial file. With snapshot.CreateOptions.NoOverwrite
// the upload is a conditional PUT (If-None-Match: *): the store refuses it
// with 412 if the object exists, which Commit reports as snapshot.ErrExist.
//
// Because a server that ignores If-None-Match would let a second writer
// replace a checkpoint's _metadata silently, New probes the
// server once (unless Options.ConditionalWrites is
// ConditionalWritesUnchecked): it writes a reserved object
// ("<prefix>/.tmp-probe-<random>") with If-None-Match: * twice, then with
// a wrong and a right If-Match, and deletes it. A server that lets the
// second write through is refused with an error wrapping snapshot.ErrUnsupported
// that names it and what to do. With credentials that may not write there
// (403), the probe is left to the first NoOverwrite Commit, in the
// directory of its file. Leases need If-Match too (see AcquireLease).
//
// Directories are key prefixes: they exist while a file lies below them,
// as with the file provider. A listing shows a directory only once it has seen a
// file below it, so that directory markers (zero-byte "dir/" objects of
// other tools) and prefixes a server still lists after their last file
// was deleted (SeaweedFS, for minutes) are not shown. Requests are retried
// by the client (Options.MaxRetries) and bounded by the caller's
// context.
//
// Errors name the bucket and the key ("s3 put bucket/prefix/name: ...");
// missing files wrap snapshot.ErrNotExist, invalid names snapshot.ErrInvalidName, calls
// after Close snapshot.ErrClosed. Safe for concurrent use.
type Storage struct {
	client    *minio.Client
	core      minio.Core // client, for the requests of uploads
	transport *http.Transport
	bucket    string
	prefix    string // "" or a clean prefix without leading or trailing "/"
	endpoint  string
	opts      Options
	log       *slog.Logger
	spool     *spoolDir
	closed    atomic.Bool

	probeMu   sync.Mutex
	probeDone *probeResult // nil until a probe ran to its end

	noChecksums sync.Once // warns that the server reports no checksums

	lease leaseEnv // the clock and tickers of leases

	// uploadHook, set only by tests, is called with the name and the
	// offset of the data before each PUT of a file or of a part.
	uploadHook func(name string, off int64)
}

var (
	_ snapshot.Storage      = (*Storage)(nil)
	_ snapshot.InfoLister   = (*Storage)(nil)
	_ snapshot.BatchDeleter = (*Storage)(nil)
	_ snapshot.Leaser       = (*Storage)(nil)
)

// New opens the storage of the objects of bucket whose keys start
// with prefix (which may be empty; leading and trailing "/" are ignored).
// It checks that the bucket exists, within ctx and at most about 15 s: a
// missing bucket, bad credentials or an unreachable endpoint fail here with
// an error that names the endpoint and the bucket. It never creates the
// bucket. Then it probes the server's conditional writes (see Storage),
// refusing a server that ignores If-None-Match, and removes the spool
// directories of processes that died from Options.SpoolDir (its own is
// made there at the first Create).
// opts is completed with EnsureDefaults and checked with Validate.
func New(ctx context.Context, bucket, prefix string, opts Options) (*Storage, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	if err := s3utils.CheckValidBucketName(bucket); err != nil {
		return nil, fmt.Errorf("s3 storage: invalid bucket name %q: %v", bucket, err)
	}
	prefix = strings.Trim(prefix, "/")
	if prefix != "" {
		if err := snapshot.CheckName(prefix); err != nil {
			return nil, fmt.Errorf("s3 storage: prefix %q: %w: %v", prefix, snapshot.ErrInvalidName, err)
		}
	}
	host, secure, _ := parseS3Endpoint(opts.Endpoint) // validated above
	transport, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("s3 storage: %w", err)
	}
	// The default dial timeout (30 s) times MaxRetries is far too long to
	// notice a black-holed endpoint.
	transport.DialContext = (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext
	var creds *credentials.Credentials
	if opts.AccessKey != "" {
		creds = credentials.NewStaticV4(opts.AccessKey, opts.SecretKey, "")
	} else {
		creds = credentials.New(&credentials.Static{Value: credentials.Value{SignerType: credentials.SignatureAnonymous}})
	}
	lookup := minio.BucketLookupAuto
	if opts.PathStyle {
		lookup = minio.BucketLookupPath
	}
	client, err := minio.New(host, &minio.Options{
		Creds:        creds,
		Secure:       secure,
		Transport:    transport,
		Region:       opts.Region,
		BucketLookup: lookup,
		// No trailing headers: the client would add a CRC32C trailer of its
		// own to PUTs over https; uploads choose theirs (Checksum).
		MaxRetries: opts.MaxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("s3 storage %s: %w", opts.Endpoint, err)
	}
	s := &Storage{
		client:    client,
		core:      minio.Core{Client: client},
		transport: transport,
		bucket:    bucket,
		prefix:    prefix,
		endpoint:  opts.Endpoint,
		opts:      opts,
		log:       opts.Logger,
		lease:     systemLeaseEnv,
	}
	if err := s.open(ctx); err != nil {
		transport.CloseIdleConnections()
		return nil, err
	}
	return s, nil
}

// open checks the bucket, probes the server and sweeps the spool
// directory.
func (s *Storage) open(ctx context.Context) error {
	cctx, cancel := context.WithTimeout(ctx, bucketCheckTimeout)
	defer cancel()
	ok, err := s.client.BucketExists(cctx, s.bucket)
	switch {
	case err != nil && ctx.Err() != nil:
		return fmt.Errorf("s3 storage: check bucket %q at %s: %w", s.bucket, s.endpoint, ctx.Err())
	case err != nil:
		return fmt.Errorf("s3 storage: check bucket %q at %s: %w", s.bucket, s.endpoint, err)
	case !ok:
		return fmt.Errorf("s3 storage: bucket %q does not exist at %s (buckets are not created implicitly)", s.bucket, s.endpoint)
	}
	if s.opts.ConditionalWrites == ConditionalWritesRequired {
		if err := s.probeAtOpen(cctx); err != nil {
			return err
		}
	}
	s.spool = openSpool(s.opts.SpoolDir, s.log)
	return nil
}

// Bucket returns the bucket of the storage.
func (s *Storage) Bucket() string { return s.bucket }

// Prefix returns the key prefix of the storage ("" for the whole bucket),
// without leading or trailing "/".
func (s *Storage) Prefix() string { return s.prefix }

// key returns the object key of a clean storage name.
func (s *Storage) key(name string) string {
	if s.prefix == "" {
		return name
	}
	return s.prefix + "/" + name
}

// where names an object in errors: "bucket/key".
func (s *Storage) where(key string) string { return s.bucket + "/" + key }

// resolve checks the context and the state of the storage, cleans and
// validates name and returns the clean name and its key.
func (s *Storage) resolve(ctx context.Context, op, name string) (string, string, error) {
	if err := ctx.Err(); err != nil {
		return "", "", fmt.Errorf("s3 %s: %w", op, err)
	}
	if s.closed.Load() {
		return "", "", fmt.Errorf("s3 %s: %w", op, snapshot.ErrClosed)
	}
	clean := path.Clean(name)
	if err := snapshot.CheckName(clean); err != nil {
		return "", "", fmt.Errorf("s3 %s: %w %q: %v", op, snapshot.ErrInvalidName, name, err)
	}
	return clean, s.key(clean), nil
}

// s3Error wraps an error of the client: missing objects wrap snapshot.ErrNotExist,
// a failed If-None-Match snapshot.ErrExist (and so does AWS's 409
// ConditionalRequestConflict, which answers the loser of two conditional
// writes in flight at once), and a cancelled context keeps its error
// visible to errors.Is. It is nil for a nil err.
func (s *Storage) s3Error(ctx context.Context, op, key string, err error) error {
	if err == nil {
		return nil
	}
	resp := minio.ToErrorResponse(err)
	switch {
	case resp.Code == minio.NoSuchKey || resp.Code == "NotFound" ||
		(resp.StatusCode == http.StatusNotFound && resp.Code != minio.NoSuchBucket && resp.Code != "NoSuchUpload"):
		return fmt.Errorf("%s: %w", s.where(key), snapshot.ErrNotExist)
	case resp.Code == "PreconditionFailed" || resp.StatusCode == http.StatusPreconditionFailed:
		return fmt.Errorf("s3 %s %s: %w", op, s.where(key), snapshot.ErrExist)
	case resp.Code == "ConditionalRequestConflict":
		return fmt.Errorf("s3 %s %s: another conditional write to it was in flight: %w", op, s.where(key), snapshot.ErrExist)
	case ctx.Err() != nil && !errors.Is(err, ctx.Err()):
		return fmt.Errorf("s3 %s %s: %w (%v)", op, s.where(key), ctx.Err(), err)
	}
	return fmt.Errorf("s3 %s %s: %w", op, s.where(key), err)
}

// putError is s3Error for uploads, with what to do about the answers
// that say the server does not take this storage's requests.
func (s *Storage) putError(ctx context.Context, key string, err error) error {
	resp := minio.ToErrorResponse(err)
	err = s.s3Error(ctx, "put", key, err)
	switch {
	case checksumRefused(resp.Code) && s.opts.Checksum == ChecksumTrailer:
		return fmt.Errorf("%w (the server refused the CRC32C trailer of s3.checksum=trailer; versitygw does over plain http: set s3.checksum=header)", err)
	case checksumRefused(resp.Code):
		return fmt.Errorf("%w (the server computed another CRC32C than the one sent: the bytes changed on the way, or the server does not take s3.checksum=%s)", err, s.opts.Checksum)
	case resp.StatusCode == http.StatusNotImplemented && s.opts.Checksum != ChecksumNone:
		return fmt.Errorf("%w (the server does not implement this request; if it refuses checksums, set s3.checksum=none)", err)
	}
	return err
}

// checksumRefused reports whether an S3 error code says that a checksum
// did not match.
func checksumRefused(code string) bool {
	return code == "BadDigest" || code == "XAmzContentChecksumMismatch" || code == "InvalidDigest"
}

// retryable reports whether a failed upload is worth starting again: only
// if a later try can change the answer. Transport failures (no answer),
// server errors other than 501 Not Implemented and 505, 408, 429,
// throttling, MinIO's "Server not initialized yet" and AWS's 409
// ConditionalRequestConflict are; a refused checksum, 403, 501 and every
// other answer are not.
func retryable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	var resp minio.ErrorResponse
	if !errors.As(err, &resp) {
		// Not an answer of the store: the connection failed, unless the
		// check of what the store stored failed.
		var corrupt *snapshot.CorruptError
		return !errors.As(err, &corrupt)
	}
	switch {
	case resp.StatusCode == 0 && resp.Code == "":
		return true
	case checksumRefused(resp.Code), resp.StatusCode == http.StatusNotImplemented, resp.StatusCode == http.StatusHTTPVersionNotSupported:
		return false
	case resp.StatusCode >= 500, resp.StatusCode == http.StatusRequestTimeout, resp.StatusCode == http.StatusTooManyRequests:
		return true
	}
	switch resp.Code {
	case "ConditionalRequestConflict", "RequestTimeout", "SlowDown", "Throttling", "ThrottlingException", "RequestLimitExceeded", "XMinioServerNotInitialized", "InternalError":
		return true
	}
	return false
}

// Open implements snapshot.Storage. The reader streams the object from the store;
// it is not safe for concurrent use and must be closed.
func (s *Storage) Open(ctx context.Context, name string) (io.ReadCloser, error) {
	return s.OpenRange(ctx, name, 0, -1)
}

// OpenRange implements snapshot.Storage with one ranged GET.
func (s *Storage) OpenRange(ctx context.Context, name string, off, length int64) (io.ReadCloser, error) {
	_, key, err := s.resolve(ctx, "get", name)
	if err != nil {
		return nil, err
	}
	if off < 0 {
		return nil, fmt.Errorf("s3 get %s: negative offset %d", s.where(key), off)
	}
	if length == 0 {
		// No byte to read, but a missing file is still an error.
		if _, err := s.Size(ctx, name); err != nil {
			return nil, err
		}
		return io.NopCloser(strings.NewReader("")), nil
	}
	var gopts minio.GetObjectOptions
	switch {
	case length > 0:
		gopts.Set("Range", fmt.Sprintf("bytes=%d-%d", off, off+length-1))
	case off > 0:
		gopts.Set("Range", fmt.Sprintf("bytes=%d-", off))
	}
	body, _, _, err := minio.Core{Client: s.client}.GetObject(ctx, s.bucket, key, gopts)
	if err != nil {
		if minio.ToErrorResponse(err).Code == "InvalidRange" {
			// The object exists but starts after off: a short (empty)
			// read, as the Storage contract says.
			return io.NopCloser(strings.NewReader("")), nil
		}
		return nil, s.s3Error(ctx, "get", key, err)
	}
	return &s3Reader{body: body, where: s.where(key)}, nil
}

// s3Reader is the body of a GET; it adds the object to read errors.
type s3Reader struct {
	body  io.ReadCloser
	where string
}

func (r *s3Reader) Read(p []byte) (int, error) {
	n, err := r.body.Read(p)
	if err != nil && err != io.EOF {
		err = fmt.Errorf("s3 read %s: %w", r.where, err)
	}
	return n, err
}

func (r *s3Reader) Close() error { return r.body.Close() }

// Size implements snapshot.Storage with a HEAD request.
func (s *Storage) Size(ctx context.Context, name string) (int64, error) {
	_, key, err := s.resolve(ctx, "stat", name)
	if err != nil {
		return 0, err
	}
	info, err := s.client.StatObject(ctx, s.bucket, key, minio.StatObjectOptions{})
	if err != nil {
		return 0, s.s3Error(ctx, "stat", key, err)
	}
	return info.Size, nil
}

// List implements snapshot.Storage.
func (s *Storage) List(ctx context.Context, dir string) ([]string, error) {
	infos, err := s.ListInfo(ctx, dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(infos))
	for i, fi := range infos {
		names[i] = fi.Name
	}
	return names, nil
}

// ListInfo implements snapshot.InfoLister with a delimited listing of the
// directory's prefix (as many requests as it has 1000s of entries).
// ModTime is the object's Last-Modified time, which S3 gives in seconds.
func (s *Storage) ListInfo(ctx context.Context, dir string) ([]snapshot.FileInfo, error) {
	var listPrefix string
	if dir == "" || dir == "." || dir == "/" {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("s3 list: %w", err)
		}
		if s.closed.Load() {
			return nil, fmt.Errorf("s3 list: %w", snapshot.ErrClosed)
		}
		if s.prefix != "" {
			listPrefix = s.prefix + "/"
		}
	} else {
		_, key, err := s.resolve(ctx, "list", strings.TrimSuffix(dir, "/"))
		if err != nil {
			return nil, err
		}
		listPrefix = key + "/"
	}
	lctx, cancel := context.WithCancel(ctx)
	defer cancel() // stops the lister on an early return
	var infos []snapshot.FileInfo
	for obj := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: listPrefix}) {
		if obj.Err != nil {
			return nil, s.listError(ctx, listPrefix, obj.Err)
		}
		n := strings.TrimPrefix(obj.Key, listPrefix)
		if n == "" || n == "/" || strings.HasPrefix(n, snapshot.TempPrefix) {
			continue // a directory marker of another tool, or a reserved name
		}
		fi := snapshot.FileInfo{Name: n}
		if !strings.HasSuffix(n, "/") {
			fi.Size, fi.ModTime = obj.Size, obj.LastModified
		}
		infos = append(infos, fi)
	}
	if err := ctx.Err(); err != nil {
		// The lister ends quietly when its context is cancelled.
		return nil, fmt.Errorf("s3 list %s: %w", s.where(listPrefix), err)
	}
	infos, err := s.dropEmptyDirs(ctx, listPrefix, infos)
	if err != nil {
		return nil, err
	}
	sort.Slice(infos, func(i, j int) bool { return infos[i].Name < infos[j].Name })
	return infos, nil
}

// maxDirChecks bounds the listings dropEmptyDirs runs at once.
const maxDirChecks = 8

// dropEmptyDirs removes from infos, the listing of listPrefix, the
// directories below which no file lies: prefixes that only directory
// markers hold, or that the server still lists after their last file was
// deleted. It asks for the first few keys below each, up to maxDirChecks
// at a time.
func (s *Storage) dropEmptyDirs(ctx context.Context, listPrefix string, infos []snapshot.FileInfo) ([]snapshot.FileInfo, error) {
	keep := make([]bool, len(infos))
	errs := make([]error, len(infos))
	sem := make(chan struct{}, maxDirChecks)
	var wg sync.WaitGroup
	for i, fi := range infos {
		if !strings.HasSuffix(fi.Name, "/") {
			keep[i] = true
			continue
		}
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			keep[i], errs[i] = s.holdsFile(ctx, listPrefix+fi.Name)
		})
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return nil, s.listError(ctx, listPrefix, err)
	}
	kept := infos[:0]
	for i, fi := range infos {
		if keep[i] {
			kept = append(kept, fi)
		}
	}
	return kept, nil
}

// holdsFile reports whether a file lies below the key prefix dirPrefix
// (which ends in "/"): an object that is neither a directory marker (a key
// ending in "/") nor a reserved name.
func (s *Storage) holdsFile(ctx context.Context, dirPrefix string) (bool, error) {
	lctx, cancel := context.WithCancel(ctx)
	defer cancel()
	for obj := range s.client.ListObjects(lctx, s.bucket, minio.ListObjectsOptions{Prefix: dirPrefix, Recursive: true, MaxKeys: 16}) {
		if obj.Err != nil {
			return false, obj.Err
		}
		if !strings.HasSuffix(obj.Key, "/") && !strings.HasPrefix(path.Base(obj.Key), snapshot.TempPrefix) {
			return true, nil
		}
	}
	return false, ctx.Err()
}

func (s *Storage) listError(ctx context.Context, listPrefix string, err error) error {
	if ctx.Err() != nil {
		return fmt.Errorf("s3 list %s: %w", s.where(listPrefix), ctx.Err())
	}
	return fmt.Errorf("s3 list %s: %w", s.where(listPrefix), err)
}

// Delete implements snapshot.Storage. S3 deletes of missing keys succeed.
func (s *Storage) Delete(ctx context.Context, name string) error {
	_, key, err := s.resolve(ctx, "delete", name)
	if err != nil {
		return err
	}
	if err := s.client.RemoveObject(ctx, s.bucket, key, minio.RemoveObjectOptions{}); err != nil {
		if err := s.s3Error(ctx, "delete", key, err); !errors.Is(err, snapshot.ErrNotExist) {
			return err
		}
	}
	return nil
}

// DeleteAll implements snapshot.BatchDeleter with multi-object deletes of up to
// 1000 keys per request. Invalid names are reported (wrapping
// snapshot.ErrInvalidName) and the others still deleted; a name left undeleted
// because a request failed or ctx was cancelled is reported with that
// cause.
func (s *Storage) DeleteAll(ctx context.Context, names []string) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("s3 delete: %w", err)
	}
	if s.closed.Load() {
		return fmt.Errorf("s3 delete: %w", snapshot.ErrClosed)
	}
	var errs []error
	pending := make(map[string]bool, len(names)) // key -> still unconfirmed
	keys := make([]string, 0, len(names))
	for _, n := range names {
		_, key, err := s.resolve(ctx, "delete", n)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		if !pending[key] {
			pending[key] = true
			keys = append(keys, key)
		}
	}
	if len(keys) == 0 {
		return errors.Join(errs...)
	}
	objects := func(yield func(minio.ObjectInfo) bool) {
		for _, k := range keys {
			if !yield(minio.ObjectInfo{Key: k}) {
				return
			}
		}
	}
	results, err := s.client.RemoveObjectsWithIter(ctx, s.bucket, objects, minio.RemoveObjectsOptions{})
	if err != nil {
		return errors.Join(append(errs, fmt.Errorf("s3 delete in %s: %w", s.bucket, err))...)
	}
	var lastErr error
	for r := range results {
		if r.Err != nil && r.ObjectName == "" {
			lastErr = r.Err // an unreadable response
			continue
		}
		if !pending[r.ObjectName] {
			continue
		}
		delete(pending, r.ObjectName)
		if r.Err != nil {
			lastErr = r.Err
			if e := s.s3Error(ctx, "delete", r.ObjectName, r.Err); !errors.Is(e, snapshot.ErrNotExist) {
				errs = append(errs, e)
			}
		}
	}
	if len(pending) > 0 {
		cause := lastErr
		if ctx.Err() != nil {
			cause = ctx.Err()
		}
		if cause == nil {
			cause = errors.New("no answer from the store")
		}
		left := make([]string, 0, len(pending))
		for k := range pending {
			left = append(left, k)
		}
		slices.Sort(left)
		for _, k := range left {
			errs = append(errs, fmt.Errorf("s3 delete %s: not deleted: %w", s.where(k), cause))
		}
	}
	return errors.Join(errs...)
}

// Close implements snapshot.Storage. It is idempotent; writers already created may
// still commit or abort, every other call fails with snapshot.ErrClosed. The spool
// directory is removed once the last writer is done. Leases acquired
// keep being renewed until they are released.
func (s *Storage) Close() error {
	if s.closed.CompareAndSwap(false, true) {
		s.spool.close()
		s.transport.CloseIdleConnections()
	}
	return nil
}

// String describes the storage as a location: "s3://bucket/prefix".
func (s *Storage) String() string {
	if s.prefix == "" {
		return "s3://" + s.bucket
	}
	return "s3://" + s.bucket + "/" + s.prefix
}

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// corrupt builds the *snapshot.CorruptError of a stored object.
func corrupt(where string, off int64, reason string, err error) *snapshot.CorruptError {
	return &snapshot.CorruptError{Path: where, Offset: off, Reason: reason, Err: err}
}
