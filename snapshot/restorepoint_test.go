package snapshot_test

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/internal/golden"
	"github.com/stated-io/stated/internal/minio"
	"github.com/stated-io/stated/providers"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/snapshot/storagetest"
)

const goldenPointer = "testdata/savepoint_pointer_v1.golden"

var samplePointer = snapshot.SavepointPointer{
	CheckpointID: 42,
	Completed:    time.UnixMilli(1_700_000_000_123).UTC(),
	Location:     "s3://jobs/savepoints/savepoint-wordco-0123456789ab",
}

func TestSavepointPointerGolden(t *testing.T) {
	b, err := snapshot.EncodeSavepointPointer(samplePointer)
	if err != nil {
		t.Fatal(err)
	}
	want := golden.Check(t, goldenPointer, b, "the savepoint pointer encoding of samplePointer")
	got, err := snapshot.DecodeSavepointPointer(goldenPointer, want)
	if err != nil || got != samplePointer {
		t.Fatalf("golden file decodes to %+v, %v; want %+v", got, err, samplePointer)
	}
}

func TestSavepointPointerDecodeErrors(t *testing.T) {
	good, err := snapshot.EncodeSavepointPointer(samplePointer)
	if err != nil {
		t.Fatal(err)
	}
	with := func(f func(b []byte) []byte) []byte { return f(slices.Clone(good)) }
	tests := []struct {
		name string
		b    []byte
		want error
	}{
		{"empty", nil, snapshot.ErrCorrupt},
		{"bad magic", with(func(b []byte) []byte { b[0] = 'X'; return b }), snapshot.ErrCorrupt},
		{"truncated", good[:len(good)-1], snapshot.ErrCorrupt},
		{"header only", good[:20], snapshot.ErrCorrupt},
		{"trailing byte", append(slices.Clone(good), 0), snapshot.ErrCorrupt},
		{"flipped id bit", with(func(b []byte) []byte { b[12] ^= 0x10; return b }), snapshot.ErrCorrupt},
		{"flipped location bit", with(func(b []byte) []byte { b[30] ^= 1; return b }), snapshot.ErrCorrupt},
		{"newer version", reseal(with(func(b []byte) []byte { b[4] = 2; return b })), snapshot.ErrUnsupported},
		{"version 0", reseal(with(func(b []byte) []byte { b[4] = 0; return b })), snapshot.ErrCorrupt},
		{"reserved set", reseal(with(func(b []byte) []byte { b[6] = 1; return b })), snapshot.ErrCorrupt},
		{"negative id", reseal(with(func(b []byte) []byte { b[8] = 0x80; return b })), snapshot.ErrCorrupt},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := snapshot.DecodeSavepointPointer("job/savepoint-42.pointer", tt.b)
			if !errors.Is(err, tt.want) || !strings.Contains(err.Error(), "job/savepoint-42.pointer") {
				t.Fatalf("got %v, want %v naming the file", err, tt.want)
			}
		})
	}
	for _, p := range []snapshot.SavepointPointer{{CheckpointID: -1, Location: "x"}, {CheckpointID: 1}, {CheckpointID: 1, Location: strings.Repeat("x", snapshot.MaxPointerLocation+1)}} {
		if _, err := snapshot.EncodeSavepointPointer(p); err == nil {
			t.Errorf("encoded invalid pointer %+v", p)
		}
	}
}

// reseal recomputes the CRC32C trailer of a pointer or a _metadata.
func reseal(b []byte) []byte {
	body := slices.Clone(b[:len(b)-4])
	return binary.BigEndian.AppendUint32(body, crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli)))
}

func FuzzDecodeSavepointPointer(f *testing.F) {
	good, _ := snapshot.EncodeSavepointPointer(samplePointer)
	f.Add(good)
	f.Add(good[:10])
	f.Fuzz(func(t *testing.T, b []byte) {
		p, err := snapshot.DecodeSavepointPointer("fuzz", b)
		if err != nil {
			if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrUnsupported) {
				t.Fatalf("error %v is neither corrupt nor unsupported", err)
			}
			return
		}
		again, err := snapshot.EncodeSavepointPointer(p)
		if err != nil || string(again) != string(b) {
			t.Fatalf("decoded %+v does not encode back: %v", p, err)
		}
	})
}

