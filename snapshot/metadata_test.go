package snapshot_test

import (
	"bytes"
	"encoding/binary"
	"errors"
	"hash/crc32"
	"os"
	"path/filepath"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"

	"google.golang.org/protobuf/proto"

	"github.com/stated-io/stated/internal/golden"
	"github.com/stated-io/stated/proto/snapshotpb"
	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/snapshot/storagetest"
)

const goldenMetadata = "testdata/metadata_v1.golden"

// sampleMetadata is a representative checkpoint: a keyed operator with a
// key-group handle and an LSM-style handle reaching into shared/, and an
// operator with operator state.
func sampleMetadata() *snapshot.Metadata {
	ser := func(name string, v uint32, cfg string) snapshot.SerializerSnapshot {
		s := snapshot.SerializerSnapshot{Name: name, Version: v}
		if cfg != "" {
			s.Config = []byte(cfg)
		}
		return s
	}
	return &snapshot.Metadata{
		JobID:        "4f1c2a9e0b7d",
		CheckpointID: 42,
		Kind:         snapshot.KindCheckpoint,
		Completed:    time.Date(2026, 3, 1, 12, 30, 45, 123e6, time.UTC),
		Operators: []snapshot.OperatorState{
			{
				UID: "window-agg", Parallelism: 2, MaxParallelism: 8,
				Subtasks: []snapshot.SubtaskState{
					{Keyed: []snapshot.KeyedStateHandle{{
						Format: snapshot.FormatKeyGroups, BackendID: "heap-0",
						KeyGroupStart: 0, KeyGroupEnd: 3,
						KeySerializer: ser("string", 1, ""),
						States: []snapshot.StateMeta{
							{Name: "count", Kind: snapshot.StateValue, Serializers: []snapshot.SerializerSnapshot{ser("int64", 1, "")}},
							{Name: "seen", Kind: snapshot.StateMap, Serializers: []snapshot.SerializerSnapshot{ser("string", 1, ""), ser("bool", 1, "")}},
						},
						Compression:     snapshot.CompressionZstd,
						Files:           []snapshot.FileRef{{Path: "window-agg-0.kg", Scope: snapshot.ScopeExclusive, Size: 112, CRC32C: 0xdeadbeef}},
						KeyGroupOffsets: []int64{12, 40, 40, 90, 112},
						KeyGroupCRCs:    []uint32{1, 0, 2, 3},
					}}},
					{Keyed: []snapshot.KeyedStateHandle{{
						Format: "lsm/v1", BackendID: "lsm-7f3a",
						KeyGroupStart: 4, KeyGroupEnd: 7,
						KeySerializer: ser("string", 1, ""),
						States: []snapshot.StateMeta{
							{Name: "count", Kind: snapshot.StateValue, Serializers: []snapshot.SerializerSnapshot{ser("int64", 1, "")}},
							{Name: "buf", Kind: snapshot.StateList, Serializers: []snapshot.SerializerSnapshot{ser("json", 2, `{"type":"event"}`)}},
							{Name: "sum", Kind: snapshot.StateReducing, Serializers: []snapshot.SerializerSnapshot{ser("int64", 1, "")}},
							{Name: "avg", Kind: snapshot.StateAggregating, Serializers: []snapshot.SerializerSnapshot{ser("avg-acc", 3, "\x00\x01")}},
						},
						Compression: snapshot.CompressionNone,
						Files: []snapshot.FileRef{
							{Path: "../shared/lsm-7f3a-000012.sst", Scope: snapshot.ScopeShared, Size: 65536, CRC32C: 0x01020304},
							{Path: "../taskowned/lsm-7f3a.marker", Scope: snapshot.ScopeTaskOwned, Size: 0, CRC32C: 0},
							{Path: "lsm-7f3a/MANIFEST-000014", Scope: snapshot.ScopeExclusive, Size: 1024, CRC32C: 0xcafef00d},
						},
					}}},
				},
			},
			{
				UID: "kafka-source", Parallelism: 1, MaxParallelism: 128,
				Subtasks: []snapshot.SubtaskState{
					{Operator: []snapshot.OperatorStateHandle{{
						File:        snapshot.FileRef{Path: "kafka-source-0.op", Size: 77, CRC32C: 0x0badf00d},
						Compression: snapshot.CompressionS2,
						States: []snapshot.OperatorStateMeta{
							{Name: "offsets", Mode: snapshot.ModeSplit, Serializers: []snapshot.SerializerSnapshot{ser("partition-offset", 1, "")}, Elements: 3},
							{Name: "config", Mode: snapshot.ModeUnion, Elements: 1},
							{Name: "rules", Mode: snapshot.ModeBroadcast, Elements: 0},
						},
					}}},
				},
			},
		},
	}
}

func TestMetadataRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		md   *snapshot.Metadata
	}{
		{"sample", sampleMetadata()},
		{"empty savepoint", &snapshot.Metadata{JobID: "j", Kind: snapshot.KindSavepoint}},
		{"no completion time", &snapshot.Metadata{JobID: "j", CheckpointID: 1, Kind: snapshot.KindCheckpoint,
			Operators: []snapshot.OperatorState{{UID: "a", Parallelism: 3, MaxParallelism: 3, Subtasks: make([]snapshot.SubtaskState, 3)}}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := snapshot.EncodeMetadata(tt.md)
			if err != nil {
				t.Fatal(err)
			}
			got, err := snapshot.DecodeMetadata("x/_metadata", b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.md) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, tt.md)
			}
			b2, err := snapshot.EncodeMetadata(got)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(b, b2) {
				t.Error("re-encoding is not byte-identical")
			}
		})
	}
}

func TestMetadataCompletedPrecision(t *testing.T) {
	md := &snapshot.Metadata{JobID: "j", Kind: snapshot.KindCheckpoint, Completed: time.Date(2026, 1, 2, 3, 4, 5, 678901234, time.FixedZone("x", 3600))}
	b, err := snapshot.EncodeMetadata(md)
	if err != nil {
		t.Fatal(err)
	}
	got, err := snapshot.DecodeMetadata("m", b)
	if err != nil {
		t.Fatal(err)
	}
	want := md.Completed.Truncate(time.Millisecond).UTC()
	if !got.Completed.Equal(want) || got.Completed.Location() != time.UTC {
		t.Errorf("Completed = %v, want %v in UTC", got.Completed, want)
	}
}

func TestMetadataGolden(t *testing.T) {
	b, err := snapshot.EncodeMetadata(sampleMetadata())
	if err != nil {
		t.Fatal(err)
	}
	want := golden.Check(t, goldenMetadata, b, "the _metadata encoding of sampleMetadata")
	md, err := snapshot.DecodeMetadata(goldenMetadata, want)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(md, sampleMetadata()) {
		t.Error("golden file decodes to something else than sampleMetadata")
	}
}

// envelope wraps body in the _metadata envelope with the given version.
func envelope(version uint32, body []byte) []byte {
	b := []byte(snapshot.MetadataMagic)
	b = binary.BigEndian.AppendUint32(b, version)
	b = binary.BigEndian.AppendUint64(b, uint64(len(body)))
	b = append(b, body...)
	return binary.BigEndian.AppendUint32(b, crc32.Checksum(b, snapshot.Castagnoli))
}

func TestDecodeMetadataEnvelope(t *testing.T) {
	good, err := snapshot.EncodeMetadata(sampleMetadata())
	if err != nil {
		t.Fatal(err)
	}
	body := good[snapshot.MetadataHeaderSize : len(good)-snapshot.MetadataTrailerSize]
	withCRC := func(b []byte) []byte { // recompute the trailer CRC
		b = bytes.Clone(b)
		binary.BigEndian.PutUint32(b[len(b)-4:], crc32.Checksum(b[:len(b)-4], snapshot.Castagnoli))
		return b
	}
	tests := []struct {
		name       string
		b          []byte
		wantOffset int64
		reason     string
	}{
		{"empty", nil, 0, "truncated"},
		{"magic prefix", []byte("ST"), 2, "truncated"},
		{"bad magic", append([]byte("XTMD"), good[4:]...), 0, "bad magic"},
		{"short magic", []byte("SX"), 0, "bad magic"},
		{"header only", good[:snapshot.MetadataHeaderSize], snapshot.MetadataHeaderSize, "truncated"},
		{"truncated body", good[:len(good)-10], int64(len(good) - 10), "truncated"},
		{"trailing bytes", append(bytes.Clone(good), 0), int64(len(good)), "trailing"},
		{"crc", append(bytes.Clone(good[:len(good)-1]), good[len(good)-1]^1), int64(len(good) - 4), "crc32c"},
		{"version 0", envelope(0, body), 4, "version 0"},
		{"undecodable body", envelope(1, []byte{0xff, 0xff, 0xff}), snapshot.MetadataHeaderSize, "undecodable"},
		{"length too big", withCRC(append(append(bytes.Clone(good[:8]), 0xff, 0, 0, 0, 0, 0, 0, 0), good[16:]...)), int64(len(good)), "length"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := snapshot.DecodeMetadata("job/chk-1/_metadata", tt.b)
			var ce *snapshot.CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error %v is not a *CorruptError", err)
			}
			if !errors.Is(err, snapshot.ErrCorrupt) || ce.Path != "job/chk-1/_metadata" || ce.Offset != tt.wantOffset || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("got %v (offset %d), want offset %d and %q", err, ce.Offset, tt.wantOffset, tt.reason)
			}
		})
	}
}

