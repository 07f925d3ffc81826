package stagedfile

import (
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

// TestParts: the CRC32C of each part is kept whatever the
// sizes of the writes, and the whole file's too.
func TestParts(t *testing.T) {
	data := make([]byte, 1000)
	for i := range data {
		data[i] = byte(i * 7)
	}
	for _, partSize := range []int64{1, 7, 100, 999, 1000, 1001} {
		for _, chunk := range []int{1, 3, 64, 1000} {
			f, err := os.Create(filepath.Join(t.TempDir(), "spool"))
			if err != nil {
				t.Fatal(err)
			}
			sf := New("f", f, Options{PartSize: partSize})
			for off := 0; off < len(data); off += chunk {
				sf.Write(data[off:min(off+chunk, len(data))])
			}
			var want []uint32
			for off := int64(0); off < int64(len(data)); off += partSize {
				want = append(want, crc32.Checksum(data[off:min(off+partSize, int64(len(data)))], castagnoli))
			}
			if got := sf.Parts(); !slices.Equal(got, want) || sf.Written().Size != int64(len(data)) || sf.Written().CRC32C != crc32.Checksum(data, castagnoli) {
				t.Errorf("part size %d, writes of %d: parts %v, size %d; want %v, %d", partSize, chunk, got, sf.Written().Size, want, len(data))
			}
			sf.Flush()
			if b, _ := io.ReadAll(io.NewSectionReader(f, 0, 2000)); len(b) != len(data) {
				t.Errorf("spooled %d bytes", len(b))
			}
			sf.Discard()
		}
	}
}
