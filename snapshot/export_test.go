package snapshot

// SetS3ReadHook makes the uploads of s call hook with the file's name and
// the offset before every read of a spooled file, so that tests can stop
// the store in the middle of an upload. Not safe to call concurrently with
// uploads.
func SetS3ReadHook(s *S3Storage, hook func(name string, off int64)) { s.readHook = hook }
