// Package file is the local file-system storage provider: a
// snapshot.Storage on a directory, whose commits are durable (temporary
// file, fsync, rename, fsync of the directory) and whose leases are
// flock(2) locks the kernel drops with the process (snapshot/FORMAT.md
// sections 5 and 7). providers.Open opens it for paths and file:// URLs;
// SyncDir is the fsync of a directory that other local writers (the
// engine's file sink) use.
package file
