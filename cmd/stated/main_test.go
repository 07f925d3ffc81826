package main

import (
	"bytes"
	"context"
	"encoding/json"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/engine"
	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/snapshot"
)

// makeCheckpoints runs a small keyed job on the lsm backend that retains
// three incremental checkpoints under dir/checkpoints and returns that
// directory.
func makeCheckpoints(t *testing.T, dir string) string {
	t.Helper()
	cfg, err := config.Parse(map[string]string{
		config.KeyName:          "job1",
		config.KeyBackendType:   "lsm",
		config.KeyLSMLocalDir:   filepath.Join(dir, "lsm"),
		config.KeyCheckpointDir: filepath.Join(dir, "checkpoints"),
		config.KeyInterval:      "30ms",
		config.KeyNumRetained:   "3",
		config.KeyParallelism:   "2",
	})
	if err != nil {
		t.Fatal(err)
	}
	j := engine.New(engine.Options{Config: cfg})
	src := engine.FromSource(j, "src", engine.Generate(3000, func(i int64) string { return "k" + strconv.FormatInt(i%500, 10) }), engine.WithRate(20000))
	counts := engine.Process(engine.KeyBy(src, func(s string) string { return s }, backend.StringSerializer{}), "count",
		func() engine.KeyedProcessFunction[string, string, string] { return &counter{} })
	engine.ForEach(counts, "discard", func(string) error { return nil })
	if _, err := j.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "checkpoints")
}

type counter struct{ n backend.ValueState[int64] }

func (c *counter) Open(rc *engine.RuntimeContext[string]) (err error) {
	c.n, err = backend.GetValueState(rc.Backend, backend.ValueDescriptor[int64]{Name: "n", Serializer: backend.Int64Serializer{}})
	return err
}

func (c *counter) ProcessElement(ctx *engine.Context[string, string], in string) error {
	v, _, err := c.n.Value()
	if err != nil {
		return err
	}
	ctx.Emit(in)
	return c.n.Update(v + 1)
}

func (c *counter) OnTimer(*engine.Context[string, string], int64, engine.TimeDomain) error {
	return nil
}

