package config

import (
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
)

// Job is a parsed, validated job configuration. Parse builds it; every
// field holds the default of its key when the key was not given.
type Job struct {
	// Name is pipeline.name, the job id. It names a directory, so it
	// matches ^[A-Za-z0-9][A-Za-z0-9._-]*$. Default "": the caller chooses.
	Name string

	// Backend is state.backend.type. Default BackendHashMap.
	Backend BackendType
	// LSMLocalDir is state.backend.lsm.local-dir, the working directory of
	// the lsm backend. Default "": see LocalDir.
	LSMLocalDir string

	// CheckpointDir is execution.checkpointing.dir, a location accepted by
	// providers.ParseLocation (file:///abs, s3://bucket/prefix,
	// stated://host:port or a plain path). Default "": none.
	CheckpointDir string
	// SavepointDir is execution.checkpointing.savepoint-dir, a location
	// like CheckpointDir. Default "": none.
	SavepointDir string
	// Interval is execution.checkpointing.interval, the time between
	// periodic checkpoints; 0 disables them. Default 1s.
	Interval time.Duration
	// Timeout is execution.checkpointing.timeout, after which a checkpoint
	// is aborted; always > 0. Default 10min.
	Timeout time.Duration
	// Incremental is execution.checkpointing.incremental. Default true.
	Incremental bool
	// NumRetained is execution.checkpointing.num-retained, the number of
	// completed checkpoints kept; always ≥ 1. Default 1.
	NumRetained int
	// Retention is
	// execution.checkpointing.externalized-checkpoint-retention.
	// Default RetainOnCancellation.
	Retention Retention
	// Compression is execution.checkpointing.snapshot-compression, one of
	// none, zstd, s2. Default snapshot.CompressionNone.
	Compression snapshot.Compression

	// RecoveryPath is execution.state-recovery.path: the chk-<n> directory,
	// its _metadata file or the savepoint directory to restore from, as a
	// location accepted by providers.ParseLocation. Default "": start empty.
	RecoveryPath string
	// ClaimMode is execution.state-recovery.claim-mode, NO_CLAIM or CLAIM.
	// Default backend.NoClaim.
	ClaimMode backend.ClaimMode
	// IgnoreUnclaimedState is
	// execution.state-recovery.ignore-unclaimed-state (Flink's
	// allow-non-restored-state): a restore may skip state no operator
	// claims. Default false.
	IgnoreUnclaimedState bool
	// UncoveredOutput is execution.state-recovery.uncovered-output: what
	// the exactly-once file sink does with committed files in its output
	// directory that the restored snapshot does not cover (all of them
	// when the job starts without a restore). Default UncoveredOutputFail.
	UncoveredOutput UncoveredOutput
	// AdoptLegacyOutput is execution.state-recovery.adopt-legacy-output: a
	// restored snapshot written before the file sink recorded its committed
	// files covers every committed file of the output directory. Default
	// false: such a restore over committed output is refused.
	AdoptLegacyOutput bool
	// LeaseTTL is execution.checkpointing.lease-ttl: how long the job's
	// lease on its checkpoint directory outlives the last renewal on
	// stores that renew (object stores); > 0. Default
	// snapshot.DefaultLeaseTTL (30s).
	LeaseTTL time.Duration

	// Parallelism is parallelism.default, in [1, snapshot.MaxMaxParallelism]
	// and at most MaxParallelism when MaxParallelismSet. Default 1.
	Parallelism int
	// MaxParallelism is pipeline.max-parallelism, the number of key groups,
	// in [1, snapshot.MaxMaxParallelism]. Default 128.
	MaxParallelism int
	// MaxParallelismSet reports whether pipeline.max-parallelism was given
	// (in the file or by --set). When it was not, a restore adopts the
	// max-parallelism stored in the snapshot.
	MaxParallelismSet bool

	// S3 holds the s3.* keys.
	S3 S3Options
}

// S3Options configures the S3 client of s3:// locations.
type S3Options struct {
	// Endpoint is s3.endpoint, e.g. http://localhost:9000 or
	// https://s3.eu-west-1.amazonaws.com, with its scheme. Required for
	// s3:// locations. Default "".
	Endpoint string
	// AccessKey is s3.access-key. Default "".
	AccessKey string
	// SecretKey is s3.secret-key. Default "".
	SecretKey string
	// Region is s3.region. Default "".
	Region string
	// PathStyle is s3.path-style: address buckets as endpoint/bucket
	// rather than bucket.endpoint. Default false.
	PathStyle bool
	// Checksum is s3.checksum: header, trailer or none (see
	// s3.Checksum). Default s3.ChecksumHeader.
	Checksum s3.Checksum
	// ConditionalWrites is s3.conditional-writes: required or unchecked
	// (see s3.ConditionalWrites). Default
	// s3.ConditionalWritesRequired.
	ConditionalWrites s3.ConditionalWrites
}

// DefaultLSMDirName is the directory under os.TempDir that LocalDir returns
// when state.backend.lsm.local-dir is not set.
const DefaultLSMDirName = "stated-lsm"

// LocalDir returns the working directory of the lsm backend:
// state.backend.lsm.local-dir, or os.TempDir()/stated-lsm when it is empty.
func (j *Job) LocalDir() string {
	if j.LSMLocalDir != "" {
		return j.LSMLocalDir
	}
	return filepath.Join(os.TempDir(), DefaultLSMDirName)
}

// UncoveredOutput is a value of execution.state-recovery.uncovered-output.
type UncoveredOutput uint8

// The values of execution.state-recovery.uncovered-output.
const (
	// UncoveredOutputFail refuses the start (the default).
	UncoveredOutputFail UncoveredOutput = iota
	// UncoveredOutputMoveAside moves the files into a new subdirectory of
	// the output directory whose name starts with "_", and goes on.
	UncoveredOutputMoveAside
)

// String returns the key value, e.g. "FAIL".
func (u UncoveredOutput) String() string {
	switch u {
	case UncoveredOutputFail:
		return "FAIL"
	case UncoveredOutputMoveAside:
		return "MOVE_ASIDE"
	}
	return "UncoveredOutput(" + strconv.Itoa(int(u)) + ")"
}

// BackendType is a value of state.backend.type.
type BackendType string

// The values of state.backend.type.
const (
	// BackendHashMap keeps state as objects on the heap.
	BackendHashMap BackendType = "hashmap"
	// BackendLSM keeps state in a local LSM tree.
	BackendLSM BackendType = "lsm"
	// BackendRemote keeps state in a remote store.
	BackendRemote BackendType = "remote"
)

// String returns the key value, e.g. "hashmap".
func (b BackendType) String() string { return string(b) }

// Retention is a value of
// execution.checkpointing.externalized-checkpoint-retention: what happens to
// retained checkpoints when the job is cancelled.
type Retention uint8

// The values of execution.checkpointing.externalized-checkpoint-retention.
const (
	// RetainOnCancellation keeps them (the default).
	RetainOnCancellation Retention = iota
	// DeleteOnCancellation deletes them.
	DeleteOnCancellation
	// NoExternalizedCheckpoints keeps no checkpoint once the job ends.
	NoExternalizedCheckpoints
)

// String returns the key value, e.g. "RETAIN_ON_CANCELLATION".
func (r Retention) String() string {
	switch r {
	case RetainOnCancellation:
		return "RETAIN_ON_CANCELLATION"
	case DeleteOnCancellation:
		return "DELETE_ON_CANCELLATION"
	case NoExternalizedCheckpoints:
		return "NO_EXTERNALIZED_CHECKPOINTS"
	}
	return "Retention(" + strconv.Itoa(int(r)) + ")"
}
