// Package backend is the contract between the typed states of package
// state and the keyed state backends that hold them: what a backend
// implementer reads and implements.
//
// A keyed backend implements KeyedBackend. Its Capability says how it
// holds state, and is one of two:
//
//   - Objects(b), for a backend that keeps state as objects in memory
//     (heap): b implements ObjectCapability, and the typed states keep
//     their objects in stores (ObjectStore) that the backend registers,
//     captures, snapshots and restores without serializing on the
//     read/write path.
//   - Bytes(b), for a backend that keeps state serialized (lsm, remote):
//     b implements ByteCapability, and the typed states encode with the
//     descriptors' serializers and store bytes in its tables (ByteTable).
//
// Only Objects and Bytes make a Capability, so a backend that implements
// neither set of methods does not compile as a KeyedBackend. Optional
// capabilities are separate interfaces found by type assertion:
// CheckpointListener (incremental snapshots) and TimerBackend (timers kept
// by the backend itself).
//
// The package also owns what every backend shares: the options
// (KeyedOptions), key groups (how keys map to subtasks, FORMAT.md), the
// current-key bookkeeping (KeyContext), snapshot capture and restore
// (SnapshotCapture, SnapshotTarget, RestoreSource, ClaimMode), the timer
// queue, and the sentinel errors. It imports no backend implementation;
// backend/backendtest is the conformance suite every backend runs.
//
// Goroutine safety: a keyed backend and the states created from it belong
// to one goroutine (the subtask's). Only the SnapshotCapture returned by
// Snapshot may be used from another goroutine.
package backend
