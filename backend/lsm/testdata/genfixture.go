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
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
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
	store, err := file.New(out)
	if err != nil {
		return err
	}
	defer store.Close()
	b, err := lsm.New(lsm.Options[string]{Dir: work, KeyedOptions: backend.KeyedOptions[string]{OperatorUID: "fixture",
		MaxParallelism: 8, KeyGroups: backend.KeyGroupRange{Start: 0, End: 7}, KeySerializer: serializer.String{}}})
	if err != nil {
		return err
	}
	defer b.Close()
	count, err := state.GetValueState(b, state.ValueDescriptor[int64]{Name: "count", Serializer: serializer.Int64{}})
	if err != nil {
		return err
	}
	events, err := state.GetListState(b, state.ListDescriptor[string]{Name: "events", Serializer: serializer.String{}})
	if err != nil {
		return err
	}
	seen, err := state.GetMapState(b, state.MapDescriptor[string, int64]{Name: "seen", KeySerializer: serializer.String{}, ValueSerializer: serializer.Int64{}})
	if err != nil {
		return err
	}
	timers, err := state.NewTimerService(b)
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
