package snapshot

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"time"

	"github.com/stated-io/stated/proto/snapshotpb"
	"google.golang.org/protobuf/proto"
)

// MetadataFormatVersion is the version of the _metadata format written by
// EncodeMetadata. DecodeMetadata reads this version and refuses higher ones
// with ErrUnsupported.
const MetadataFormatVersion = 1

const (
	metadataMagic       = "STMD"
	metadataHeaderSize  = 16 // magic, version, body length
	metadataTrailerSize = 4  // CRC32C
)

// castagnoli is the CRC32C table used by every checksum of this package.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// EncodeMetadata validates md and encodes it in the _metadata format of
// FORMAT.md. Invalid metadata (see DecodeMetadata for the rules) is refused
// with an error that says which field is wrong; nothing is encoded.
// Completed is stored with millisecond precision.
func EncodeMetadata(md *Metadata) ([]byte, error) {
	if md == nil {
		return nil, errors.New("encode metadata: nil metadata")
	}
	if err := validateMetadata(md); err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	body, err := proto.MarshalOptions{Deterministic: true}.Marshal(metadataToProto(md))
	if err != nil {
		return nil, fmt.Errorf("encode metadata: %w", err)
	}
	b := make([]byte, 0, metadataHeaderSize+len(body)+metadataTrailerSize)
	b = append(b, metadataMagic...)
	b = binary.BigEndian.AppendUint32(b, MetadataFormatVersion)
	b = binary.BigEndian.AppendUint64(b, uint64(len(body)))
	b = append(b, body...)
	b = binary.BigEndian.AppendUint32(b, crc32.Checksum(b, castagnoli))
	return b, nil
}

// DecodeMetadata decodes a _metadata file read from path (used only in
// errors). The envelope (magic, version, length, CRC32C) is checked before
// the version, so a damaged version field reads as corruption.
//
// Any damage is reported as a *CorruptError naming path and the offset,
// wrapping ErrCorrupt: bad magic, truncation, trailing bytes, length or CRC
// mismatch, an undecodable body, and structural nonsense (non-positive
// parallelism, maxParallelism below parallelism or above
// MaxMaxParallelism, a subtask count other than the parallelism, key-group
// ranges outside [0, maxParallelism), key-group offsets or CRCs that do not
// match the range of a FormatKeyGroups handle, unknown enum values, empty or
// duplicate uids or state names, and file paths that are absolute, unclean
// or leave the directory other than by one "../" into shared/ or
// taskowned/; savepoints may not leave their directory at all).
//
// A well-formed file of a higher format version gives an error wrapping
// ErrUnsupported that names the version. b is not retained.
func DecodeMetadata(path string, b []byte) (*Metadata, error) {
	n := min(len(b), len(metadataMagic))
	if string(b[:n]) != metadataMagic[:n] {
		return nil, corrupt(path, 0, "bad magic, not a _metadata file", nil)
	}
	if len(b) < metadataHeaderSize+metadataTrailerSize {
		return nil, corrupt(path, int64(len(b)), fmt.Sprintf("truncated: %d bytes, want at least %d", len(b), metadataHeaderSize+metadataTrailerSize), nil)
	}
	bodyLen := binary.BigEndian.Uint64(b[8:16])
	have := uint64(len(b) - metadataHeaderSize - metadataTrailerSize)
	switch {
	case bodyLen > have:
		return nil, corrupt(path, int64(len(b)), fmt.Sprintf("truncated or bad length: header says %d body bytes, file holds %d", bodyLen, have), nil)
	case bodyLen < have:
		end := int64(metadataHeaderSize + bodyLen + metadataTrailerSize)
		return nil, corrupt(path, end, fmt.Sprintf("%d trailing bytes or bad length: header says %d body bytes", have-bodyLen, bodyLen), nil)
	}
	crcOff := metadataHeaderSize + int(bodyLen)
	want := binary.BigEndian.Uint32(b[crcOff:])
	if got := crc32.Checksum(b[:crcOff], castagnoli); got != want {
		return nil, corrupt(path, int64(crcOff), fmt.Sprintf("crc32c mismatch: computed %08x, stored %08x", got, want), nil)
	}
	switch v := binary.BigEndian.Uint32(b[4:8]); {
	case v == 0:
		return nil, corrupt(path, 4, "format version 0", nil)
	case v > MetadataFormatVersion:
		return nil, fmt.Errorf("%s: _metadata format version %d (this build reads up to %d): %w", path, v, MetadataFormatVersion, ErrUnsupported)
	}
	var pb snapshotpb.Metadata
	if err := proto.Unmarshal(b[metadataHeaderSize:crcOff], &pb); err != nil {
		return nil, corrupt(path, metadataHeaderSize, "undecodable body", err)
	}
	md, err := metadataFromProto(&pb)
	if err != nil {
		return nil, corrupt(path, metadataHeaderSize, "invalid body", err)
	}
	if err := validateMetadata(md); err != nil {
		return nil, corrupt(path, metadataHeaderSize, "invalid metadata", err)
	}
	return md, nil
}

