package backend

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stated-io/stated/internal/golden"
)

// Published murmur3_x86_32 vectors (seed 0): the hash must be the standard
// one, or key groups would differ from every other implementation.
func TestHashKeyReferenceVectors(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want uint32
	}{
		{"", 0},
		{"hello", 0x248bfa47},
		{"Hello, world!", 0xc0363e43},
		{"The quick brown fox jumps over the lazy dog", 0x2e4ff723},
	} {
		if got := HashKey([]byte(tc.in)); got != tc.want {
			t.Errorf("HashKey(%q) = %#x, want %#x", tc.in, got, tc.want)
		}
	}
}

type goldenKeyGroups struct {
	Keys   []goldenKey   `json:"keys"`
	Ranges []goldenRange `json:"ranges"`
}

type goldenKey struct {
	Key     string `json:"key"`
	KG128   int    `json:"kg_128"`
	KG32768 int    `json:"kg_32768"`
}

type goldenRange struct {
	MaxP, P int
	Ranges  [][2]int
}

func computeGolden() goldenKeyGroups {
	var g goldenKeyGroups
	for _, k := range []string{"", "a", "b", "hello", "user-1", "user-2", "user-42", "the", "quick", "brown", "fox",
		"\x00", "\xff\xfe", "日本語", "key-0", "key-999", "a much longer key that spans several murmur blocks"} {
		g.Keys = append(g.Keys, goldenKey{k, KeyGroupForKey([]byte(k), 128), KeyGroupForKey([]byte(k), 32768)})
	}
	for _, mp := range [][2]int{{128, 1}, {128, 2}, {128, 3}, {128, 5}, {128, 7}, {128, 128}, {32768, 3}, {32768, 100}, {10, 4}} {
		r := goldenRange{MaxP: mp[0], P: mp[1]}
		for i := range mp[1] {
			kr := KeyGroupRangeForSubtask(mp[0], mp[1], i)
			r.Ranges = append(r.Ranges, [2]int{kr.Start, kr.End})
		}
		g.Ranges = append(g.Ranges, r)
	}
	return g
}

// TestKeyGroupGolden pins key-group assignment, part of the on-disk format.
func TestKeyGroupGolden(t *testing.T) {
	path := filepath.Join("testdata", "keygroups.golden.json")
	got, err := json.MarshalIndent(computeGolden(), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	golden.Check(t, path, append(got, '\n'), "key-group assignment")
}

func TestKeyGroupRangesPartition(t *testing.T) {
	for _, maxP := range []int{1, 7, 128, 1000, 32768} {
		for _, p := range []int{1, 2, 3, 5, 7, 64, 128} {
			if p > maxP {
				continue
			}
			next := 0
			for i := range p {
				r := KeyGroupRangeForSubtask(maxP, p, i)
				if r.Start != next || r.Empty() {
					t.Fatalf("maxP=%d p=%d subtask %d: range %v, want a non-empty range starting at %d", maxP, p, i, r, next)
				}
				for _, kg := range []int{r.Start, r.End, (r.Start + r.End) / 2} {
					if o := SubtaskForKeyGroup(maxP, p, kg); o != i {
						t.Fatalf("maxP=%d p=%d: key group %d in range of %d but owner %d", maxP, p, kg, i, o)
					}
				}
				next = r.End + 1
			}
			if next != maxP {
				t.Fatalf("maxP=%d p=%d: ranges end at %d", maxP, p, next-1)
			}
		}
	}
}

func TestDefaultMaxParallelism(t *testing.T) {
	for _, tc := range []struct{ p, want int }{
		{1, 128}, {2, 128}, {85, 128}, {86, 256}, {100, 256}, {1000, 2048}, {20000, 32768}, {40000, 32768},
	} {
		if got := DefaultMaxParallelism(tc.p); got != tc.want {
			t.Errorf("DefaultMaxParallelism(%d) = %d, want %d", tc.p, got, tc.want)
		}
	}
}

func TestCheckParallelism(t *testing.T) {
	for _, tc := range []struct {
		p, maxP int
		ok      bool
	}{{1, 128, true}, {128, 128, true}, {129, 128, false}, {0, 128, false}, {1, 0, false}, {1, 32769, false}} {
		err := CheckParallelism(tc.p, tc.maxP)
		if (err == nil) != tc.ok {
			t.Errorf("CheckParallelism(%d, %d) = %v, want ok=%v", tc.p, tc.maxP, err, tc.ok)
		}
		if err != nil && tc.p > tc.maxP && tc.maxP > 0 {
			if msg := err.Error(); !strings.Contains(msg, fmt.Sprint(tc.p)) || !strings.Contains(msg, fmt.Sprint(tc.maxP)) {
				t.Errorf("error %q does not name both values", msg)
			}
		}
	}
}

func TestKeyGroupRangeIntersect(t *testing.T) {
	for _, tc := range []struct{ a, b, want KeyGroupRange }{
		{KeyGroupRange{0, 9}, KeyGroupRange{5, 20}, KeyGroupRange{5, 9}},
		{KeyGroupRange{0, 4}, KeyGroupRange{5, 20}, EmptyKeyGroupRange},
		{KeyGroupRange{3, 3}, KeyGroupRange{0, 10}, KeyGroupRange{3, 3}},
	} {
		if got := tc.a.Intersect(tc.b); got != tc.want {
			t.Errorf("%v ∩ %v = %v, want %v", tc.a, tc.b, got, tc.want)
		}
	}
}
