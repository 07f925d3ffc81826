package config

import (
	"slices"
	"strings"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
)

// The keys Parse knows.
const (
	KeyName                 = "pipeline.name"
	KeyBackendType          = "state.backend.type"
	KeyLSMLocalDir          = "state.backend.lsm.local-dir"
	KeyCheckpointDir        = "execution.checkpointing.dir"
	KeySavepointDir         = "execution.checkpointing.savepoint-dir"
	KeyInterval             = "execution.checkpointing.interval"
	KeyTimeout              = "execution.checkpointing.timeout"
	KeyIncremental          = "execution.checkpointing.incremental"
	KeyNumRetained          = "execution.checkpointing.num-retained"
	KeyRetention            = "execution.checkpointing.externalized-checkpoint-retention"
	KeyCompression          = "execution.checkpointing.snapshot-compression"
	KeyRecoveryPath         = "execution.state-recovery.path"
	KeyClaimMode            = "execution.state-recovery.claim-mode"
	KeyIgnoreUnclaimedState = "execution.state-recovery.ignore-unclaimed-state"
	KeyUncoveredOutput      = "execution.state-recovery.uncovered-output"
	KeyAdoptLegacyOutput    = "execution.state-recovery.adopt-legacy-output"
	KeyLeaseTTL             = "execution.checkpointing.lease-ttl"
	KeyParallelism          = "parallelism.default"
	KeyMaxParallelism       = "pipeline.max-parallelism"
	KeyS3Endpoint           = "s3.endpoint"
	KeyS3AccessKey          = "s3.access-key"
	KeyS3SecretKey          = "s3.secret-key"
	KeyS3Region             = "s3.region"
	KeyS3PathStyle          = "s3.path-style"
	KeyS3Checksum           = "s3.checksum"
	KeyS3ConditionalWrites  = "s3.conditional-writes"
)

// spec is one known key: its default (in the form a user would write it)
// and how its value is parsed into a Job. set returns nil or an *invalid.
type spec struct {
	key string
	def string
	set func(j *Job, v string) error
}

// specs lists every key. Parse applies def through set for keys not given,
// so a default is validated exactly like a user's value.
var specs = []spec{
	{KeyName, "", func(j *Job, v string) error { return parseName(v, &j.Name) }},
	{KeyBackendType, string(BackendHashMap), func(j *Job, v string) error {
		return parseEnum(v, &j.Backend, named(BackendHashMap, BackendLSM, BackendRemote))
	}},
	{KeyLSMLocalDir, "", func(j *Job, v string) error { j.LSMLocalDir = v; return nil }},
	{KeyCheckpointDir, "", func(j *Job, v string) error { return parseLocation(v, &j.CheckpointDir) }},
	{KeySavepointDir, "", func(j *Job, v string) error { return parseLocation(v, &j.SavepointDir) }},
	{KeyInterval, "1s", func(j *Job, v string) error { return parseDuration(v, &j.Interval, false) }},
	{KeyTimeout, "10min", func(j *Job, v string) error { return parseDuration(v, &j.Timeout, true) }},
	{KeyIncremental, "true", func(j *Job, v string) error { return parseBool(v, &j.Incremental) }},
	{KeyNumRetained, "1", func(j *Job, v string) error { return parseInt(v, &j.NumRetained, 1, maxInt) }},
	{KeyRetention, RetainOnCancellation.String(), func(j *Job, v string) error {
		return parseEnum(v, &j.Retention, named(RetainOnCancellation, DeleteOnCancellation, NoExternalizedCheckpoints))
	}},
	{KeyCompression, snapshot.CompressionNone.String(), func(j *Job, v string) error {
		return parseEnum(v, &j.Compression, named(snapshot.CompressionNone, snapshot.CompressionZstd, snapshot.CompressionS2))
	}},
	{KeyRecoveryPath, "", func(j *Job, v string) error { return parseLocation(v, &j.RecoveryPath) }},
	{KeyClaimMode, "NO_CLAIM", func(j *Job, v string) error {
		return parseEnum(v, &j.ClaimMode, []choice[backend.ClaimMode]{{"NO_CLAIM", backend.NoClaim}, {"CLAIM", backend.Claim}})
	}},
	{KeyIgnoreUnclaimedState, "false", func(j *Job, v string) error { return parseBool(v, &j.IgnoreUnclaimedState) }},
	{KeyUncoveredOutput, UncoveredOutputFail.String(), func(j *Job, v string) error {
		return parseEnum(v, &j.UncoveredOutput, named(UncoveredOutputFail, UncoveredOutputMoveAside))
	}},
	{KeyAdoptLegacyOutput, "false", func(j *Job, v string) error { return parseBool(v, &j.AdoptLegacyOutput) }},
	{KeyLeaseTTL, snapshot.DefaultLeaseTTL.String(), func(j *Job, v string) error { return parseDuration(v, &j.LeaseTTL, true) }},
	{KeyParallelism, "1", func(j *Job, v string) error {
		return parseInt(v, &j.Parallelism, 1, snapshot.MaxMaxParallelism)
	}},
	{KeyMaxParallelism, "128", func(j *Job, v string) error {
		return parseInt(v, &j.MaxParallelism, 1, snapshot.MaxMaxParallelism)
	}},
	{KeyS3Endpoint, "", func(j *Job, v string) error { return parseS3Endpoint(v, &j.S3.Endpoint) }},
	{KeyS3AccessKey, "", func(j *Job, v string) error { j.S3.AccessKey = v; return nil }},
	{KeyS3SecretKey, "", func(j *Job, v string) error { j.S3.SecretKey = v; return nil }},
	{KeyS3Region, "", func(j *Job, v string) error { j.S3.Region = v; return nil }},
	{KeyS3PathStyle, "false", func(j *Job, v string) error { return parseBool(v, &j.S3.PathStyle) }},
	{KeyS3Checksum, s3.ChecksumHeader.String(), func(j *Job, v string) error {
		return parseEnum(v, &j.S3.Checksum, named(s3.ChecksumHeader, s3.ChecksumTrailer, s3.ChecksumNone))
	}},
	{KeyS3ConditionalWrites, s3.ConditionalWritesRequired.String(), func(j *Job, v string) error {
		return parseEnum(v, &j.S3.ConditionalWrites, named(s3.ConditionalWritesRequired, s3.ConditionalWritesUnchecked))
	}},
}

