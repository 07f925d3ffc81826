package snapshot_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"strconv"
	"strings"
	"testing"

	"github.com/stated-io/stated/providers/file"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/snapshot/storagetest"
)

type kgEntry struct {
	kg, state             int
	key, namespace, value string
}

// writeKeyGroups writes entries (sorted by key group) as a key-group
// stream at name and returns the handle describing it.
func writeKeyGroups(t testing.TB, s snapshot.Storage, dir, rel string, start, end int, c snapshot.Compression, entries []kgEntry) *snapshot.KeyedStateHandle {
	t.Helper()
	ctx := context.Background()
	fw, err := s.Create(ctx, dir+"/"+rel, snapshot.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	w, err := snapshot.NewKeyGroupWriter(fw, start, end, c)
	if err != nil {
		t.Fatal(err)
	}
	cur := -1
	for _, e := range entries {
		if e.kg != cur {
			if err := w.BeginKeyGroup(e.kg); err != nil {
				t.Fatal(err)
			}
			cur = e.kg
		}
		if err := w.WriteEntry(e.state, []byte(e.key), []byte(e.namespace), []byte(e.value)); err != nil {
			t.Fatal(err)
		}
	}
	offsets, crcs, err := w.Finish()
	if err != nil {
		t.Fatal(err)
	}
	wr, err := fw.Commit()
	if err != nil {
		t.Fatal(err)
	}
	if offsets[len(offsets)-1] != wr.Size {
		t.Fatalf("last offset %d, file size %d", offsets[len(offsets)-1], wr.Size)
	}
	return &snapshot.KeyedStateHandle{
		Format:        snapshot.FormatKeyGroups,
		KeyGroupStart: start, KeyGroupEnd: end,
		States:          []snapshot.StateMeta{{Name: "a", Kind: snapshot.StateValue}, {Name: "b", Kind: snapshot.StateMap}},
		Compression:     c,
		Files:           []snapshot.FileRef{{Path: rel, Size: wr.Size, CRC32C: wr.CRC32C}},
		KeyGroupOffsets: offsets,
		KeyGroupCRCs:    crcs,
	}
}

func readKeyGroups(ctx context.Context, s snapshot.Storage, dir string, h *snapshot.KeyedStateHandle, start, end int) ([]kgEntry, error) {
	var got []kgEntry
	err := snapshot.ReadKeyGroups(ctx, s, dir, h, start, end, func(kg, state int, key, ns, value []byte) error {
		got = append(got, kgEntry{kg, state, string(key), string(ns), string(value)})
		return nil
	})
	return got, err
}

func sampleEntries() []kgEntry {
	var es []kgEntry
	for kg := 2; kg <= 9; kg++ {
		if kg == 5 || kg == 6 {
			continue // empty key groups in the middle
		}
		for i := range kg {
			es = append(es, kgEntry{kg, i % 2, fmt.Sprintf("key-%d-%d", kg, i), strings.Repeat("n", i%3), strings.Repeat("value ", i)})
		}
	}
	es = append(es, kgEntry{10, 1, "", "", ""}) // empty fields
	return es
}

func filterEntries(es []kgEntry, start, end int) []kgEntry {
	var out []kgEntry
	for _, e := range es {
		if e.kg >= start && e.kg <= end {
			out = append(out, e)
		}
	}
	return out
}

func TestKeyGroupsRoundTrip(t *testing.T) {
	entries := sampleEntries()
	for _, c := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionZstd, snapshot.CompressionS2} {
		t.Run(c.String(), func(t *testing.T) {
			s := storagetest.Open(t, file.New)
			rec := &rangeRecorder{Storage: s}
			h := writeKeyGroups(t, s, "job/chk-1", "kg.bin", 0, 11, c, entries)
			if len(h.KeyGroupOffsets) != 13 || len(h.KeyGroupCRCs) != 12 || h.KeyGroupOffsets[0] != snapshot.KeyGroupHeaderSize {
				t.Fatalf("offsets %v crcs %v", h.KeyGroupOffsets, h.KeyGroupCRCs)
			}
			for _, kg := range []int{0, 1, 5, 6, 11} {
				if h.KeyGroupOffsets[kg] != h.KeyGroupOffsets[kg+1] {
					t.Errorf("empty key group %d has a non-empty block", kg)
				}
			}
			tests := []struct{ start, end int }{
				{0, 11}, {3, 3}, {5, 6}, {4, 8}, {-5, 100}, {10, 11}, {12, 20}, {0, 0},
			}
			for _, tt := range tests {
				rec.ranges = nil
				got, err := readKeyGroups(t.Context(), rec, "job/chk-1", h, tt.start, tt.end)
				if err != nil {
					t.Fatalf("[%d,%d]: %v", tt.start, tt.end, err)
				}
				want := filterEntries(entries, tt.start, tt.end)
				if fmt.Sprint(got) != fmt.Sprint(want) {
					t.Errorf("[%d,%d]: got %v, want %v", tt.start, tt.end, got, want)
				}
				// Only the header and the span of the wanted groups are read.
				lo, hi := max(tt.start, 0), min(tt.end, 11)
				if lo > hi {
					if len(rec.ranges) != 0 {
						t.Errorf("[%d,%d]: ranged reads %v for no key group", tt.start, tt.end, rec.ranges)
					}
					continue
				}
				span := [2]int64{h.KeyGroupOffsets[lo], h.KeyGroupOffsets[hi+1] - h.KeyGroupOffsets[lo]}
				wantRanges := [][2]int64{{0, 12}}
				if span[1] > 0 {
					wantRanges = append(wantRanges, span)
				}
				if fmt.Sprint(rec.ranges) != fmt.Sprint(wantRanges) {
					t.Errorf("[%d,%d]: ranged reads %v, want %v", tt.start, tt.end, rec.ranges, wantRanges)
				}
			}
		})
	}
}

