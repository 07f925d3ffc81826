// Package config is the job configuration of the stated streaming engine:
// a YAML file (ReadFile) plus --set key=value overrides (ParseSet), checked
// and turned into a Job by Parse. Keys are Apache Flink's where Flink has
// one:
//
//	pipeline.name                                             job id, a directory name
//	state.backend.type                                        hashmap | lsm | remote (hashmap)
//	state.backend.lsm.local-dir                               lsm working dir (os.TempDir()/stated-lsm)
//	execution.checkpointing.dir                               file:///abs | s3://bucket/prefix | stated://host:port | path
//	execution.checkpointing.savepoint-dir                     same forms
//	execution.checkpointing.interval                          duration, 0 disables (1s)
//	execution.checkpointing.timeout                           duration > 0 (10min)
//	execution.checkpointing.incremental                       bool (true)
//	execution.checkpointing.num-retained                      int ≥ 1 (1)
//	execution.checkpointing.externalized-checkpoint-retention RETAIN_ON_CANCELLATION | DELETE_ON_CANCELLATION | NO_EXTERNALIZED_CHECKPOINTS
//	execution.checkpointing.snapshot-compression              none | zstd | s2 (none)
//	execution.state-recovery.path                             checkpoint or savepoint to restore
//	execution.state-recovery.claim-mode                       NO_CLAIM | CLAIM (NO_CLAIM)
//	execution.state-recovery.ignore-unclaimed-state           bool (false)
//	parallelism.default                                       1..32768 (1)
//	pipeline.max-parallelism                                  1..32768 (128)
//	s3.endpoint                                               http://host:port | https://host[:port]
//	s3.access-key, s3.secret-key, s3.region                   strings
//	s3.path-style                                             bool (false)
//	s3.checksum                                               header | trailer | none (header)
//	s3.conditional-writes                                     required | unchecked (required)
//
// Durations are Flink's ("500 ms", "10 min", "2 h", "1 d"; a bare integer
// is milliseconds) or Go's ("1m30s"). Bools are true or false; enums and
// bools ignore case.
//
// Unknown keys and bad values are rejected, all at once: Parse returns an
// errors.Join of *Problem, each naming the key, the value and what is
// allowed, and wrapping ErrUnknownKey or ErrInvalidValue.
package config
