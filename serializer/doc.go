// Package serializer turns the values of states and keys into bytes and
// back, and judges whether a serializer can read data that another one
// wrote: the contract that operator authors and backend implementers
// share.
//
// A Serializer is written into every snapshot as its Snapshot (name,
// version, configuration). On restore the new serializer's Compatibility
// answers for the old snapshot: as is, after migration (ReadOld decodes
// the old bytes), with a reconfigured serializer, or incompatible.
//
// The built-in serializers (String, Bytes, Int64, Int32, Float64, Bool,
// Empty, JSON) and the serializers of states with TTL (TTL, TTLPlain)
// write the bytes FORMAT.md and ttl/FORMAT.md pin. Every serializer of
// this package is safe for concurrent use and deterministic.
package serializer