func TestKeyGroupsCompressionShrinks(t *testing.T) {
	s := storagetest.Open(t, file.New)
	var es []kgEntry
	for i := range 2000 {
		es = append(es, kgEntry{i % 4, 0, fmt.Sprintf("user-%06d", i), "", `{"clicks":0,"country":"DE","tags":["a","b"]}`})
	}
	sortEntries(es)
	sizes := map[snapshot.Compression]int64{}
	for _, c := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionZstd, snapshot.CompressionS2} {
		h := writeKeyGroups(t, s, "d", c.String(), 0, 3, c, es)
		sizes[c] = h.Files[0].Size
		got, err := readKeyGroups(t.Context(), s, "d", h, 0, 3)
		if err != nil || len(got) != len(es) {
			t.Fatalf("%s: %d entries, %v", c, len(got), err)
		}
	}
	if sizes[snapshot.CompressionZstd] >= sizes[snapshot.CompressionNone]/2 || sizes[snapshot.CompressionS2] >= sizes[snapshot.CompressionNone] {
		t.Errorf("sizes %v: compression does not shrink repetitive data", sizes)
	}
}

func sortEntries(es []kgEntry) {
	for i := 1; i < len(es); i++ {
		for j := i; j > 0 && es[j].kg < es[j-1].kg; j-- {
			es[j], es[j-1] = es[j-1], es[j]
		}
	}
}

func TestKeyGroupWriterMisuse(t *testing.T) {
	tests := []struct {
		name string
		run  func(w *snapshot.KeyGroupWriter) error
	}{
		{"entry before begin", func(w *snapshot.KeyGroupWriter) error { return w.WriteEntry(0, nil, nil, nil) }},
		{"below start", func(w *snapshot.KeyGroupWriter) error { return w.BeginKeyGroup(1) }},
		{"above end", func(w *snapshot.KeyGroupWriter) error { return w.BeginKeyGroup(6) }},
		{"repeat", func(w *snapshot.KeyGroupWriter) error {
			if err := w.BeginKeyGroup(3); err != nil {
				return nil
			}
			return w.BeginKeyGroup(3)
		}},
		{"backwards", func(w *snapshot.KeyGroupWriter) error {
			if err := w.BeginKeyGroup(4); err != nil {
				return nil
			}
			return w.BeginKeyGroup(3)
		}},
		{"negative state", func(w *snapshot.KeyGroupWriter) error {
			if err := w.BeginKeyGroup(4); err != nil {
				return nil
			}
			return w.WriteEntry(-1, nil, nil, nil)
		}},
		{"finish twice", func(w *snapshot.KeyGroupWriter) error {
			if _, _, err := w.Finish(); err != nil {
				return nil
			}
			_, _, err := w.Finish()
			return err
		}},
		{"begin after finish", func(w *snapshot.KeyGroupWriter) error {
			if _, _, err := w.Finish(); err != nil {
				return nil
			}
			return w.BeginKeyGroup(5)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			w, err := snapshot.NewKeyGroupWriter(io.Discard, 2, 5, snapshot.CompressionNone)
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.run(w); err == nil {
				t.Error("no error")
			}
		})
	}
}