// restoreTarget is a job's checkpoint storage and a savepoint directory,
// both on one kind of storage.
type restoreTarget struct {
	ckpt     snapshot.Storage
	spRoot   string // location of the savepoint directory
	spStore  snapshot.Storage
	opts     providers.Options
	location func(name string) string // of a name in spStore
}

// restoreTargets are the storages the restore-point tests run on, by
// name: the file system, and S3 on a MinIO server that lives as long as
// the test given to the setup. Each setup returns the opener of a fresh
// target.
var restoreTargets = map[string]func(parent *testing.T) func(t *testing.T) restoreTarget{
	"file": func(*testing.T) func(t *testing.T) restoreTarget {
		return func(t *testing.T) restoreTarget {
			dir := t.TempDir()
			return openTarget(t, filepath.Join(dir, "checkpoints"), filepath.Join(dir, "savepoints"), providers.Options{})
		}
	},
	"s3": func(parent *testing.T) func(t *testing.T) restoreTarget {
		srv := minio.Start(parent)
		return func(t *testing.T) restoreTarget {
			opts := providers.Options{S3: s3.Options{Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey,
				Region: "us-east-1", PathStyle: true, SpoolDir: t.TempDir()}}
			root := fmt.Sprintf("s3://%s/rp-%x", srv.Bucket, rand.Uint64())
			return openTarget(t, root+"/checkpoints", root+"/savepoints", opts)
		}
	},
}

func openTarget(t *testing.T, ckpt, sp string, opts providers.Options) restoreTarget {
	t.Helper()
	tg := restoreTarget{spRoot: sp, opts: opts}
	var err error
	if tg.ckpt, err = providers.Open(t.Context(), ckpt, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.ckpt.Close() })
	if tg.spStore, err = providers.Open(t.Context(), sp, opts); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.spStore.Close() })
	tg.location = func(name string) string { return sp + "/" + name }
	return tg
}

func pointMetadata(kind snapshot.Kind, job string, id int64) *snapshot.Metadata {
	return &snapshot.Metadata{
		JobID: job, CheckpointID: id, Kind: kind, Completed: time.UnixMilli(1_700_000_000_000 + id).UTC(),
		Operators: []snapshot.OperatorState{{UID: "op", Parallelism: 1, MaxParallelism: 128, Subtasks: make([]snapshot.SubtaskState, 1)}},
	}
}

type pointSetup func(t *testing.T, tg restoreTarget)

func checkpointAt(id int64) pointSetup {
	return func(t *testing.T, tg restoreTarget) {
		if err := snapshot.CommitMetadata(t.Context(), tg.ckpt, snapshot.CheckpointDir("job", id), pointMetadata(snapshot.KindCheckpoint, "job", id)); err != nil {
			t.Fatal(err)
		}
	}
}

// incompleteAt is a checkpoint whose process died before _metadata.
func incompleteAt(id int64) pointSetup {
	return func(t *testing.T, tg restoreTarget) {
		storagetest.Put(t, tg.ckpt, snapshot.CheckpointDir("job", id)+"/op-0.kg", []byte("data"))
	}
}

// savepointAt writes stop savepoint id of job (md's job and id, which a
// test may make differ) and registers it.
func savepointAt(id int64, md *snapshot.Metadata) pointSetup {
	return func(t *testing.T, tg restoreTarget) {
		dir := fmt.Sprintf("savepoint-job-%d", id)
		if md == nil {
			md = pointMetadata(snapshot.KindSavepoint, "job", id)
		}
		if err := snapshot.CommitMetadata(t.Context(), tg.spStore, dir, md); err != nil {
			t.Fatal(err)
		}
		registerAt(id, tg.location(dir))(t, tg)
	}
}

func registerAt(id int64, location string) pointSetup {
	return func(t *testing.T, tg restoreTarget) {
		p := snapshot.SavepointPointer{CheckpointID: id, Completed: time.UnixMilli(1_700_000_000_000), Location: location}
		if err := snapshot.RegisterStopSavepoint(t.Context(), tg.ckpt, "job", p); err != nil {
			t.Fatal(err)
		}
	}
}

// registerMissing registers a stop savepoint that is not there.
func registerMissing(id int64) pointSetup {
	return func(t *testing.T, tg restoreTarget) { registerAt(id, tg.location("savepoint-gone"))(t, tg) }
}

