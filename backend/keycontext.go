package backend

import "fmt"

// KeyContext tracks the current key of a keyed backend: the key, its
// serialized bytes and its key group. Backends embed it to implement
// SetCurrentKey, CurrentKey and CurrentKeyGroup the same way.
type KeyContext[K comparable] struct {
	operator string
	subtask  int
	maxP     int
	groups   KeyGroupRange
	ser      Serializer[K]

	key      K
	keyBytes []byte
	scratch  []byte // serializes the next key; swapped with keyBytes on success
	keyGroup int
}

// NewKeyContext returns the key context of a backend configured by o.
func NewKeyContext[K comparable](o *KeyedOptions[K]) KeyContext[K] {
	return KeyContext[K]{operator: o.OperatorUID, subtask: o.Subtask, maxP: o.MaxParallelism,
		groups: o.KeyGroups, ser: o.KeySerializer, keyGroup: o.KeyGroups.Start}
}

// Set makes key current. It fails with ErrKeyGroupOutOfRange if the key's
// group is outside the backend's range; the current key is then unchanged.
func (c *KeyContext[K]) Set(key K) error {
	buf, err := c.ser.Append(c.scratch[:0], key)
	c.scratch = buf
	if err != nil {
		return fmt.Errorf("serialize key: %w", err)
	}
	kg := KeyGroupForKey(buf, c.maxP)
	if !c.groups.Contains(kg) {
		return fmt.Errorf("%w: key %v is in key group %d, outside %v of operator %q subtask %d",
			ErrKeyGroupOutOfRange, key, kg, c.groups, c.operator, c.subtask)
	}
	c.key, c.keyGroup = key, kg
	c.keyBytes, c.scratch = buf, c.keyBytes
	return nil
}

// Key returns the current key.
func (c *KeyContext[K]) Key() K { return c.key }

// Bytes returns the serialized current key; valid until the next Set.
func (c *KeyContext[K]) Bytes() []byte { return c.keyBytes }

// KeyGroup returns the key group of the current key.
func (c *KeyContext[K]) KeyGroup() int { return c.keyGroup }

// KeyGroups returns the key groups of the backend.
func (c *KeyContext[K]) KeyGroups() KeyGroupRange { return c.groups }
