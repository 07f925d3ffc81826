package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
)

// referencedBy returns the whole paths of the files the checkpoint at
// path (a chk-<n> directory) references.
func referencedBy(t *testing.T, path string) map[string]bool {
	t.Helper()
	out, errs, code := stated(t, "checkpoint", "inspect", path, "--json")
	if code != 0 {
		t.Fatalf("inspect %s: exit %d: %s", path, code, errs)
	}
	var insp inspection
	if err := json.Unmarshal([]byte(out), &insp); err != nil {
		t.Fatal(err)
	}
	files := map[string]bool{}
	for _, op := range insp.Operators {
		for _, st := range op.Subtasks {
			for _, h := range st.Keyed {
				for _, f := range h.Files {
					files[f.Path] = true
				}
			}
			for _, h := range st.Operator {
				files[h.File.Path] = true
			}
		}
	}
	return files
}

// TestPrune: two runs, the second restored in NO_CLAIM mode, leave six
// checkpoints; prune --keep 1 deletes the five oldest and no file the one
// kept references (it builds on the shared files of the one before it),
// and it stays intact and restorable. --dry-run decides the same and
// deletes nothing. Savepoints are never touched. (incremental's
// TestPrune pins the same rules file by file.)
func TestPrune(t *testing.T) {
	dir := t.TempDir()
	ckpts := filepath.Join(dir, "checkpoints")
	runJob(t, jobConfig(t, dir, nil), 3, withSavepoint)
	runJob(t, jobConfig(t, dir, map[string]string{config.KeyRecoveryPath: filepath.Join(ckpts, "job1", "chk-3")}), 3, cancel)
	before := listRows(t, ckpts)
	complete := completeRows(before)
	if len(complete) != 6 {
		t.Fatalf("%d complete checkpoints after two runs, want 6: %+v", len(complete), before)
	}
	savepointsBefore, _, _ := stated(t, "savepoints", "list", filepath.Join(dir, "savepoints"), "--json")
	kept := map[string]bool{}
	for _, r := range complete[5:] {
		for f := range referencedBy(t, r.Path) {
			kept[f] = true
		}
	}

	out, errs, code := stated(t, "checkpoints", "prune", ckpts, "--keep", "1", "--dry-run", "--json")
	if code != 0 {
		t.Fatalf("prune --dry-run: exit %d: %s", code, errs)
	}
	var dry []pruneResult
	if err := json.Unmarshal([]byte(out), &dry); err != nil || len(dry) != 1 {
		t.Fatalf("prune --dry-run --json: %v\n%s", err, out)
	}
	wantKept := []int64{complete[5].ID}
	wantPruned := []int64{complete[0].ID, complete[1].ID, complete[2].ID, complete[3].ID, complete[4].ID}
	if !dry[0].DryRun || !reflect.DeepEqual(dry[0].Kept, wantKept) || !reflect.DeepEqual(dry[0].Pruned, wantPruned) || len(dry[0].Deleted) == 0 {
		t.Fatalf("dry run: %+v, want kept %v and pruned %v", dry[0], wantKept, wantPruned)
	}
	t.Logf("dry run: kept %v, pruned %v, %d files, %d shared files kept", dry[0].Kept, dry[0].Pruned, len(dry[0].Deleted), dry[0].SharedKept)
	if after := listRows(t, ckpts); !reflect.DeepEqual(after, before) {
		t.Fatalf("the dry run changed the checkpoints:\n%+v\n%+v", before, after)
	}

	// A running job (its lease held) is never pruned.
	holder, err := file.New(ckpts)
	if err != nil {
		t.Fatal(err)
	}
	lease, err := holder.AcquireLease(t.Context(), snapshot.JobLeaseName("job1"), snapshot.LeaseOptions{Holder: snapshot.LeaseHolder{Host: "h", PID: 4242, Run: "running"}})
	if err != nil {
		t.Fatal(err)
	}
	out, errs, code = stated(t, "checkpoints", "prune", ckpts, "--keep", "1")
	if code != exitProblem || !strings.Contains(errs, `job "job1" is running`) || !strings.Contains(errs, "pid 4242") {
		t.Fatalf("prune beside a running job: exit %d, want 1 naming the holder:\n%s%s", code, out, errs)
	}
	if after := listRows(t, ckpts); !reflect.DeepEqual(after, before) {
		t.Fatalf("prune beside a running job changed the checkpoints:\n%+v\n%+v", before, after)
	}
	lease.Release(t.Context())
	holder.Close()

	out, errs, code = stated(t, "checkpoints", "prune", filepath.Join(ckpts, "job1"), "--keep", "1")
	if code != 0 || countPrefix(out, "deleted /") != len(dry[0].Deleted) || !strings.Contains(out, "job job1: pruned checkpoints") {
		t.Fatalf("prune: exit %d, want the %d files of the dry run deleted:\n%s%s", code, len(dry[0].Deleted), out, errs)
	}
	for _, line := range strings.Split(out, "\n") {
		if f, ok := strings.CutPrefix(line, "deleted "); ok {
			if kept[f] {
				t.Errorf("prune deleted %s, which a kept checkpoint references", f)
			}
			if _, err := os.Stat(f); !os.IsNotExist(err) {
				t.Errorf("%s still there: %v", f, err)
			}
		}
	}
	after := completeRows(listRows(t, ckpts))
	if len(after) != 1 || after[0].ID != wantKept[0] {
		t.Fatalf("after prune: %+v", after)
	}
	for _, r := range after {
		if out, errs, code := stated(t, "checkpoint", "inspect", r.Path, "--verify"); code != 0 {
			t.Fatalf("kept checkpoint %d after prune: exit %d\n%s%s", r.ID, code, out, errs)
		}
	}
	if savepointsAfter, _, _ := stated(t, "savepoints", "list", filepath.Join(dir, "savepoints"), "--json"); savepointsAfter != savepointsBefore || !strings.Contains(savepointsAfter, `"status": "complete"`) {
		t.Fatalf("prune changed the savepoints:\n%s\n%s", savepointsBefore, savepointsAfter)
	}
	// What is kept restores.
	res := runJob(t, jobConfig(t, dir, map[string]string{config.KeyRecoveryPath: after[0].Path}), 1, cancel)
	if res.Restored != after[0].Path {
		t.Fatalf("restored %q, want %q", res.Restored, after[0].Path)
	}
	// Nothing left to prune.
	out, _, code = stated(t, "checkpoints", "prune", ckpts, "--keep", "10")
	if code != 0 || countPrefix(out, "deleted ") != 0 {
		t.Fatalf("prune --keep 10: exit %d\n%s", code, out)
	}
}