// damaged rewrites a file of the checkpoint storage.
func damaged(name string, f func([]byte) []byte) pointSetup {
	return func(t *testing.T, tg restoreTarget) {
		storagetest.Put(t, tg.ckpt, name, f(storagetest.Read(t, tg.ckpt, name)))
	}
}

func truncate(b []byte) []byte { return b[:len(b)/2] }
func flipBit(b []byte) []byte  { b[len(b)/2] ^= 0x04; return b }

// TestOpenLatestRestorePoint checks that latest is the highest id among
// complete checkpoints and registered stop savepoints, that incomplete
// checkpoints are skipped and reported as such, and that a newest point
// that exists but cannot be read stops the search, naming the file and
// the next older complete point, on the file system and on S3.
func TestOpenLatestRestorePoint(t *testing.T) {
	meta := func(id int64) string { return snapshot.CheckpointDir("job", id) + "/_metadata" }
	type want struct {
		id         int64
		kind       snapshot.Kind
		incomplete []int64
		err        error  // for an unreadable newest point
		file       string // suffix of UnreadableRestorePointError.File
		older      int64  // its Older's id, -1 for none
	}
	tests := []struct {
		name   string
		setups []pointSetup
		want   want
	}{
		{"none", nil, want{err: snapshot.ErrNoCheckpoint}},
		{"only incomplete", []pointSetup{incompleteAt(1)}, want{incomplete: []int64{1}, err: snapshot.ErrNoCheckpoint}},
		{"savepoint above checkpoints", []pointSetup{checkpointAt(3), checkpointAt(4), savepointAt(5, nil)}, want{id: 5, kind: snapshot.KindSavepoint}},
		{"checkpoint above savepoint", []pointSetup{savepointAt(2, nil), checkpointAt(3)}, want{id: 3, kind: snapshot.KindCheckpoint}},
		{"incomplete skipped", []pointSetup{checkpointAt(3), savepointAt(4, nil), incompleteAt(5), incompleteAt(6)}, want{id: 4, kind: snapshot.KindSavepoint, incomplete: []int64{6, 5}}},
		{"truncated newest metadata", []pointSetup{checkpointAt(3), checkpointAt(4), damaged(meta(4), truncate)},
			want{err: snapshot.ErrCorrupt, file: meta(4), older: 3}},
		{"bit-flipped newest metadata", []pointSetup{checkpointAt(3), checkpointAt(4), damaged(meta(4), flipBit)},
			want{err: snapshot.ErrCorrupt, file: meta(4), older: 3}},
		{"corrupt above incomplete", []pointSetup{savepointAt(2, nil), checkpointAt(3), damaged(meta(3), flipBit), incompleteAt(4)},
			want{incomplete: []int64{4}, err: snapshot.ErrCorrupt, file: meta(3), older: 2}},
		{"two corrupt", []pointSetup{checkpointAt(2), checkpointAt(3), checkpointAt(4), damaged(meta(3), truncate), damaged(meta(4), flipBit)},
			want{err: snapshot.ErrCorrupt, file: meta(4), older: 2}},
		{"corrupt without older", []pointSetup{checkpointAt(4), damaged(meta(4), truncate)}, want{err: snapshot.ErrCorrupt, file: meta(4), older: -1}},
		{"truncated pointer", []pointSetup{checkpointAt(3), savepointAt(4, nil), damaged(snapshot.SavepointPointerName("job", 4), truncate)},
			want{err: snapshot.ErrCorrupt, file: "job/savepoint-4.pointer", older: 3}},
		{"savepoint gone", []pointSetup{checkpointAt(3), registerMissing(4)},
			want{err: snapshot.ErrNotExist, file: "savepoint-gone/_metadata", older: 3}},
		{"savepoint of another id", []pointSetup{checkpointAt(3), savepointAt(4, pointMetadata(snapshot.KindSavepoint, "job", 9))},
			want{err: snapshot.ErrCorrupt, file: "savepoint-job-4/_metadata", older: 3}},
		{"savepoint of another job", []pointSetup{checkpointAt(3), savepointAt(4, pointMetadata(snapshot.KindSavepoint, "other", 4))},
			want{err: snapshot.ErrCorrupt, file: "savepoint-job-4/_metadata", older: 3}},
		{"newer metadata version", []pointSetup{checkpointAt(3), checkpointAt(4), damaged(meta(4), func(b []byte) []byte { b[7] = 9; return reseal(b) })},
			want{err: snapshot.ErrUnsupported, file: meta(4), older: 3}},
	}
	for tname, setup := range restoreTargets {
		t.Run(tname, func(t *testing.T) {
			target := setup(t)
			for _, tt := range tests {
				t.Run(tt.name, func(t *testing.T) {
					tg := target(t)
					for _, f := range tt.setups {
						f(t, tg)
					}
					p, incomplete, err := snapshot.OpenLatestRestorePoint(t.Context(), tg.ckpt, "job", providers.SnapshotOpener(tg.opts))
					var ids []int64
					for _, in := range incomplete {
						ids = append(ids, in.ID)
						if in.Status() != snapshot.StatusIncomplete {
							t.Errorf("skipped checkpoint %d has status %v, want incomplete", in.ID, in.Status())
						}
					}
					if !slices.Equal(ids, tt.want.incomplete) {
						t.Errorf("incomplete %v, want %v", ids, tt.want.incomplete)
					}
					if tt.want.err != nil {
						if p != nil || !errors.Is(err, tt.want.err) {
							t.Fatalf("got %+v, %v; want %v", p, err, tt.want.err)
						}
						if tt.want.file == "" {
							return
						}
						var ue *snapshot.UnreadableRestorePointError
						if !errors.As(err, &ue) || !strings.HasSuffix(ue.File, tt.want.file) || !strings.Contains(err.Error(), tt.want.file) {
							t.Fatalf("error %v: want an UnreadableRestorePointError naming %s", err, tt.want.file)
						}
						switch {
						case tt.want.older < 0 && ue.Older != nil:
							t.Errorf("older %+v, want none", ue.Older)
						case tt.want.older >= 0 && (ue.Older == nil || ue.Older.ID != tt.want.older):
							t.Errorf("older %+v, want id %d", ue.Older, tt.want.older)
						}
						return
					}
					if err != nil {
						t.Fatal(err)
					}
					defer p.Close()
					if p.ID != tt.want.id || p.Kind != tt.want.kind || p.Metadata.CheckpointID != tt.want.id || p.Metadata.Kind != tt.want.kind {
						t.Fatalf("opened %s %d (metadata %s %d), want %s %d", p.Kind, p.ID, p.Metadata.Kind, p.Metadata.CheckpointID, tt.want.kind, tt.want.id)
					}
					if md, err := snapshot.ReadMetadata(t.Context(), p.Store, p.Dir); err != nil || md.CheckpointID != p.ID {
						t.Fatalf("the opened point's store does not hold its _metadata at %s: %v", p.Dir, err)
					}
				})
			}
		})
	}
}

