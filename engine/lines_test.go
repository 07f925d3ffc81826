package engine

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"testing"
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
