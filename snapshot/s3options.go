package snapshot

import (
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"strings"
)

// Limits of S3Options.PartSize: S3 refuses parts below 5 MiB (except the
// last) and above 5 GiB.
const (
	MinS3PartSize = 5 << 20
	MaxS3PartSize = 5 << 30
)

// S3Options configures an S3Storage (and the s3:// locations of
// OpenStorage). Zero values take the defaults documented on each field;
// EnsureDefaults fills them in and Validate checks the result.
type S3Options struct {
	// Endpoint is the S3 endpoint (s3.endpoint): "http://host:port" or
	// "https://host[:port]"; a bare "host[:port]" means https. Required:
	// there is no implicit AWS default.
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
	// allowed [MinS3PartSize, MaxS3PartSize]. Each upload in flight holds
	// up to Concurrency parts in memory.
	PartSize int64
	// Concurrency is the number of parts of one file uploaded in
	// parallel. Default 4.
	Concurrency int
	// MaxRetries is how many times a request is tried before its error is
	// returned (1: no retry), with a jittered exponential backoff of 200 ms
	// to 1 s between tries. Default 5, which gives up on an unreachable
	// endpoint within a few seconds. The client cannot retry a request that
	// failed after sending part of a checksummed body, so Commit also
	// starts a failed upload again from the spool file, at most
	// min(MaxRetries, 3) times in all.
	MaxRetries int
	// SpoolDir is the local directory where files being written are
	// spooled until Commit uploads them. Default os.TempDir().
	SpoolDir string
	// Logger receives debug logs of uploads and warnings of uploads
	// started again. Default: discard.
	Logger *slog.Logger
}

// EnsureDefaults fills in the defaults of unset optional fields. It reads
// the AWS_* environment variables for missing credentials and region.
func (o *S3Options) EnsureDefaults() {
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
func (o *S3Options) Validate() error {
	var errs []error
	if _, _, err := parseS3Endpoint(o.Endpoint); err != nil {
		errs = append(errs, err)
	}
	if (o.AccessKey == "") != (o.SecretKey == "") {
		errs = append(errs, errors.New("only one of AccessKey (s3.access-key) and SecretKey (s3.secret-key) is set"))
	}
	if o.PartSize < MinS3PartSize || o.PartSize > MaxS3PartSize {
		errs = append(errs, fmt.Errorf("invalid PartSize %d: outside [5 MiB, 5 GiB]", o.PartSize))
	}
	if o.Concurrency < 1 {
		errs = append(errs, fmt.Errorf("invalid Concurrency %d: must be at least 1", o.Concurrency))
	}
	if o.MaxRetries < 1 {
		errs = append(errs, fmt.Errorf("invalid MaxRetries %d: must be at least 1", o.MaxRetries))
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

// parseS3Endpoint splits an endpoint into the host[:port] the client wants
// and whether it uses TLS.
func parseS3Endpoint(endpoint string) (host string, secure bool, err error) {
	if endpoint == "" {
		return "", false, errors.New("missing Endpoint: set s3.endpoint (e.g. http://localhost:9000 or https://s3.eu-west-1.amazonaws.com)")
	}
	raw := endpoint
	if !strings.Contains(raw, "://") {
		raw = "https://" + raw
	}
	u, err := url.Parse(raw)
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
