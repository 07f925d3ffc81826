package main

import (
	"time"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/state"
)

// valueGets returns the read path through the backend contract, the same
// for every backend: for each index in order, SetCurrentKey of keys[i]
// and Value of st, timed as one run.
func valueGets(b backend.KeyedBackend[string], st state.ValueState[[]byte], keys []string, order []int) func() (time.Duration, error) {
	return func() (time.Duration, error) {
		n := 0
		dur, err := timed(func() error {
			for _, i := range order {
				if err := b.SetCurrentKey(keys[i]); err != nil {
					return err
				}
				v, ok, err := st.Value()
				if err != nil {
					return err
				}
				if !ok {
					return errMissing
				}
				n += len(v)
			}
			return nil
		})
		sink.Add(int64(n))
		return dur, err
	}
}

// mapGets is valueGets for a MapState: each index x of order reads user key
// users[x%len(users)] of key outer[x/len(users)].
func mapGets(b backend.KeyedBackend[string], st state.MapState[string, []byte], outer, users []string, order []int) func() (time.Duration, error) {
	nu := len(users)
	return func() (time.Duration, error) {
		n := 0
		dur, err := timed(func() error {
			for _, x := range order {
				if err := b.SetCurrentKey(outer[x/nu]); err != nil {
					return err
				}
				v, ok, err := st.Get(users[x%nu])
				if err != nil {
					return err
				}
				if !ok {
					return errMissing
				}
				n += len(v)
			}
			return nil
		})
		sink.Add(int64(n))
		return dur, err
	}
}
