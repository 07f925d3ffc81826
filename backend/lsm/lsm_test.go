package lsm_test

import (
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/backendtest"
	"github.com/stated-io/stated/backend/heap"
	"github.com/stated-io/stated/backend/lsm"
)

func factory(t *testing.T) backendtest.Factory {
	dir := t.TempDir()
	return func(o backend.KeyedOptions[string]) (backend.KeyedBackend[string], error) {
		return lsm.New(lsm.Options[string]{KeyedOptions: o, Dir: dir, CacheSize: 8 << 20, MemTableSize: 1 << 20})
	}
}

func TestConformance(t *testing.T) {
	backendtest.RunKeyedSuite(t, factory(t))
}

func heapFactory(o backend.KeyedOptions[string]) (backend.KeyedBackend[string], error) {
	return heap.New(o)
}

// TestAgainstHeap runs random operations on heap (the reference model)
// and lsm side by side: every read must agree.
func TestAgainstHeap(t *testing.T) {
	backendtest.RunDifferential(t, heapFactory, factory(t))
}

// TestTTLAgainstHeap is TestAgainstHeap for states with TTL, on a moving
// fake clock.
func TestTTLAgainstHeap(t *testing.T) {
	backendtest.RunTTLDifferential(t, heapFactory, factory(t))
}
