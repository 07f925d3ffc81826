package state_test

import (
	"errors"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/backendtest"
	"github.com/stated-io/stated/backend/heap"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// noCapability is a backend whose Capability is the zero one.
type noCapability struct{ backend.KeyedBackend[string] }

func (noCapability) Capability() backend.Capability[string] { return backend.Capability[string]{} }

// TestZeroCapabilityIsRefused: a backend whose Capability is neither
// backend.Objects nor backend.Bytes gets no state, with an error that
// says so, instead of a panic.
func TestZeroCapabilityIsRefused(t *testing.T) {
	b := backendtest.Open(t, func(o backend.KeyedOptions[string]) (backend.KeyedBackend[string], error) { return heap.New(o) },
		backendtest.AllKeyGroups("op", 128))
	_, err := state.GetValueState(noCapability{b}, state.ValueDescriptor[int64]{Name: "v", Serializer: serializer.Int64{}})
	if !errors.Is(err, backend.ErrUnsupportedBackend) {
		t.Fatalf("a state on a backend without a capability: %v, want ErrUnsupportedBackend", err)
	}
	if _, err := state.GetValueState(b, state.ValueDescriptor[int64]{Name: "v", Serializer: serializer.Int64{}}); err != nil {
		t.Fatalf("the same state on the heap backend: %v", err)
	}
}