func TestNewKeyGroupWriterErrors(t *testing.T) {
	tests := []struct {
		name       string
		start, end int
		c          snapshot.Compression
		unsup      bool
	}{
		{"negative start", -1, 3, snapshot.CompressionNone, false},
		{"inverted", 4, 3, snapshot.CompressionNone, false},
		{"too many", 0, snapshot.MaxMaxParallelism, snapshot.CompressionNone, false},
		{"unknown compression", 0, 3, 9, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := snapshot.NewKeyGroupWriter(io.Discard, tt.start, tt.end, tt.c)
			if err == nil || errors.Is(err, snapshot.ErrUnsupported) != tt.unsup {
				t.Errorf("got %v (unsupported wanted: %v)", err, tt.unsup)
			}
		})
	}
}

type failWriter struct{ after int }

func (f *failWriter) Write(p []byte) (int, error) {
	if f.after <= 0 {
		return 0, errors.New("disk full")
	}
	f.after--
	return len(p), nil
}

func TestKeyGroupWriterStickyError(t *testing.T) {
	w, err := snapshot.NewKeyGroupWriter(&failWriter{after: 1}, 0, 3, snapshot.CompressionS2)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.BeginKeyGroup(0); err != nil {
		t.Fatal(err)
	}
	if err := w.WriteEntry(0, []byte("k"), nil, []byte("v")); err != nil {
		t.Fatal(err)
	}
	if err := w.BeginKeyGroup(1); err == nil || !strings.Contains(err.Error(), "disk full") {
		t.Fatalf("BeginKeyGroup: %v, want disk full", err)
	}
	if err := w.WriteEntry(0, nil, nil, nil); err == nil {
		t.Error("WriteEntry after a failure succeeded")
	}
	if _, _, err := w.Finish(); err == nil {
		t.Error("Finish after a failure succeeded")
	}
}

