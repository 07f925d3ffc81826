package indexheap

import (
	"math/rand/v2"
	"slices"
	"testing"
)

type item struct {
	key int
	pos int
}

// TestAgainstSort pushes, fixes and removes random elements and checks
// that Min is always the least of the model, and every position is right.
func TestAgainstSort(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	h := New(func(a, b *item) bool { return a.key < b.key }, func(x *item) *int { return &x.pos })
	var in []*item
	for step := range 20_000 {
		switch op := r.IntN(4); {
		case op == 0 || len(in) == 0:
			x := &item{key: r.IntN(1000), pos: -1}
			h.Push(x)
			in = append(in, x)
		case op == 1:
			x := in[r.IntN(len(in))]
			x.key = r.IntN(1000)
			h.Fix(x)
		default:
			i := r.IntN(len(in))
			h.Remove(in[i])
			if in[i].pos != -1 {
				t.Fatalf("step %d: a removed element has position %d, want -1", step, in[i].pos)
			}
			in = slices.Delete(in, i, i+1)
		}
		if h.Len() != len(in) {
			t.Fatalf("step %d: Len %d, want %d", step, h.Len(), len(in))
		}
		for i, x := range h.h.items {
			if x.pos != i {
				t.Fatalf("step %d: element at %d says it is at %d", step, i, x.pos)
			}
		}
		if len(in) == 0 {
			if h.Min() != nil {
				t.Fatalf("step %d: Min of an empty heap is %+v", step, h.Min())
			}
			continue
		}
		least := slices.MinFunc(in, func(a, b *item) int { return a.key - b.key })
		if h.Min().key != least.key {
			t.Fatalf("step %d: Min %d, want %d", step, h.Min().key, least.key)
		}
	}
}

func TestAppendInit(t *testing.T) {
	h := New(func(a, b *item) bool { return a.key < b.key }, func(x *item) *int { return &x.pos })
	for _, k := range []int{5, 3, 9, 1, 7} {
		h.Append(&item{key: k})
	}
	h.Init()
	var got []int
	for h.Len() > 0 {
		m := h.Min()
		got = append(got, m.key)
		h.Remove(m)
	}
	if !slices.Equal(got, []int{1, 3, 5, 7, 9}) {
		t.Fatalf("got %v", got)
	}
}