func TestListRestorePointsIgnoresOtherNames(t *testing.T) {
	tg := restoreTargets["file"](t)(t)
	checkpointAt(2)(t, tg)
	savepointAt(3, nil)(t, tg)
	for _, n := range []string{"job/_lease", "job/savepoint-07.pointer", "job/savepoint-x.pointer", "job/savepoint-4", "job/shared/a", "job/taskowned/b"} {
		storagetest.Put(t, tg.ckpt, n, []byte("x"))
	}
	if err := snapshot.RegisterStopSavepoint(t.Context(), tg.ckpt, "job", snapshot.SavepointPointer{CheckpointID: 3, Location: "/elsewhere"}); !errors.Is(err, snapshot.ErrExist) {
		t.Fatalf("second registration of savepoint 3: %v, want ErrExist", err)
	}
	points, err := snapshot.ListRestorePoints(t.Context(), tg.ckpt, "job")
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range points {
		got = append(got, fmt.Sprintf("%s %d %s %v", p.Kind, p.ID, p.Name, p.Status()))
	}
	want := []string{"checkpoint 2 job/chk-2 complete", "savepoint 3 job/savepoint-3.pointer complete"}
	if !slices.Equal(got, want) {
		t.Fatalf("got %q, want %q", got, want)
	}
	if points[1].Pointer.Location != tg.location("savepoint-job-3") {
		t.Fatalf("pointer location %q", points[1].Pointer.Location)
	}
}