func TestDecodeMetadataUnsupportedVersion(t *testing.T) {
	good, err := snapshot.EncodeMetadata(sampleMetadata())
	if err != nil {
		t.Fatal(err)
	}
	b := envelope(7, good[snapshot.MetadataHeaderSize:len(good)-snapshot.MetadataTrailerSize])
	_, err = snapshot.DecodeMetadata("m", b)
	if !errors.Is(err, snapshot.ErrUnsupported) || errors.Is(err, snapshot.ErrCorrupt) || !strings.Contains(err.Error(), "version 7") {
		t.Fatalf("got %v, want ErrUnsupported naming version 7", err)
	}
}

// TestMetadataValidation checks each structural rule on both sides: Encode
// refuses the metadata, and Decode of the same body (written around the
// validation) reports corruption.
func TestMetadataValidation(t *testing.T) {
	keyed := func(md *snapshot.Metadata) *snapshot.KeyedStateHandle { return &md.Operators[0].Subtasks[0].Keyed[0] }
	lsm := func(md *snapshot.Metadata) *snapshot.KeyedStateHandle { return &md.Operators[0].Subtasks[1].Keyed[0] }
	opHandle := func(md *snapshot.Metadata) *snapshot.OperatorStateHandle {
		return &md.Operators[1].Subtasks[0].Operator[0]
	}
	tests := []struct {
		name   string
		mutate func(md *snapshot.Metadata)
		reason string
	}{
		{"kind 0", func(md *snapshot.Metadata) { md.Kind = 0 }, "unknown kind"},
		{"kind 9", func(md *snapshot.Metadata) { md.Kind = 9 }, "unknown kind"},
		{"negative checkpoint id", func(md *snapshot.Metadata) { md.CheckpointID = -1 }, "negative checkpoint id"},
		{"empty uid", func(md *snapshot.Metadata) { md.Operators[1].UID = "" }, "empty uid"},
		{"duplicate uid", func(md *snapshot.Metadata) { md.Operators[1].UID = md.Operators[0].UID }, "duplicate uid"},
		{"zero parallelism", func(md *snapshot.Metadata) { md.Operators[1].Parallelism = 0; md.Operators[1].Subtasks = nil }, "parallelism 0"},
		{"negative parallelism", func(md *snapshot.Metadata) { md.Operators[1].Parallelism = -2 }, "parallelism -2"},
		{"maxP below p", func(md *snapshot.Metadata) { md.Operators[0].MaxParallelism = 1 }, "below parallelism"},
		{"maxP too big", func(md *snapshot.Metadata) { md.Operators[1].MaxParallelism = snapshot.MaxMaxParallelism + 1 }, "maxParallelism"},
		{"subtask count", func(md *snapshot.Metadata) { md.Operators[0].Subtasks = md.Operators[0].Subtasks[:1] }, "1 subtasks for parallelism 2"},
		{"empty format", func(md *snapshot.Metadata) { lsm(md).Format = "" }, "empty format"},
		{"range beyond maxP", func(md *snapshot.Metadata) { lsm(md).KeyGroupEnd = 8 }, "outside [0,8)"},
		{"negative range", func(md *snapshot.Metadata) { lsm(md).KeyGroupStart = -1 }, "outside"},
		{"inverted range", func(md *snapshot.Metadata) { lsm(md).KeyGroupStart = 6; lsm(md).KeyGroupEnd = 5 }, "outside"},
		{"offsets length", func(md *snapshot.Metadata) { keyed(md).KeyGroupOffsets = keyed(md).KeyGroupOffsets[:4] }, "key-group offsets"},
		{"crcs length", func(md *snapshot.Metadata) { keyed(md).KeyGroupCRCs = append(keyed(md).KeyGroupCRCs, 9) }, "key-group CRCs"},
		{"range vs offsets", func(md *snapshot.Metadata) { keyed(md).KeyGroupEnd = 2 }, "key-group offsets"},
		{"first offset", func(md *snapshot.Metadata) { keyed(md).KeyGroupOffsets[0] = 0 }, "first key-group offset"},
		{"decreasing offsets", func(md *snapshot.Metadata) { keyed(md).KeyGroupOffsets[2] = 30 }, "below the previous"},
		{"last offset vs size", func(md *snapshot.Metadata) { keyed(md).Files[0].Size = 113 }, "file size"},
		{"two files in keygroups", func(md *snapshot.Metadata) { keyed(md).Files = append(keyed(md).Files, keyed(md).Files[0]) }, "2 files"},
		{"keyed compression", func(md *snapshot.Metadata) { keyed(md).Compression = 3 }, "compression 3"},
		{"state kind 0", func(md *snapshot.Metadata) { keyed(md).States[0].Kind = 0 }, "unknown kind"},
		{"state kind 6", func(md *snapshot.Metadata) { keyed(md).States[0].Kind = 6 }, "unknown kind"},
		{"empty state name", func(md *snapshot.Metadata) { keyed(md).States[0].Name = "" }, "empty name"},
		{"duplicate state name", func(md *snapshot.Metadata) { keyed(md).States[1].Name = "count" }, "duplicate name"},
		{"absolute path", func(md *snapshot.Metadata) { lsm(md).Files[2].Path = "/etc/passwd" }, "absolute"},
		{"deep escape", func(md *snapshot.Metadata) { lsm(md).Files[0].Path = "../../other-job/shared/x.sst" }, "more than one level"},
		{"escape into sibling", func(md *snapshot.Metadata) { lsm(md).Files[0].Path = "../chk-41/x.sst" }, "other than into"},
		{"unclean path", func(md *snapshot.Metadata) { lsm(md).Files[2].Path = "lsm//MANIFEST" }, "not clean"},
		{"empty path", func(md *snapshot.Metadata) { lsm(md).Files[2].Path = "" }, "empty path"},
		{"savepoint leaves dir", func(md *snapshot.Metadata) { md.Kind = snapshot.KindSavepoint }, "savepoint"},
		{"scope", func(md *snapshot.Metadata) { lsm(md).Files[0].Scope = 3 }, "unknown scope"},
		{"negative size", func(md *snapshot.Metadata) { lsm(md).Files[1].Size = -1 }, "negative size"},
		{"op compression", func(md *snapshot.Metadata) { opHandle(md).Compression = 200 }, "compression 200"},
		{"op mode 0", func(md *snapshot.Metadata) { opHandle(md).States[0].Mode = 0 }, "unknown mode"},
		{"op mode 4", func(md *snapshot.Metadata) { opHandle(md).States[0].Mode = 4 }, "unknown mode"},
		{"op negative elements", func(md *snapshot.Metadata) { opHandle(md).States[0].Elements = -1 }, "element count -1"},
		{"op empty name", func(md *snapshot.Metadata) { opHandle(md).States[1].Name = "" }, "empty name"},
		{"op duplicate name", func(md *snapshot.Metadata) { opHandle(md).States[1].Name = "offsets" }, "duplicate name"},
		{"op file too small", func(md *snapshot.Metadata) { opHandle(md).File.Size = 3 }, "below the 12-byte header"},
		{"op path escape", func(md *snapshot.Metadata) { opHandle(md).File.Path = "../x" }, "other than into"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			md := sampleMetadata()
			tt.mutate(md)
			if _, err := snapshot.EncodeMetadata(md); err == nil || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Encode: got %v, want an error containing %q", err, tt.reason)
			}
			body, err := proto.Marshal(snapshot.MetadataToProto(md))
			if err != nil {
				t.Fatal(err)
			}
			_, err = snapshot.DecodeMetadata("chk-9/_metadata", envelope(1, body))
			var ce *snapshot.CorruptError
			if !errors.As(err, &ce) || ce.Path != "chk-9/_metadata" || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("Decode: got %v, want a *CorruptError containing %q", err, tt.reason)
			}
		})
	}
}

