package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/snapshot/storagetest"
)

func TestLayoutNames(t *testing.T) {
	tests := []struct{ got, want string }{
		{snapshot.CheckpointDir("job1", 7), "job1/chk-7"},
		{snapshot.CheckpointDir("job1", 0), "job1/chk-0"},
		{snapshot.SharedDir("job1"), "job1/shared"},
		{snapshot.TaskOwnedDir("job1"), "job1/taskowned"},
		{snapshot.MetadataName, "_metadata"},
	}
	for _, tt := range tests {
		if tt.got != tt.want {
			t.Errorf("got %q, want %q", tt.got, tt.want)
		}
	}
}

// checkpointMetadata returns a small valid checkpoint with no files.
func checkpointMetadata(job string, id int64) *snapshot.Metadata {
	return &snapshot.Metadata{
		JobID: job, CheckpointID: id, Kind: snapshot.KindCheckpoint,
		Completed: time.UnixMilli(1_700_000_000_000 + id).UTC(),
		Operators: []snapshot.OperatorState{{UID: "op", Parallelism: 1, MaxParallelism: 128, Subtasks: make([]snapshot.SubtaskState, 1)}},
	}
}

func TestCommitAndReadMetadata(t *testing.T) {
	s := storagetest.Open(t, file.New)
	ctx := t.Context()
	dir := snapshot.CheckpointDir("job", 3)
	md := checkpointMetadata("job", 3)
	if _, err := snapshot.ReadMetadata(ctx, s, dir); !errors.Is(err, snapshot.ErrNotExist) {
		t.Fatalf("ReadMetadata before commit: %v, want ErrNotExist", err)
	}
	if err := snapshot.CommitMetadata(ctx, s, dir, md); err != nil {
		t.Fatal(err)
	}
	got, err := snapshot.ReadMetadata(ctx, s, dir)
	if err != nil || !reflect.DeepEqual(got, md) {
		t.Fatalf("ReadMetadata = %+v, %v", got, err)
	}
	before := storagetest.Read(t, s, dir+"/_metadata")
	other := checkpointMetadata("job", 3)
	other.Completed = other.Completed.Add(time.Hour)
	if err := snapshot.CommitMetadata(ctx, s, dir, other); !errors.Is(err, snapshot.ErrExist) {
		t.Fatalf("second CommitMetadata: %v, want ErrExist", err)
	}
	if !bytes.Equal(storagetest.Read(t, s, dir+"/_metadata"), before) {
		t.Fatal("committed _metadata was changed")
	}
	bad := checkpointMetadata("job", 4)
	bad.Operators[0].Parallelism = 0
	if err := snapshot.CommitMetadata(ctx, s, snapshot.CheckpointDir("job", 4), bad); err == nil {
		t.Fatal("invalid metadata committed")
	}
	if names, _ := s.List(ctx, snapshot.CheckpointDir("job", 4)); len(names) != 0 {
		t.Fatalf("invalid metadata left %q", names)
	}
	overwrite(t, s, dir+"/_metadata", before[:len(before)-1])
	_, err = snapshot.ReadMetadata(ctx, s, dir)
	wantCorrupt(t, err, dir+"/_metadata", "truncated _metadata")
}

