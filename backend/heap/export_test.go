package heap

// CopyOnWriteLayers returns the most copy-on-write layers that a key group
// of a registered state of b holds.
func CopyOnWriteLayers[K comparable](b *Backend[K]) int {
	n := 0
	for _, st := range b.stores {
		if l, ok := st.(interface{ CopyOnWriteLayers() int }); ok {
			n = max(n, l.CopyOnWriteLayers())
		}
	}
	return n
}