func metadataToProto(md *Metadata) *snapshotpb.Metadata {
	pb := &snapshotpb.Metadata{
		JobId:        md.JobID,
		CheckpointId: md.CheckpointID,
		Kind:         snapshotpb.Kind(md.Kind),
	}
	if !md.Completed.IsZero() {
		pb.CompletedUnixMillis = md.Completed.UnixMilli()
	}
	pb.Operators = make([]*snapshotpb.OperatorState, len(md.Operators))
	for i := range md.Operators {
		op := &md.Operators[i]
		pop := &snapshotpb.OperatorState{
			Uid:            op.UID,
			Parallelism:    int32(op.Parallelism),
			MaxParallelism: int32(op.MaxParallelism),
			Subtasks:       make([]*snapshotpb.SubtaskState, len(op.Subtasks)),
		}
		for j := range op.Subtasks {
			st := &op.Subtasks[j]
			pst := &snapshotpb.SubtaskState{
				Keyed:    make([]*snapshotpb.KeyedStateHandle, len(st.Keyed)),
				Operator: make([]*snapshotpb.OperatorStateHandle, len(st.Operator)),
			}
			for k := range st.Keyed {
				pst.Keyed[k] = keyedToProto(&st.Keyed[k])
			}
			for k := range st.Operator {
				pst.Operator[k] = operatorHandleToProto(&st.Operator[k])
			}
			pop.Subtasks[j] = pst
		}
		pb.Operators[i] = pop
	}
	return pb
}

func keyedToProto(h *KeyedStateHandle) *snapshotpb.KeyedStateHandle {
	ph := &snapshotpb.KeyedStateHandle{
		Format:          h.Format,
		BackendId:       h.BackendID,
		KeyGroupStart:   int32(h.KeyGroupStart),
		KeyGroupEnd:     int32(h.KeyGroupEnd),
		KeySerializer:   serializerToProto(&h.KeySerializer),
		States:          make([]*snapshotpb.StateMeta, len(h.States)),
		Compression:     snapshotpb.Compression(h.Compression),
		Files:           make([]*snapshotpb.FileRef, len(h.Files)),
		KeyGroupOffsets: h.KeyGroupOffsets,
		KeyGroupCrcs:    h.KeyGroupCRCs,
	}
	for i := range h.States {
		s := &h.States[i]
		ph.States[i] = &snapshotpb.StateMeta{
			Name:        s.Name,
			Kind:        snapshotpb.StateKind(s.Kind),
			Serializers: serializersToProto(s.Serializers),
		}
	}
	for i := range h.Files {
		ph.Files[i] = fileRefToProto(&h.Files[i])
	}
	return ph
}

func operatorHandleToProto(h *OperatorStateHandle) *snapshotpb.OperatorStateHandle {
	ph := &snapshotpb.OperatorStateHandle{
		File:        fileRefToProto(&h.File),
		Compression: snapshotpb.Compression(h.Compression),
		States:      make([]*snapshotpb.OperatorStateMeta, len(h.States)),
	}
	for i := range h.States {
		s := &h.States[i]
		ph.States[i] = &snapshotpb.OperatorStateMeta{
			Name:        s.Name,
			Mode:        snapshotpb.Mode(s.Mode),
			Serializers: serializersToProto(s.Serializers),
			Elements:    int64(s.Elements),
		}
	}
	return ph
}

func fileRefToProto(f *FileRef) *snapshotpb.FileRef {
	return &snapshotpb.FileRef{
		Path:   f.Path,
		Scope:  snapshotpb.Scope(f.Scope),
		Size:   f.Size,
		Crc32C: f.CRC32C,
	}
}

func serializerToProto(s *SerializerSnapshot) *snapshotpb.SerializerSnapshot {
	return &snapshotpb.SerializerSnapshot{Name: s.Name, Version: s.Version, Config: s.Config}
}

func serializersToProto(ss []SerializerSnapshot) []*snapshotpb.SerializerSnapshot {
	out := make([]*snapshotpb.SerializerSnapshot, len(ss))
	for i := range ss {
		out[i] = serializerToProto(&ss[i])
	}
	return out
}

// metadataFromProto converts the wire form. It refuses enum values that do
// not fit the Go types (so that no conversion wraps around) and counts that
// do not fit an int; validateMetadata checks the rest. Empty slices come
// back nil.
func metadataFromProto(pb *snapshotpb.Metadata) (*Metadata, error) {
	kind, err := enumValue[Kind]("kind", int32(pb.GetKind()))
	if err != nil {
		return nil, err
	}
	md := &Metadata{
		JobID:        pb.GetJobId(),
		CheckpointID: pb.GetCheckpointId(),
		Kind:         kind,
	}
	if ms := pb.GetCompletedUnixMillis(); ms != 0 {
		md.Completed = time.UnixMilli(ms).UTC()
	}
	if n := len(pb.GetOperators()); n > 0 {
		md.Operators = make([]OperatorState, n)
	}
	for i, pop := range pb.GetOperators() {
		op := &md.Operators[i]
		op.UID = pop.GetUid()
		op.Parallelism = int(pop.GetParallelism())
		op.MaxParallelism = int(pop.GetMaxParallelism())
		if n := len(pop.GetSubtasks()); n > 0 {
			op.Subtasks = make([]SubtaskState, n)
		}
		for j, pst := range pop.GetSubtasks() {
			st := &op.Subtasks[j]
			if n := len(pst.GetKeyed()); n > 0 {
				st.Keyed = make([]KeyedStateHandle, n)
			}
			for k, ph := range pst.GetKeyed() {
				if err := keyedFromProto(ph, &st.Keyed[k]); err != nil {
					return nil, fmt.Errorf("operator %d subtask %d keyed handle %d: %w", i, j, k, err)
				}
			}
			if n := len(pst.GetOperator()); n > 0 {
				st.Operator = make([]OperatorStateHandle, n)
			}
			for k, ph := range pst.GetOperator() {
				if err := operatorHandleFromProto(ph, &st.Operator[k]); err != nil {
					return nil, fmt.Errorf("operator %d subtask %d operator handle %d: %w", i, j, k, err)
				}
			}
		}
	}
	return md, nil
}