func TestLatestCheckpoint(t *testing.T) {
	ctx := t.Context()
	type setup func(t *testing.T, s *file.Storage)
	commit := func(id int64) setup {
		return func(t *testing.T, s *file.Storage) {
			if err := snapshot.CommitMetadata(ctx, s, snapshot.CheckpointDir("job", id), checkpointMetadata("job", id)); err != nil {
				t.Fatal(err)
			}
		}
	}
	dataOnly := func(id int64) setup { // a checkpoint that crashed before _metadata
		return func(t *testing.T, s *file.Storage) {
			storagetest.Put(t, s, snapshot.CheckpointDir("job", id)+"/data", []byte("x"))
		}
	}
	truncated := func(id int64) setup {
		return func(t *testing.T, s *file.Storage) {
			commit(id)(t, s)
			name := snapshot.CheckpointDir("job", id) + "/_metadata"
			b := storagetest.Read(t, s, name)
			overwrite(t, s, name, b[:len(b)/2])
		}
	}
	raw := func(name string, b []byte) setup {
		return func(t *testing.T, s *file.Storage) { storagetest.Put(t, s, name, b) }
	}
	misplaced := func(t *testing.T, s *file.Storage) { // chk-8 holding checkpoint 5
		b, _ := snapshot.EncodeMetadata(checkpointMetadata("job", 5))
		storagetest.Put(t, s, snapshot.CheckpointDir("job", 8)+"/_metadata", b)
	}
	tests := []struct {
		name    string
		setups  []setup
		wantDir string
		wantErr error
		valid   []int64 // ListCheckpoints: ids with valid metadata
		all     []int64
	}{
		{"none", nil, "", snapshot.ErrNoCheckpoint, nil, nil},
		{"only crashed", []setup{dataOnly(1)}, "", snapshot.ErrNoCheckpoint, nil, []int64{1}},
		{"highest wins", []setup{commit(2), commit(10), commit(9)}, "job/chk-10", nil, []int64{2, 9, 10}, []int64{2, 9, 10}},
		{"skip crashed", []setup{commit(4), dataOnly(5)}, "job/chk-4", nil, []int64{4}, []int64{4, 5}},
		{"truncated stops", []setup{commit(4), truncated(6)}, "", snapshot.ErrCorrupt, []int64{4}, []int64{4, 6}},
		{"misplaced stops", []setup{commit(4), misplaced}, "", snapshot.ErrCorrupt, []int64{4}, []int64{4, 8}},
		{"crashed above truncated", []setup{commit(4), truncated(6), dataOnly(7)}, "", snapshot.ErrCorrupt, []int64{4}, []int64{4, 6, 7}},
		{"ignore other names", []setup{commit(1), raw("job/chk-07/_metadata", nil), raw("job/chk-x/_metadata", nil), raw("job/chk-99", []byte("file")), raw("job/shared/a", nil), raw("job/savepoint-1/_metadata", nil)}, "job/chk-1", nil, []int64{1}, []int64{1}},
		{"newer version stops", []setup{commit(1), func(t *testing.T, s *file.Storage) {
			b, _ := snapshot.EncodeMetadata(checkpointMetadata("job", 2))
			storagetest.Put(t, s, "job/chk-2/_metadata", envelope(2, b[snapshot.MetadataHeaderSize:len(b)-snapshot.MetadataTrailerSize]))
		}}, "", snapshot.ErrUnsupported, []int64{1}, []int64{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := storagetest.Open(t, file.New)
			for _, f := range tt.setups {
				f(t, s)
			}
			dir, md, err := snapshot.LatestCheckpoint(ctx, s, "job")
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("got %q, %v; want %v", dir, err, tt.wantErr)
				}
			} else if err != nil || dir != tt.wantDir || md == nil || snapshot.CheckpointDir("job", md.CheckpointID) != dir {
				t.Fatalf("got %q, %+v, %v; want %q", dir, md, err, tt.wantDir)
			}
			infos, err := snapshot.ListCheckpoints(ctx, s, "job")
			if err != nil {
				t.Fatal(err)
			}
			var all, valid []int64
			for _, in := range infos {
				all = append(all, in.ID)
				if in.Dir != snapshot.CheckpointDir("job", in.ID) {
					t.Errorf("info dir %q for id %d", in.Dir, in.ID)
				}
				if (in.Metadata == nil) == (in.Err == nil) {
					t.Errorf("checkpoint %d: metadata %v and error %v", in.ID, in.Metadata, in.Err)
				}
				if in.Err == nil {
					valid = append(valid, in.ID)
				}
			}
			if !reflect.DeepEqual(all, tt.all) || !reflect.DeepEqual(valid, tt.valid) {
				t.Errorf("ListCheckpoints: all %v valid %v; want %v and %v", all, valid, tt.all, tt.valid)
			}
		})
	}
}

