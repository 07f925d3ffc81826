package backend

import (
	"fmt"
	"reflect"
	"sync"
	"unsafe"

	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/ttl"
)

// KeyContext tracks the current key of a keyed backend: the key, its
// serialized bytes and its key group. Backends embed it to implement
// SetCurrentKey, CurrentKey and CurrentKeyGroup the same way.
type KeyContext[K comparable] struct {
	operator string
	subtask  int
	maxP     int
	groups   KeyGroupRange
	ser      serializer.Serializer[K]

	key      K
	keyBytes []byte
	scratch  []byte // serializes the next key; swapped with keyBytes on success
	keyGroup int
	// inPlace: K is a string serialized by serializer.String, so a key's
	// bytes are its serialization and need no copy.
	inPlace bool

	clock *lazyClock
	onSet []func()
}

// lazyClock is the clock of a backend: the configured one, or a coarse
// clock opened on first use.
type lazyClock struct {
	once   sync.Once
	clock  ttl.Clock
	coarse *ttl.CoarseClock
}

// NewKeyContext returns the key context of a backend configured by o.
func NewKeyContext[K comparable](o *KeyedOptions[K]) KeyContext[K] {
	c := KeyContext[K]{operator: o.OperatorUID, subtask: o.Subtask, maxP: o.MaxParallelism,
		groups: o.KeyGroups, keyGroup: o.KeyGroups.Start, clock: &lazyClock{clock: o.Clock}}
	c.SetSerializer(o.KeySerializer)
	return c
}

// SetSerializer makes s the serializer of the keys that Set is given from
// then on; a restore sets the one RestoreKeySerializer chose.
func (c *KeyContext[K]) SetSerializer(s serializer.Serializer[K]) {
	_, isString := any(s).(serializer.String)
	c.ser = s
	c.inPlace = isString && reflect.TypeFor[K]() == reflect.TypeFor[string]()
}

// Clock returns the backend's processing-time clock: KeyedOptions.Clock,
// or else a ttl.CoarseClock opened on the first call, which CloseClock
// closes. It is safe for concurrent use.
func (c *KeyContext[K]) Clock() ttl.Clock {
	if c.clock == nil { // a zero KeyContext
		return ttl.SystemClock{}
	}
	l := c.clock
	l.once.Do(func() {
		if l.clock == nil {
			l.coarse = ttl.NewCoarseClock()
			l.clock = l.coarse
		}
	})
	return l.clock
}

// CloseClock closes the coarse clock that Clock opened, if any. Backends
// call it from Close, after which the clock keeps telling a valid but less
// fresh time.
func (c *KeyContext[K]) CloseClock() {
	if c.clock != nil && c.clock.coarse != nil {
		c.clock.coarse.Close()
	}
}

// OnSet registers fn to run after every successful Set, in registration
// order: once per record, since operators set the key of every record.
// States with per-record TTL cleanup use it.
func (c *KeyContext[K]) OnSet(fn func()) { c.onSet = append(c.onSet, fn) }

func (c *KeyContext[K]) keySet() {
	for _, fn := range c.onSet {
		fn()
	}
}

// Set makes key current. It fails with ErrKeyGroupOutOfRange if the key's
// group is outside the backend's range; the current key is then unchanged.
func (c *KeyContext[K]) Set(key K) error {
	if c.inPlace {
		s := *(*string)(unsafe.Pointer(&key))
		kg := KeyGroupForKey(unsafe.Slice(unsafe.StringData(s), len(s)), c.maxP)
		if !c.groups.Contains(kg) {
			return c.outOfRange(key, kg)
		}
		c.key, c.keyGroup = key, kg
		if len(c.onSet) > 0 {
			c.keySet()
		}
		return nil
	}
	buf, err := c.ser.Append(c.scratch[:0], key)
	c.scratch = buf
	if err != nil {
		return fmt.Errorf("serialize key: %w", err)
	}
	kg := KeyGroupForKey(buf, c.maxP)
	if !c.groups.Contains(kg) {
		return c.outOfRange(key, kg)
	}
	c.key, c.keyGroup = key, kg
	c.keyBytes, c.scratch = buf, c.keyBytes
	if len(c.onSet) > 0 {
		c.keySet()
	}
	return nil
}

// Key returns the current key.
func (c *KeyContext[K]) Key() K { return c.key }

// Bytes returns the serialized current key; read-only, valid until the
// next Set.
func (c *KeyContext[K]) Bytes() []byte {
	if c.inPlace {
		s := *(*string)(unsafe.Pointer(&c.key))
		return unsafe.Slice(unsafe.StringData(s), len(s))
	}
	return c.keyBytes
}

func (c *KeyContext[K]) outOfRange(key K, kg int) error {
	return fmt.Errorf("%w: key %v is in key group %d, outside %v of operator %q subtask %d",
		ErrKeyGroupOutOfRange, key, kg, c.groups, c.operator, c.subtask)
}

// KeyGroup returns the key group of the current key.
func (c *KeyContext[K]) KeyGroup() int { return c.keyGroup }

// KeyGroups returns the key groups of the backend.
func (c *KeyContext[K]) KeyGroups() KeyGroupRange { return c.groups }