// TestDecodeMetadataWireEnums checks enum values that do not fit the Go
// types: they must not wrap around into valid ones.
func TestDecodeMetadataWireEnums(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(pb *snapshotpb.Metadata)
	}{
		{"kind 257", func(pb *snapshotpb.Metadata) { pb.Kind = 257 }},
		{"kind -1", func(pb *snapshotpb.Metadata) { pb.Kind = -1 }},
		{"compression 256", func(pb *snapshotpb.Metadata) { pb.Operators[0].Subtasks[0].Keyed[0].Compression = 256 }},
		{"scope 258", func(pb *snapshotpb.Metadata) { pb.Operators[0].Subtasks[1].Keyed[0].Files[0].Scope = 258 }},
		{"state kind 257", func(pb *snapshotpb.Metadata) { pb.Operators[0].Subtasks[0].Keyed[0].States[0].Kind = 257 }},
		{"mode 257", func(pb *snapshotpb.Metadata) { pb.Operators[1].Subtasks[0].Operator[0].States[0].Mode = 257 }},
		{"elements -1", func(pb *snapshotpb.Metadata) { pb.Operators[1].Subtasks[0].Operator[0].States[0].Elements = -1 }},
		{"missing file", func(pb *snapshotpb.Metadata) { pb.Operators[1].Subtasks[0].Operator[0].File = nil }},
		{"parallelism overflow", func(pb *snapshotpb.Metadata) { pb.Operators[1].Parallelism = -1 << 31 }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pb := snapshot.MetadataToProto(sampleMetadata())
			tt.mutate(pb)
			body, err := proto.Marshal(pb)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := snapshot.DecodeMetadata("m", envelope(1, body)); !errors.Is(err, snapshot.ErrCorrupt) {
				t.Errorf("got %v, want ErrCorrupt", err)
			}
		})
	}
}