func stated(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func TestListAndInspect(t *testing.T) {
	dir := t.TempDir()
	ckpts := makeCheckpoints(t, dir)

	out, errs, code := stated(t, "checkpoints", "list", ckpts, "--json")
	if code != 0 {
		t.Fatalf("list: exit %d: %s", code, errs)
	}
	var rows []checkpointRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	if len(rows) < 3 {
		t.Fatalf("%d checkpoints listed, want at least the 3 retained:\n%s", len(rows), out)
	}
	last := rows[len(rows)-1]
	if !last.Valid || last.Job != "job1" || last.Files == 0 || last.FullBytes == 0 || last.IncrementalBytes > last.FullBytes {
		t.Fatalf("last row %+v", last)
	}
	// The same through the job's own directory, as a table.
	out, _, code = stated(t, "checkpoints", "list", filepath.Join(ckpts, "job1"))
	if code != 0 || !strings.Contains(out, "INCREMENTAL") || !strings.Contains(out, "job1") {
		t.Fatalf("list of a job dir: exit %d\n%s", code, out)
	}

	chk := filepath.Join(ckpts, "job1", "chk-"+strconv.FormatInt(last.ID, 10))
	out, errs, code = stated(t, "checkpoint", "inspect", chk, "--verify")
	if code != 0 || !strings.Contains(out, "operator count: parallelism 2, maxParallelism 128") || !strings.Contains(out, "intact") {
		t.Fatalf("inspect: exit %d\n%s%s", code, out, errs)
	}
	out, _, code = stated(t, "checkpoint", "inspect", "--json", filepath.Join(chk, "_metadata"))
	if code != 0 || !strings.Contains(out, `"UID": "count"`) {
		t.Fatalf("inspect --json: exit %d\n%s", code, out)
	}

	// Damage two files of the checkpoint: --verify names both and exits 1.
	store, err := snapshot.NewFileStorage(ckpts)
	if err != nil {
		t.Fatal(err)
	}
	chkName := "job1/chk-" + strconv.FormatInt(last.ID, 10)
	mdata, err := snapshot.ReadMetadata(context.Background(), store, chkName)
	if err != nil {
		t.Fatal(err)
	}
	damaged := slices.Sorted(maps.Keys(referencedFiles(chkName, mdata)))[:2]
	for _, p := range damaged {
		if err := os.WriteFile(filepath.Join(ckpts, p), []byte("garbage"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	out, _, code = stated(t, "checkpoint", "inspect", chk, "--verify")
	if code != 1 || strings.Count(out, "verify: BAD") != 2 || !strings.Contains(out, damaged[0]) || !strings.Contains(out, damaged[1]) {
		t.Fatalf("inspect of damaged files: exit %d\n%s", code, out)
	}

	// A truncated _metadata: inspect reports it; list marks it invalid.
	md := filepath.Join(chk, "_metadata")
	b, _ := os.ReadFile(md)
	os.WriteFile(md, b[:len(b)/2], 0o644)
	_, errs, code = stated(t, "checkpoint", "inspect", chk)
	if code != 1 || !strings.Contains(errs, "_metadata") {
		t.Fatalf("inspect of a truncated _metadata: exit %d\n%s", code, errs)
	}
	out, _, code = stated(t, "checkpoints", "list", ckpts)
	if code != 0 || !strings.Contains(out, "invalid") {
		t.Fatalf("list with a truncated _metadata: exit %d\n%s", code, out)
	}
}

func TestUsage(t *testing.T) {
	for _, args := range [][]string{
		{}, {"bogus"}, {"checkpoints", "list"}, {"checkpoint", "inspect", "a", "b"}, {"checkpoints", "list", "x", "--nope"},
		{"checkpoints", "list", "x", "--set", "s3.endpointt=a"},
	} {
		_, errs, code := stated(t, args...)
		if code != 2 || !strings.Contains(errs, "usage:") {
			t.Fatalf("%v: exit %d\n%s", args, code, errs)
		}
	}
	_, errs, code := stated(t, "checkpoint", "inspect", filepath.Join(t.TempDir(), "job", "chk-1"))
	if code != 1 || !strings.Contains(errs, "chk-1") {
		t.Fatalf("missing checkpoint: exit %d\n%s", code, errs)
	}
}

// TestGC: a checkpoint whose process was killed between the data upload
// and the _metadata commit is invisible, and gc removes its files once
// they are older than the grace period; --dry-run deletes nothing.
func TestGC(t *testing.T) {
	dir := t.TempDir()
	ckpts := makeCheckpoints(t, dir)
	job := filepath.Join(ckpts, "job1")
	old := time.Now().Add(-time.Hour)
	var orphans []string
	for _, rel := range []string{"chk-99/count-0/000007.sst", "chk-99/src-0.op", "shared/gone-99-000008.sst"} {
		p := filepath.Join(job, rel)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte("partial upload"), 0o644)
		os.Chtimes(p, old, old)
		orphans = append(orphans, p)
	}
	out, _, code := stated(t, "checkpoints", "list", ckpts)
	if code != 0 || !strings.Contains(out, "99") || !strings.Contains(out, "invalid") {
		t.Fatalf("list: the half-written checkpoint should be listed invalid:\n%s", out)
	}
	before, _, _ := stated(t, "checkpoints", "list", ckpts, "--json")

	out, _, code = stated(t, "checkpoint", "gc", ckpts, "--dry-run")
	if code != 0 || countPrefix(out, "would delete ") != 3 {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	for _, p := range orphans {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("dry run deleted %s", p)
		}
	}
	out, _, code = stated(t, "checkpoint", "gc", job, "--grace", "30m")
	if code != 0 || countPrefix(out, "deleted ") != 3 {
		t.Fatalf("gc: exit %d\n%s", code, out)
	}
	for _, p := range orphans {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("orphan %s kept", p)
		}
	}
	// The valid checkpoints are untouched and intact.
	after, _, _ := stated(t, "checkpoints", "list", ckpts, "--json")
	if strings.Count(after, `"valid": true`) != strings.Count(before, `"valid": true`) {
		t.Fatalf("gc changed the valid checkpoints:\nbefore %s\nafter %s", before, after)
	}
	var rows []checkpointRow
	json.Unmarshal([]byte(after), &rows)
	for _, r := range rows {
		if _, errs, code := stated(t, "checkpoint", "inspect", filepath.Join(job, "chk-"+strconv.FormatInt(r.ID, 10)), "--verify"); code != 0 {
			t.Fatalf("checkpoint %d after gc: %s", r.ID, errs)
		}
	}
}

// countPrefix counts the lines of s that start with prefix.
func countPrefix(s, prefix string) int {
	n := 0
	for _, line := range strings.Split(s, "\n") {
		if strings.HasPrefix(line, prefix) {
			n++
		}
	}
	return n
}
