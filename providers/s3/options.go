package s3

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
)

// Limits of Options.PartSize: S3 refuses parts below 5 MiB (except the
// last) and above 5 GiB.
const (
	MinPartSize = 5 << 20
	MaxPartSize = 5 << 30
)

// Options configures a Storage (and the s3:// locations of
// OpenStorage). Zero values take the defaults documented on each field;
// EnsureDefaults fills them in and Validate checks the result.
type Options struct {
	// Endpoint is the S3 endpoint (s3.endpoint): "http://host:port" or
	// "https://host[:port]". Required, with its scheme: there is no
	// implicit AWS default, and a bare "host:port" is refused rather than
	// guessed to mean https.
	Endpoint string
	// AccessKey and SecretKey are the static credentials (s3.access-key,
	// s3.secret-key). When both are empty, EnsureDefaults takes
	// AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; with none at all the
	// requests are anonymous. Setting only one is an error.
	AccessKey string
	SecretKey string
	// Region is the bucket's region (s3.region). Default: AWS_REGION if
	// set, otherwise the client asks the endpoint once per bucket.
	Region string
	// PathStyle addresses buckets as endpoint/bucket (s3.path-style), as
	// MinIO and most self-hosted stores want. When false the client
	// chooses: virtual-host style (bucket.endpoint) for AWS and other
	// hosts known to support it, path style otherwise (IP addresses,
	// unknown hosts).
	PathStyle bool
	// PartSize is the size of the parts of a multipart upload; a file of
	// at most PartSize bytes is uploaded with one PUT. Default 16 MiB;
	// allowed [MinPartSize, MaxPartSize]. Each upload in flight holds
	// up to Concurrency parts in memory.
	PartSize int64
	// Concurrency is the number of parts of one file uploaded in
	// parallel. Default 4.
	Concurrency int
	// MaxRetries is how many times a request is tried before its error is
	// returned (1: no retry), with a jittered exponential backoff of 200 ms
	// to 1 s between tries. Default 5, which gives up on an unreachable
	// endpoint within a few seconds. Only answers that a later try can
	// change are retried (no answer, 5xx other than 501, 408, 429, throttling,
	// MinIO's "Server not initialized yet", AWS's 409
	// ConditionalRequestConflict); a refused checksum (BadDigest), 501 Not
	// Implemented, 403 Access Denied and every other 4xx fail at once.
	// Commit also starts an upload that failed with a retryable error again
	// from the spool file, at most min(MaxRetries, 3) times in all.
	MaxRetries int
	// Checksum is how uploads carry the CRC32C of their bytes for the
	// server to check (s3.checksum). Default ChecksumHeader, the one mode
	// that MinIO, AWS S3, versitygw and SeaweedFS all accept over http and
	// https; see Checksum.
	Checksum Checksum
	// ConditionalWrites says whether New checks that the server
	// honours conditional PUTs (s3.conditional-writes). Default
	// ConditionalWritesRequired; see ConditionalWrites.
	ConditionalWrites ConditionalWrites
	// SpoolDir is the local directory under which files being written are
	// spooled until Commit uploads them: each Storage that writes spools
	// into a directory of its own there, "stated-s3-spool-*", locked while
	// it is open, and every Storage opened removes the directories of
	// storages whose process died. Default os.TempDir().
	SpoolDir string
	// Logger receives debug logs of uploads and warnings of uploads
	// started again. Default: discard.
	Logger *slog.Logger
}

// EnsureDefaults fills in the defaults of unset optional fields. It reads
// the AWS_* environment variables for missing credentials and region.
func (o *Options) EnsureDefaults() {
	if o.AccessKey == "" && o.SecretKey == "" {
		o.AccessKey = os.Getenv("AWS_ACCESS_KEY_ID")
		o.SecretKey = os.Getenv("AWS_SECRET_ACCESS_KEY")
	}
	if o.Region == "" {
		o.Region = os.Getenv("AWS_REGION")
	}
	if o.PartSize == 0 {
		o.PartSize = 16 << 20
	}
	if o.Concurrency == 0 {
		o.Concurrency = 4
	}
	if o.MaxRetries == 0 {
		o.MaxRetries = 5
	}
	if o.SpoolDir == "" {
		o.SpoolDir = os.TempDir()
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem of o at once. Call it after
// EnsureDefaults.
func (o *Options) Validate() error {
	var errs []error
	if _, _, err := parseS3Endpoint(o.Endpoint); err != nil {
		errs = append(errs, err)
	}
	if (o.AccessKey == "") != (o.SecretKey == "") {
		errs = append(errs, errors.New("only one of AccessKey (s3.access-key) and SecretKey (s3.secret-key) is set"))
	}
	if o.PartSize < MinPartSize || o.PartSize > MaxPartSize {
		errs = append(errs, fmt.Errorf("invalid PartSize %d: outside [5 MiB, 5 GiB]", o.PartSize))
	}
	if o.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("invalid Concurrency %d: must be at least 1", o.Concurrency))
	}
	if o.MaxRetries < 1 {
		errs = append(errs, fmt.Errorf("invalid MaxRetries %d: must be at least 1", o.MaxRetries))
	}
	if int(o.Checksum) >= len(s3ChecksumNames) {
		errs = append(errs, fmt.Errorf("invalid Checksum (s3.checksum) %d", o.Checksum))
	}
	if int(o.ConditionalWrites) >= len(s3ConditionalWritesNames) {
		errs = append(errs, fmt.Errorf("invalid ConditionalWrites (s3.conditional-writes) %d", o.ConditionalWrites))
	}
	if o.SpoolDir == "" {
		errs = append(errs, errors.New("missing SpoolDir"))
	} else if fi, err := os.Stat(o.SpoolDir); err != nil {
		errs = append(errs, fmt.Errorf("invalid SpoolDir: %w", err))
	} else if !fi.IsDir() {
		errs = append(errs, fmt.Errorf("invalid SpoolDir %s: not a directory", o.SpoolDir))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("s3 options: %w", err)
	}
	return nil
}

