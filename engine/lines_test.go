package engine

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/stated-io/stated/engine/config"
)

// A split checkpointed after its last line crossed its end (offset past
// End) restores as finished, not as a changed file.
func TestLinesSplitRestoredPastItsEnd(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(path, []byte("alpha beta\ngamma\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	src := linesSource{path: path}
	for _, tc := range []struct {
		name    string
		split   Split
		want    []string
		wantErr bool
	}{
		{"whole line crossing the end", Split{Start: 0, End: 5, Offset: 0}, []string{"alpha beta"}, false},
		{"offset past the end", Split{Start: 0, End: 5, Offset: 11}, nil, false},
		{"offset past the file", Split{Start: 0, End: 5, Offset: 40}, nil, true},
		{"offset before the start", Split{Start: 6, End: 17, Offset: 2}, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r, err := src.Open(context.Background(), tc.split)
			if tc.wantErr {
				if err == nil {
					r.Close()
					t.Fatal("Open succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			var got []string
			for {
				line, err := r.Next()
				if err == io.EOF {
					break
				}
				if err != nil {
					t.Fatal(err)
				}
				got = append(got, line)
			}
			if len(got) != len(tc.want) || (len(got) > 0 && got[0] != tc.want[0]) {
				t.Fatalf("lines %q, want %q", got, tc.want)
			}
		})
	}
}

func crcOf(b []byte) string { return fmt.Sprintf("%08x", crc32.Checksum(b, castagnoli)) }

// readAll reads split s of src to its end and returns its lines and the
// reader's final checksum.
func readAll(t *testing.T, src linesSource, s Split) ([]string, string) {
	t.Helper()
	r, err := src.Open(context.Background(), s)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	var lines []string
	for {
		line, err := r.Next()
		if err == io.EOF {
			return lines, r.(SplitChecksummer).Checksum()
		}
		if err != nil {
			t.Fatal(err)
		}
		lines = append(lines, line)
	}
}

// A split's checksum covers the bytes it consumed, carries on across a
// restore, and makes a restore refuse a file whose consumed bytes changed,
// even at the same size; bytes not consumed yet may change.
func TestLinesChecksum(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.txt")
	content := []byte("alpha beta\ngamma\ndelta epsilon\nzeta\n")
	if err := os.WriteFile(path, content, 0o644); err != nil {
		t.Fatal(err)
	}
	src := linesSource{path: path}
	whole := Split{ID: "s", Start: 3, End: int64(len(content)), Offset: 3} // starts inside "alpha beta"

	r, err := src.Open(context.Background(), whole)
	if err != nil {
		t.Fatal(err)
	}
	if line, err := r.Next(); err != nil || line != "gamma" {
		t.Fatalf("first line %q, %v", line, err)
	}
	checkpointed := whole
	checkpointed.Offset, checkpointed.Checksum = r.Offset(), r.(SplitChecksummer).Checksum()
	r.Close()
	if want := crcOf(content[3:checkpointed.Offset]); checkpointed.Checksum != want {
		t.Fatalf("checksum after the first line %s, want the CRC32C of bytes [3, %d): %s", checkpointed.Checksum, checkpointed.Offset, want)
	}

	lines, sum := readAll(t, src, checkpointed)
	if strings.Join(lines, ",") != "delta epsilon,zeta" || sum != crcOf(content[3:]) {
		t.Fatalf("restored: lines %q, checksum %s, want the CRC32C of every byte read %s", lines, sum, crcOf(content[3:]))
	}
	// A snapshot from before checksums: not checked, and the checksum
	// carries on from the bytes in the file.
	old := checkpointed
	old.Checksum = ""
	if _, sum := readAll(t, src, old); sum != crcOf(content[3:]) {
		t.Fatalf("restored without a checksum: checksum %s, want %s", sum, crcOf(content[3:]))
	}
	if _, err := src.Open(context.Background(), Split{ID: "s", Start: 3, End: whole.End, Offset: checkpointed.Offset, Checksum: "xyz"}); err == nil {
		t.Fatal("a malformed checksum was accepted")
	}

	// The same size, another word where the checkpoint had read.
	if err := os.WriteFile(path, bytes.Replace(content, []byte("gamma"), []byte("GAMMA"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = src.Open(context.Background(), checkpointed)
	if err == nil || !strings.Contains(err.Error(), "input "+path+" changed since the checkpoint") {
		t.Fatalf("restore over changed input: %v, want an error naming %s", err, path)
	}
	// Changed only where the checkpoint had not read yet: read on.
	if err := os.WriteFile(path, bytes.Replace(content, []byte("zeta"), []byte("ZETA"), 1), 0o644); err != nil {
		t.Fatal(err)
	}
	if lines, _ := readAll(t, src, checkpointed); strings.Join(lines, ",") != "delta epsilon,ZETA" {
		t.Fatalf("lines %q", lines)
	}
}

// A job restored over an input file that was rewritten with other content
// of the same size fails, naming the file; over the same file it goes on.
func TestLinesRestoreRefusesChangedInput(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "in.txt")
	var b bytes.Buffer
	for i := range 2000 {
		fmt.Fprintf(&b, "line %05d\n", i)
	}
	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	job := func(restore string, onCheckpoint func(CheckpointStats)) (*Job, *atomic.Int64) {
		var kv []string
		if restore != "" {
			kv = []string{config.KeyRecoveryPath, restore}
		}
		j := New(Options{Config: testConfig(t, dir, kv...), OnCheckpoint: onCheckpoint})
		var seen atomic.Int64
		ForEach(FromSource(j, "lines", Lines(path), WithRate(4000)), "count", func(string) error { seen.Add(1); return nil })
		return j, &seen
	}
	// Cancel the first run at the second checkpoint after records were
	// read: its barrier follows them, so the checkpoint has consumed input.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var seen *atomic.Int64
	armed := false
	var last string
	first, seen := job("", func(s CheckpointStats) {
		if s.Err != nil || seen.Load() < 10 {
			return
		}
		if armed {
			last = s.Location
			cancel()
		}
		armed = true
	})
	if _, err := first.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("first run: %v", err)
	}
	if last == "" {
		t.Fatal("no checkpoint after the first records")
	}

	changed := bytes.ToUpper(b.Bytes()) // "LINE 00001": same size, other bytes
	if err := os.WriteFile(path, changed, 0o644); err != nil {
		t.Fatal(err)
	}
	restored, _ := job(last, nil)
	err := runErr(t, restored)
	if !strings.Contains(err.Error(), "input "+path+" changed since the checkpoint") {
		t.Fatalf("restore over a changed input: %v", err)
	}

	if err := os.WriteFile(path, b.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	again, n := job(last, nil)
	res := run(t, again)
	if res.Restored != last || n.Load() == 0 || n.Load() >= 2000 {
		t.Fatalf("restore over the same input: restored %q, read %d lines", res.Restored, n.Load())
	}
}
