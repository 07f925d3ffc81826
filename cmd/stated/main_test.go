package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/spf13/cobra"

	"github.com/stated-io/stated/engine"
	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

// jobConfig is the configuration of the test job: lsm, incremental
// checkpoints every 30 ms under dir/checkpoints, three retained,
// parallelism 2; extra overrides.
func jobConfig(t *testing.T, dir string, extra map[string]string) *config.Job {
	t.Helper()
	values := map[string]string{
		config.KeyName:          "job1",
		config.KeyBackendType:   "lsm",
		config.KeyLSMLocalDir:   filepath.Join(dir, "lsm"),
		config.KeyCheckpointDir: filepath.Join(dir, "checkpoints"),
		config.KeySavepointDir:  filepath.Join(dir, "savepoints"),
		config.KeyInterval:      "30ms",
		config.KeyNumRetained:   "3",
		config.KeyParallelism:   "2",
	}
	maps.Copy(values, extra)
	cfg, err := config.Parse(values)
	if err != nil {
		t.Fatal(err)
	}
	return cfg
}

// newJob is a small keyed job counting generated records over 500 keys,
// without end.
func newJob(cfg *config.Job, onCheckpoint func(engine.CheckpointStats)) *engine.Job {
	j := engine.New(engine.Options{Config: cfg, OnCheckpoint: onCheckpoint})
	src := engine.FromSource(j, "src", engine.Generate(1<<40, func(i int64) string { return "k" + strconv.FormatInt(i%500, 10) }), engine.WithRate(20000))
	counts := engine.Process(engine.KeyBy(src, func(s string) string { return s }, serializer.String{}), "count",
		func() engine.KeyedProcessFunction[string, string, string] { return &counter{} })
	engine.ForEach(counts, "discard", func(string) error { return nil })
	return j
}

// The ways runJob ends the test job.
const (
	cancel        = false // cancel it: its checkpoints are retained
	withSavepoint = true  // stop it with a savepoint
)

// runJob runs the test job until it completed n checkpoints, then cancels
// it or stops it with a savepoint.
func runJob(t *testing.T, cfg *config.Job, n int, savepoint bool) *engine.Result {
	t.Helper()
	ctx, stop := context.WithCancel(context.Background())
	defer stop()
	var j *engine.Job
	var completed atomic.Int32
	j = newJob(cfg, func(s engine.CheckpointStats) {
		if s.Err == nil && s.Kind == snapshot.KindCheckpoint && int(completed.Add(1)) == n {
			if savepoint {
				j.StopWithSavepoint()
			} else {
				stop()
			}
		}
	})
	res, err := j.Run(ctx)
	switch {
	case !savepoint && !errors.Is(err, context.Canceled):
		t.Fatalf("the cancelled job: %v", err)
	case savepoint && (err != nil || res.Savepoint == ""):
		t.Fatalf("the job did not stop with a savepoint: %+v, %v", res, err)
	}
	return res
}

// makeCheckpoints runs the test job until it completed three incremental
// checkpoints under dir/checkpoints, the three it retains, and returns
// that directory.
func makeCheckpoints(t *testing.T, dir string) string {
	t.Helper()
	runJob(t, jobConfig(t, dir, nil), 3, cancel)
	return filepath.Join(dir, "checkpoints")
}

type counter struct{ n state.ValueState[int64] }

