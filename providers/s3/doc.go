// Package s3 is the S3 storage provider: a snapshot.Storage on a bucket of
// AWS S3 or an S3-compatible store (MinIO, versitygw), with CRC32C
// checked end to end, conditional writes probed at open, leases kept as
// objects written with conditional PUTs, and uploads spooled to local
// files first (snapshot/FORMAT.md sections 5 and 8). providers.Open opens
// it for s3://bucket/prefix locations; only the edges import it.
package s3