// CheckEndpoint reports what is wrong with an S3 endpoint as
// Options.Endpoint (s3.endpoint) takes it: "http://host:port" or
// "https://host[:port]", nothing more. The error names the key and says
// what to write.
func CheckEndpoint(endpoint string) error {
	_, _, err := parseS3Endpoint(endpoint)
	return err
}

// parseS3Endpoint splits an endpoint into the host[:port] the client wants
// and whether it uses TLS.
func parseS3Endpoint(endpoint string) (host string, secure bool, err error) {
	if endpoint == "" {
		return "", false, errors.New("missing Endpoint: set s3.endpoint (e.g. http://localhost:9000 or https://s3.eu-west-1.amazonaws.com)")
	}
	if !strings.Contains(endpoint, "://") {
		return "", false, fmt.Errorf("invalid Endpoint (s3.endpoint) %q: missing scheme: write http://%s or https://%s", endpoint, endpoint, endpoint)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return "", false, fmt.Errorf("invalid Endpoint (s3.endpoint) %q: %v", endpoint, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", false, fmt.Errorf("invalid Endpoint (s3.endpoint) %q: scheme must be http or https", endpoint)
	case u.Host == "":
		return "", false, fmt.Errorf("invalid Endpoint (s3.endpoint) %q: missing host", endpoint)
	case u.Path != "" && u.Path != "/", u.RawQuery != "", u.Fragment != "", u.User != nil:
		return "", false, fmt.Errorf("invalid Endpoint (s3.endpoint) %q: only scheme, host and port are allowed", endpoint)
	}
	return u.Host, u.Scheme == "https", nil
}

// Checksum is how uploads carry the CRC32C of their bytes
// (Options.Checksum, s3.checksum). In every mode the CRC32C is computed
// locally while the file is written, Commit checks what the server
// reports against it (see Storage), and the object carries it as the
// user metadata x-amz-meta-stated-crc32c.
type Checksum uint8

const (
	// ChecksumHeader ("header", the default) sends the CRC32C of each
	// PUT and each part in an x-amz-checksum-crc32c header, computed before
	// the request. It is the mode every server tried accepts over both
	// http and https: MinIO, AWS S3, versitygw (posix) and SeaweedFS.
	ChecksumHeader Checksum = iota
	// ChecksumTrailer ("trailer") sends the CRC32C in a trailer after an
	// aws-chunked body, as the AWS SDKs do by default. Over plain http the
	// chunks are signed (STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER), which
	// versitygw v1.8 refuses with BadDigest; over https it is the
	// unsigned-payload trailer, which it accepts.
	ChecksumTrailer
	// ChecksumNone ("none") sends no checksum, for servers that refuse
	// them (versitygw's posix backend with --nometa refuses checksummed
	// multipart uploads). The server then checks nothing beyond the
	// signature and the length, and Commit checks only the stored size.
	ChecksumNone
)

// s3ChecksumNames are the s3.checksum values, by Checksum.
var s3ChecksumNames = [...]string{ChecksumHeader: "header", ChecksumTrailer: "trailer", ChecksumNone: "none"}

// String returns the s3.checksum value: header, trailer or none.
func (c Checksum) String() string {
	if int(c) < len(s3ChecksumNames) {
		return s3ChecksumNames[c]
	}
	return fmt.Sprintf("Checksum(%d)", uint8(c))
}

// ConditionalWrites says whether a Storage checks that its server
// honours conditional PUTs (Options.ConditionalWrites,
// s3.conditional-writes). A checkpoint's _metadata is published with
// If-None-Match: * so that of two writers racing for it exactly one wins;
// a server that ignores the header lets the second silently replace the
// first.
type ConditionalWrites uint8

const (
	// ConditionalWritesRequired ("required", the default): New
	// probes the server once (see Storage) and refuses one that ignores
	// If-None-Match; AcquireLease refuses one that ignores If-Match.
	ConditionalWritesRequired ConditionalWrites = iota
	// ConditionalWritesUnchecked ("unchecked"): no probe; the storage
	// trusts the server. Only for servers known to honour both headers,
	// or, knowingly, for one that does not while a single writer per job
	// is guaranteed by other means.
	ConditionalWritesUnchecked
)

// s3ConditionalWritesNames are the s3.conditional-writes values, by
// ConditionalWrites.
var s3ConditionalWritesNames = [...]string{ConditionalWritesRequired: "required", ConditionalWritesUnchecked: "unchecked"}

// String returns the s3.conditional-writes value: required or unchecked.
func (c ConditionalWrites) String() string {
	if int(c) < len(s3ConditionalWritesNames) {
		return s3ConditionalWritesNames[c]
	}
	return fmt.Sprintf("ConditionalWrites(%d)", uint8(c))
}
