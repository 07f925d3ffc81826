package snapshot

import (
	"errors"
	"fmt"
	"strings"
)

// MaxMaxParallelism is the highest maxParallelism (number of key groups) a
// snapshot may record, as in Flink (1<<15): the one limit of the key-group
// scheme (backend/FORMAT.md), which backends and the engine check too.
const MaxMaxParallelism = 1 << 15

// validateMetadata checks the structural rules listed on DecodeMetadata.
// It runs on both encode and decode, so nothing invalid is ever written.
func validateMetadata(md *Metadata) error {
	switch md.Kind {
	case KindCheckpoint, KindSavepoint:
	default:
		return fmt.Errorf("unknown kind %d", md.Kind)
	}
	if md.CheckpointID < 0 {
		return fmt.Errorf("negative checkpoint id %d", md.CheckpointID)
	}
	uids := make(map[string]struct{}, len(md.Operators))
	for i := range md.Operators {
		op := &md.Operators[i]
		if op.UID == "" {
			return fmt.Errorf("operator %d: empty uid", i)
		}
		if _, dup := uids[op.UID]; dup {
			return fmt.Errorf("operator %d: duplicate uid %q", i, op.UID)
		}
		uids[op.UID] = struct{}{}
		if err := validateOperator(op, md.Kind == KindSavepoint); err != nil {
			return fmt.Errorf("operator %q: %w", op.UID, err)
		}
	}
	return nil
}

func validateOperator(op *OperatorState, savepoint bool) error {
	switch {
	case op.Parallelism <= 0:
		return fmt.Errorf("parallelism %d is not positive", op.Parallelism)
	case op.MaxParallelism < op.Parallelism:
		return fmt.Errorf("maxParallelism %d below parallelism %d", op.MaxParallelism, op.Parallelism)
	case op.MaxParallelism > MaxMaxParallelism:
		return fmt.Errorf("maxParallelism %d above %d", op.MaxParallelism, MaxMaxParallelism)
	case len(op.Subtasks) != op.Parallelism:
		return fmt.Errorf("%d subtasks for parallelism %d", len(op.Subtasks), op.Parallelism)
	}
	for i := range op.Subtasks {
		st := &op.Subtasks[i]
		for j := range st.Keyed {
			if err := validateKeyedHandle(&st.Keyed[j], op.MaxParallelism, savepoint); err != nil {
				return fmt.Errorf("subtask %d keyed handle %d: %w", i, j, err)
			}
		}
		for j := range st.Operator {
			if err := validateOperatorHandle(&st.Operator[j], savepoint); err != nil {
				return fmt.Errorf("subtask %d operator handle %d: %w", i, j, err)
			}
		}
	}
	return nil
}

func validateKeyedHandle(h *KeyedStateHandle, maxP int, savepoint bool) error {
	if h.Format == "" {
		return errors.New("empty format")
	}
	if h.KeyGroupStart < 0 || h.KeyGroupEnd < h.KeyGroupStart || h.KeyGroupEnd >= maxP {
		return fmt.Errorf("key-group range [%d,%d] outside [0,%d)", h.KeyGroupStart, h.KeyGroupEnd, maxP)
	}
	if err := checkCompression(h.Compression); err != nil {
		return err
	}
	names := make(map[string]struct{}, len(h.States))
	for i := range h.States {
		s := &h.States[i]
		if err := checkStateName(names, i, s.Name); err != nil {
			return err
		}
		if s.Kind < StateValue || s.Kind > StateAggregating {
			return fmt.Errorf("state %q: unknown kind %d", s.Name, s.Kind)
		}
	}
	for i := range h.Files {
		if err := validateFileRef(&h.Files[i], savepoint); err != nil {
			return fmt.Errorf("file %d: %w", i, err)
		}
	}
	if h.Format == FormatKeyGroups {
		return validateKeyGroupLayout(h)
	}
	return nil
}

// validateKeyGroupLayout checks the offsets and CRCs of a FormatKeyGroups
// handle against its key-group range and its file.
func validateKeyGroupLayout(h *KeyedStateHandle) error {
	if len(h.Files) != 1 {
		return fmt.Errorf("%s handle with %d files, want 1", FormatKeyGroups, len(h.Files))
	}
	n := h.KeyGroupEnd - h.KeyGroupStart + 1
	if len(h.KeyGroupOffsets) != n+1 {
		return fmt.Errorf("%d key-group offsets for %d key groups, want %d", len(h.KeyGroupOffsets), n, n+1)
	}
	if len(h.KeyGroupCRCs) != n {
		return fmt.Errorf("%d key-group CRCs for %d key groups", len(h.KeyGroupCRCs), n)
	}
	if h.KeyGroupOffsets[0] != keyGroupHeaderSize {
		return fmt.Errorf("first key-group offset %d, want %d", h.KeyGroupOffsets[0], keyGroupHeaderSize)
	}
	for i := 1; i <= n; i++ {
		if h.KeyGroupOffsets[i] < h.KeyGroupOffsets[i-1] {
			return fmt.Errorf("key-group offset %d (%d) below the previous one (%d)", i, h.KeyGroupOffsets[i], h.KeyGroupOffsets[i-1])
		}
	}
	if last := h.KeyGroupOffsets[n]; last != h.Files[0].Size {
		return fmt.Errorf("last key-group offset %d differs from the file size %d", last, h.Files[0].Size)
	}
	return nil
}

func validateOperatorHandle(h *OperatorStateHandle, savepoint bool) error {
	if err := validateFileRef(&h.File, savepoint); err != nil {
		return fmt.Errorf("file: %w", err)
	}
	if h.File.Size < operatorHeaderSize {
		return fmt.Errorf("file size %d below the %d-byte header", h.File.Size, operatorHeaderSize)
	}
	if err := checkCompression(h.Compression); err != nil {
		return err
	}
	names := make(map[string]struct{}, len(h.States))
	for i := range h.States {
		s := &h.States[i]
		if err := checkStateName(names, i, s.Name); err != nil {
			return err
		}
		if s.Mode < ModeSplit || s.Mode > ModeBroadcast {
			return fmt.Errorf("state %q: unknown mode %d", s.Name, s.Mode)
		}
		if s.Elements < 0 {
			return fmt.Errorf("state %q: negative element count %d", s.Name, s.Elements)
		}
	}
	return nil
}

func validateFileRef(f *FileRef, savepoint bool) error {
	if err := checkRefPath(f.Path); err != nil {
		return fmt.Errorf("path %q: %w", f.Path, err)
	}
	if savepoint && strings.HasPrefix(f.Path, "../") {
		return fmt.Errorf("path %q: a savepoint may not reference files outside its directory", f.Path)
	}
	if f.Scope > ScopeTaskOwned {
		return fmt.Errorf("path %q: unknown scope %d", f.Path, f.Scope)
	}
	if f.Size < 0 {
		return fmt.Errorf("path %q: negative size %d", f.Path, f.Size)
	}
	return nil
}

// checkCompression refuses unknown codecs; the error wraps ErrUnsupported.
func checkCompression(c Compression) error {
	switch c {
	case CompressionNone, CompressionZstd, CompressionS2:
		return nil
	}
	return fmt.Errorf("compression %d: %w", c, ErrUnsupported)
}

// checkStateName checks that the name of state i of a handle is neither
// empty nor among the names seen before, and records it.
func checkStateName(seen map[string]struct{}, i int, name string) error {
	if name == "" {
		return fmt.Errorf("state %d: empty name", i)
	}
	if _, dup := seen[name]; dup {
		return fmt.Errorf("state %d: duplicate name %q", i, name)
	}
	seen[name] = struct{}{}
	return nil
}