// TestMoveAside: a corrupt newest checkpoint moved aside stops being in
// the way: the older one is the newest complete again, the moved one is
// listed as moved aside with every file kept; a complete checkpoint moves
// only with --force.
func TestMoveAside(t *testing.T) {
	dir := t.TempDir()
	ckpts := makeCheckpoints(t, dir)
	rows := listRows(t, ckpts)
	newest, older := rows[len(rows)-1], rows[len(rows)-2]
	md := filepath.Join(newest.Path, "_metadata")
	b, err := os.ReadFile(md)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(md, b[:len(b)-3], 0o644); err != nil {
		t.Fatal(err)
	}
	var files []string
	filepath.Walk(newest.Path, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			files = append(files, strings.TrimPrefix(p, newest.Path))
		}
		return nil
	})

	out, errs, code := stated(t, "checkpoint", "move-aside", md)
	if code != 0 || !strings.Contains(out, "moved "+newest.Path+" (corrupt, "+strconv.Itoa(len(files))+" files) aside to "+filepath.Join(ckpts, "job1", "moved-aside-chk-"+strconv.FormatInt(newest.ID, 10)+"-")) ||
		!strings.Contains(out, "--restore latest now restores "+older.Path+"\n") {
		t.Fatalf("move-aside: exit %d\n%s%s", code, out, errs)
	}
	rows = listRows(t, ckpts)
	moved := rows[len(rows)-1]
	if moved.Status != "moved-aside" || moved.ID != newest.ID || moved.MovedAside == nil || !strings.Contains(moved.Error, "corrupt "+filepath.Join(moved.Path, "_metadata")) {
		t.Fatalf("the moved checkpoint is listed as %+v", moved)
	}
	if last := rows[len(rows)-2]; last.ID != older.ID || last.Status != "complete" {
		t.Fatalf("the newest checkpoint after the move: %+v", last)
	}
	for _, f := range files {
		if _, err := os.Stat(moved.Path + f); err != nil {
			t.Errorf("the moved checkpoint lost %s: %v", f, err)
		}
	}
	if _, err := os.Stat(newest.Path); !os.IsNotExist(err) {
		t.Fatalf("%s is still there: %v", newest.Path, err)
	}
	store, err := file.New(ckpts)
	if err != nil {
		t.Fatal(err)
	}
	if dir, _, err := snapshot.LatestCheckpoint(context.Background(), store, "job1"); err != nil || dir != "job1/chk-"+strconv.FormatInt(older.ID, 10) {
		t.Fatalf("latest after the move: %q, %v", dir, err)
	}

	// A complete checkpoint needs --force.
	_, errs, code = stated(t, "checkpoint", "move-aside", older.Path)
	if code != exitProblem || !strings.Contains(errs, older.Path+" is a valid restore point") || !strings.Contains(errs, "--force") {
		t.Fatalf("move-aside of a complete checkpoint: exit %d\n%s", code, errs)
	}
	out, errs, code = stated(t, "checkpoint", "move-aside", older.Path, "--force", "--json")
	var res moveAsideResult
	if err := json.Unmarshal([]byte(out), &res); err != nil || code != 0 || res.Status != "complete" || res.From != older.Path || res.ID != older.ID {
		t.Fatalf("move-aside --force --json: exit %d, %v\n%s%s", code, err, out, errs)
	}
	// It stays inspectable where it went: its shared files resolve.
	if out, errs, code := stated(t, "checkpoint", "inspect", res.To, "--verify"); code != 0 {
		t.Fatalf("inspect the moved-aside checkpoint: exit %d\n%s%s", code, out, errs)
	}
	_, errs, code = stated(t, "checkpoint", "move-aside", filepath.Join(ckpts, "job1", "chk-999"))
	if code != exitProblem || !strings.Contains(errs, "no such checkpoint directory") {
		t.Fatalf("move-aside of a missing checkpoint: exit %d\n%s", code, errs)
	}
}