func keyedFromProto(ph *snapshotpb.KeyedStateHandle, h *KeyedStateHandle) error {
	c, err := enumValue[Compression]("compression", int32(ph.GetCompression()))
	if err != nil {
		return err
	}
	*h = KeyedStateHandle{
		Format:          ph.GetFormat(),
		BackendID:       ph.GetBackendId(),
		KeyGroupStart:   int(ph.GetKeyGroupStart()),
		KeyGroupEnd:     int(ph.GetKeyGroupEnd()),
		KeySerializer:   serializerFromProto(ph.GetKeySerializer()),
		Compression:     c,
		KeyGroupOffsets: nilIfEmpty(ph.GetKeyGroupOffsets()),
		KeyGroupCRCs:    nilIfEmpty(ph.GetKeyGroupCrcs()),
	}
	if n := len(ph.GetStates()); n > 0 {
		h.States = make([]StateMeta, n)
	}
	for i, ps := range ph.GetStates() {
		k, err := enumValue[StateKind]("state kind", int32(ps.GetKind()))
		if err != nil {
			return fmt.Errorf("state %d: %w", i, err)
		}
		h.States[i] = StateMeta{Name: ps.GetName(), Kind: k, Serializers: serializersFromProto(ps.GetSerializers())}
	}
	if n := len(ph.GetFiles()); n > 0 {
		h.Files = make([]FileRef, n)
	}
	for i, pf := range ph.GetFiles() {
		if err := fileRefFromProto(pf, &h.Files[i]); err != nil {
			return fmt.Errorf("file %d: %w", i, err)
		}
	}
	return nil
}

func operatorHandleFromProto(ph *snapshotpb.OperatorStateHandle, h *OperatorStateHandle) error {
	c, err := enumValue[Compression]("compression", int32(ph.GetCompression()))
	if err != nil {
		return err
	}
	h.Compression = c
	if err := fileRefFromProto(ph.GetFile(), &h.File); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	if n := len(ph.GetStates()); n > 0 {
		h.States = make([]OperatorStateMeta, n)
	}
	for i, ps := range ph.GetStates() {
		m, err := enumValue[Mode]("mode", int32(ps.GetMode()))
		if err != nil {
			return fmt.Errorf("state %d: %w", i, err)
		}
		n := ps.GetElements()
		if n < 0 || uint64(n) > math.MaxInt {
			return fmt.Errorf("state %d: element count %d out of range", i, n)
		}
		h.States[i] = OperatorStateMeta{
			Name:        ps.GetName(),
			Mode:        m,
			Serializers: serializersFromProto(ps.GetSerializers()),
			Elements:    int(n),
		}
	}
	return nil
}

func fileRefFromProto(pf *snapshotpb.FileRef, f *FileRef) error {
	s, err := enumValue[Scope]("scope", int32(pf.GetScope()))
	if err != nil {
		return err
	}
	*f = FileRef{Path: pf.GetPath(), Scope: s, Size: pf.GetSize(), CRC32C: pf.GetCrc32C()}
	return nil
}

func serializerFromProto(ps *snapshotpb.SerializerSnapshot) SerializerSnapshot {
	return SerializerSnapshot{Name: ps.GetName(), Version: ps.GetVersion(), Config: nilIfEmpty(ps.GetConfig())}
}

func serializersFromProto(pss []*snapshotpb.SerializerSnapshot) []SerializerSnapshot {
	if len(pss) == 0 {
		return nil
	}
	out := make([]SerializerSnapshot, len(pss))
	for i, ps := range pss {
		out[i] = serializerFromProto(ps)
	}
	return out
}

// enumValue converts a wire enum value to one of the uint8 enums of this
// package, refusing values that do not fit (validateMetadata then refuses
// values that fit but are unknown).
func enumValue[E ~uint8](what string, v int32) (E, error) {
	if v < 0 || v > math.MaxUint8 {
		return 0, fmt.Errorf("unknown %s %d", what, v)
	}
	return E(v), nil
}

func nilIfEmpty[S ~[]E, E any](s S) S {
	if len(s) == 0 {
		return nil
	}
	return s
}
