package heap_test

import (
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/backendtest"
	"github.com/stated-io/stated/backend/heap"
)

func factory(o backend.KeyedOptions[string]) (backend.KeyedBackend[string], error) {
	return heap.New(o)
}

func TestConformance(t *testing.T) {
	backendtest.RunKeyedSuite(t, factory)
}
