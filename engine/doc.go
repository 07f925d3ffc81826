// Package engine is stated's streaming runtime: it drives the state
// backends the way a stream processor does, with parallel subtasks,
// key-group partitioning, timers, windows, aligned checkpoint barriers, an
// exactly-once file sink, and restore and rescale from retained checkpoints
// and savepoints.
//
// # Building a job
//
// A Job is a graph of streams. Sources (FromSource) produce records;
// Map, Filter and FlatMap transform them in the same subtask (they are
// chained, as in Flink); KeyBy partitions a stream by key group, so every
// record of a key reaches the one subtask that owns the key's group; keyed
// operators (Process, WindowAggregate) keep state per key in the backend chosen by
// state.backend.type; sinks (ForEach, WriteLines) end a stream. Every
// stateful operator has a uid that names its state in snapshots; restores
// map state to operators by uid.
//
// All operators run with the job's parallelism (parallelism.default).
// A subtask of a chain runs on one goroutine; records between chains travel
// in batches over bounded channels, so a slow operator slows its upstream
// (backpressure) instead of growing memory.
//
// # Checkpoints
//
// A coordinator triggers a checkpoint every
// execution.checkpointing.interval: the sources take their offsets and
// emit a barrier; an operator with several inputs aligns them (it holds
// back the inputs whose barrier has arrived until all have), then captures
// its state synchronously and writes it in the background. When every
// subtask has written its part, the coordinator commits _metadata and
// notifies completion, which makes the file sink's output visible. A
// failed or timed-out checkpoint is aborted and the job goes on. At most
// one checkpoint is in flight.
//
// At the end of a bounded input the job emits the final watermark, takes a
// final checkpoint, commits and returns. StopWithSavepoint takes a final
// savepoint instead, commits, and returns its path.
//
// # Concurrency
//
// Job building is not safe for concurrent use. Run may be called once;
// StopWithSavepoint may be called from any goroutine while Run runs. User
// functions are called on the goroutine of their subtask, never
// concurrently for one subtask.
package engine
