package backend

import (
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math"
)

// ErrDecode is wrapped by the built-in serializers when bytes do not decode.
var ErrDecode = errors.New("cannot decode")

func sizeError(name string, want, got int) error {
	return fmt.Errorf("%w: %s wants %d bytes, got %d", ErrDecode, name, want, got)
}

// StringSerializer encodes a string as its bytes.
type StringSerializer struct{}

func (StringSerializer) Append(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }
func (StringSerializer) Decode(b []byte) (string, error)             { return string(b), nil }
func (StringSerializer) Snapshot() SerializerSnapshot {
	return SerializerSnapshot{Name: "string", Version: 1}
}
func (s StringSerializer) Compatibility(old SerializerSnapshot) Compatibility[string] {
	return SameSerializer[string](s.Snapshot(), old)
}

// BytesSerializer encodes a byte slice as itself. Decode returns a copy.
type BytesSerializer struct{}

func (BytesSerializer) Append(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }
func (BytesSerializer) Decode(b []byte) ([]byte, error)             { return append([]byte(nil), b...), nil }
func (BytesSerializer) Snapshot() SerializerSnapshot {
	return SerializerSnapshot{Name: "bytes", Version: 1}
}
func (s BytesSerializer) Compatibility(old SerializerSnapshot) Compatibility[[]byte] {
	return SameSerializer[[]byte](s.Snapshot(), old)
}

// Int64Serializer encodes an int64 in 8 bytes, big-endian.
type Int64Serializer struct{}

func (Int64Serializer) Append(dst []byte, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(v)), nil
}
func (Int64Serializer) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, sizeError("int64", 8, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}
func (Int64Serializer) Snapshot() SerializerSnapshot {
	return SerializerSnapshot{Name: "int64", Version: 1}
}

// Compatibility reads int64 data as is and migrates int32 data by widening.
func (s Int64Serializer) Compatibility(old SerializerSnapshot) Compatibility[int64] {
	if old.Name == "int32" && old.Version == 1 {
		return Compatibility[int64]{Kind: CompatibleAfterMigration, ReadOld: func(b []byte) (int64, error) {
			v, err := Int32Serializer{}.Decode(b)
			return int64(v), err
		}}
	}
	return SameSerializer[int64](s.Snapshot(), old)
}

// Int32Serializer encodes an int32 in 4 bytes, big-endian.
type Int32Serializer struct{}

func (Int32Serializer) Append(dst []byte, v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, uint32(v)), nil
}
func (Int32Serializer) Decode(b []byte) (int32, error) {
	if len(b) != 4 {
		return 0, sizeError("int32", 4, len(b))
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}
func (Int32Serializer) Snapshot() SerializerSnapshot {
	return SerializerSnapshot{Name: "int32", Version: 1}
}
func (s Int32Serializer) Compatibility(old SerializerSnapshot) Compatibility[int32] {
	return SameSerializer[int32](s.Snapshot(), old)
}

// Float64Serializer encodes a float64 as its IEEE 754 bits, big-endian.
type Float64Serializer struct{}

func (Float64Serializer) Append(dst []byte, v float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v)), nil
}
func (Float64Serializer) Decode(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, sizeError("float64", 8, len(b))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}
func (Float64Serializer) Snapshot() SerializerSnapshot {
	return SerializerSnapshot{Name: "float64", Version: 1}
}
func (s Float64Serializer) Compatibility(old SerializerSnapshot) Compatibility[float64] {
	return SameSerializer[float64](s.Snapshot(), old)
}

// BoolSerializer encodes a bool in one byte (0 or 1).
type BoolSerializer struct{}

func (BoolSerializer) Append(dst []byte, v bool) ([]byte, error) {
	if v {
		return append(dst, 1), nil
	}
	return append(dst, 0), nil
}
func (BoolSerializer) Decode(b []byte) (bool, error) {
	if len(b) != 1 || b[0] > 1 {
		return false, fmt.Errorf("%w: bool wants one byte 0 or 1", ErrDecode)
	}
	return b[0] == 1, nil
}
func (BoolSerializer) Snapshot() SerializerSnapshot {
	return SerializerSnapshot{Name: "bool", Version: 1}
}
func (s BoolSerializer) Compatibility(old SerializerSnapshot) Compatibility[bool] {
	return SameSerializer[bool](s.Snapshot(), old)
}

// EmptySerializer encodes struct{} as no bytes (set-like maps, timers).
type EmptySerializer struct{}

func (EmptySerializer) Append(dst []byte, _ struct{}) ([]byte, error) { return dst, nil }
func (EmptySerializer) Decode(b []byte) (struct{}, error) {
	if len(b) != 0 {
		return struct{}{}, sizeError("empty", 0, len(b))
	}
	return struct{}{}, nil
}
func (EmptySerializer) Snapshot() SerializerSnapshot {
	return SerializerSnapshot{Name: "empty", Version: 1}
}
func (s EmptySerializer) Compatibility(old SerializerSnapshot) Compatibility[struct{}] {
	return SameSerializer[struct{}](s.Snapshot(), old)
}

// JSONSerializer encodes T with encoding/json. TypeName is recorded in the
// snapshot; data written under another TypeName is incompatible. JSON is
// schema-tolerant, so any version of the same TypeName is read as is.
// Do not use it for keys whose JSON encoding is not deterministic (maps are
// encoded with sorted keys and are fine).
type JSONSerializer[T any] struct {
	TypeName string
}

func (JSONSerializer[T]) Append(dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("json encode: %w", err)
	}
	return append(dst, b...), nil
}
func (JSONSerializer[T]) Decode(b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%w: json: %v", ErrDecode, err)
	}
	return v, nil
}
func (s JSONSerializer[T]) Snapshot() SerializerSnapshot {
	return SerializerSnapshot{Name: "json", Version: 1, Config: []byte(s.TypeName)}
}
func (s JSONSerializer[T]) Compatibility(old SerializerSnapshot) Compatibility[T] {
	if old.Name == "json" && string(old.Config) == s.TypeName {
		return AsIs[T]()
	}
	return IncompatibleBecause[T]("different serializer")
}
