package main

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/stated-io/stated/engine"
	engineconfig "github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// engineBackends are the values of state.backend.type the engine
// benchmarks run with, in table order.
var engineBackends = []string{"hashmap", "lsm"}

// engineValueBytes is the size of the per-key state of the engine jobs: an
// int64 count.
const engineValueBytes = 8

// counter is the keyed function of the engine jobs: it counts the records
// of its key in a ValueState[int64] (as examples/wordcount does) and emits
// the new count.
type counter struct {
	count state.ValueState[int64]
	// fresh, if set, counts the keys seen for the first time across the
	// subtasks; loaded is called once when it reaches want.
	fresh  *atomic.Int64
	want   int64
	loaded func()
}

// Open creates the count state on the subtask's backend.
func (c *counter) Open(rc *engine.RuntimeContext[int64]) error {
	var err error
	c.count, err = state.GetValueState(rc.Backend, state.ValueDescriptor[int64]{Name: "count", Serializer: serializer.Int64{}})
	return err
}

// ProcessElement increments the count of the current key and emits it.
func (c *counter) ProcessElement(ctx *engine.Context[int64, int64], _ int64) error {
	n, ok, err := c.count.Value()
	if err != nil {
		return err
	}
	if !ok && c.fresh != nil && c.fresh.Add(1) == c.want {
		c.loaded()
	}
	n++
	if err := c.count.Update(n); err != nil {
		return err
	}
	ctx.Emit(n)
	return nil
}

// engineJob describes one run of a keyed count job: source → KeyBy →
// Process(counter) → ForEach sink that discards.
type engineJob struct {
	// backend is state.backend.type; interval is
	// execution.checkpointing.interval (0: periodic checkpoints off).
	backend  string
	interval time.Duration
	// parallelism is parallelism.default.
	parallelism int
	// records and gen make the source: engine.Generate(records, gen).
	records int64
	gen     func(i int64) int64
	// key maps a record to its key; expand, if set, is chained after the
	// source and may emit any number of records per record.
	key    func(int64) int64
	expand func(in int64, emit func(int64)) error
	// rate caps the source (records/s, 0: no cap).
	rate float64
	// counter configures the keyed function (fresh keys, loaded).
	counter counter
	// onCheckpoint is Options.OnCheckpoint.
	onCheckpoint func(engine.CheckpointStats)
}

// engineRun is what one run of an engine job measured.
type engineRun struct {
	// firstRecord is when the source produced its first record; end is
	// when job.Run returned.
	firstRecord, end time.Time
	// res is job.Run's result.
	res *engine.Result
}

// engineJobName is pipeline.name of every engine job.
const engineJobName = "bench-engine"

// runEngineJob runs j with its checkpoints in dir/checkpoints and its LSM
// working directory in dir/lsm, with benchMaxP key groups (as the baseline
// backends of the checkpoint durations have). A job ended by cancelling
// ctx is not an error.
func runEngineJob(ctx context.Context, j engineJob, dir string) (engineRun, error) {
	cfg, err := engineconfig.Parse(map[string]string{
		engineconfig.KeyName:               engineJobName,
		"state.backend.type":               j.backend,
		"state.backend.lsm.local-dir":      filepath.Join(dir, "lsm"),
		"execution.checkpointing.dir":      filepath.Join(dir, "checkpoints"),
		"execution.checkpointing.interval": strconv.FormatInt(j.interval.Milliseconds(), 10),
		"parallelism.default":              strconv.Itoa(j.parallelism),
		"pipeline.max-parallelism":         strconv.Itoa(benchMaxP),
	})
	if err != nil {
		return engineRun{}, err
	}
	var first atomic.Int64
	job := engine.New(engine.Options{Config: cfg, OnCheckpoint: j.onCheckpoint})
	gen := func(i int64) int64 {
		if first.Load() == 0 {
			first.CompareAndSwap(0, time.Now().UnixNano())
		}
		return j.gen(i)
	}
	stamped := engine.FromSource(job, "source", engine.Generate(j.records, gen), engine.WithRate(j.rate))
	if j.expand != nil {
		stamped = engine.FlatMap(stamped, "expand", j.expand)
	}
	proto := j.counter
	counts := engine.Process(engine.KeyBy(stamped, j.key, serializer.Int64{}), "count",
		func() engine.KeyedProcessFunction[int64, int64, int64] {
			c := proto
			return &c
		})
	engine.ForEach(counts, "discard", func(int64) error { return nil })
	res, err := job.Run(ctx)
	end := time.Now()
	if err != nil && !(errors.Is(err, context.Canceled) && ctx.Err() != nil) {
		return engineRun{}, fmt.Errorf("engine job (%s, interval %v): %w", j.backend, j.interval, err)
	}
	if first.Load() == 0 {
		return engineRun{}, errors.New("engine job: the source produced no record")
	}
	return engineRun{firstRecord: time.Unix(0, first.Load()), end: end, res: res}, nil
}
