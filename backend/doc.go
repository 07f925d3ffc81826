// Package backend is the contract between stream operators and the state
// backends that hold their state.
//
// It owns key groups (how keys map to subtasks), state descriptors and the
// typed state handles operators use (Value, List, Map, Reducing,
// Aggregating), serializers and their compatibility snapshots, operator
// state and its redistribution, the timer service, and the interfaces every
// keyed backend implements. It imports no backend implementation.
//
// State semantics are written once, here. A backend stores and snapshots:
// a backend that keeps objects (heap) implements ObjectBackend, and the
// typed states of this package run on top of its ObjectTables without
// serializing on the read/write path.
//
// Goroutine safety: a keyed backend and the states created from it belong
// to one goroutine (the subtask's). Only the SnapshotCapture returned by
// Snapshot may be used from another goroutine.
package backend
