// Package ttl is state time-to-live, written once for every backend: the
// TTL configuration of a state, the processing-time clock, the timestamped
// value and its encoding, and the serializer snapshot of stamped values.
// The serializers that turn TTL on or off across a restore are in package
// serializer (TTL, TTLPlain): ttl imports only the standard library and
// package snapshot, so that serializer, backend and state can import it.
//
// # Model
//
// A state with TTL stamps what it stores with the processing time of the
// stamp (Clock, milliseconds since the epoch; tests use a ManualClock and
// never sleep). The stamped unit is:
//
//   - Value, Reducing, Aggregating: the value, reduced value or
//     accumulator of a key and namespace;
//   - List: each element, so that old elements expire while new ones stay;
//   - Map: each entry (user key and value), stamped through its value.
//
// A unit stamped at ts is expired at now when ts + ttl <= now (Expired,
// overflow-safe). Timestamps are absolute: time during which the job was
// stopped counts.
//
// When a unit is stamped (Config.Update):
//
//   - OnCreateAndWrite (default): when it is created or written: update,
//     add, put, reduce, aggregate. Reducing and Aggregating start from a
//     fresh value when the stored one has expired.
//   - OnReadAndWrite: also when a read returns it live (a list read
//     re-stamps every live element it returns).
//
// What reads see (Config.Visibility):
//
//   - NeverReturnExpired (default): get, contains, isEmpty, iteration and
//     key enumeration never show an expired unit.
//   - ReturnExpiredIfNotCleanedUp: a read may return an expired unit that
//     no cleanup removed yet; the read removes it.
//
// Under both, a read that meets an expired unit removes it from storage.
//
// # Cleanup
//
// Expired units leave storage through these strategies (Config.Cleanup):
//
//   - On read, always: the state layer (the typed states of package state)
//     drops the expired units a read meets.
//   - Full snapshots (default on): backends leave expired units out of
//     full snapshots and savepoints. Incremental checkpoints share their
//     files unchanged and are not filtered.
//   - Incremental (heap backend, default on): each state access checks a
//     few entries of the state (IncrementalCleanup.Entries, default 5) and
//     removes the expired ones; optionally also once per record processed.
//   - Background (LSM backend, default on): Pebble has no compaction
//     filter, and its block-property collectors never see the values of
//     SET keys, so the LSM backend keeps an index of expiry times (index
//     rows in a reserved key space of each key group, ordered by expiry,
//     with a key-based block-property collector over them); a periodic,
//     rate-limited sweep reads only the index rows of what expired and the
//     rows they point at, and deletes those (backend/lsm/FORMAT.md).
//
// Processing time comes from the backend's Clock; the default is a
// CoarseClock, whose reads cost an atomic load instead of a serializing
// read of the CPU's time stamp counter.
//
// # Encoding and restore
//
// Object backends keep Value[V] objects. Byte backends store each unit as
// an 8-byte big-endian timestamp followed by the user serializer's bytes
// (AppendTimestamp, SplitTimestamp, serializer.TTL); FORMAT.md
// describes the bytes and the serializer snapshot (WrapSnapshot,
// UnwrapSnapshot). Bytes that do not decode give errors wrapping
// ErrMalformed; the serializers add serializer.ErrDecode.
//
// The TTL config is not written into snapshots: a restore may change the
// duration, update type, visibility and cleanup freely. Turning TTL on or
// off is a change of serializer, which migrates instead of failing: a state
// with TTL uses serializer.TTL, a state without uses
// serializer.TTLPlain, and each recognizes the other's snapshots.
// Values restored into a state that just got TTL are stamped with the
// restore time.
package ttl