func (c *counter) Open(rc *engine.RuntimeContext[string]) (err error) {
	c.n, err = state.GetValueState(rc.Backend, state.ValueDescriptor[int64]{Name: "n", Serializer: serializer.Int64{}})
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

func stated(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	var out, errb bytes.Buffer
	code := run(context.Background(), args, &out, &errb)
	return out.String(), errb.String(), code
}

func listRows(t *testing.T, dir string) []checkpointRow {
	t.Helper()
	out, errs, code := stated(t, "checkpoints", "list", dir, "--json")
	if code != 0 {
		t.Fatalf("list %s: exit %d: %s", dir, code, errs)
	}
	var rows []checkpointRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil {
		t.Fatal(err)
	}
	return rows
}

func completeRows(rows []checkpointRow) []checkpointRow {
	var out []checkpointRow
	for _, r := range rows {
		if r.Status == "complete" {
			out = append(out, r)
		}
	}
	return out
}

func TestListAndInspect(t *testing.T) {
	dir := t.TempDir()
	ckpts := makeCheckpoints(t, dir)

	rows := listRows(t, ckpts)
	if len(rows) != 3 || len(completeRows(rows)) != len(rows) {
		t.Fatalf("%d checkpoints listed, want the 3 retained, all complete: %+v", len(rows), rows)
	}
	last := rows[len(rows)-1]
	chk := filepath.Join(ckpts, "job1", "chk-"+strconv.FormatInt(last.ID, 10))
	if last.Job != "job1" || last.Kind != "checkpoint" || last.Path != chk || last.Files == 0 || last.FullBytes == 0 || last.IncrementalBytes > last.FullBytes || last.Completed == nil {
		t.Fatalf("last row %+v", last)
	}
	// The same through the job's own directory, as a table.
	out, _, code := stated(t, "checkpoints", "list", filepath.Join(ckpts, "job1"))
	if code != 0 || !strings.Contains(out, "INCREMENTAL") || !strings.Contains(out, "job1") || !strings.Contains(out, chk+"\n") {
		t.Fatalf("list of a job dir: exit %d\n%s", code, out)
	}

	out, errs, code := stated(t, "checkpoint", "inspect", chk, "--verify")
	if code != 0 || !strings.Contains(out, "operator count: parallelism 2, maxParallelism 128") || !strings.Contains(out, "intact") ||
		!strings.Contains(out, "file "+filepath.Join(ckpts, "job1")+"/") {
		t.Fatalf("inspect: exit %d\n%s%s", code, out, errs)
	}
	var insp inspection
	out, _, code = stated(t, "checkpoint", "inspect", "--json", "--verify", filepath.Join(chk, "_metadata"))
	if err := json.Unmarshal([]byte(out), &insp); err != nil || code != 0 {
		t.Fatalf("inspect --json: exit %d, %v\n%s", code, err, out)
	}
	if insp.Path != chk || insp.Kind != "checkpoint" || insp.ID != last.ID || insp.Verify == nil || !insp.Verify.Passed || insp.Verify.Files != last.Files {
		t.Fatalf("inspect --json: %+v", insp)
	}
	for _, key := range []string{`"uid": "count"`, `"max_parallelism": 128`, `"key_group_start": 0`, `"scope": "shared"`, `"compression": "none"`, `"kind": "value"`, `"mode": "split"`} {
		if !strings.Contains(out, key) {
			t.Errorf("inspect --json lacks %s", key)
		}
	}

	// Damage two files of the checkpoint: --verify names both, whole, and
	// exits 1; the JSON says the check failed.
	store, err := file.New(ckpts)
	if err != nil {
		t.Fatal(err)
	}
	chkName := "job1/chk-" + strconv.FormatInt(last.ID, 10)
	mdata, err := snapshot.ReadMetadata(context.Background(), store, chkName)
	if err != nil {
		t.Fatal(err)
	}
	damaged := slices.Sorted(maps.Keys(referencedFiles(chkName, mdata)))[:2]
	if err := os.WriteFile(filepath.Join(ckpts, damaged[0]), []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(ckpts, damaged[1])); err != nil {
		t.Fatal(err)
	}
	out, _, code = stated(t, "checkpoint", "inspect", chk, "--verify")
	if code != 1 || strings.Count(out, "verify: BAD") != 2 || !strings.Contains(out, "verify: BAD corrupt "+filepath.Join(ckpts, damaged[0])) ||
		!strings.Contains(out, "verify: BAD "+filepath.Join(ckpts, damaged[1])+": snapshot: does not exist\n") {
		t.Fatalf("inspect of damaged files: exit %d\n%s", code, out)
	}
	out, _, code = stated(t, "checkpoint", "inspect", chk, "--verify", "--json")
	insp = inspection{}
	if err := json.Unmarshal([]byte(out), &insp); err != nil || code != 1 || insp.Verify == nil || insp.Verify.Passed || len(insp.Verify.Bad) != 2 {
		t.Fatalf("inspect --verify --json of damaged files: exit %d, %v\n%s", code, err, out)
	}

	// A truncated _metadata: inspect names it, whole; list says corrupt,
	// and an unfinished checkpoint (no _metadata) incomplete.
	md := filepath.Join(chk, "_metadata")
	b, _ := os.ReadFile(md)
	os.WriteFile(md, b[:len(b)/2], 0o644)
	os.MkdirAll(filepath.Join(ckpts, "job1", "chk-99", "count-0"), 0o755)
	os.WriteFile(filepath.Join(ckpts, "job1", "chk-99", "count-0", "000007.sst"), []byte("partial upload"), 0o644)
	_, errs, code = stated(t, "checkpoint", "inspect", chk)
	if code != 1 || !strings.Contains(errs, "corrupt "+md) {
		t.Fatalf("inspect of a truncated _metadata: exit %d\n%s", code, errs)
	}
	out, _, code = stated(t, "checkpoints", "list", ckpts)
	if code != 0 || !strings.Contains(out, " corrupt ") || !strings.Contains(out, " incomplete ") || !strings.Contains(out, "corrupt "+md) {
		t.Fatalf("list with a truncated _metadata and an unfinished checkpoint: exit %d\n%s", code, out)
	}
	statuses := map[int64]string{}
	for _, r := range listRows(t, ckpts) {
		statuses[r.ID] = r.Status
	}
	if statuses[last.ID] != "corrupt" || statuses[99] != "incomplete" || statuses[rows[0].ID] != "complete" {
		t.Fatalf("statuses %v", statuses)
	}
}

// Bad commands, flags, arguments and configuration values exit 2 with the
// usage named; the message says what is wrong.
func TestUsage(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		args []string
		want string
	}{
		{nil, "missing command"},
		{[]string{"bogus"}, `unknown command "bogus"`},
		{[]string{"chekpoints"}, "Did you mean this?\n\tcheckpoints"},
		{[]string{"checkpoints"}, "missing command: want one of list, prune"},
		{[]string{"checkpoints", "lst", dir}, `did you mean "list"?`},
		{[]string{"checkpoints", "list"}, "want DIR, got 0"},
		{[]string{"checkpoint", "inspect", "a", "b"}, "want PATH, got 2"},
		{[]string{"checkpoints", "list", dir, "--nope"}, "unknown flag: --nope"},
		{[]string{"checkpoints", "list", dir, "--set", "s3.endpointt=a"}, `did you mean "s3.endpoint"?`},
		{[]string{"checkpoints", "list", dir, "--set", "s3.path-style=maybe"}, "s3.path-style"},
		{[]string{"checkpoints", "list", dir, "--set", "nokey"}, "want key=value"},
		{[]string{"checkpoints", "list", dir, "--set", "state.backend.type=lsm"}, "only the s3.* keys"},
		{[]string{"checkpoints", "list", "stated://localhost:7070/jobs"}, "need the stated service, which does not exist yet"},
		{[]string{"checkpoint", "inspect", "stated://localhost:7070/jobs/job1/chk-1"}, "need the stated service"},
		{[]string{"savepoints", "list", "gs://bucket/sp"}, "unsupported"},
		{[]string{"checkpoints", "list", "s3://bucket/checkpoints"}, "s3:// locations need --set s3.endpoint="},
		{[]string{"checkpoint", "inspect", "s3://bucket/checkpoints/job1/chk-1", "--set", "s3.endpoint=ftp://host:21"}, "s3.endpoint"},
		{[]string{"checkpoints", "list", "s3://bucket/checkpoints", "--set", "s3.endpoint=127.0.0.1:9000"}, "s3.endpoint"},
		{[]string{"checkpoints", "list", "s3://bucket/checkpoints", "--set", "s3.endpoint=http://127.0.0.1:1", "--set", "s3.access-key=only"}, "s3.secret-key"},
		{[]string{"checkpoint", "inspect", "/"}, "not a checkpoint or savepoint directory"},
		{[]string{"checkpoint", "move-aside", filepath.Join(dir, "job", "shared")}, "want a chk-<n> directory"},
		{[]string{"checkpoint", "gc", dir, "--grace", "-1s"}, "--grace -1s"},
		{[]string{"checkpoint", "gc", dir, "--grace", "soon"}, "--grace"},
		{[]string{"checkpoints", "prune", dir}, "--keep N is required"},
		{[]string{"checkpoints", "prune", dir, "--keep", "0"}, "--keep 0: want at least 1"},
		{[]string{"checkpoints", "prune", dir, "--keep", "two"}, "--keep"},
	} {
		_, errs, code := stated(t, c.args...)
		if code != exitUsage || !strings.Contains(errs, c.want) || !strings.Contains(errs, "Usage: stated") {
			t.Errorf("%q: exit %d, want 2 with %q and the usage:\n%s", c.args, code, c.want, errs)
		}
	}
	_, errs, code := stated(t, "checkpoint", "inspect", filepath.Join(dir, "job", "chk-1"))
	if code != exitProblem || !strings.Contains(errs, filepath.Join(dir, "job", "chk-1", "_metadata")) || strings.Contains(errs, "Usage:") {
		t.Fatalf("missing checkpoint: exit %d\n%s", code, errs)
	}
}