func TestResolveRestorePath(t *testing.T) {
	s := storagetest.Open(t, file.New)
	ctx := t.Context()
	chk := checkpointMetadata("job", 5)
	if err := snapshot.CommitMetadata(ctx, s, "job/chk-5", chk); err != nil {
		t.Fatal(err)
	}
	sp := &snapshot.Metadata{JobID: "job", Kind: snapshot.KindSavepoint, CheckpointID: 6}
	if err := snapshot.CommitMetadata(ctx, s, "savepoints/savepoint-abc123-xyz", sp); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		in, dir string
		md      *snapshot.Metadata
	}{
		{"job/chk-5", "job/chk-5", chk},
		{"job/chk-5/", "job/chk-5", chk},
		{"job/chk-5/_metadata", "job/chk-5", chk},
		{"savepoints/savepoint-abc123-xyz", "savepoints/savepoint-abc123-xyz", sp},
		{"savepoints/savepoint-abc123-xyz/_metadata", "savepoints/savepoint-abc123-xyz", sp},
	}
	for _, tt := range tests {
		dir, md, err := snapshot.ResolveRestorePath(ctx, s, tt.in)
		if err != nil || dir != tt.dir || !reflect.DeepEqual(md, tt.md) {
			t.Errorf("ResolveRestorePath(%q) = %q, %v, %v; want %q", tt.in, dir, md, err, tt.dir)
		}
	}
	for _, in := range []string{"job/chk-9", "job", "nowhere/_metadata"} {
		if _, _, err := snapshot.ResolveRestorePath(ctx, s, in); !errors.Is(err, snapshot.ErrNotExist) {
			t.Errorf("ResolveRestorePath(%q): %v, want ErrNotExist", in, err)
		}
	}
}

// writeCheckpoint writes a complete checkpoint with a key-group file, an
// operator-state file and a shared file referenced twice.
func writeCheckpoint(t *testing.T, s *file.Storage, job string, id int64) (string, *snapshot.Metadata) {
	t.Helper()
	dir := snapshot.CheckpointDir(job, id)
	kg := writeKeyGroups(t, s, dir, "kg-0", 0, 63, snapshot.CompressionZstd, sampleEntries())
	kg2 := writeKeyGroups(t, s, dir, "kg-1", 64, 127, snapshot.CompressionS2, nil)
	op := writeOperatorStates(t, s, dir, "op-0", snapshot.CompressionNone, sampleOperatorStates())
	wr := storagetest.Put(t, s, snapshot.SharedDir(job)+"/sst-000001", bytes.Repeat([]byte("sst"), 1000))
	shared := snapshot.FileRef{Path: "../shared/sst-000001", Scope: snapshot.ScopeShared, Size: wr.Size, CRC32C: wr.CRC32C}
	lsm := snapshot.KeyedStateHandle{Format: "lsm/v1", KeyGroupStart: 0, KeyGroupEnd: 63, Files: []snapshot.FileRef{shared}}
	lsm2 := lsm
	lsm2.KeyGroupStart, lsm2.KeyGroupEnd = 64, 127
	lsm2.Files = []snapshot.FileRef{shared}
	md := &snapshot.Metadata{
		JobID: job, CheckpointID: id, Kind: snapshot.KindCheckpoint,
		Operators: []snapshot.OperatorState{
			{UID: "keyed", Parallelism: 2, MaxParallelism: 128, Subtasks: []snapshot.SubtaskState{
				{Keyed: []snapshot.KeyedStateHandle{*kg}, Operator: []snapshot.OperatorStateHandle{*op}},
				{Keyed: []snapshot.KeyedStateHandle{*kg2}},
			}},
			{UID: "lsm", Parallelism: 2, MaxParallelism: 128, Subtasks: []snapshot.SubtaskState{
				{Keyed: []snapshot.KeyedStateHandle{lsm}}, {Keyed: []snapshot.KeyedStateHandle{lsm2}},
			}},
		},
	}
	if err := snapshot.CommitMetadata(t.Context(), s, dir, md); err != nil {
		t.Fatal(err)
	}
	return dir, md
}

