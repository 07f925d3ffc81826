package config

import (
	"strings"

	"github.com/stated-io/stated/snapshot"
)

// StorageOptions returns the options that snapshot.OpenStorage needs for
// the job's locations: the s3.* keys for s3:// locations.
func (j *Job) StorageOptions() snapshot.StorageOptions {
	return snapshot.StorageOptions{S3: snapshot.S3Options{
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
// snapshot.CheckS3Endpoint accepts: a scheme is required, since a bare
// host:port does not say whether it speaks TLS.
func parseS3Endpoint(v string, dst *string) error {
	if v != "" {
		if err := snapshot.CheckS3Endpoint(v); err != nil {
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
