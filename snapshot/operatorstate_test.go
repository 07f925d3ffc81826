package snapshot

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"strconv"
	"strings"
	"testing"
)

// writeOperatorStates writes states at dir/rel and returns the handle.
func writeOperatorStates(t testing.TB, s Storage, dir, rel string, c Compression, states []OperatorStateData) *OperatorStateHandle {
	t.Helper()
	fw, err := s.Create(context.Background(), dir+"/"+rel, CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	metas, err := WriteOperatorStates(fw, c, states)
	if err != nil {
		t.Fatal(err)
	}
	wr, err := fw.Commit()
	if err != nil {
		t.Fatal(err)
	}
	return &OperatorStateHandle{File: FileRef{Path: rel, Size: wr.Size, CRC32C: wr.CRC32C}, Compression: c, States: metas}
}

func sampleOperatorStates() []OperatorStateData {
	return []OperatorStateData{
		{Name: "offsets", Mode: ModeSplit, Serializers: []SerializerSnapshot{{Name: "po", Version: 1}},
			Elements: [][]byte{[]byte("p0:17"), []byte("p1:99"), {}, []byte("p3:" + strings.Repeat("9", 200))}},
		{Name: "empty", Mode: ModeUnion},
		{Name: "rules", Mode: ModeBroadcast, Elements: [][]byte{[]byte(`{"rule":1}`)}},
	}
}

func TestOperatorStatesRoundTrip(t *testing.T) {
	tests := []struct {
		name   string
		states []OperatorStateData
	}{
		{"sample", sampleOperatorStates()},
		{"no states", nil},
		{"no elements", []OperatorStateData{{Name: "a", Mode: ModeSplit}, {Name: "b", Mode: ModeUnion}}},
	}
	for _, c := range []Compression{CompressionNone, CompressionZstd, CompressionS2} {
		for _, tt := range tests {
			t.Run(c.String()+"/"+tt.name, func(t *testing.T) {
				s := newTestStorage(t)
				h := writeOperatorStates(t, s, "j/chk-2", "op", c, tt.states)
				for i, m := range h.States {
					if m.Name != tt.states[i].Name || m.Mode != tt.states[i].Mode || m.Elements != len(tt.states[i].Elements) {
						t.Errorf("meta %d = %+v", i, m)
					}
				}
				got, err := ReadOperatorStates(t.Context(), s, "j/chk-2", h)
				if err != nil {
					t.Fatal(err)
				}
				want := tt.states
				if want == nil {
					want = []OperatorStateData{}
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
		c      Compression
		states []OperatorStateData
		unsup  bool
	}{
		{"empty name", CompressionNone, []OperatorStateData{{Mode: ModeSplit}}, false},
		{"duplicate", CompressionNone, []OperatorStateData{{Name: "a", Mode: ModeSplit}, {Name: "a", Mode: ModeUnion}}, false},
		{"mode 0", CompressionNone, []OperatorStateData{{Name: "a"}}, false},
		{"mode 4", CompressionNone, []OperatorStateData{{Name: "a", Mode: 4}}, false},
		{"compression", 3, sampleOperatorStates(), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			_, err := WriteOperatorStates(&buf, tt.c, tt.states)
			if err == nil || errors.Is(err, ErrUnsupported) != tt.unsup {
				t.Fatalf("got %v", err)
			}
			if buf.Len() != 0 {
				t.Errorf("%d bytes written for refused input", buf.Len())
			}
		})
	}
}

func TestReadOperatorStatesErrors(t *testing.T) {
	s := newTestStorage(t)
	good := writeOperatorStates(t, s, "j/chk-1", "op", CompressionZstd, sampleOperatorStates())
	clone := func() *OperatorStateHandle {
		h := *good
		h.States = append([]OperatorStateMeta(nil), good.States...)
		return &h
	}
	tests := []struct {
		name   string
		h      *OperatorStateHandle
		target error
		reason string
	}{
		{"nil", nil, nil, "nil handle"},
		{"missing", func() *OperatorStateHandle { h := clone(); h.File.Path = "gone"; return h }(), ErrNotExist, "j/chk-1/gone"},
		{"size", func() *OperatorStateHandle { h := clone(); h.File.Size--; return h }(), ErrCorrupt, "size"},
		{"crc", func() *OperatorStateHandle { h := clone(); h.File.CRC32C++; return h }(), ErrCorrupt, "crc32c"},
		{"compression", func() *OperatorStateHandle { h := clone(); h.Compression = CompressionS2; return h }(), ErrCorrupt, "compression"},
		{"unknown compression", func() *OperatorStateHandle { h := clone(); h.Compression = 5; return h }(), ErrUnsupported, "compression 5"},
		{"too few elements", func() *OperatorStateHandle { h := clone(); h.States[2].Elements = 0; return h }(), ErrCorrupt, "trailing"},
		{"too many elements", func() *OperatorStateHandle { h := clone(); h.States[2].Elements = 2; return h }(), ErrCorrupt, "rules"},
		{"huge count", func() *OperatorStateHandle { h := clone(); h.States[0].Elements = 1 << 40; return h }(), ErrCorrupt, "cannot fit"},
		{"missing state", func() *OperatorStateHandle { h := clone(); h.States = h.States[:2]; return h }(), ErrCorrupt, "trailing"},
		{"escaping path", func() *OperatorStateHandle { h := clone(); h.File.Path = "/abs"; return h }(), ErrInvalidName, "/abs"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadOperatorStates(t.Context(), s, "j/chk-1", tt.h)
			if err == nil || (tt.target != nil && !errors.Is(err, tt.target)) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("got %v, want %v containing %q", err, tt.target, tt.reason)
			}
		})
	}
}

func TestOperatorStatesFlipEveryByte(t *testing.T) {
	for _, c := range []Compression{CompressionNone, CompressionZstd, CompressionS2} {
		t.Run(c.String(), func(t *testing.T) {
			s := newTestStorage(t)
			h := writeOperatorStates(t, s, "j/chk-1", "op", c, sampleOperatorStates()[:1])
			name := "j/chk-1/op"
			good := readAllFile(t, s, name)
			for i := range good {
				b := bytes.Clone(good)
				b[i] ^= 0xff
				overwrite(t, s, name, b)
				_, err := ReadOperatorStates(t.Context(), s, "j/chk-1", h)
				wantCorrupt(t, err, name, "flip at "+strconv.Itoa(i))
			}
			for n := range len(good) {
				overwrite(t, s, name, good[:n])
				_, err := ReadOperatorStates(t.Context(), s, "j/chk-1", h)
				wantCorrupt(t, err, name, "truncate to "+strconv.Itoa(n))
			}
		})
	}
}

func FuzzOperatorStatePayload(f *testing.F) {
	var buf bytes.Buffer
	if _, err := WriteOperatorStates(&buf, CompressionNone, sampleOperatorStates()); err != nil {
		f.Fatal(err)
	}
	raw := buf.Bytes()[operatorHeaderSize:]
	c := &codec{limit: 1 << 20}
	for _, comp := range []Compression{CompressionNone, CompressionZstd, CompressionS2} {
		b, err := c.compress(nil, raw, comp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Clone(b), uint8(comp), uint16(4), uint16(0), uint16(1))
	}
	f.Add([]byte{}, uint8(0), uint16(0), uint16(0), uint16(0))
	f.Add([]byte{0xff}, uint8(0), uint16(1), uint16(0), uint16(0))
	f.Fuzz(func(t *testing.T, b []byte, comp uint8, n0, n1, n2 uint16) {
		plain, err := c.decompress(nil, b, Compression(comp%4))
		if err != nil {
			return
		}
		states := []OperatorStateMeta{
			{Name: "a", Mode: ModeSplit, Elements: int(n0)},
			{Name: "b", Mode: ModeUnion, Elements: int(n1)},
			{Name: "c", Mode: ModeBroadcast, Elements: int(n2)},
		}
		out, err := parseOperatorPayload(plain, states)
		if err != nil {
			var be *blockError
			if !errors.As(err, &be) || be.at < 0 || be.at > len(plain) {
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
