package engine

import (
	"context"
	"errors"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

var backends = []string{"hashmap", "lsm"}

// testConfig returns a job configuration with checkpoints under a
// temporary directory, overridden by kv pairs.
func testConfig(t *testing.T, dir string, kv ...string) *config.Job {
	t.Helper()
	values := map[string]string{
		config.KeyName:          "test",
		config.KeyCheckpointDir: filepath.Join(dir, "checkpoints"),
		config.KeySavepointDir:  filepath.Join(dir, "savepoints"),
		config.KeyInterval:      "50ms",
		config.KeyParallelism:   "2",
		config.KeyLSMLocalDir:   filepath.Join(dir, "lsm"),
	}
	for i := 0; i+1 < len(kv); i += 2 {
		values[kv[i]] = kv[i+1]
	}
	cfg, err := config.Parse(values)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// collector gathers sink output from all subtasks.
type collector[T any] struct {
	mu  sync.Mutex
	got []T
}

func (c *collector[T]) add(v T) error {
	c.mu.Lock()
	c.got = append(c.got, v)
	c.mu.Unlock()
	return nil
}

func (c *collector[T]) all() []T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return slices.Clone(c.got)
}

// countFn counts the records of each key and emits "key=count".
type countFn struct {
	count state.ValueState[int64]
}

func newCountFn() KeyedProcessFunction[string, string, string] { return &countFn{} }

func (c *countFn) Open(rc *RuntimeContext[string]) error {
	var err error
	c.count, err = state.GetValueState(rc.Backend, state.ValueDescriptor[int64]{Name: "count", Serializer: serializer.Int64{}})
	return err
}

func (c *countFn) ProcessElement(ctx *Context[string, string], in string) error {
	n, _, err := c.count.Value()
	if err != nil {
		return err
	}
	n++
	ctx.Emit(in + "=" + strconv.FormatInt(n, 10))
	return c.count.Update(n)
}

// keyOf is the key of record i of the counting jobs.
func keyOf(i int64) string { return "k" + strconv.FormatInt(i%37, 10) }

// countingJob builds source → keyBy → count → exactly-once files in out.
func countingJob(cfg *config.Job, records int64, out string, opts ...SourceOption) *Job {
	j := New(Options{Config: cfg})
	src := FromSource(j, "source", Generate(records, keyOf), opts...)
	counts := Process(KeyBy(src, func(s string) string { return s }, serializer.String{}), "count", newCountFn)
	WriteLines(counts, "sink", out)
	return j
}

// checkCounts asserts that out holds, for every key, the counts 1..n once.
func checkCounts(t *testing.T, out string, records int64) {
	t.Helper()
	want := map[string]int{}
	for i := range records {
		want[keyOf(i)]++
	}
	got := map[string][]int{}
	for line, times := range readLines(t, out) {
		k, n, _ := strings.Cut(line, "=")
		c, err := strconv.Atoi(n)
		if err != nil {
			t.Fatalf("line %q", line)
		}
		for range times {
			got[k] = append(got[k], c)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(want)) {
		cs := got[k]
		slices.Sort(cs)
		ok := len(cs) == want[k]
		for i := 0; ok && i < len(cs); i++ {
			ok = cs[i] == i+1
		}
		if !ok {
			t.Fatalf("key %s: %d records, committed counts %v", k, want[k], cs)
		}
	}
	if len(got) != len(want) {
		t.Fatalf("%d keys committed, want %d", len(got), len(want))
	}
}

// readLines counts the committed lines of the files in out.
func readLines(t *testing.T, out string) map[string]int {
	t.Helper()
	got := map[string]int{}
	entries, err := os.ReadDir(out)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || strings.HasPrefix(e.Name(), "_") {
			continue
		}
		b, err := os.ReadFile(filepath.Join(out, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		for _, line := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
			if line != "" {
				got[line]++
			}
		}
	}
	return got
}

func run(t *testing.T, j *Job) *Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	res, err := j.Run(ctx)
	if err != nil {
		t.Fatalf("run: %v", err)
	}
	return res
}

func runErr(t *testing.T, j *Job) error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, err := j.Run(ctx)
	if err == nil {
		t.Fatal("run succeeded, want an error")
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Fatal("run timed out")
	}
	return err
}
