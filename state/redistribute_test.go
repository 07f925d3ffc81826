package state

import (
	"fmt"
	"slices"
	"testing"

	"github.com/stated-io/stated/snapshot"
)

func elems(prefix string, n int) [][]byte {
	var out [][]byte
	for i := range n {
		out = append(out, fmt.Appendf(nil, "%s%d", prefix, i))
	}
	return out
}

func names(es [][]byte) []string {
	var out []string
	for _, e := range es {
		out = append(out, string(e))
	}
	return out
}

func TestRedistributeSplit(t *testing.T) {
	old := [][]snapshot.OperatorStateData{
		{{Name: "a", Mode: snapshot.ModeSplit, Elements: elems("x", 4)}, {Name: "b", Mode: snapshot.ModeSplit, Elements: elems("y", 2)}},
		{{Name: "a", Mode: snapshot.ModeSplit, Elements: elems("z", 3)}, {Name: "b", Mode: snapshot.ModeSplit, Elements: elems("w", 3)}},
	}
	got := RedistributeOperatorState(old, 3)
	// a: 7 elements over 3 subtasks starting at 0: 3, 2, 2 contiguous.
	// b: 5 elements; the rotation starts at 1: subtasks 1 and 2 get 2,
	// subtask 0 gets 1.
	want := [][][]string{
		{{"x0", "x1", "x2"}, {"w2"}},
		{{"x3", "z0"}, {"y0", "y1"}},
		{{"z1", "z2"}, {"w0", "w1"}},
	}
	for i := range want {
		for j, st := range got[i] {
			if g := names(st.Elements); !slices.Equal(g, want[i][j]) {
				t.Errorf("subtask %d state %s: got %v, want %v", i, st.Name, g, want[i][j])
			}
		}
	}
}

func TestRedistributeUnionAndBroadcast(t *testing.T) {
	old := [][]snapshot.OperatorStateData{
		{{Name: "u", Mode: snapshot.ModeUnion, Elements: elems("a", 1)}, {Name: "bc", Mode: snapshot.ModeBroadcast, Elements: elems("p", 2)}},
		{{Name: "u", Mode: snapshot.ModeUnion, Elements: elems("b", 2)}, {Name: "bc", Mode: snapshot.ModeBroadcast, Elements: elems("q", 2)}},
	}
	got := RedistributeOperatorState(old, 3)
	for i, sts := range got {
		for _, st := range sts {
			switch st.Name {
			case "u":
				if g := names(st.Elements); !slices.Equal(g, []string{"a0", "b0", "b1"}) {
					t.Errorf("subtask %d union: got %v", i, g)
				}
			case "bc":
				want := [][]string{{"p0", "p1"}, {"q0", "q1"}, {"p0", "p1"}}[i]
				if g := names(st.Elements); !slices.Equal(g, want) {
					t.Errorf("subtask %d broadcast: got %v, want %v", i, g, want)
				}
			}
		}
	}
}

func TestRedistributeEveryElementOnce(t *testing.T) {
	for oldP := 1; oldP <= 4; oldP++ {
		for newP := 1; newP <= 6; newP++ {
			var old [][]snapshot.OperatorStateData
			var all []string
			for i := range oldP {
				es := elems(fmt.Sprintf("s%d-", i), i*3+1)
				all = append(all, names(es)...)
				old = append(old, []snapshot.OperatorStateData{{Name: "s", Mode: snapshot.ModeSplit, Elements: es}})
			}
			var got []string
			for _, sts := range RedistributeOperatorState(old, newP) {
				got = append(got, names(sts[0].Elements)...)
			}
			if !slices.Equal(got, all) {
				t.Fatalf("%d→%d: got %v, want %v", oldP, newP, got, all)
			}
		}
	}
}
