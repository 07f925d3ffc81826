package main

import (
	"fmt"
	"io"
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/heap"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// env is what the benchmarks of one run share: the configuration, a
// temporary directory, the dataset, the loaded heap value state and the
// loaded LSM fixture, the last three built on first use.
type env struct {
	cfg config
	tmp string
	log io.Writer

	data  *dataset
	value *valueFixture
	lsm   *lsmFixture
}

// valueFixture is the value state loaded with every key, next to a Go map
// with the same content.
type valueFixture struct {
	b  *heap.Backend[string]
	st state.ValueState[[]byte]
	m  map[string][]byte
}

// logf reports progress on the log writer.
func (e *env) logf(format string, args ...any) {
	fmt.Fprintf(e.log, "%s  "+format+"\n", append([]any{time.Now().Format("15:04:05.000")}, args...)...)
}

// dataset returns the keys and values, generating them on first use.
func (e *env) dataset() *dataset {
	if e.data == nil {
		e.logf("generating %d keys and values of %d bytes", e.cfg.keys, e.cfg.valueBytes)
		e.data = newDataset(e.cfg.keys, e.cfg.valueBytes, e.cfg.seed)
	}
	return e.data
}

// newHeap returns an empty heap backend owning every key group of
// maxParallelism 128.
func newHeap() (*heap.Backend[string], error) {
	return heap.New(backend.KeyedOptions[string]{
		OperatorUID:    "bench",
		MaxParallelism: 128,
		KeyGroups:      backend.KeyGroupRange{Start: 0, End: 127},
		KeySerializer:  serializer.String{},
	})
}

// valueFixture returns the loaded value state, building it on first use.
func (e *env) valueFixture() (*valueFixture, error) {
	if e.value != nil {
		return e.value, nil
	}
	d := e.dataset()
	e.logf("loading the value state and the Go map with %d keys", len(d.keys))
	b, err := newHeap()
	if err != nil {
		return nil, err
	}
	st, err := state.GetValueState(b, state.ValueDescriptor[[]byte]{Name: "value", Serializer: serializer.Bytes{}})
	if err != nil {
		return nil, err
	}
	m := map[string][]byte{}
	for i, k := range d.keys {
		if err := b.SetCurrentKey(k); err != nil {
			return nil, err
		}
		if err := st.Update(d.values[i]); err != nil {
			return nil, err
		}
		m[k] = d.values[i]
	}
	e.value = &valueFixture{b: b, st: st, m: m}
	return e.value, nil
}

// dropValueFixture lets the garbage collector reclaim the value state.
func (e *env) dropValueFixture() {
	if e.value != nil {
		_ = e.value.b.Close()
		e.value = nil
	}
}