func TestEncodeMetadataNil(t *testing.T) {
	if _, err := snapshot.EncodeMetadata(nil); err == nil {
		t.Fatal("EncodeMetadata(nil) succeeded")
	}
}

// TestMetadataFlipEveryByte flips each byte of a _metadata file in turn and
// checks that reading it through the storage reports corruption naming the
// file.
func TestMetadataFlipEveryByte(t *testing.T) {
	s := storagetest.Open(t, file.New)
	ctx := t.Context()
	good, err := snapshot.EncodeMetadata(sampleMetadata())
	if err != nil {
		t.Fatal(err)
	}
	dir := snapshot.CheckpointDir("job", 42)
	name := dir + "/" + snapshot.MetadataName
	storagetest.Put(t, s, name, good)
	for i := range good {
		b := bytes.Clone(good)
		b[i] ^= 0xff
		overwrite(t, s, name, b)
		_, err := snapshot.ReadMetadata(ctx, s, dir)
		wantCorrupt(t, err, name, "flip at "+strconv.Itoa(i))
	}
	for n := range len(good) {
		overwrite(t, s, name, good[:n])
		_, err := snapshot.ReadMetadata(ctx, s, dir)
		wantCorrupt(t, err, name, "truncate to "+strconv.Itoa(n))
	}
}

func FuzzDecodeMetadata(f *testing.F) {
	golden, err := os.ReadFile(filepath.FromSlash(goldenMetadata))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(golden)
	for _, md := range []*snapshot.Metadata{{JobID: "j", Kind: snapshot.KindSavepoint}} {
		b, err := snapshot.EncodeMetadata(md)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	f.Add([]byte("STMD"))
	f.Add(golden[snapshot.MetadataHeaderSize : len(golden)-snapshot.MetadataTrailerSize])
	f.Fuzz(func(t *testing.T, b []byte) {
		checkDecodeMetadata(t, b)
		// Also as a body behind a valid envelope, so that mutations reach
		// the protobuf decoder and the validation past the CRC.
		checkDecodeMetadata(t, envelope(snapshot.MetadataFormatVersion, b))
	})
}

func checkDecodeMetadata(t *testing.T, b []byte) {
	md, err := snapshot.DecodeMetadata("fuzz", b)
	if err != nil {
		if !errors.Is(err, snapshot.ErrCorrupt) && !errors.Is(err, snapshot.ErrUnsupported) {
			t.Fatalf("error %v is neither ErrCorrupt nor ErrUnsupported", err)
		}
		return
	}
	// Whatever decodes must encode and decode to the same value.
	b2, err := snapshot.EncodeMetadata(md)
	if err != nil {
		t.Fatalf("decoded metadata does not encode: %v", err)
	}
	md2, err := snapshot.DecodeMetadata("fuzz", b2)
	if err != nil {
		t.Fatalf("re-encoded metadata does not decode: %v", err)
	}
	if !reflect.DeepEqual(md, md2) {
		t.Fatal("round trip changed the metadata")
	}
}
