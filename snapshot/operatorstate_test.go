package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/snapshot/storagetest"
)

// writeOperatorStates writes states at dir/rel and returns the handle.
func writeOperatorStates(t testing.TB, s snapshot.Storage, dir, rel string, c snapshot.Compression, states []snapshot.OperatorStateData) *snapshot.OperatorStateHandle {
	t.Helper()
	fw, err := s.Create(context.Background(), dir+"/"+rel, snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	metas, err := snapshot.WriteOperatorStates(fw, c, states)
	if err != nil {
		t.Fatal(err)
	}
	wr, err := fw.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return &snapshot.OperatorStateHandle{File: snapshot.FileRef{Path: rel, Size: wr.Size, CRC32C: wr.CRC32C}, Compression: c, States: metas}
}

func sampleOperatorStates() []snapshot.OperatorStateData {
	return []snapshot.OperatorStateData{
		{Name: "offsets", Mode: snapshot.ModeSplit, Serializers: []snapshot.SerializerSnapshot{{Name: "po", Version: 1}},
			Elements: [][]byte{[]byte("p0:17"), []byte("p1:99"), {}, []byte("p3:" + strings.Repeat("9", 200))}},
		{Name: "empty", Mode: snapshot.ModeUnion},
		{Name: "rules", Mode: snapshot.ModeBroadcast, Elements: [][]byte{[]byte(`{"rule":1}`)}},
	}
}

func TestOperatorStatesRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		states []snapshot.OperatorStateData
	}{
		{"sample", sampleOperatorStates()},
		{"no states", nil},
		{"no elements", []snapshot.OperatorStateData{{Name: "a", Mode: snapshot.ModeSplit}, {Name: "b", Mode: snapshot.ModeUnion}}},
	}
	for _, c := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionZstd, snapshot.CompressionS2} {
		for _, tt := range tests {
			t.Run(c.String()+"/"+tt.name, func(t *testing.T) {
				s := storagetest.Open(t, file.New)
				h := writeOperatorStates(t, s, "j/chk-2", "op", c, tt.states)
				for i, m := range h.States {
					if m.Name != tt.states[i].Name || m.Mode != tt.states[i].Mode || m.Elements != len(tt.states[i].Elements) {
						t.Errorf("meta %d = %+v", i, m)
					}
				}
				got, err := snapshot.ReadOperatorStates(t.Context(), s, "j/chk-2", h)
				if err != nil {
					t.Fatal(err)
				}
				want := tt.states
				if want == nil {
					want = []snapshot.OperatorStateData{}
				}
				for i := range want { // an empty element reads back empty, not nil
					for j, e := range want[i].Elements {
						if len(e) == 0 && got[i].Elements[j] != nil {
							got[i].Elements[j] = e
						}
					}
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("got %+v, want %+v", got, want)
				}
			})
		}
	}
}

func TestWriteOperatorStatesRefuses(t *testing.T) {
	tests := []struct {
		name   string
		c      snapshot.Compression
		states []snapshot.OperatorStateData
		unsup  bool
	}{
		{"empty name", snapshot.CompressionNone, []snapshot.OperatorStateData{{Mode: snapshot.ModeSplit}}, false},
		{"duplicate", snapshot.CompressionNone, []snapshot.OperatorStateData{{Name: "a", Mode: snapshot.ModeSplit}, {Name: "a", Mode: snapshot.ModeUnion}}, false},
		{"mode 0", snapshot.CompressionNone, []snapshot.OperatorStateData{{Name: "a"}}, false},
		{"mode 4", snapshot.CompressionNone, []snapshot.OperatorStateData{{Name: "a", Mode: 4}}, false},
		{"compression", 3, sampleOperatorStates(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := snapshot.WriteOperatorStates(&buf, tt.c, tt.states)
			if err == nil || errors.Is(err, snapshot.ErrUnsupported) != tt.unsup {
				t.Fatalf("got %v", err)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written for refused input", buf.Len())
			}
		})
	}
}

