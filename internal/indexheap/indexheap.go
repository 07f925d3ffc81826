// Package indexheap is a min-heap whose elements know their place in it,
// so that any element can be moved or removed in O(log n): the queues of
// the timer services are built on it.
package indexheap

import "container/heap"

// Heap is a min-heap of *T ordered by less. Each element keeps its index
// in the heap in the int that pos returns (-1 while it is not in the
// heap); nothing else may write it. The zero Heap is not usable: make one
// with New. It is not safe for concurrent use.
type Heap[T any] struct {
	h elements[T]
}

// New returns an empty heap.
func New[T any](less func(a, b *T) bool, pos func(*T) *int) *Heap[T] {
	return &Heap[T]{h: elements[T]{less: less, pos: pos}}
}

// Len returns the number of elements.
func (h *Heap[T]) Len() int { return len(h.h.items) }

// Min returns the least element, nil if there is none.
func (h *Heap[T]) Min() *T {
	if len(h.h.items) == 0 {
		return nil
	}
	return h.h.items[0]
}

// Push adds x, which must not be in the heap.
func (h *Heap[T]) Push(x *T) { heap.Push(&h.h, x) }

// Append adds x without restoring the order: call Init before any other
// method.
func (h *Heap[T]) Append(x *T) {
	*h.h.pos(x) = len(h.h.items)
	h.h.items = append(h.h.items, x)
}

// Init restores the order after Append.
func (h *Heap[T]) Init() { heap.Init(&h.h) }

// Fix restores the order after the key of x, which is in the heap,
// changed.
func (h *Heap[T]) Fix(x *T) { heap.Fix(&h.h, *h.h.pos(x)) }

// Remove takes x, which is in the heap, out of it.
func (h *Heap[T]) Remove(x *T) { heap.Remove(&h.h, *h.h.pos(x)) }

// elements implements heap.Interface.
type elements[T any] struct {
	items []*T
	less  func(a, b *T) bool
	pos   func(*T) *int
}

func (e *elements[T]) Len() int           { return len(e.items) }
func (e *elements[T]) Less(i, j int) bool { return e.less(e.items[i], e.items[j]) }
func (e *elements[T]) Swap(i, j int) {
	e.items[i], e.items[j] = e.items[j], e.items[i]
	*e.pos(e.items[i]), *e.pos(e.items[j]) = i, j
}
func (e *elements[T]) Push(x any) {
	t := x.(*T)
	*e.pos(t) = len(e.items)
	e.items = append(e.items, t)
}
func (e *elements[T]) Pop() any {
	t := e.items[len(e.items)-1]
	e.items[len(e.items)-1] = nil
	e.items = e.items[:len(e.items)-1]
	*e.pos(t) = -1
	return t
}
