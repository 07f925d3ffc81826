// Quickstart shows stated's state layer as an operator uses it, without
// the streaming engine: a keyed word counter on the heap backend, run as 2
// parallel subtasks, checkpointed to local disk, then restored and
// rescaled to 3 subtasks.
//
//	go run ./examples/quickstart            # checkpoints under ./data
//	go run ./examples/quickstart -dir /tmp/x
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/heap"
	"github.com/stated-io/stated/providers"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

const (
	jobID          = "quickstart"
	operatorUID    = "word-counter"
	maxParallelism = 128
)

const text = `It was the best of times, it was the worst of times, it was the age of
wisdom, it was the age of foolishness, it was the epoch of belief, it was the
epoch of incredulity, it was the season of Light, it was the season of
Darkness, it was the spring of hope, it was the winter of despair, we had
everything before us, we had nothing before us, we were all going direct to
Heaven, we were all going direct the other way`

var counts = state.ValueDescriptor[int64]{Name: "count", Serializer: serializer.Int64{}}

func main() {
	dir := flag.String("dir", "data", "checkpoint directory (a path or a file:// URL)")
	flag.Parse()
	if err := run(context.Background(), *dir); err != nil {
		fmt.Fprintln(os.Stderr, "quickstart:", err)
		os.Exit(1)
	}
}

// subtask is one parallel instance of the counting operator.
type subtask struct {
	keyed *heap.Backend[string]
	count state.ValueState[int64]
}

func openSubtasks(ctx context.Context, parallelism int, from *restoreFrom) ([]*subtask, error) {
	var subs []*subtask
	for i := range parallelism {
		b, err := heap.New(backend.KeyedOptions[string]{
			OperatorUID:    operatorUID,
			Subtask:        i,
			MaxParallelism: maxParallelism,
			KeyGroups:      backend.KeyGroupRangeForSubtask(maxParallelism, parallelism, i),
			KeySerializer:  serializer.String{},
		})
		if err != nil {
			return nil, err
		}
		if from != nil {
			if err := b.Restore(ctx, backend.KeyedRestoreSource(from.store, from.dir, from.op)); err != nil {
				return nil, err
			}
		}
		st, err := state.GetValueState(b, counts)
		if err != nil {
			return nil, err
		}
		subs = append(subs, &subtask{keyed: b, count: st})
	}
	return subs, nil
}

type restoreFrom struct {
	store snapshot.Storage
	dir   string
	op    *snapshot.OperatorState
}

// process routes each word to the subtask that owns its key group and
// counts it there.
func process(subs []*subtask, words []string) error {
	for _, w := range words {
		kg := backend.KeyGroupForKey([]byte(w), maxParallelism)
		s := subs[backend.SubtaskForKeyGroup(maxParallelism, len(subs), kg)]
		if err := s.keyed.SetCurrentKey(w); err != nil {
			return err
		}
		n, _, err := s.count.Value()
		if err != nil {
			return err
		}
		if err := s.count.Update(n + 1); err != nil {
			return err
		}
	}
	return nil
}

// checkpoint takes a two-phase snapshot of every subtask and commits it:
// data files first, _metadata last.
func checkpoint(ctx context.Context, store snapshot.Storage, subs []*subtask, id int64) (string, error) {
	var captures []backend.SnapshotCapture
	start := time.Now()
	for _, s := range subs {
		c, err := s.keyed.Snapshot() // sync phase: the operator pauses only for this
		if err != nil {
			return "", err
		}
		captures = append(captures, c)
	}
	pause := time.Since(start)
	dir := snapshot.CheckpointDir(jobID, id)
	op := snapshot.OperatorState{UID: operatorUID, Parallelism: len(subs), MaxParallelism: maxParallelism}
	for i, c := range captures { // async phase: would run beside processing
		handles, err := c.Write(ctx, backend.SnapshotTarget{Store: store, Dir: dir, FilePrefix: fmt.Sprintf("%s-%d", operatorUID, i)})
		if err != nil {
			return "", err
		}
		op.Subtasks = append(op.Subtasks, snapshot.SubtaskState{Keyed: handles})
	}
	md := &snapshot.Metadata{JobID: jobID, CheckpointID: id, Kind: snapshot.KindCheckpoint, Completed: time.Now(), Operators: []snapshot.OperatorState{op}}
	if err := snapshot.CommitMetadata(ctx, store, dir, md); err != nil {
		return "", err
	}
	fmt.Printf("checkpoint %d committed to %s (sync phase of %d subtasks: %v)\n", id, dir, len(subs), pause.Round(time.Microsecond))
	return dir, nil
}

func run(ctx context.Context, location string) error {
	store, err := providers.Open(ctx, location, providers.Options{})
	if err != nil {
		return err
	}
	defer store.Close()

	// Checkpoint ids go on from any earlier run in the same directory.
	id := int64(1)
	if _, md, err := snapshot.LatestCheckpoint(ctx, store, jobID); err == nil {
		id = md.CheckpointID + 1
		fmt.Printf("found checkpoint %d of an earlier run; this run writes checkpoint %d\n", md.CheckpointID, id)
	} else if !errors.Is(err, snapshot.ErrNoCheckpoint) {
		return err
	}

	words := strings.FieldsFunc(strings.ToLower(text), func(r rune) bool { return !('a' <= r && r <= 'z') })
	subs, err := openSubtasks(ctx, 2, nil)
	if err != nil {
		return err
	}
	if err := process(subs, words); err != nil {
		return err
	}
	fmt.Printf("counted %d words on 2 subtasks\n", len(words))
	if _, err := checkpoint(ctx, store, subs, id); err != nil {
		return err
	}

	// Restore the newest complete checkpoint at parallelism 3.
	dir, md, err := snapshot.LatestCheckpoint(ctx, store, jobID)
	if err != nil {
		return err
	}
	restored, err := openSubtasks(ctx, 3, &restoreFrom{store: store, dir: dir, op: &md.Operators[0]})
	if err != nil {
		return err
	}
	fmt.Printf("restored %s into 3 subtasks:\n", dir)
	total := int64(0)
	for i, s := range restored {
		var keys []string
		if err := s.keyed.Keys(counts.Name, "", func(k string) bool { keys = append(keys, k); return true }); err != nil {
			return err
		}
		type wc struct {
			word string
			n    int64
		}
		var top []wc
		for _, k := range keys {
			if err := s.keyed.SetCurrentKey(k); err != nil {
				return err
			}
			n, _, err := s.count.Value()
			if err != nil {
				return err
			}
			total += n
			top = append(top, wc{k, n})
		}
		slices.SortFunc(top, func(a, b wc) int {
			if a.n != b.n {
				return int(b.n - a.n)
			}
			return strings.Compare(a.word, b.word)
		})
		var show []string
		for _, w := range top[:min(5, len(top))] {
			show = append(show, fmt.Sprintf("%s=%d", w.word, w.n))
		}
		fmt.Printf("  subtask %d owns key groups %v: %d words, top: %s\n", i, s.keyed.KeyGroups(), len(keys), strings.Join(show, " "))
	}
	if total != int64(len(words)) {
		return fmt.Errorf("restored counts add up to %d, want %d", total, len(words))
	}
	fmt.Printf("restored counts add up to %d words: nothing lost, nothing counted twice\n", total)
	return nil
}