func TestReadOperatorStatesErrors(t *testing.T) {
	s := storagetest.Open(t, file.New)
	good := writeOperatorStates(t, s, "j/chk-1", "op", snapshot.CompressionZstd, sampleOperatorStates())
	clone := func() *snapshot.OperatorStateHandle {
		h := *good
		h.States = append([]snapshot.OperatorStateMeta(nil), good.States...)
		return &h
	}
	tests := []struct {
		name   string
		h      *snapshot.OperatorStateHandle
		target error
		reason string
	}{
		{"nil", nil, nil, "nil handle"},
		{"missing", func() *snapshot.OperatorStateHandle { h := clone(); h.File.Path = "gone"; return h }(), snapshot.ErrNotExist, "j/chk-1/gone"},
		{"size", func() *snapshot.OperatorStateHandle { h := clone(); h.File.Size--; return h }(), snapshot.ErrCorrupt, "size"},
		{"crc", func() *snapshot.OperatorStateHandle { h := clone(); h.File.CRC32C++; return h }(), snapshot.ErrCorrupt, "crc32c"},
		{"compression", func() *snapshot.OperatorStateHandle { h := clone(); h.Compression = snapshot.CompressionS2; return h }(), snapshot.ErrCorrupt, "compression"},
		{"unknown compression", func() *snapshot.OperatorStateHandle { h := clone(); h.Compression = 5; return h }(), snapshot.ErrUnsupported, "compression 5"},
		{"too few elements", func() *snapshot.OperatorStateHandle { h := clone(); h.States[2].Elements = 0; return h }(), snapshot.ErrCorrupt, "trailing"},
		{"too many elements", func() *snapshot.OperatorStateHandle { h := clone(); h.States[2].Elements = 2; return h }(), snapshot.ErrCorrupt, "rules"},
		{"huge count", func() *snapshot.OperatorStateHandle { h := clone(); h.States[0].Elements = 1 << 40; return h }(), snapshot.ErrCorrupt, "cannot fit"},
		{"missing state", func() *snapshot.OperatorStateHandle { h := clone(); h.States = h.States[:2]; return h }(), snapshot.ErrCorrupt, "trailing"},
		{"escaping path", func() *snapshot.OperatorStateHandle { h := clone(); h.File.Path = "/abs"; return h }(), snapshot.ErrInvalidName, "/abs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := snapshot.ReadOperatorStates(t.Context(), s, "j/chk-1", tt.h)
			if err == nil || (tt.target != nil && !errors.Is(err, tt.target)) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("got %v, want %v containing %q", err, tt.target, tt.reason)
			}
		})
	}
}

func TestOperatorStatesFlipEveryByte(t *testing.T) {
	for _, c := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionZstd, snapshot.CompressionS2} {
		t.Run(c.String(), func(t *testing.T) {
			s := storagetest.Open(t, file.New)
			h := writeOperatorStates(t, s, "j/chk-1", "op", c, sampleOperatorStates()[:1])
			name := "j/chk-1/op"
			good := storagetest.Read(t, s, name)
			for i := range good {
				b := bytes.Clone(good)
				b[i] ^= 0xff
				overwrite(t, s, name, b)
				_, err := snapshot.ReadOperatorStates(t.Context(), s, "j/chk-1", h)
				wantCorrupt(t, err, name, "flip at "+strconv.Itoa(i))
			}
			for n := range len(good) {
				overwrite(t, s, name, good[:n])
				_, err := snapshot.ReadOperatorStates(t.Context(), s, "j/chk-1", h)
				wantCorrupt(t, err, name, "truncate to "+strconv.Itoa(n))
			}
		})
	}
}

func FuzzOperatorStatePayload(f *testing.F) {
	var buf bytes.Buffer
	if _, err := snapshot.WriteOperatorStates(&buf, snapshot.CompressionNone, sampleOperatorStates()); err != nil {
		f.Fatal(err)
	}
	raw := buf.Bytes()[snapshot.OperatorHeaderSize:]
	c := snapshot.NewCodec(1 << 20)
	for _, comp := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionZstd, snapshot.CompressionS2} {
		b, err := c.Compress(nil, raw, comp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Clone(b), uint8(comp), uint16(4), uint16(0), uint16(1))
	}
	f.Add([]byte{}, uint8(0), uint16(0), uint16(0), uint16(0))
	f.Add([]byte{0xff}, uint8(0), uint16(1), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, comp uint8, n0, n1, n2 uint16) {
		plain, err := c.Decompress(nil, b, snapshot.Compression(comp%4))
		if err != nil {
			return
		}
		states := []snapshot.OperatorStateMeta{
			{Name: "a", Mode: snapshot.ModeSplit, Elements: int(n0)},
			{Name: "b", Mode: snapshot.ModeUnion, Elements: int(n1)},
			{Name: "c", Mode: snapshot.ModeBroadcast, Elements: int(n2)},
		}
		out, err := snapshot.ParseOperatorPayload(plain, states)
		if err != nil {
			var be *snapshot.BlockError
			if !errors.As(err, &be) || be.At() < 0 || be.At() > len(plain) {
				t.Fatalf("bad error %v", err)
			}
			return
		}
		// A payload that parses re-encodes to the same bytes when its
		// lengths were minimal varints; at least the sizes must add up.
		total := 0
		for i, s := range out {
			if len(s.Elements) != states[i].Elements {
				t.Fatalf("state %d: %d elements, want %d", i, len(s.Elements), states[i].Elements)
			}
			for _, e := range s.Elements {
				total += len(e) + 1
			}
		}
		if total > len(plain) {
			t.Fatalf("elements (%d bytes) larger than the payload (%d)", total, len(plain))
		}
	})
}