func TestKeyGroupWriterNoAllocs(t *testing.T) {
	w, err := snapshot.NewKeyGroupWriter(io.Discard, 0, 1<<14, snapshot.CompressionZstd)
	if err != nil {
		t.Fatal(err)
	}
	key, ns, val := []byte("some-key"), []byte("ns"), bytes.Repeat([]byte("v"), 100)
	kg := 0
	// Warm the buffers up.
	if err := w.BeginKeyGroup(kg); err != nil {
		t.Fatal(err)
	}
	for range 1000 {
		w.WriteEntry(0, key, ns, val)
	}
	kg++
	if err := w.BeginKeyGroup(kg); err != nil {
		t.Fatal(err)
	}
	allocs := testing.AllocsPerRun(1000, func() {
		if err := w.WriteEntry(1, key, ns, val); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Errorf("WriteEntry allocates %v times per entry", allocs)
	}
	allocs = testing.AllocsPerRun(100, func() {
		kg++
		if err := w.BeginKeyGroup(kg); err != nil {
			t.Fatal(err)
		}
		for range 10 {
			w.WriteEntry(1, key, ns, val)
		}
	})
	if allocs > 0 {
		t.Errorf("a key group with 10 entries allocates %v times", allocs)
	}
}

func TestReadKeyGroupsErrors(t *testing.T) {
	s := storagetest.Open(t, file.New)
	good := writeKeyGroups(t, s, "j/chk-1", "kg", 0, 11, snapshot.CompressionZstd, sampleEntries())
	clone := func() *snapshot.KeyedStateHandle {
		h := *good
		h.Files = append([]snapshot.FileRef(nil), good.Files...)
		h.KeyGroupOffsets = append([]int64(nil), good.KeyGroupOffsets...)
		h.KeyGroupCRCs = append([]uint32(nil), good.KeyGroupCRCs...)
		return &h
	}
	tests := []struct {
		name   string
		h      func() *snapshot.KeyedStateHandle
		target error
		reason string
	}{
		{"nil handle", func() *snapshot.KeyedStateHandle { return nil }, nil, "nil handle"},
		{"other format", func() *snapshot.KeyedStateHandle { h := clone(); h.Format = "lsm/v1"; return h }, snapshot.ErrUnsupported, "lsm/v1"},
		{"missing file", func() *snapshot.KeyedStateHandle { h := clone(); h.Files[0].Path = "nope"; return h }, snapshot.ErrNotExist, "j/chk-1/nope"},
		{"bad path", func() *snapshot.KeyedStateHandle { h := clone(); h.Files[0].Path = "../../x"; return h }, snapshot.ErrInvalidName, "../../x"},
		{"size", func() *snapshot.KeyedStateHandle {
			h := clone()
			h.Files[0].Size++
			h.KeyGroupOffsets[len(h.KeyGroupOffsets)-1]++
			return h
		}, snapshot.ErrCorrupt, "size"},
		{"offsets count", func() *snapshot.KeyedStateHandle { h := clone(); h.KeyGroupOffsets = h.KeyGroupOffsets[1:]; return h }, snapshot.ErrCorrupt, "offsets"},
		{"block crc", func() *snapshot.KeyedStateHandle { h := clone(); h.KeyGroupCRCs[3]++; return h }, snapshot.ErrCorrupt, "key group 3: crc32c"},
		{"compression mismatch", func() *snapshot.KeyedStateHandle { h := clone(); h.Compression = snapshot.CompressionS2; return h }, snapshot.ErrCorrupt, "compression"},
		{"unknown compression", func() *snapshot.KeyedStateHandle { h := clone(); h.Compression = 7; return h }, snapshot.ErrUnsupported, "compression 7"},
		{"state index", func() *snapshot.KeyedStateHandle { h := clone(); h.States = h.States[:1]; return h }, snapshot.ErrCorrupt, "state index 1"},
		{"shifted offsets", func() *snapshot.KeyedStateHandle {
			h := clone()
			h.KeyGroupOffsets[3]++
			return h
		}, snapshot.ErrCorrupt, "j/chk-1/kg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := readKeyGroups(t.Context(), s, "j/chk-1", tt.h(), 0, 11)
			if err == nil || (tt.target != nil && !errors.Is(err, tt.target)) || !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("got %v, want %v containing %q", err, tt.target, tt.reason)
			}
		})
	}
}

func TestReadKeyGroupsCallbackError(t *testing.T) {
	s := storagetest.Open(t, file.New)
	h := writeKeyGroups(t, s, "d", "kg", 0, 11, snapshot.CompressionNone, sampleEntries())
	stop := errors.New("stop")
	n := 0
	err := snapshot.ReadKeyGroups(t.Context(), s, "d", h, 0, 11, func(kg, st int, k, ns, v []byte) error {
		n++
		if n == 3 {
			return stop
		}
		return nil
	})
	if err != stop || n != 3 {
		t.Fatalf("got %v after %d entries, want the callback's error after 3", err, n)
	}
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := readKeyGroups(ctx, s, "d", h, 0, 11); !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled read: %v", err)
	}
}