// Every command and subcommand has its help, and --version and the shell
// completions work.
func TestHelpVersionAndCompletion(t *testing.T) {
	var paths [][]string
	var walk func(prefix []string, c *cobra.Command)
	walk = func(prefix []string, c *cobra.Command) {
		for _, sub := range c.Commands() {
			p := append(slices.Clone(prefix), sub.Name())
			paths = append(paths, p)
			walk(p, sub)
		}
	}
	root := newRootCommand(nil, nil)
	root.InitDefaultHelpCmd()
	root.InitDefaultCompletionCmd()
	walk(nil, root)
	for _, p := range paths {
		out, errs, code := stated(t, append(p, "--help")...)
		if code != 0 || !strings.Contains(out, "Usage:") || !strings.Contains(out, "stated "+strings.Join(p, " ")) || errs != "" {
			t.Errorf("%v --help: exit %d\n%s%s", p, code, out, errs)
		}
	}
	if len(paths) < 13 {
		t.Fatalf("only %d commands: %v", len(paths), paths)
	}
	out, _, code := stated(t, "--help")
	for _, c := range []string{"checkpoints", "checkpoint", "savepoints", "completion"} {
		if code != 0 || !strings.Contains(out, "  "+c+" ") {
			t.Errorf("stated --help does not list %s:\n%s", c, out)
		}
	}
	out, _, code = stated(t, "--version")
	if code != 0 || !strings.HasPrefix(out, "stated version ") || !strings.Contains(out, "go1.") {
		t.Fatalf("--version: exit %d: %q", code, out)
	}
	for shell, marker := range map[string]string{"bash": "bash completion", "zsh": "#compdef stated", "fish": "complete -c stated"} {
		out, errs, code := stated(t, "completion", shell)
		if code != 0 || !strings.Contains(out, marker) {
			t.Errorf("completion %s: exit %d, %d bytes, %s", shell, code, len(out), errs)
		}
	}
	// --set completes the keys stated reads.
	out, _, code = stated(t, "__complete", "checkpoints", "list", "--set", "")
	if code != 0 || !strings.Contains(out, "s3.endpoint=") || strings.Contains(out, "state.backend.type") {
		t.Fatalf("completion of --set: exit %d\n%s", code, out)
	}
}

