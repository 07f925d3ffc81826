package config

import (
	"strings"

	"github.com/stated-io/stated/providers"
	"github.com/stated-io/stated/providers/s3"
)

// StorageOptions returns the options that providers.Open needs for
// the job's locations: the s3.* keys for s3:// locations.
func (j *Job) StorageOptions() providers.Options {
	return providers.Options{S3: s3.Options{
		Endpoint:          j.S3.Endpoint,
		AccessKey:         j.S3.AccessKey,
		SecretKey:         j.S3.SecretKey,
		Region:            j.S3.Region,
		PathStyle:         j.S3.PathStyle,
		Checksum:          j.S3.Checksum,
		ConditionalWrites: j.S3.ConditionalWrites,
	}}
}

// parseS3Endpoint accepts "" (no endpoint) or what
// s3.CheckEndpoint accepts: a scheme is required, since a bare
// host:port does not say whether it speaks TLS.
func parseS3Endpoint(v string, dst *string) error {
	if v != "" {
		if err := s3.CheckEndpoint(v); err != nil {
			reason := "want http://host:port or https://host[:port]"
			if !strings.Contains(v, "://") {
				reason = "missing scheme: write http://" + v + " or https://" + v
			}
			return &invalid{reason: reason, cause: err}
		}
	}
	*dst = v
	return nil
}
