// Package snapshot holds the durable side of stated: the Storage contract
// and its optional capabilities (InfoLister, BatchDeleter, Leaser,
// DirRenamer), the _metadata format and state handles, the key-group and
// operator-state stream formats, the checkpoint layout, commit, discovery,
// restore points and verification (FORMAT.md). It holds no storage
// provider: the file and S3 storages are in providers/file and
// providers/s3, and providers opens one from a location.
//
// The types in this file are the in-memory model of a completed checkpoint
// or savepoint. They are encoded into the versioned _metadata file described
// in FORMAT.md; proto/ holds the wire schema and nothing outside this package
// sees the generated types.
package snapshot

import "time"

// Kind tells checkpoints (owned by the system) from savepoints (owned by the
// user).
type Kind uint8

const (
	KindCheckpoint Kind = 1
	KindSavepoint  Kind = 2
)

func (k Kind) String() string {
	switch k {
	case KindCheckpoint:
		return "checkpoint"
	case KindSavepoint:
		return "savepoint"
	}
	return "unknown"
}

// Compression names the codec applied to the blocks of a non-SST stream.
type Compression uint8

const (
	CompressionNone Compression = 0
	CompressionZstd Compression = 1
	CompressionS2   Compression = 2
)

func (c Compression) String() string {
	switch c {
	case CompressionNone:
		return "none"
	case CompressionZstd:
		return "zstd"
	case CompressionS2:
		return "s2"
	}
	return "unknown"
}

// Scope says who owns a file and so who may delete it.
type Scope uint8

const (
	// ScopeExclusive files belong to one checkpoint (chk-<n>/ or the
	// savepoint directory) and go with it.
	ScopeExclusive Scope = 0
	// ScopeShared files live in shared/ and may be referenced by several
	// checkpoints; the shared-file registry decides when they go.
	ScopeShared Scope = 1
	// ScopeTaskOwned files live in taskowned/ and are never deleted by the
	// system.
	ScopeTaskOwned Scope = 2
)

// StateKind is the kind of a keyed state.
type StateKind uint8

const (
	StateValue       StateKind = 1
	StateList        StateKind = 2
	StateMap         StateKind = 3
	StateReducing    StateKind = 4
	StateAggregating StateKind = 5
)

func (k StateKind) String() string {
	switch k {
	case StateValue:
		return "value"
	case StateList:
		return "list"
	case StateMap:
		return "map"
	case StateReducing:
		return "reducing"
	case StateAggregating:
		return "aggregating"
	}
	return "unknown"
}

// Mode is the redistribution mode of an operator state.
type Mode uint8

const (
	// ModeSplit: the elements of all old subtasks are split round-robin
	// into contiguous slices among the new subtasks.
	ModeSplit Mode = 1
	// ModeUnion: every new subtask gets every element of every old subtask.
	ModeUnion Mode = 2
	// ModeBroadcast: new subtask i gets old subtask (i mod oldP)'s copy.
	ModeBroadcast Mode = 3
)

func (m Mode) String() string {
	switch m {
	case ModeSplit:
		return "split"
	case ModeUnion:
		return "union"
	case ModeBroadcast:
		return "broadcast"
	}
	return "unknown"
}

// SerializerSnapshot identifies the serializer that wrote some data: its
// name, its format version and its configuration. It is persisted so that
// a restoring serializer can judge whether it can read the data.
type SerializerSnapshot struct {
	Name    string
	Version uint32
	Config  []byte
}

// Metadata is the content of one _metadata file: a complete checkpoint or
// savepoint.
type Metadata struct {
	JobID        string
	CheckpointID int64
	Kind         Kind
	// Completed is when the checkpoint was committed (UTC, millisecond
	// precision on disk).
	Completed time.Time
	Operators []OperatorState
}

// OperatorState is the state of one operator, identified by its uid, across
// all its subtasks.
type OperatorState struct {
	UID            string
	Parallelism    int
	MaxParallelism int
	// Subtasks has exactly Parallelism entries; entry i is subtask i.
	Subtasks []SubtaskState
}

// SubtaskState holds the handles written by one subtask.
type SubtaskState struct {
	Keyed    []KeyedStateHandle
	Operator []OperatorStateHandle
}

// FileRef names one file of a snapshot. Path is slash-separated and
// relative to the directory that holds the _metadata file (checkpoints reach
// shared files through "../shared/..."; savepoints never leave their
// directory). Size and CRC32C (Castagnoli) cover the whole file as stored.
type FileRef struct {
	Path   string
	Scope  Scope
	Size   int64
	CRC32C uint32
}

// KeyedStateHandle is the keyed state of one subtask for the key groups
// [KeyGroupStart, KeyGroupEnd] (both inclusive).
//
// Format tells how the files are laid out:
//   - FormatKeyGroups: one file (Files[0]) in the key-group stream format of
//     FORMAT.md; KeyGroupOffsets and KeyGroupCRCs locate each key group so a
//     restore reads only the key groups it owns.
//   - other formats belong to a backend (e.g. the LSM's native files).
type KeyedStateHandle struct {
	Format        string
	BackendID     string
	KeyGroupStart int
	KeyGroupEnd   int
	KeySerializer SerializerSnapshot
	States        []StateMeta
	Compression   Compression
	Files         []FileRef
	// KeyGroupOffsets has KeyGroupEnd-KeyGroupStart+2 entries: the block of
	// key group KeyGroupStart+i spans [KeyGroupOffsets[i], KeyGroupOffsets[i+1])
	// of Files[0]; the last entry equals the file size.
	KeyGroupOffsets []int64
	// KeyGroupCRCs has one CRC32C per key-group block, over its stored bytes.
	KeyGroupCRCs []uint32
}

// FormatKeyGroups is the backend-neutral key-group stream format (also the
// canonical savepoint format).
const FormatKeyGroups = "keygroups/v1"

// StateMeta describes one keyed state in a handle. Serializers are, by Kind:
// Value and Reducing: [value]; List: [element]; Map: [user key, user value];
// Aggregating: [accumulator].
type StateMeta struct {
	Name        string
	Kind        StateKind
	Serializers []SerializerSnapshot
}

// OperatorStateHandle is the operator state of one subtask: one file in the
// operator-state format of FORMAT.md.
type OperatorStateHandle struct {
	File        FileRef
	Compression Compression
	States      []OperatorStateMeta
}

// OperatorStateMeta describes one operator state in an OperatorStateHandle.
// Its elements are stored in the file in order; Elements says how many.
type OperatorStateMeta struct {
	Name        string
	Mode        Mode
	Serializers []SerializerSnapshot
	Elements    int
}

// EachFile calls fn for every file the subtask state references: the files
// of its keyed handles in order, then those of its operator handles. It
// stops at the first error fn returns.
func (st *SubtaskState) EachFile(fn func(FileRef) error) error {
	for i := range st.Keyed {
		for _, f := range st.Keyed[i].Files {
			if err := fn(f); err != nil {
				return err
			}
		}
	}
	for i := range st.Operator {
		if err := fn(st.Operator[i].File); err != nil {
			return err
		}
	}
	return nil
}

// EachFile calls fn for every file md references, operator by operator and
// subtask by subtask (see SubtaskState.EachFile). A file referenced twice
// is passed twice. It stops at the first error fn returns.
func (md *Metadata) EachFile(fn func(FileRef) error) error {
	for i := range md.Operators {
		for j := range md.Operators[i].Subtasks {
			if err := md.Operators[i].Subtasks[j].EachFile(fn); err != nil {
				return err
			}
		}
	}
	return nil
}
