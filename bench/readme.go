package main

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"runtime"
	"strings"
	"time"
)

// machine describes where the benchmarks ran.
type machine struct {
	cpuModel string
	nproc    int
	goVer    string
	platform string
}

// readMachine reads the CPU model and the processor count from
// /proc/cpuinfo, falling back to the runtime's view where it is missing.
func readMachine() machine {
	m := machine{cpuModel: "unknown", nproc: runtime.NumCPU(), goVer: runtime.Version(),
		platform: runtime.GOOS + "/" + runtime.GOARCH}
	f, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return m
	}
	defer f.Close()
	procs := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), ":")
		if !ok {
			continue
		}
		switch strings.TrimSpace(name) {
		case "processor":
			procs++
		case "model name":
			if m.cpuModel == "unknown" {
				m.cpuModel = strings.TrimSpace(value)
			}
		}
	}
	if procs > 0 {
		m.nproc = procs
	}
	return m
}

// readme renders bench/README.md for results of a run in mode cfg.mode.
func readme(cfg config, m machine, when time.Time, results []Result) string {
	var b bytes.Buffer
	b.WriteString(`# stated benchmarks

This file and ` + "`bench/results.json`" + ` are rewritten by the benchmark runner:

    go run ./bench          # full set, at most 10 minutes (make bench)
    go run ./bench -quick   # same set, fewer rounds, at most 60 s (make bench-quick)
    go run ./bench -only heap.snapshot   # metrics whose name starts with a prefix
    go run ./bench -out x.json -readme x.md   # elsewhere ("" skips writing)

Every metric is measured side by side with its baseline in the same process:
the two run alternately (A, B, then B, A, ...) on the same keys, the same
values and the same pre-generated random access order, ` + "`runtime.GC()`" + ` runs
before every timed section, and the median of the rounds is reported.
**ratio = value / baseline value.** For ` + "`us/op`, `ms`, `s`, `MB` and `blocks`" + ` lower is better, so
a ratio below 1 means stated is faster (or uploads less) than the baseline; for
` + "`MB/s` and `records/s`" + ` higher is better, so a ratio above 1 means stated is
faster. MB = 10^6 bytes. Timings are never asserted; they only make regressions
visible.

Data: 16-byte keys ` + "`k%015d`" + `, 100 random bytes per value, maxParallelism 128.

Heap backend (owning all key groups [0, 127]):

- ` + "`heap.value.get` / `heap.value.put`" + `: SetCurrentKey + ValueState Value / Update
  over a random permutation of all keys, against a Go ` + "`map[string][]byte`" + `.
- ` + "`heap.map.get`" + `: SetCurrentKey + MapState Get on 100k keys × 10 user keys (25k × 10
  in quick mode),
  against ` + "`map[string]map[string][]byte`" + `.
- ` + "`heap.list.add`" + `: SetCurrentKey + ListState Add round-robin over 100k keys from
  empty state (1M adds per round, 300k in quick mode), against ` + "`m[k] = append(m[k], v)`" + `.
- ` + "`heap.snapshot.sync.p50/p99`" + `: the synchronous phase ` + "`Backend.Snapshot()`" + ` of the
  loaded value state, with random writes between snapshots, against the time to
  copy the whole state (` + "`maps.Clone`" + ` of the Go map), i.e. the pause of a snapshot
  that copies in its synchronous phase. Every 10th capture (every 20th in quick
  mode) is written to a FileStorage, the others are released. ` + "`runtime.GC()`" + ` runs
  once before the snapshot loop, not before each sample, so the percentiles
  include the collector's interference.
- ` + "`heap.snapshot.cow.put`" + `: the same random Updates right after a snapshot, while
  its capture is still held (copy-on-write clones key-group maps), against the
  same Updates with no capture held.
- ` + "`heap.snapshot.write`" + `: the asynchronous phase ` + "`capture.Write`" + ` into a FileStorage
  (uncompressed, fsync), against writing the same number of bytes with
  ` + "`os.File.Write`" + ` in 1 MiB chunks and ` + "`Sync`" + `.

LSM backend (` + "`backend/lsm`" + `, Pebble), against raw Pebble v2 opened with the
backend's options (FormatNewest, the same block cache and memtable sizes, no
WAL, zstd via DBCompressionGood, a concatenating merger). The raw DBs of the
read metrics are opened on a copy of the LSM state's own checkpoint, so both
sides read exactly the same row keys and values from the same SST files and
levels; the raw side uses precomputed row keys. Before every timed round the
runner waits until the process is idle (Pebble's background flushes and
compactions done), so neither side pays for the other's.

- ` + "`lsm.value.get` / `lsm.value.put`" + `: SetCurrentKey + ValueState Value / Update on
  1M keys against ` + "`db.Get`" + ` + ` + "`Close`" + ` / ` + "`db.Set(NoSync)`" + ` of the same row keys, the
  same random keys (` + "`ops`" + ` per round) in the same order. The cache holds all data.
- ` + "`lsm.map.get`" + `: SetCurrentKey + MapState Get against ` + "`db.Get`" + ` of the entry row key
  (row prefix + user key).
- ` + "`lsm.list.add`" + `: SetCurrentKey + ListState Add against ` + "`db.Merge`" + ` of the same bytes
  (uvarint length + element), round-robin over the keys, each round on a new DB.
- ` + "`lsm.checkpoint.incremental.bytes`" + `: with background work settled, ` + "`update_percent`" + `
  of the keys are updated at random and a checkpoint is taken (Snapshot, Write,
  NotifyCheckpointComplete): the bytes it uploads (shared SSTs the previous one lacks +
  exclusive files), median of ` + "`pairs`" + `, against the size of all the files it references
  (what a full checkpoint uploads).
- ` + "`lsm.checkpoint.incremental.steady.bytes`" + `: the mean of the same series, which
  includes the checkpoints that upload the rewrites of Pebble's level-0 compactions
  (the largest upload in ` + "`max_incremental_mb`" + `).
- ` + "`lsm.checkpoint.sync.p50/p99`" + `: ` + "`Backend.Snapshot()`" + ` (flush + Pebble checkpoint) after
  10k random updates, against ` + "`db.Flush()`" + ` + ` + "`db.Checkpoint(dir)`" + ` on the raw DB after
  the same updates; every 5th LSM capture is written and confirmed, the others
  released.
- ` + "`lsm.restore.seconds`" + `: Restore of the last 1M-key checkpoint into a new backend
  of the same key groups, against copying the same files out of the
  FileStorage (read + write, 4 at a time, no checksum).
- ` + "`lsm.rescale.4to3.seconds`" + `: keys spread over 4 subtasks, checkpointed, then
  restored into 3 (Excise + Ingest), the 3 restores run one after the other and
  summed; against (1) re-inserting: for each new subtask, restoring every
  overlapping old subtask, reading its keys (Keys + Value) and writing those in
  range into a fresh backend, all timed; and (2) restoring the 4 handles into 4
  subtasks of the same ranges (summed).

State TTL (` + "`ttl`" + `):

- ` + "`heap.value.get.ttl`" + `: SetCurrentKey + ValueState Value on a state with a 1 h TTL
  (default config: the coarse clock, incremental cleanup of 5 entries per access)
  against the same on a state without TTL holding the same keys and values (1M;
  250k in quick mode) in the same heap backend, over the same random permutation. Nothing expires during
  the run, so incremental cleanup finds every key group's oldest timestamp
  unexpired and skips it (its cost when there is something to clean is the
  plateau test's business, not a read's).
- ` + "`lsm.value.get.ttl`" + `: the same on one LSM backend holding both states (500k keys
  each; 100k in quick mode), cache holding all data.
- ` + "`lsm.ttl.sweep.blocks_read`" + `: an LSM state with a 10 s TTL whose keys grow with
  write time (` + "`s%015d`" + `, so in each key group the oldest keys come first), the
  first 1% written 8 s before the rest (1M keys; 200k in quick mode) and the
  database compacted; at a time when exactly that 1% has expired, one
  ` + "`SweepExpired`" + `: the blocks it reads (the index blocks of the expiry buckets that
  are due, through the key-based block-property filter, and the data blocks of
  the rows they point at; plus one check per table opened, so an upper bound),
  against the data blocks of the database (` + "`lsm.ttl.blocks_total`" + `). The sweep must
  delete exactly the expired rows.

Engine (` + "`engine`" + `, parallelism 2, a keyed count job: ` + "`Generate`" + ` source → ` + "`KeyBy`" + ` →
` + "`Process`" + ` keeping a ValueState[int64] count per key and emitting it → a ` + "`ForEach`" + ` sink
that discards; checkpoints go to a local directory):

- ` + "`engine.throughput.hashmap` / `engine.throughput.lsm`" + `: records/s of the job over
  N records, key = i mod 100k, with a checkpoint every second, against the same
  job with periodic checkpoints off (` + "`execution.checkpointing.interval: 0`" + `), in
  interleaved rounds. Timed from the source's first record to the return of
  ` + "`job.Run`" + `, so both sides include the final checkpoint at the end of input (and
  closing the backends); ` + "`checkpoints_per_run`" + ` counts it too. An untimed calibration
  run without checkpoints sizes N so that a run lasts about 4 s (3 s in quick
  mode); if a run with checkpoints then completes fewer than two periodic ones,
  N doubles and the rounds start over (at most 8 times). ` + "`cpu_ratio`" + ` is the process CPU time
  per record with checkpoints over without: unlike the wall-clock rate, it
  hardly moves when other processes share the machine.
- ` + "`engine.checkpoint.duration[.lsm].p50/p99`" + `: ` + "`CheckpointStats.Duration`" + ` (trigger to
  commit of ` + "`_metadata`" + `, from ` + "`Options.OnCheckpoint`" + `) of a job whose state holds 1M keys:
  one source record per subtask is expanded into its share of the keys at full
  speed, then the source, capped at 20k records/s, updates 10k hot keys while
  checkpoints run every second (200 ms in quick mode). The first checkpoint
  that completes after the load (the first to hold every key) is not timed; the
  job is cancelled once ` + "`samples`" + ` more completed. Against
  ` + "`backend.snapshot.duration[.lsm]`" + `: the job's last checkpoint restored into one
  backend per subtask (the engine's options), then, after as many hot updates as
  the job makes in one interval and a wait for background work to settle,
  snapshotted directly through the backend API (` + "`Snapshot`" + ` + ` + "`capture.Write`" + ` to a
  FileStorage on a goroutine per subtask, as the engine does; then
  ` + "`NotifyCheckpointComplete`" + `, untimed); the first of these is not timed either (after a
  restore it uploads every file). The ratio is the engine's overhead: barriers,
  alignment, the sources' state, ` + "`_metadata`" + `, and the job's own work running
  alongside.

S3 (` + "`s3.Storage`" + ` on a real MinIO server that the runner starts on a
loopback port with its data in the run's temporary directory and stops at the
end; ` + "`make bench`" + ` installs the pinned binary into ` + "`tools/bin`" + `, and without it the
S3 metrics fail saying so). An LSM backend holds 1M keys (200k in quick mode,
about 24 MB of SST files); both sides move 4 files at a time (the backend's
` + "`TransferConcurrency`" + `) with a 16 MiB part size (every file fits in one PUT), and
the raw minio-go client has the storage's client options (path style, trailing
headers, so its PutObject sends the same CRC32C checksum):

- ` + "`s3.checkpoint.upload`" + `: ` + "`capture.Write`" + ` of a savepoint (so that every file is
  uploaded: spooled to a local file while its CRC32C is computed, then one
  checksummed PUT per file) to a new directory each round, the ` + "`Snapshot`" + ` before
  it untimed, in MB/s of the files' bytes; against minio-go ` + "`PutObject`" + ` of the
  same files read from local disk. The objects are deleted after each round,
  untimed.
- ` + "`s3.restore.download`" + `: the download part of ` + "`Backend.Restore`" + ` done as the
  backend does it: every file of that savepoint read through the storage with
  ` + "`snapshot.OpenVerified`" + ` (size and CRC32C checked) into a new local file; against
  minio-go ` + "`GetObject`" + ` of the same objects into local files. The whole ` + "`Restore`" + `
  into a fresh backend is timed once and reported as ` + "`restore_mbps`" + `: in quick
  mode it is dominated by local work (the small state's SSTs sit in level 0, and
  Pebble's Open waits for the compaction it starts), so it is not the metric.

`)
	fmt.Fprintf(&b, "Run: **%s** mode, %s.  \n", cfg.mode, when.UTC().Format("2006-01-02 15:04 MST"))
	fmt.Fprintf(&b, "Machine: %s, %d CPUs (nproc), %s, %s.\n\n", m.cpuModel, m.nproc, m.goVer, m.platform)
	b.WriteString(markdownTable(results))
	return b.String()
}

// writeReadme writes the README of a run to path.
func writeReadme(path string, cfg config, m machine, when time.Time, results []Result) error {
	if err := os.WriteFile(path, []byte(readme(cfg, m, when, results)), 0o644); err != nil {
		return fmt.Errorf("write readme: %w", err)
	}
	return nil
}
