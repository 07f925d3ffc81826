package backend

import (
	"sync"
	"sync/atomic"
)

// Pins tracks the captures of an object backend that are not released
// yet. Pin and Release may be called from any goroutine; Active is cheap
// enough for the write path.
type Pins struct {
	mu     sync.Mutex
	active map[uint64]int
	count  atomic.Int64
}

// Pin records a capture taken at epoch.
func (p *Pins) Pin(epoch uint64) {
	p.mu.Lock()
	if p.active == nil {
		p.active = map[uint64]int{}
	}
	p.active[epoch]++
	p.count.Add(1)
	p.mu.Unlock()
}

// Release records that the capture taken at epoch is released.
func (p *Pins) Release(epoch uint64) {
	p.mu.Lock()
	if p.active[epoch] > 0 {
		if p.active[epoch]--; p.active[epoch] == 0 {
			delete(p.active, epoch)
		}
		p.count.Add(-1)
	}
	p.mu.Unlock()
}

// Active reports whether any capture is not released.
func (p *Pins) Active() bool { return p.count.Load() > 0 }
