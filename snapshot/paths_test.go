package snapshot

import (
	"errors"
	"testing"
)

func TestResolvePath(t *testing.T) {
	tests := []struct {
		dir, rel string
		want     string // "" means error
	}{
		{"job/chk-3", "a.kg", "job/chk-3/a.kg"},
		{"job/chk-3", "sub/a.kg", "job/chk-3/sub/a.kg"},
		{"job/chk-3", "../shared/x.sst", "job/shared/x.sst"},
		{"job/chk-3", "../taskowned/x", "job/taskowned/x"},
		{"sp/savepoint-abc", "op-1.kg", "sp/savepoint-abc/op-1.kg"},
		{".", "a", "a"},
		{"job/chk-3", "../chk-2/a", ""},
		{"job/chk-3", "../../other/shared/x", ""},
		{"job/chk-3", "../shared", ""},
		{"job/chk-3", "../shared/", ""},
		{"job/chk-3", "../shared/../x", ""},
		{"job/chk-3", "..", ""},
		{"job/chk-3", "/etc/passwd", ""},
		{"job/chk-3", "", ""},
		{"job/chk-3", ".", ""},
		{"job/chk-3", "./a", ""},
		{"job/chk-3", "a//b", ""},
		{"job/chk-3", "a/../b", ""},
		{"job/chk-3", "a\x00b", ""},
		{"job/chk-3", ".tmp-x", ""},
		{"chk-3", "../shared/x", "shared/x"},
		{".", "../shared/x", ""}, // escapes the storage root
	}
	for _, tt := range tests {
		got, err := ResolvePath(tt.dir, tt.rel)
		if tt.want == "" {
			if err == nil {
				t.Errorf("ResolvePath(%q, %q) = %q, want error", tt.dir, tt.rel, got)
			} else if !errors.Is(err, ErrInvalidName) {
				t.Errorf("ResolvePath(%q, %q): %v is not ErrInvalidName", tt.dir, tt.rel, err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("ResolvePath(%q, %q) = %q, %v; want %q", tt.dir, tt.rel, got, err, tt.want)
		}
	}
}
