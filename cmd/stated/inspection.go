package main

import (
	"fmt"
	"time"

	"github.com/stated-io/stated/snapshot"
)

// inspection is the JSON of `stated checkpoint inspect`: the _metadata as
// decoded, in the JSON style of every command, and the result of
// --verify.
type inspection struct {
	Path      string          `json:"path"`
	Job       string          `json:"job"`
	ID        int64           `json:"id"`
	Kind      string          `json:"kind"`
	Completed *time.Time      `json:"completed"`
	Operators []operatorState `json:"operators"`
	// Verify is set with --verify.
	Verify *verification `json:"verify,omitempty"`
}

type verification struct {
	// Passed is true when every file is intact.
	Passed bool `json:"passed"`
	// Files is how many files were checked.
	Files int       `json:"files"`
	Bad   []badFile `json:"bad"`
}

type badFile struct {
	// Error names the file and what is wrong with it.
	Error string `json:"error"`
}

type operatorState struct {
	UID            string         `json:"uid"`
	Parallelism    int            `json:"parallelism"`
	MaxParallelism int            `json:"max_parallelism"`
	Subtasks       []subtaskState `json:"subtasks"`
}

type subtaskState struct {
	Subtask  int           `json:"subtask"`
	Keyed    []keyedHandle `json:"keyed"`
	Operator []opHandle    `json:"operator"`
}

type keyedHandle struct {
	Format        string         `json:"format"`
	BackendID     string         `json:"backend_id,omitempty"`
	KeyGroupStart int            `json:"key_group_start"`
	KeyGroupEnd   int            `json:"key_group_end"`
	KeySerializer serializerInfo `json:"key_serializer"`
	Compression   string         `json:"compression"`
	States        []keyedState   `json:"states"`
	Files         []fileInfo     `json:"files"`
}

type keyedState struct {
	Name        string           `json:"name"`
	Kind        string           `json:"kind"`
	Serializers []serializerInfo `json:"serializers"`
}

type opHandle struct {
	Compression string    `json:"compression"`
	States      []opState `json:"states"`
	File        fileInfo  `json:"file"`
}

type opState struct {
	Name        string           `json:"name"`
	Mode        string           `json:"mode"`
	Elements    int              `json:"elements"`
	Serializers []serializerInfo `json:"serializers"`
}

type serializerInfo struct {
	Name    string `json:"name"`
	Version uint32 `json:"version"`
	// Config is the serializer's configuration (base64 in JSON).
	Config []byte `json:"config,omitempty"`
}

type fileInfo struct {
	// Path is the file's whole location; Ref the path recorded in the
	// _metadata, relative to the checkpoint's directory.
	Path   string `json:"path"`
	Ref    string `json:"ref"`
	Scope  string `json:"scope"`
	Size   int64  `json:"size"`
	CRC32C string `json:"crc32c"`
}

func newInspection(store snapshot.Storage, dir string, md *snapshot.Metadata) inspection {
	out := inspection{Path: locate(store, dir), Job: md.JobID, ID: md.CheckpointID, Kind: md.Kind.String(), Completed: utc(md.Completed),
		Operators: []operatorState{}}
	fileOf := func(f snapshot.FileRef) fileInfo {
		return fileInfo{Path: filePath(store, dir, f), Ref: f.Path, Scope: scopeName(f.Scope), Size: f.Size, CRC32C: fmt.Sprintf("%08x", f.CRC32C)}
	}
	for _, op := range md.Operators {
		o := operatorState{UID: op.UID, Parallelism: op.Parallelism, MaxParallelism: op.MaxParallelism, Subtasks: []subtaskState{}}
		for i, st := range op.Subtasks {
			s := subtaskState{Subtask: i, Keyed: []keyedHandle{}, Operator: []opHandle{}}
			for _, h := range st.Keyed {
				k := keyedHandle{Format: h.Format, BackendID: h.BackendID, KeyGroupStart: h.KeyGroupStart, KeyGroupEnd: h.KeyGroupEnd,
					KeySerializer: serializerOf(h.KeySerializer), Compression: h.Compression.String(), States: []keyedState{}, Files: []fileInfo{}}
				for _, st := range h.States {
					k.States = append(k.States, keyedState{Name: st.Name, Kind: st.Kind.String(), Serializers: serializersOf(st.Serializers)})
				}
				for _, f := range h.Files {
					k.Files = append(k.Files, fileOf(f))
				}
				s.Keyed = append(s.Keyed, k)
			}
			for _, h := range st.Operator {
				oh := opHandle{Compression: h.Compression.String(), States: []opState{}, File: fileOf(h.File)}
				for _, st := range h.States {
					oh.States = append(oh.States, opState{Name: st.Name, Mode: st.Mode.String(), Elements: st.Elements, Serializers: serializersOf(st.Serializers)})
				}
				s.Operator = append(s.Operator, oh)
			}
			o.Subtasks = append(o.Subtasks, s)
		}
		out.Operators = append(out.Operators, o)
	}
	return out
}

func serializerOf(s snapshot.SerializerSnapshot) serializerInfo {
	return serializerInfo{Name: s.Name, Version: s.Version, Config: s.Config}
}

func serializersOf(ss []snapshot.SerializerSnapshot) []serializerInfo {
	out := []serializerInfo{}
	for _, s := range ss {
		out = append(out, serializerOf(s))
	}
	return out
}