func TestVerify(t *testing.T) {
	s := storagetest.Open(t, file.New)
	ctx := t.Context()
	dir, md := writeCheckpoint(t, s, "job", 1)
	if errs := snapshot.Verify(ctx, s, dir, md); len(errs) != 0 {
		t.Fatalf("Verify of a good checkpoint: %v", errs)
	}

	// Damage three files in three ways: all three are reported.
	b := storagetest.Read(t, s, dir+"/kg-0")
	b[len(b)/2] ^= 1
	overwrite(t, s, dir+"/kg-0", b)
	b = storagetest.Read(t, s, dir+"/op-0")
	overwrite(t, s, dir+"/op-0", append(b, 0))
	if err := s.Delete(ctx, "job/shared/sst-000001"); err != nil {
		t.Fatal(err)
	}
	errs := snapshot.Verify(ctx, s, dir, md)
	if len(errs) != 3 {
		t.Fatalf("Verify reported %d errors, want 3: %v", len(errs), errs)
	}
	wantCorrupt(t, errs[0], "job/chk-1/kg-0", "flipped key-group file")
	wantCorrupt(t, errs[1], "job/chk-1/op-0", "longer operator file")
	if !errors.Is(errs[2], snapshot.ErrNotExist) || !strings.Contains(errs[2].Error(), "job/shared/sst-000001") {
		t.Errorf("missing shared file: %v", errs[2])
	}

	// Two references to one file that disagree.
	md.Operators[1].Subtasks[1].Keyed[0].Files[0].Size++
	errs = snapshot.Verify(ctx, s, dir, md)
	if len(errs) != 4 || !errors.Is(errs[3], snapshot.ErrCorrupt) {
		t.Errorf("disagreeing references: %v", errs)
	}
}

func TestOpenVerified(t *testing.T) {
	s := storagetest.Open(t, file.New)
	ctx := t.Context()
	data := bytes.Repeat([]byte("abcdefgh"), 10_000)
	wr := storagetest.Put(t, s, "d/f", data)
	good := snapshot.FileRef{Path: "f", Size: wr.Size, CRC32C: wr.CRC32C}
	tests := []struct {
		name   string
		ref    snapshot.FileRef
		reason string // "" for success
		early  bool   // the error comes before the whole file was read
	}{
		{"good", good, "", false},
		{"crc", snapshot.FileRef{Path: "f", Size: wr.Size, CRC32C: wr.CRC32C + 1}, "crc32c", false},
		{"shorter than recorded", snapshot.FileRef{Path: "f", Size: wr.Size + 1, CRC32C: wr.CRC32C}, "truncated", false},
		{"longer than recorded", snapshot.FileRef{Path: "f", Size: 100, CRC32C: wr.CRC32C}, "longer", true},
		{"empty recorded", snapshot.FileRef{Path: "f", Size: 0}, "longer", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc, err := snapshot.OpenVerified(ctx, s, "d", tt.ref)
			if err != nil {
				t.Fatal(err)
			}
			defer rc.Close()
			got, err := io.ReadAll(rc)
			if tt.reason == "" {
				if err != nil || !bytes.Equal(got, data) {
					t.Fatalf("read %d bytes, %v", len(got), err)
				}
				return
			}
			wantCorrupt(t, err, "d/f", tt.name)
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("error %v does not say %q", err, tt.reason)
			}
			if tt.early && int64(len(got)) != tt.ref.Size {
				t.Errorf("read %d bytes before the error, want %d", len(got), tt.ref.Size)
			}
			if _, err2 := rc.Read(make([]byte, 1)); err2 != err {
				t.Errorf("error not sticky: %v then %v", err, err2)
			}
		})
	}
	if _, err := snapshot.OpenVerified(ctx, s, "d", snapshot.FileRef{Path: "missing"}); !errors.Is(err, snapshot.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	if _, err := snapshot.OpenVerified(ctx, s, "d", snapshot.FileRef{Path: "../../x"}); !errors.Is(err, snapshot.ErrInvalidName) {
		t.Errorf("escaping path: %v", err)
	}
}

// TestCheckpointEndToEnd restores every piece of a written checkpoint.
func TestCheckpointEndToEnd(t *testing.T) {
	s := storagetest.Open(t, file.New)
	ctx := context.Background()
	writeCheckpoint(t, s, "job", 1)
	dir, md, err := snapshot.LatestCheckpoint(ctx, s, "job")
	if err != nil {
		t.Fatal(err)
	}
	h := &md.Operators[0].Subtasks[0].Keyed[0]
	got, err := readKeyGroups(ctx, s, dir, h, 0, 127)
	if err != nil || len(got) != len(sampleEntries()) {
		t.Fatalf("key groups: %d entries, %v", len(got), err)
	}
	ops, err := snapshot.ReadOperatorStates(ctx, s, dir, &md.Operators[0].Subtasks[0].Operator[0])
	if err != nil || len(ops) != 3 || len(ops[0].Elements) != 4 {
		t.Fatalf("operator states: %+v, %v", ops, err)
	}
}