const maxInt = int(^uint(0) >> 1)

// Keys returns every key Parse knows, sorted.
func Keys() []string {
	keys := make([]string, len(specs))
	for i, s := range specs {
		keys[i] = s.key
	}
	slices.Sort(keys)
	return keys
}

// Default returns the default value of key as a user would write it ("1s",
// "hashmap"), and whether key is known. An empty default means unset (for
// pipeline.name the caller chooses one; for state.backend.lsm.local-dir see
// Job.LocalDir).
func Default(key string) (value string, ok bool) {
	s, ok := lookup(key)
	return s.def, ok
}

func lookup(key string) (spec, bool) {
	for _, s := range specs {
		if s.key == key {
			return s, true
		}
	}
	return spec{}, false
}

// renamed maps Flink keys that stated spells differently (mostly names
// Flink itself deprecated) to stated's key, for suggestions only.
var renamed = map[string]string{
	"state.backend":                              KeyBackendType,
	"state.backend.incremental":                  KeyIncremental,
	"state.backend.rocksdb.localdir":             KeyLSMLocalDir,
	"state.checkpoints.dir":                      KeyCheckpointDir,
	"state.savepoints.dir":                       KeySavepointDir,
	"state.checkpoints.num-retained":             KeyNumRetained,
	"execution.checkpointing.max-retained":       KeyNumRetained,
	"execution.savepoint.path":                   KeyRecoveryPath,
	"execution.savepoint-restore-mode":           KeyClaimMode,
	"execution.state-recovery.restore-mode":      KeyClaimMode,
	"execution.savepoint.ignore-unclaimed-state": KeyIgnoreUnclaimedState,
	"execution.checkpointing.retention":          KeyRetention,
}

// suggest returns the known key an unknown key most likely means, or "".
// It tries, in order: a renamed Flink key, a known key that ends with
// "."+key, and the known key at the smallest edit distance when that
// distance is small for the key's length.
func suggest(key string) string {
	if k, ok := renamed[key]; ok {
		return k
	}
	var suffix []string
	for _, s := range specs {
		if strings.HasSuffix(s.key, "."+key) {
			suffix = append(suffix, s.key)
		}
	}
	if len(suffix) == 1 {
		return suffix[0]
	}
	lower := strings.ToLower(key)
	best, bestDist := "", maxInt
	for _, k := range Keys() {
		if d := editDistance(lower, k, bestDist); d < bestDist {
			best, bestDist = k, d
		}
	}
	if bestDist <= max(2, len(key)/5) {
		return best
	}
	return ""
}

// editDistance returns the Levenshtein distance between a and b in bytes,
// or some value ≥ limit once it is known to be at least limit.
func editDistance(a, b string, limit int) int {
	if d := len(a) - len(b); d >= limit || -d >= limit {
		return limit
	}
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		rowMin := cur[0]
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			rowMin = min(rowMin, cur[j])
		}
		if rowMin >= limit {
			return limit
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}
