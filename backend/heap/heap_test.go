package heap_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/backendtest"
	"github.com/stated-io/stated/backend/heap"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
	"github.com/stated-io/stated/ttl"
)

func factory(o backend.KeyedOptions[string]) (backend.KeyedBackend[string], error) {
	return heap.New(o)
}

func TestConformance(t *testing.T) {
	backendtest.RunKeyedSuite(t, factory)
}

func TestTTLPlateau(t *testing.T) {
	backendtest.RunTTLPlateau(t, factory, backendtest.PlateauOptions{})
}

// heldKeys counts the keys of state "v" that the backend still holds
// (under ReturnExpiredIfNotCleanedUp Keys shows what is not cleaned up).
func heldKeys(t *testing.T, b backend.KeyedBackend[string]) int {
	t.Helper()
	n := 0
	if err := b.Keys("v", "", func(string) bool { n++; return true }); err != nil {
		t.Fatal(err)
	}
	return n
}

func TestTTLIncrementalCleanup(t *testing.T) {
	const keys = 1000
	for _, tc := range []struct {
		name    string
		inc     ttl.IncrementalCleanup
		access  bool // read another key's state, or only set keys
		wantAll bool // every expired entry is cleaned up, or none
	}{
		{"per access", ttl.IncrementalCleanup{}, true, true},
		{"per record", ttl.IncrementalCleanup{PerRecord: true}, false, true},
		{"per access without accesses", ttl.IncrementalCleanup{}, false, false},
		{"disabled", ttl.IncrementalCleanup{Disabled: true}, true, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := ttl.NewManualClock(1_000_000)
			b, err := heap.New(backend.KeyedOptions[string]{OperatorUID: "op", MaxParallelism: 128,
				KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: serializer.String{}, Clock: clock})
			if err != nil {
				t.Fatal(err)
			}
			defer b.Close()
			st, err := state.GetValueState(b, state.ValueDescriptor[int64]{Name: "v", Serializer: serializer.Int64{},
				TTL: &ttl.Config{TTL: time.Second, Visibility: ttl.ReturnExpiredIfNotCleanedUp, Cleanup: ttl.Cleanup{Incremental: tc.inc}}})
			if err != nil {
				t.Fatal(err)
			}
			for i := range keys {
				if err := b.SetCurrentKey(fmt.Sprint("k", i)); err != nil {
					t.Fatal(err)
				}
				if err := st.Update(int64(i)); err != nil {
					t.Fatal(err)
				}
			}
			// A capture taken while everything is live is not changed by
			// the cleanup that follows.
			capture, err := b.Snapshot()
			if err != nil {
				t.Fatal(err)
			}
			clock.Advance(2 * time.Second)
			for range 20 * keys {
				if err := b.SetCurrentKey("reader"); err != nil {
					t.Fatal(err)
				}
				if tc.access {
					if _, _, err := st.Value(); err != nil {
						t.Fatal(err)
					}
				}
			}
			want := 0
			if !tc.wantAll {
				want = keys
			}
			if got := heldKeys(t, b); got != want {
				t.Fatalf("held %d of %d expired entries after the accesses, want %d", got, keys, want)
			}
			store, err := file.New(t.TempDir())
			if err != nil {
				t.Fatal(err)
			}
			target := backend.SnapshotTarget{Store: store, Dir: "sp", FilePrefix: "op-0", Kind: snapshot.KindSavepoint}
			handles, err := capture.Write(context.Background(), target)
			if err != nil {
				t.Fatal(err)
			}
			n := 0
			err = snapshot.ReadKeyGroups(context.Background(), store, "sp", &handles[0], 0, 127, func(int, int, []byte, []byte, []byte) error {
				n++
				return nil
			})
			if err != nil || n != keys {
				t.Fatalf("capture taken before the cleanup holds %d entries (%v), want %d", n, err, keys)
			}
		})
	}
}

// Incremental cleanup also finds the expired entries of restored state.
func TestTTLIncrementalCleanupAfterRestore(t *testing.T) {
	clock := ttl.NewManualClock(1_000_000)
	opts := backend.KeyedOptions[string]{OperatorUID: "op", MaxParallelism: 128,
		KeyGroups: backend.KeyGroupRange{Start: 0, End: 127}, KeySerializer: serializer.String{}, Clock: clock}
	d := state.ValueDescriptor[int64]{Name: "v", Serializer: serializer.Int64{},
		TTL: &ttl.Config{TTL: time.Second, Visibility: ttl.ReturnExpiredIfNotCleanedUp}}
	b, err := heap.New(opts)
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()
	st, err := state.GetValueState(b, d)
	if err != nil {
		t.Fatal(err)
	}
	const keys = 1000
	for i := range keys {
		if err := b.SetCurrentKey(fmt.Sprint("k", i)); err != nil {
			t.Fatal(err)
		}
		if err := st.Update(int64(i)); err != nil {
			t.Fatal(err)
		}
	}
	capture, err := b.Snapshot()
	if err != nil {
		t.Fatal(err)
	}
	r := backendtest.RestoreCapture(t, factory, opts, capture)
	rst, err := state.GetValueState(r, d)
	if err != nil {
		t.Fatal(err)
	}
	if got := heldKeys(t, r); got != keys {
		t.Fatalf("restored %d keys, want %d", got, keys)
	}
	clock.Advance(2 * time.Second)
	for range 20 * keys {
		if err := r.SetCurrentKey("reader"); err != nil {
			t.Fatal(err)
		}
		if _, _, err := rst.Value(); err != nil {
			t.Fatal(err)
		}
	}
	if got := heldKeys(t, r); got != 0 {
		t.Fatalf("held %d expired restored entries after the accesses, want 0", got)
	}
}

// TestOverlaysFoldBack: the overlays that writes during a capture go to
// fold back into the base once no capture holds them, so a backend that
// checkpoints again and again keeps one layer (two while a capture is in
// flight) instead of a layer per checkpoint.
func TestOverlaysFoldBack(t *testing.T) {
	b := backendtest.Open(t, factory, backendtest.AllKeyGroups("op", 4)).(*heap.Backend[string])
	value, err := state.GetValueState(b, state.ValueDescriptor[int64]{Name: "v", Serializer: serializer.Int64{}})
	if err != nil {
		t.Fatal(err)
	}
	list, err := state.GetListState(b, state.ListDescriptor[string]{Name: "l", Serializer: serializer.String{}})
	if err != nil {
		t.Fatal(err)
	}
	write := func(round int) {
		t.Helper()
		for k := range 20 {
			if err := b.SetCurrentKey(fmt.Sprint("k", k)); err != nil {
				t.Fatal(err)
			}
			if err := value.Update(int64(round)); err != nil {
				t.Fatal(err)
			}
			if err := list.Add(fmt.Sprint(round)); err != nil {
				t.Fatal(err)
			}
		}
	}
	write(0)
	for round := 1; round <= 10; round++ {
		c, err := b.Snapshot()
		if err != nil {
			t.Fatal(err)
		}
		write(round) // into overlays: the capture holds the layers below
		if n := heap.CopyOnWriteLayers(b); n > 2 {
			t.Fatalf("round %d, capture in flight: a key group has %d layers, want at most 2", round, n)
		}
		c.Release()
		write(round) // folds the overlays back
		if n := heap.CopyOnWriteLayers(b); n != 1 {
			t.Fatalf("round %d, capture released: a key group has %d layers, want 1", round, n)
		}
	}
}
