package state

import "github.com/stated-io/stated/backend"

// QueuedTimers returns how many timers the in-memory queues of s hold, or
// -1 for a queue of the backend's own.
func QueuedTimers[K comparable](s *TimerService[K]) (event, processing int) {
	n := func(q backend.TimerQueue[K]) int {
		if m, ok := q.(*memoryTimers[K]); ok {
			return m.queue.Len()
		}
		return -1
	}
	return n(s.event), n(s.processing)
}