// Read-only commands fail clearly on a missing path and create nothing.
func TestReadOnlyCommandsCreateNothing(t *testing.T) {
	dir := t.TempDir()
	missing := filepath.Join(dir, "a", "b")
	for _, args := range [][]string{
		{"checkpoints", "list", missing},
		{"checkpoints", "list", missing, "--json"},
		{"checkpoint", "inspect", filepath.Join(missing, "job", "chk-1")},
		{"checkpoint", "inspect", filepath.Join(missing, "job", "chk-1", "_metadata"), "--verify"},
		{"savepoints", "list", missing},
		{"checkpoint", "gc", missing, "--dry-run"},
		{"checkpoints", "prune", missing, "--keep", "1", "--dry-run"},
		{"checkpoint", "move-aside", filepath.Join(missing, "job", "chk-1")},
	} {
		_, errs, code := stated(t, args...)
		if code != exitProblem || !strings.Contains(errs, "no such directory") || !strings.Contains(errs, filepath.Join(dir, "a")) {
			t.Errorf("%q: exit %d, want 1 naming the missing directory:\n%s", args, code, errs)
		}
	}
	var created []string
	filepath.WalkDir(dir, func(p string, _ fs.DirEntry, _ error) error {
		if p != dir {
			created = append(created, p)
		}
		return nil
	})
	if len(created) > 0 {
		t.Fatalf("read-only commands created %v", created)
	}
}

// TestGC: a checkpoint whose process was killed between the data upload
// and the _metadata commit is incomplete, and gc removes its files once
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
	before := listRows(t, ckpts)
	if r := before[len(before)-1]; r.ID != 99 || r.Status != "incomplete" {
		t.Fatalf("list: the half-written checkpoint should be listed incomplete: %+v", r)
	}

	out, _, code := stated(t, "checkpoint", "gc", ckpts, "--dry-run")
	if code != 0 || countPrefix(out, "would delete /") != 3 {
		t.Fatalf("dry run: exit %d\n%s", code, out)
	}
	for _, p := range orphans {
		if _, err := os.Stat(p); err != nil {
			t.Fatalf("dry run deleted %s", p)
		}
	}
	out, _, code = stated(t, "checkpoint", "gc", job, "--grace", "30m")
	if code != 0 || countPrefix(out, "deleted ") != 3 || !strings.Contains(out, "deleted "+orphans[0]+"\n") {
		t.Fatalf("gc: exit %d\n%s", code, out)
	}
	for _, p := range orphans {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Fatalf("orphan %s kept", p)
		}
	}
	// The complete checkpoints are untouched and intact.
	after := listRows(t, ckpts)
	if !reflect.DeepEqual(completeRows(after), completeRows(before)) || len(after) != len(before)-1 {
		t.Fatalf("gc changed the complete checkpoints:\nbefore %+v\nafter %+v", before, after)
	}
	for _, r := range after {
		if _, errs, code := stated(t, "checkpoint", "inspect", r.Path, "--verify"); code != 0 {
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
