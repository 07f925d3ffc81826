package snapshot_test

import (
	"slices"
	"testing"
	"time"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
)

func commitSavepoint(t *testing.T, s snapshot.Storage, dir, job string, id int64, completed time.Time) {
	t.Helper()
	f := put(t, s, dir+"/op-0.op", []byte("state"))
	f.Path = "op-0.op"
	md := &snapshot.Metadata{JobID: job, CheckpointID: id, Kind: snapshot.KindSavepoint, Completed: completed,
		Operators: []snapshot.OperatorState{{UID: "op", Parallelism: 1, MaxParallelism: 128, Subtasks: []snapshot.SubtaskState{
			{Keyed: []snapshot.KeyedStateHandle{{Format: "test/v1", KeyGroupStart: 0, KeyGroupEnd: 127, Files: []snapshot.FileRef{f}}}},
		}}}}
	if err := snapshot.CommitMetadata(t.Context(), s, dir, md); err != nil {
		t.Fatal(err)
	}
}

// ListSavepoints finds the savepoints of a savepoint directory, complete
// ones by job and time, then the others, and skips what is no savepoint.
func TestListSavepoints(t *testing.T) {
	ctx := t.Context()
	s, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)
	commitSavepoint(t, s, "sp/savepoint-wc-a", "wc", 7, t0.Add(2*time.Hour))
	commitSavepoint(t, s, "sp/savepoint-wc-b", "wc", 3, t0.Add(time.Hour))
	commitSavepoint(t, s, "sp/renamed", "other", 9, t0)
	put(t, s, "sp/savepoint-wc-c/op-0.op", []byte("unfinished")) // no _metadata: the writer died
	put(t, s, "sp/savepoint-wc-d/_metadata", []byte("garbage"))
	put(t, s, "sp/notes/readme", []byte("not a savepoint"))
	put(t, s, "sp/file", []byte("not a directory"))

	infos, err := snapshot.ListSavepoints(ctx, s, "sp")
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		dir    string
		id     int64
		status snapshot.CheckpointStatus
	}
	var got []row
	for _, in := range infos {
		got = append(got, row{in.Dir, in.ID, in.Status()})
	}
	want := []row{
		{"sp/renamed", 9, snapshot.StatusComplete},
		{"sp/savepoint-wc-b", 3, snapshot.StatusComplete},
		{"sp/savepoint-wc-a", 7, snapshot.StatusComplete},
		{"sp/savepoint-wc-c", 0, snapshot.StatusIncomplete},
		{"sp/savepoint-wc-d", 0, snapshot.StatusCorrupt},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("savepoints\n got %v\nwant %v", got, want)
	}

	// A savepoint's own directory lists that savepoint.
	infos, err = snapshot.ListSavepoints(ctx, s, "sp/savepoint-wc-a")
	if err != nil || len(infos) != 1 || infos[0].Dir != "sp/savepoint-wc-a" || infos[0].Metadata.JobID != "wc" {
		t.Fatalf("a savepoint's directory: %+v, %v", infos, err)
	}
	if infos, err := snapshot.ListSavepoints(ctx, s, "none"); err != nil || len(infos) != 0 {
		t.Fatalf("a missing directory: %+v, %v", infos, err)
	}
}
