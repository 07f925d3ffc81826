package config

import "github.com/stated-io/stated/snapshot"

// StorageOptions returns the options that snapshot.OpenStorage needs for
// the job's locations: the s3.* keys for s3:// locations.
func (j *Job) StorageOptions() snapshot.StorageOptions {
	return snapshot.StorageOptions{S3: snapshot.S3Options{
		Endpoint:  j.S3.Endpoint,
		AccessKey: j.S3.AccessKey,
		SecretKey: j.S3.SecretKey,
		Region:    j.S3.Region,
		PathStyle: j.S3.PathStyle,
	}}
}
