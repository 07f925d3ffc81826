package ttl

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/stated-io/stated/snapshot"
)

// The serializer snapshot of serializer.TTL (FORMAT.md). Serializer
// names that start with "stated." are reserved for stated.
const (
	SnapshotName    = "stated.ttl"
	SnapshotVersion = 1
)

// WrapSnapshot returns the snapshot of a TTL serializer over a serializer
// described by inner: name SnapshotName, version SnapshotVersion, and inner
// encoded as the config.
func WrapSnapshot(inner snapshot.SerializerSnapshot) snapshot.SerializerSnapshot {
	return snapshot.SerializerSnapshot{Name: SnapshotName, Version: SnapshotVersion, Config: appendSnapshotConfig(nil, inner)}
}

// UnwrapSnapshot returns the inner snapshot of a TTL serializer's snapshot
// s. ok is false (and err nil) if s is not a TTL snapshot; err is set if it
// is one that cannot be read (an unknown version or a malformed config).
func UnwrapSnapshot(s snapshot.SerializerSnapshot) (inner snapshot.SerializerSnapshot, ok bool, err error) {
	if s.Name != SnapshotName {
		return snapshot.SerializerSnapshot{}, false, nil
	}
	if s.Version != SnapshotVersion {
		return snapshot.SerializerSnapshot{}, true, fmt.Errorf("%s version %d is not supported (want %d)", SnapshotName, s.Version, SnapshotVersion)
	}
	inner, err = decodeSnapshotConfig(s.Config)
	if err != nil {
		return snapshot.SerializerSnapshot{}, true, fmt.Errorf("%s config: %w", SnapshotName, err)
	}
	return inner, true, nil
}

// appendSnapshotConfig appends the encoding of s: uvarint length + name,
// uvarint version, uvarint length + config.
func appendSnapshotConfig(dst []byte, s snapshot.SerializerSnapshot) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s.Name)))
	dst = append(dst, s.Name...)
	dst = binary.AppendUvarint(dst, uint64(s.Version))
	dst = binary.AppendUvarint(dst, uint64(len(s.Config)))
	return append(dst, s.Config...)
}

// decodeSnapshotConfig decodes what appendSnapshotConfig wrote; b must hold
// exactly one snapshot. The result does not alias b; an empty config
// decodes as nil. Malformed input gives an error wrapping ErrMalformed,
// never a panic.
func decodeSnapshotConfig(b []byte) (snapshot.SerializerSnapshot, error) {
	name, b, err := readBytes(b, "name")
	if err != nil {
		return snapshot.SerializerSnapshot{}, err
	}
	version, b, err := readUvarint(b, "version")
	if err != nil {
		return snapshot.SerializerSnapshot{}, err
	}
	if version > math.MaxUint32 {
		return snapshot.SerializerSnapshot{}, fmt.Errorf("%w: serializer version %d overflows uint32", ErrMalformed, version)
	}
	config, b, err := readBytes(b, "config")
	if err != nil {
		return snapshot.SerializerSnapshot{}, err
	}
	if len(b) != 0 {
		return snapshot.SerializerSnapshot{}, fmt.Errorf("%w: %d trailing bytes after serializer snapshot", ErrMalformed, len(b))
	}
	s := snapshot.SerializerSnapshot{Name: string(name), Version: uint32(version)}
	if len(config) > 0 {
		s.Config = append([]byte(nil), config...)
	}
	return s, nil
}

func readUvarint(b []byte, what string) (uint64, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: bad uvarint for serializer %s", ErrMalformed, what)
	}
	return v, b[n:], nil
}

func readBytes(b []byte, what string) ([]byte, []byte, error) {
	n, b, err := readUvarint(b, what+" length")
	if err != nil {
		return nil, nil, err
	}
	if n > uint64(len(b)) {
		return nil, nil, fmt.Errorf("%w: serializer %s of %d bytes, %d left", ErrMalformed, what, n, len(b))
	}
	return b[:n], b[n:], nil
}
