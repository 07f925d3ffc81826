// Command nocapability must not compile: its backend implements every
// method of backend.KeyedBackend but Capability, the one that says how it
// holds state (TestCapabilityIsRequired builds it).
package main

import (
	"context"

	"github.com/stated-io/stated/backend"
)

type commonOnly struct{}

func (commonOnly) SetCurrentKey(string) error                           { return nil }
func (commonOnly) CurrentKey() string                                   { return "" }
func (commonOnly) CurrentKeyGroup() int                                 { return 0 }
func (commonOnly) KeyGroups() backend.KeyGroupRange                     { return backend.KeyGroupRange{} }
func (commonOnly) MaxParallelism() int                                  { return 1 }
func (commonOnly) Keys(string, string, func(string) bool) error         { return nil }
func (commonOnly) Snapshot() (backend.SnapshotCapture, error)           { return nil, nil }
func (commonOnly) Restore(context.Context, backend.RestoreSource) error { return nil }
func (commonOnly) Close() error                                         { return nil }

var _ backend.KeyedBackend[string] = commonOnly{}

func main() {}
