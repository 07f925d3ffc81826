// Package state is what operator authors use: the descriptors of keyed
// states (ValueDescriptor and its siblings, with an optional TTL), the
// state interfaces (ValueState, ListState, MapState, ReducingState,
// AggregatingState), GetValueState and its siblings that create them on a
// backend.KeyedBackend, the timer service (TimerService), and operator
// state: list states split on rescale, union list states and broadcast
// states (OperatorStates).
//
// The typed states run on the backend's capability, which GetValueState
// and its siblings read once: on an object backend (heap) they keep
// objects in copy-on-write stores and never serialize on the read/write
// path; on a byte backend (lsm) they encode with the descriptor's
// serializers (package serializer). Their semantics, TTL included, are the
// same on both, which backend/backendtest checks.
//
// Goroutine safety: the states and the timer service of a backend belong
// to the goroutine that owns the backend (the subtask's). OperatorStates
// is not safe for concurrent use, except that the capture its Snapshot
// returns may be written from another goroutine.
package state