// TestSavepointsList lists the savepoint a stopped job took, one whose
// writing never finished and a corrupt one.
func TestSavepointsList(t *testing.T) {
	dir := t.TempDir()
	res := runJob(t, jobConfig(t, dir, nil), 1, withSavepoint)
	spDir := filepath.Join(dir, "savepoints")
	unfinished := filepath.Join(spDir, "savepoint-job1-unfinished")
	os.MkdirAll(unfinished, 0o755)
	os.WriteFile(filepath.Join(unfinished, "count-0.kg"), []byte("partial"), 0o644)
	broken := filepath.Join(spDir, "savepoint-job1-broken")
	os.MkdirAll(broken, 0o755)
	os.WriteFile(filepath.Join(broken, "_metadata"), []byte("garbage"), 0o644)

	out, errs, code := stated(t, "savepoints", "list", spDir, "--json")
	if code != 0 {
		t.Fatalf("savepoints list: exit %d: %s", code, errs)
	}
	var rows []savepointRow
	if err := json.Unmarshal([]byte(out), &rows); err != nil || len(rows) != 3 {
		t.Fatalf("savepoints list --json: %v\n%s", err, out)
	}
	sp := rows[0]
	if sp.Path != res.Savepoint || sp.Status != "complete" || sp.Job != "job1" || sp.Kind != "savepoint" || sp.ID == 0 || sp.Files == 0 || sp.Bytes == 0 || sp.Completed == nil {
		t.Fatalf("the savepoint: %+v (stopped at %s)", sp, res.Savepoint)
	}
	if rows[1].Path != broken || rows[1].Status != "corrupt" || !strings.Contains(rows[1].Error, "corrupt "+filepath.Join(broken, "_metadata")) {
		t.Fatalf("the broken savepoint: %+v", rows[1])
	}
	if rows[2].Path != unfinished || rows[2].Status != "incomplete" || rows[2].Error != "" {
		t.Fatalf("the unfinished savepoint: %+v", rows[2])
	}
	out, _, code = stated(t, "savepoints", "list", spDir)
	if code != 0 || !strings.Contains(out, "KIND") || !strings.Contains(out, res.Savepoint+"\n") || !strings.Contains(out, " incomplete ") {
		t.Fatalf("savepoints list: exit %d\n%s", code, out)
	}
	// A savepoint's own directory lists just it; checkpoint inspect reads it.
	out, _, code = stated(t, "savepoints", "list", res.Savepoint, "--json")
	if code != 0 || !strings.Contains(out, `"path": "`+res.Savepoint+`"`) || strings.Count(out, `"path"`) != 1 {
		t.Fatalf("savepoints list of one savepoint: exit %d\n%s", code, out)
	}
	if out, errs, code := stated(t, "checkpoint", "inspect", res.Savepoint, "--verify"); code != 0 || !strings.HasPrefix(out, "savepoint ") {
		t.Fatalf("inspect the savepoint: exit %d\n%s%s", code, out, errs)
	}
	out, _, code = stated(t, "savepoints", "list", dir)
	if code != 0 || !strings.Contains(out, "no savepoints in "+dir) {
		t.Fatalf("savepoints list of a directory without savepoints: exit %d\n%s", code, out)
	}
}
