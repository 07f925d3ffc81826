package serializer

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

// String encodes a string as its bytes.
type String struct{}

func (String) Append(dst []byte, v string) ([]byte, error) { return append(dst, v...), nil }
func (String) Decode(b []byte) (string, error)             { return string(b), nil }
func (String) Snapshot() Snapshot {
	return Snapshot{Name: "string", Version: 1}
}
func (s String) Compatibility(old Snapshot) Compatibility[string] {
	return Same[string](s.Snapshot(), old)
}

// Bytes encodes a byte slice as itself. Decode returns a copy.
type Bytes struct{}

func (Bytes) Append(dst []byte, v []byte) ([]byte, error) { return append(dst, v...), nil }
func (Bytes) Decode(b []byte) ([]byte, error)             { return append([]byte(nil), b...), nil }
func (Bytes) Snapshot() Snapshot {
	return Snapshot{Name: "bytes", Version: 1}
}
func (s Bytes) Compatibility(old Snapshot) Compatibility[[]byte] {
	return Same[[]byte](s.Snapshot(), old)
}

// Int64 encodes an int64 in 8 bytes, big-endian.
type Int64 struct{}

func (Int64) Append(dst []byte, v int64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, uint64(v)), nil
}
func (Int64) Decode(b []byte) (int64, error) {
	if len(b) != 8 {
		return 0, sizeError("int64", 8, len(b))
	}
	return int64(binary.BigEndian.Uint64(b)), nil
}
func (Int64) Snapshot() Snapshot {
	return Snapshot{Name: "int64", Version: 1}
}

// Compatibility reads int64 data as is and migrates int32 data by widening.
func (s Int64) Compatibility(old Snapshot) Compatibility[int64] {
	if old.Name == "int32" && old.Version == 1 {
		return Compatibility[int64]{Kind: CompatibleAfterMigration, ReadOld: func(b []byte) (int64, error) {
			v, err := Int32{}.Decode(b)
			return int64(v), err
		}}
	}
	return Same[int64](s.Snapshot(), old)
}

// Int32 encodes an int32 in 4 bytes, big-endian.
type Int32 struct{}

func (Int32) Append(dst []byte, v int32) ([]byte, error) {
	return binary.BigEndian.AppendUint32(dst, uint32(v)), nil
}
func (Int32) Decode(b []byte) (int32, error) {
	if len(b) != 4 {
		return 0, sizeError("int32", 4, len(b))
	}
	return int32(binary.BigEndian.Uint32(b)), nil
}
func (Int32) Snapshot() Snapshot {
	return Snapshot{Name: "int32", Version: 1}
}
func (s Int32) Compatibility(old Snapshot) Compatibility[int32] {
	return Same[int32](s.Snapshot(), old)
}

// Float64 encodes a float64 as its IEEE 754 bits, big-endian.
type Float64 struct{}

func (Float64) Append(dst []byte, v float64) ([]byte, error) {
	return binary.BigEndian.AppendUint64(dst, math.Float64bits(v)), nil
}
func (Float64) Decode(b []byte) (float64, error) {
	if len(b) != 8 {
		return 0, sizeError("float64", 8, len(b))
	}
	return math.Float64frombits(binary.BigEndian.Uint64(b)), nil
}
func (Float64) Snapshot() Snapshot {
	return Snapshot{Name: "float64", Version: 1}
}
func (s Float64) Compatibility(old Snapshot) Compatibility[float64] {
	return Same[float64](s.Snapshot(), old)
}

// Bool encodes a bool in one byte (0 or 1).
type Bool struct{}

func (Bool) Append(dst []byte, v bool) ([]byte, error) {
	if v {
		return append(dst, 1), nil
	}
	return append(dst, 0), nil
}
func (Bool) Decode(b []byte) (bool, error) {
	if len(b) != 1 || b[0] > 1 {
		return false, fmt.Errorf("%w: bool wants one byte 0 or 1", ErrDecode)
	}
	return b[0] == 1, nil
}
func (Bool) Snapshot() Snapshot {
	return Snapshot{Name: "bool", Version: 1}
}
func (s Bool) Compatibility(old Snapshot) Compatibility[bool] {
	return Same[bool](s.Snapshot(), old)
}

// Empty encodes struct{} as no bytes (set-like maps, timers).
type Empty struct{}

func (Empty) Append(dst []byte, _ struct{}) ([]byte, error) { return dst, nil }
func (Empty) Decode(b []byte) (struct{}, error) {
	if len(b) != 0 {
		return struct{}{}, sizeError("empty", 0, len(b))
	}
	return struct{}{}, nil
}
func (Empty) Snapshot() Snapshot {
	return Snapshot{Name: "empty", Version: 1}
}
func (s Empty) Compatibility(old Snapshot) Compatibility[struct{}] {
	return Same[struct{}](s.Snapshot(), old)
}

// JSON encodes T with encoding/json. TypeName is recorded in the
// snapshot; data written under another TypeName is incompatible. JSON is
// schema-tolerant, so any version of the same TypeName is read as is.
// Do not use it for keys whose JSON encoding is not deterministic (maps are
// encoded with sorted keys and are fine).
type JSON[T any] struct {
	TypeName string
}

func (JSON[T]) Append(dst []byte, v T) ([]byte, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return dst, fmt.Errorf("json encode: %w", err)
	}
	return append(dst, b...), nil
}
func (JSON[T]) Decode(b []byte) (T, error) {
	var v T
	if err := json.Unmarshal(b, &v); err != nil {
		return v, fmt.Errorf("%w: json: %v", ErrDecode, err)
	}
	return v, nil
}
func (s JSON[T]) Snapshot() Snapshot {
	return Snapshot{Name: "json", Version: 1, Config: []byte(s.TypeName)}
}
func (s JSON[T]) Compatibility(old Snapshot) Compatibility[T] {
	if old.Name == "json" && string(old.Config) == s.TypeName {
		return AsIs[T]()
	}
	return IncompatibleBecause[T]("different serializer")
}
