package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"path"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stated-io/stated/internal/minio"
	"github.com/stated-io/stated/providers"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/providers/s3"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/snapshot/storagetest"
)

// moveAsideStores are the storages MoveCheckpointAside is tried on: a file
// system (one rename), the same without the DirRenamer capability (copy,
// check, delete), and S3 on a real MinIO server (copy, check, delete).
func moveAsideStores(t *testing.T) map[string]func(t *testing.T) snapshot.Storage {
	return map[string]func(t *testing.T) snapshot.Storage{
		"file": func(t *testing.T) snapshot.Storage {
			s, err := file.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		"file without rename": func(t *testing.T) snapshot.Storage {
			s, err := file.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			return struct{ snapshot.Storage }{s}
		},
		"s3": func(t *testing.T) snapshot.Storage {
			srv := minio.Start(t)
			s, err := s3.New(t.Context(), srv.Bucket, "checkpoints", s3.Options{
				Endpoint: srv.Endpoint, AccessKey: srv.AccessKey, SecretKey: srv.SecretKey, Region: "us-east-1", PathStyle: true,
				SpoolDir: t.TempDir(),
			})
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
	}
}

func put(t *testing.T, s snapshot.Storage, name string, data []byte) snapshot.FileRef {
	t.Helper()
	wr := storagetest.Put(t, s, name, data)
	return snapshot.FileRef{Size: wr.Size, CRC32C: wr.CRC32C}
}

// commitCheckpoint commits checkpoint id of job "job" with one file of its
// own (in a subdirectory) and one shared file.
func commitCheckpoint(t *testing.T, s snapshot.Storage, id int64) *snapshot.Metadata {
	t.Helper()
	dir := snapshot.CheckpointDir("job", id)
	own := put(t, s, dir+"/op-0/data", bytes.Repeat([]byte{byte(id)}, 100))
	own.Path = "op-0/data"
	shared := put(t, s, snapshot.SharedDir("job")+"/sst-"+string(rune('0'+id)), []byte("shared"))
	shared.Path, shared.Scope = "../shared/sst-"+string(rune('0'+id)), snapshot.ScopeShared
	md := &snapshot.Metadata{JobID: "job", CheckpointID: id, Kind: snapshot.KindCheckpoint, Completed: time.UnixMilli(1000 * id).UTC(),
		Operators: []snapshot.OperatorState{{UID: "op", Parallelism: 1, MaxParallelism: 128, Subtasks: []snapshot.SubtaskState{
			{Keyed: []snapshot.KeyedStateHandle{{Format: "test/v1", KeyGroupStart: 0, KeyGroupEnd: 127, Files: []snapshot.FileRef{own, shared}}}},
		}}}}
	if err := snapshot.CommitMetadata(t.Context(), s, dir, md); err != nil {
		t.Fatal(err)
	}
	return md
}

// A corrupt newest checkpoint moved aside stops being a checkpoint (latest
// is the older one again), keeps every byte it had, and is listed as moved
// aside; a complete one moves only when forced, and stays readable and
// verifiable where it went.
func TestMoveCheckpointAside(t *testing.T) {
	for name, open := range moveAsideStores(t) {
		t.Run(name, func(t *testing.T) {
			ctx := t.Context()
			s := open(t)
			defer s.Close()
			commitCheckpoint(t, s, 1)
			commitCheckpoint(t, s, 2)
			// chk-2's _metadata is truncated.
			md2 := storagetest.Read(t, s, "job/chk-2/_metadata")
			if err := s.Delete(ctx, "job/chk-2/_metadata"); err != nil {
				t.Fatal(err)
			}
			put(t, s, "job/chk-2/_metadata", md2[:len(md2)/2])
			data2 := storagetest.Read(t, s, "job/chk-2/op-0/data")
			if _, _, err := snapshot.LatestCheckpoint(ctx, s, "job"); err != nil && !errors.Is(err, snapshot.ErrCorrupt) {
				t.Fatal(err)
			}

			now := time.Date(2031, 2, 3, 4, 5, 6, 7, time.UTC)
			moved, err := snapshot.MoveCheckpointAside(ctx, s, "job/chk-2", snapshot.MoveAsideOptions{Now: func() time.Time { return now }})
			if err != nil {
				t.Fatal(err)
			}
			wantDir := "job/moved-aside-chk-2-20310203T040506Z"
			if moved.Dir != wantDir || moved.From != "job/chk-2" || moved.ID != 2 || moved.Status() != snapshot.StatusCorrupt || moved.Files != 2 {
				t.Fatalf("moved %+v", moved)
			}
			if !bytes.Equal(storagetest.Read(t, s, wantDir+"/_metadata"), md2[:len(md2)/2]) || !bytes.Equal(storagetest.Read(t, s, wantDir+"/op-0/data"), data2) {
				t.Fatal("the moved checkpoint's files differ from the originals")
			}
			if names, _ := s.List(ctx, "job/chk-2"); len(names) != 0 {
				t.Fatalf("job/chk-2 still holds %v", names)
			}
			infos, err := snapshot.ListCheckpoints(ctx, s, "job")
			if err != nil || len(infos) != 1 || infos[0].ID != 1 {
				t.Fatalf("checkpoints after the move: %+v, %v", infos, err)
			}
			if dir, _, err := snapshot.LatestCheckpoint(ctx, s, "job"); err != nil || dir != "job/chk-1" {
				t.Fatalf("latest after the move: %q, %v", dir, err)
			}
			list, err := snapshot.ListMovedAside(ctx, s, "job")
			if err != nil || len(list) != 1 || list[0].Dir != wantDir || list[0].ID != 2 || !list[0].Moved.Equal(now.Truncate(time.Second)) || list[0].Status() != snapshot.StatusCorrupt {
				t.Fatalf("moved aside: %+v, %v", list, err)
			}

			// A complete checkpoint is refused unless forced.
			if _, err := snapshot.MoveCheckpointAside(ctx, s, "job/chk-1", snapshot.MoveAsideOptions{}); !errors.Is(err, snapshot.ErrCheckpointComplete) {
				t.Fatalf("move of a complete checkpoint: %v, want ErrCheckpointComplete", err)
			}
			if _, _, err := snapshot.LatestCheckpoint(ctx, s, "job"); err != nil {
				t.Fatalf("the refused move changed chk-1: %v", err)
			}
			moved, err = snapshot.MoveCheckpointAside(ctx, s, "job/chk-1/", snapshot.MoveAsideOptions{Force: true, Now: func() time.Time { return now }})
			if err != nil || moved.Status() != snapshot.StatusComplete {
				t.Fatalf("forced move: %+v, %v", moved, err)
			}
			dir, md, err := snapshot.ResolveRestorePath(ctx, s, moved.Dir)
			if err != nil {
				t.Fatal(err)
			}
			if bad := snapshot.Verify(ctx, s, dir, md); len(bad) != 0 {
				t.Fatalf("the forced-aside checkpoint does not verify where it went: %v", bad)
			}
			if _, _, err := snapshot.LatestCheckpoint(ctx, s, "job"); !errors.Is(err, snapshot.ErrNoCheckpoint) {
				t.Fatalf("latest with every checkpoint moved aside: %v", err)
			}
			list, _ = snapshot.ListMovedAside(ctx, s, "job")
			if len(list) != 2 || list[0].ID != 1 || list[1].ID != 2 {
				t.Fatalf("moved aside: %+v", list)
			}

			// A second checkpoint 2, moved aside in the same second, does
			// not replace the first.
			commitCheckpoint(t, s, 2)
			if _, err := snapshot.MoveCheckpointAside(ctx, s, "job/chk-2", snapshot.MoveAsideOptions{Force: true, Now: func() time.Time { return now }}); !errors.Is(err, snapshot.ErrExist) {
				t.Fatalf("a move onto an existing moved-aside directory: %v, want ErrExist", err)
			}
			if !bytes.Equal(storagetest.Read(t, s, wantDir+"/_metadata"), md2[:len(md2)/2]) {
				t.Fatal("the first moved-aside checkpoint 2 was replaced")
			}

			for _, bad := range []struct {
				dir  string
				want error
			}{
				{"job/chk-7", snapshot.ErrNotExist},
				{"job/shared", snapshot.ErrInvalidName},
				{"chk-1", snapshot.ErrInvalidName},
				{"job/chk-01", snapshot.ErrInvalidName},
				{"../job/chk-1", snapshot.ErrInvalidName},
			} {
				if _, err := snapshot.MoveCheckpointAside(ctx, s, bad.dir, snapshot.MoveAsideOptions{Force: true}); !errors.Is(err, bad.want) {
					t.Errorf("move %q: %v, want %v", bad.dir, err, bad.want)
				}
			}
		})
	}
}

// flippingStore stores every file with its first byte flipped: a copy
// that does not hold what was read.
type flippingStore struct{ snapshot.Storage }

func (f flippingStore) Create(ctx context.Context, name string, opts snapshot.CreateOptions) (snapshot.FileWriter, error) {
	w, err := f.Storage.Create(ctx, name, opts)
	return &flippingWriter{FileWriter: w}, err
}

type flippingWriter struct {
	snapshot.FileWriter
	started bool
}

func (w *flippingWriter) Write(p []byte) (int, error) {
	if !w.started && len(p) > 0 {
		w.started = true
		q := slices.Clone(p)
		q[0] ^= 1
		return w.FileWriter.Write(q)
	}
	return w.FileWriter.Write(p)
}

// A copy that does not hold the bytes read stops the move before anything
// is deleted.
func TestMoveCheckpointAsideChecksTheCopy(t *testing.T) {
	ctx := t.Context()
	fs, err := file.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	commitCheckpoint(t, fs, 3)
	s := flippingStore{fs}
	_, err = snapshot.MoveCheckpointAside(ctx, s, "job/chk-3", snapshot.MoveAsideOptions{Force: true})
	if !errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "job/chk-3/op-0/data") {
		t.Fatalf("move through a store that changes what it stores: %v, want ErrCorrupt naming the file", err)
	}
	if dir, _, err := snapshot.LatestCheckpoint(ctx, fs, "job"); err != nil || dir != "job/chk-3" {
		t.Fatalf("the checkpoint after the failed move: %q, %v", dir, err)
	}
	if got := storagetest.Read(t, fs, path.Join("job/chk-3", "op-0/data")); !bytes.Equal(got, bytes.Repeat([]byte{3}, 100)) {
		t.Fatal("the original file changed")
	}
}

// The pointer of a stop savepoint that is gone (the newest restore point,
// which stops `latest`) moves aside, after which latest is the checkpoint
// before it; a pointer to a valid savepoint moves only when forced.
func TestMoveSavepointPointerAside(t *testing.T) {
	ctx := t.Context()
	local := providers.SnapshotOpener(providers.Options{})
	for name, open := range moveAsideStores(t) {
		t.Run(name, func(t *testing.T) {
			s := open(t)
			defer s.Close()
			commitCheckpoint(t, s, 1)
			gone := path.Join(t.TempDir(), "savepoint-gone")
			if err := snapshot.RegisterStopSavepoint(ctx, s, "job", snapshot.SavepointPointer{CheckpointID: 2, Completed: time.UnixMilli(2000), Location: gone}); err != nil {
				t.Fatal(err)
			}
			if _, _, err := snapshot.OpenLatestRestorePoint(ctx, s, "job", local); !errors.As(err, new(*snapshot.UnreadableRestorePointError)) {
				t.Fatalf("latest before: %v, want an unreadable restore point", err)
			}
			now := time.Date(2026, 12, 2, 3, 4, 5, 0, time.UTC)
			pointer := snapshot.SavepointPointerName("job", 2)
			before := storagetest.Read(t, s, pointer)
			moved, err := snapshot.MoveCheckpointAside(ctx, s, pointer, snapshot.MoveAsideOptions{Now: func() time.Time { return now }, OpenSavepoint: local})
			if err != nil {
				t.Fatal(err)
			}
			if want := "job/moved-aside-savepoint-2-20261202T030405Z.pointer"; moved.Dir != want || moved.From != pointer || moved.Status() != snapshot.StatusIncomplete {
				t.Fatalf("moved %+v (status %v), want %s from %s, incomplete (the savepoint is gone)", moved, moved.Status(), want, pointer)
			}
			if got := storagetest.Read(t, s, moved.Dir); !bytes.Equal(got, before) {
				t.Fatalf("moved pointer holds %x, want %x", got, before)
			}
			if _, err := s.Size(ctx, pointer); !errors.Is(err, snapshot.ErrNotExist) {
				t.Fatalf("pointer still there: %v", err)
			}
			latest, _, err := snapshot.OpenLatestRestorePoint(ctx, s, "job", local)
			if err != nil || latest.ID != 1 {
				t.Fatalf("latest after: %+v, %v; want checkpoint 1", latest, err)
			}
			latest.Close()

			// A pointer to a savepoint that opens is a valid restore point.
			sp := t.TempDir()
			fs, err := file.New(sp)
			if err != nil {
				t.Fatal(err)
			}
			md := &snapshot.Metadata{JobID: "job", CheckpointID: 3, Kind: snapshot.KindSavepoint, Completed: time.UnixMilli(3000).UTC()}
			if err := snapshot.CommitMetadata(ctx, fs, "savepoint-ok", md); err != nil {
				t.Fatal(err)
			}
			fs.Close()
			if err := snapshot.RegisterStopSavepoint(ctx, s, "job", snapshot.SavepointPointer{CheckpointID: 3, Completed: time.UnixMilli(3000), Location: path.Join(sp, "savepoint-ok")}); err != nil {
				t.Fatal(err)
			}
			valid := snapshot.SavepointPointerName("job", 3)
			if _, err := snapshot.MoveCheckpointAside(ctx, s, valid, snapshot.MoveAsideOptions{Force: true}); err == nil {
				t.Fatal("a pointer moved aside without an Opener to judge its savepoint")
			}
			if _, err := s.Size(ctx, valid); err != nil {
				t.Fatalf("the pointer refused without an Opener: %v", err)
			}
			if _, err := snapshot.MoveCheckpointAside(ctx, s, valid, snapshot.MoveAsideOptions{OpenSavepoint: local}); !errors.Is(err, snapshot.ErrCheckpointComplete) {
				t.Fatalf("valid pointer: %v, want ErrCheckpointComplete", err)
			}
			if _, err := snapshot.MoveCheckpointAside(ctx, s, valid, snapshot.MoveAsideOptions{Force: true, OpenSavepoint: local}); err != nil {
				t.Fatalf("forced: %v", err)
			}
		})
	}
}