// TestKeyGroupsFlipEveryByte flips each byte of a small stream in turn, and
// truncates it at every length: every read must fail with ErrCorrupt naming
// the file. With the block CRCs recomputed (so damage reaches the
// decompressor and the parser) reads may succeed but must not panic.
func TestKeyGroupsFlipEveryByte(t *testing.T) {
	entries := []kgEntry{{1, 0, "k1", "", "v1"}, {1, 1, "k2", "ns", "v2"}, {3, 0, "k3", "n", "a longer value a longer value"}}
	for _, c := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionZstd, snapshot.CompressionS2} {
		t.Run(c.String(), func(t *testing.T) {
			s := storagetest.Open(t, file.New)
			h := writeKeyGroups(t, s, "j/chk-1", "kg", 0, 3, c, entries)
			name := "j/chk-1/kg"
			good := storagetest.Read(t, s, name)
			for i := range good {
				b := bytes.Clone(good)
				b[i] ^= 0xff
				overwrite(t, s, name, b)
				_, err := readKeyGroups(t.Context(), s, "j/chk-1", h, 0, 3)
				wantCorrupt(t, err, name, "flip at "+strconv.Itoa(i))

				// Same damage with matching block CRCs: no panic, and
				// any error is still a corruption error.
				h2 := *h
				h2.KeyGroupCRCs = make([]uint32, len(h.KeyGroupCRCs))
				for kg := range h2.KeyGroupCRCs {
					h2.KeyGroupCRCs[kg] = crc32.Checksum(b[h.KeyGroupOffsets[kg]:h.KeyGroupOffsets[kg+1]], snapshot.Castagnoli)
				}
				if _, err := readKeyGroups(t.Context(), s, "j/chk-1", &h2, 0, 3); err != nil && i >= snapshot.KeyGroupHeaderSize {
					wantCorrupt(t, err, name, "flip with fixed CRCs at "+strconv.Itoa(i))
				}
			}
			for n := range len(good) {
				overwrite(t, s, name, good[:n])
				_, err := readKeyGroups(t.Context(), s, "j/chk-1", h, 0, 3)
				wantCorrupt(t, err, name, "truncate to "+strconv.Itoa(n))
			}
		})
	}
}

func FuzzKeyGroupBlock(f *testing.F) {
	var raw bytes.Buffer
	w, err := snapshot.NewKeyGroupWriter(&raw, 0, 0, snapshot.CompressionNone)
	if err != nil {
		f.Fatal(err)
	}
	w.BeginKeyGroup(0)
	w.WriteEntry(0, []byte("key"), []byte("ns"), []byte("value"))
	w.WriteEntry(1, []byte("k2"), nil, bytes.Repeat([]byte("x"), 300))
	if _, _, err := w.Finish(); err != nil {
		f.Fatal(err)
	}
	block := raw.Bytes()[snapshot.KeyGroupHeaderSize:]
	c := snapshot.NewCodec(1 << 20)
	for _, comp := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionZstd, snapshot.CompressionS2} {
		b, err := c.Compress(nil, block, comp)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(bytes.Clone(b), uint8(comp))
	}
	f.Add([]byte{}, uint8(0))
	f.Add([]byte{0x80}, uint8(0))
	f.Add([]byte{0xff, 0xff, 0xff, 0xff, 0x0f}, uint8(2))
	f.Fuzz(func(t *testing.T, b []byte, comp uint8) {
		plain, err := c.Decompress(nil, b, snapshot.Compression(comp%4))
		if err != nil {
			return
		}
		if len(plain) > c.Limit() {
			t.Fatalf("decompressed %d bytes beyond the %d limit", len(plain), c.Limit())
		}
		total := 0
		_ = snapshot.ParseKeyGroupBlock(plain, 3, func(state int, key, ns, value []byte) error {
			if state < 0 || state >= 3 {
				t.Fatalf("state index %d out of range", state)
			}
			total += len(key) + len(ns) + len(value)
			if total > len(plain) {
				t.Fatal("entries larger than the block")
			}
			return nil
		})
	})
}

func BenchmarkKeyGroupWriter(b *testing.B) {
	key := make([]byte, 16)
	val := bytes.Repeat([]byte(`{"n":1,"s":"abcdefgh"}`), 5)
	for _, c := range []snapshot.Compression{snapshot.CompressionNone, snapshot.CompressionZstd, snapshot.CompressionS2} {
		b.Run(c.String(), func(b *testing.B) {
			const perGroup = 1000
			b.SetBytes(int64(len(key) + len(val) + 4))
			b.ReportAllocs()
			w, err := snapshot.NewKeyGroupWriter(io.Discard, 0, snapshot.MaxMaxParallelism-1, c)
			if err != nil {
				b.Fatal(err)
			}
			kg := -1
			for i := 0; b.Loop(); i++ {
				if i%perGroup == 0 {
					kg++
					if kg == snapshot.MaxMaxParallelism {
						w.Finish()
						w, _ = snapshot.NewKeyGroupWriter(io.Discard, 0, snapshot.MaxMaxParallelism-1, c)
						kg = 0
					}
					w.BeginKeyGroup(kg)
				}
				key[0], key[1] = byte(i), byte(i>>8)
				w.WriteEntry(0, key, nil, val)
			}
		})
	}
}
