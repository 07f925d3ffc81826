//go:build ignore

// genfixture writes the checkpoint that TestRestoreFixtures restores:
//
//	go run ./backend/lsm/testdata/genfixture.go -out backend/lsm/testdata/<format>
//
// testdata/lsm-v1 was written by it at commit 5ca04bd (format lsm/v1, no
// timer index), testdata/lsm-v2 by the code that introduced lsm/v2. Never
// write them again: they pin what every later version must restore.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/lsm"
	"github.com/stated-io/stated/snapshot"
)

func main() {
	out := flag.String("out", "", "directory to write the checkpoint under (job fixture, chk-1)")
	flag.Parse()
	if *out == "" {
		log.Fatal("-out is required")
	}
	if err := write(*out); err != nil {
		log.Fatal(err)
	}
}

func write(out string) error {
	ctx := context.Background()
	work, err := os.MkdirTemp("", "genfixture")
	if err != nil {
		return err
	}
	defer os.RemoveAll(work)
	store, err := snapshot.NewFileStorage(out)
	if err != nil {
		return err
	}
	defer store.Close()
	b, err := lsm.New(lsm.Options[string]{Dir: work, KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "fixture",
		MaxParallelism: 8, KeyGroups: backend.KeyGroupRange{Start: 0, End: 7}, KeySerializer: backend.StringSerializer{}}})
	if err != nil {
		return err
	}
	defer b.Close()
	count, err := backend.GetValueState(b, backend.ValueDescriptor[int64]{Name: "count", Serializer: backend.Int64Serializer{}})
	if err != nil {
		return err
	}
	events, err := backend.GetListState(b, backend.ListDescriptor[string]{Name: "events", Serializer: backend.StringSerializer{}})
	if err != nil {
		return err
	}
	seen, err := backend.GetMapState(b, backend.MapDescriptor[string, int64]{Name: "seen", KeySerializer: backend.StringSerializer{}, ValueSerializer: backend.Int64Serializer{}})
	if err != nil {
		return err
	}
	timers, err := backend.NewTimerService(b)
	if err != nil {
		return err
	}
	for i := range 100 {
		if err := b.SetCurrentKey(fmt.Sprintf("k%02d", i)); err != nil {
			return err
		}
		events.SetNamespace("w")
		for _, err := range []error{
			count.Update(int64(i)),
			events.Add(fmt.Sprint("e", i)),
			events.Add(fmt.Sprint("f", i)),
			seen.Put("first", int64(i)),
			seen.Put("second", int64(2*i)),
			timers.RegisterEventTimeTimer("w", int64(1000+i)),
			timers.RegisterProcessingTimeTimer("", int64(-i)),
			timers.RegisterEventTimeTimer("gone", int64(5000+i)),
			timers.DeleteEventTimeTimer("gone", int64(5000+i)),
		} {
			if err != nil {
				return err
			}
		}
	}
	c, err := b.Snapshot()
	if err != nil {
		return err
	}
	dir := snapshot.CheckpointDir("fixture", 1)
	hs, err := c.Write(ctx, backend.SnapshotTarget{Store: store, Dir: dir, FilePrefix: "fixture-0", CheckpointID: 1,
		Kind: snapshot.KindCheckpoint, SharedDir: "../shared"})
	if err != nil {
		return err
	}
	md := &snapshot.Metadata{JobID: "fixture", CheckpointID: 1, Kind: snapshot.KindCheckpoint, Completed: time.UnixMilli(1_700_000_000_000).UTC(),
		Operators: []snapshot.OperatorState{{UID: "fixture", Parallelism: 1, MaxParallelism: 8, Subtasks: []snapshot.SubtaskState{{Keyed: hs}}}}}
	return snapshot.CommitMetadata(ctx, store, dir, md)
}
