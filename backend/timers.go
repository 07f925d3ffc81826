package backend

import (
	"encoding/binary"
	"fmt"

	"github.com/stated-io/stated/serializer"
)

// Names of the internal states that hold timers. Names starting with "_"
// are reserved for stated.
const (
	EventTimersState      = "_timers_event"
	ProcessingTimersState = "_timers_processing"
)

// Timer is a registered timer of a key and namespace.
type Timer[K comparable] struct {
	Key       K
	Namespace string
	Timestamp int64
}

// TimerQueue holds the timers of one time domain of a keyed backend,
// ordered by timestamp. Like the keyed states it acts on the backend's
// current key, and it belongs to the backend's goroutine.
type TimerQueue[K comparable] interface {
	// Add registers the timer of the current key at ts in namespace ns.
	// Adding a timer that exists does nothing.
	Add(ns string, ts int64) error
	// Remove deletes the timer of the current key at ts in namespace ns, if
	// there is one; the next Peek does not see it.
	Remove(ns string, ts int64) error
	// Peek returns the earliest timer, ok=false if there is none; timers
	// of one timestamp come in an order of the queue's choosing. Peek
	// reads nothing from storage and cannot fail.
	Peek() (t Timer[K], ok bool)
}

// TimerBackend is the optional capability of a keyed backend that keeps
// timers itself, ordered by time in its own storage, so that memory holds
// only what it caches of them (the lsm backend). Without it the
// state.TimerService keeps every timer of the backend in memory as well.
//
// Either way the timers of a domain are the rows of a map state (FORMAT.md:
// named EventTimersState or ProcessingTimersState, user key the timestamp
// and namespace, user value empty), which is what snapshots hold.
type TimerBackend[K comparable] interface {
	// TimerQueue returns the queue of the timers held in the map state
	// named state, which the caller registered before. Calls with one name
	// return queues of the same timers.
	TimerQueue(state string) (TimerQueue[K], error)
}

// AppendTimerUserKey appends the user key of the timer at ts in namespace
// ns in the timer map states (FORMAT.md): ts in 8 bytes big-endian, then
// the namespace bytes. Byte backends that implement TimerBackend write
// their timer rows with it.
func AppendTimerUserKey(dst []byte, ns string, ts int64) []byte {
	dst = binary.BigEndian.AppendUint64(dst, uint64(ts))
	return append(dst, ns...)
}

// ParseTimerUserKey parses a user key of a timer map state; it fails with
// ErrDecode on fewer than 8 bytes.
func ParseTimerUserKey(b []byte) (ns string, ts int64, err error) {
	if len(b) < 8 {
		return "", 0, fmt.Errorf("%w: timer of %d bytes, want at least 8", serializer.ErrDecode, len(b))
	}
	return string(b[8:]), int64(binary.BigEndian.Uint64(b)), nil
}
