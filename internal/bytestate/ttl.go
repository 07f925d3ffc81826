package bytestate

import (
	"bytes"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/statecodec"
	"github.com/stated-io/stated/internal/ttlpolicy"
	"github.com/stated-io/stated/internal/ttlunit"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

// The typed states with TTL: every stored unit (value, list element, map
// entry value) is a serializer.TTL encoding, so a timestamp is read or
// rewritten without decoding the user bytes (ttlunit). Reads remove the
// expired units they meet.

// NewTTLValue returns the value state name of b with TTL p.
func NewTTLValue[V any](b backend.ByteCapability, name string, ser serializer.Serializer[V], p *ttlpolicy.Policy) (*TTLValueState[V], error) {
	s := &TTLValueState[V]{ttlUnit: ttlUnit[V]{ser: ttlpolicy.Stamped(ser, p), p: p}}
	return bind(s, &s.byteNamespace, b, name, snapshot.StateValue, singleMigration(&s.ser), p, s.ser.Snapshot())
}

// NewTTLList returns the list state name of b with TTL p: each element
// expires on its own.
func NewTTLList[E any](b backend.ByteCapability, name string, ser serializer.Serializer[E], p *ttlpolicy.Policy) (*TTLListState[E], error) {
	s := &TTLListState[E]{ListState: ListState[ttl.Value[E]]{ser: ttlpolicy.Stamped(ser, p)}, p: p}
	return bind(s, &s.byteNamespace, b, name, snapshot.StateList, singleMigration(&s.ser), p, s.ser.Snapshot())
}

// NewTTLMap returns the map state name of b with TTL p: each entry expires
// on its own.
func NewTTLMap[UK comparable, UV any](b backend.ByteCapability, name string, ks serializer.Serializer[UK], vs serializer.Serializer[UV], p *ttlpolicy.Policy) (*TTLMapState[UK, UV], error) {
	s := &TTLMapState[UK, UV]{MapState: MapState[UK, ttl.Value[UV]]{ks: ks, vs: ttlpolicy.Stamped(vs, p)}, p: p}
	return bind(s, &s.byteNamespace, b, name, snapshot.StateMap, s.MapState.migrate, p, s.ks.Snapshot(), s.vs.Snapshot())
}

// NewTTLReducing returns the reducing state name of b with TTL p.
func NewTTLReducing[V any](b backend.ByteCapability, name string, ser serializer.Serializer[V], reduce func(a, b V) V, p *ttlpolicy.Policy) (*TTLReducingState[V], error) {
	s := &TTLReducingState[V]{ttlUnit: ttlUnit[V]{ser: ttlpolicy.Stamped(ser, p), p: p}, reduce: reduce}
	return bind(s, &s.byteNamespace, b, name, snapshot.StateReducing, singleMigration(&s.ser), p, s.ser.Snapshot())
}

// NewTTLAggregating returns the aggregating state name of b with TTL p, as
// NewAggregating.
func NewTTLAggregating[IN, ACC, OUT any](b backend.ByteCapability, name string, ser serializer.Serializer[ACC],
	create func() ACC, add func(IN, ACC) ACC, result func(ACC) OUT, p *ttlpolicy.Policy) (*TTLAggregatingState[IN, ACC, OUT], error) {
	s := &TTLAggregatingState[IN, ACC, OUT]{ttlUnit: ttlUnit[ACC]{ser: ttlpolicy.Stamped(ser, p), p: p}, create: create, add: add, result: result}
	return bind(s, &s.byteNamespace, b, name, snapshot.StateAggregating, singleMigration(&s.ser), p, s.ser.Snapshot())
}

// ttlUnit is the single stamped value of Value, Reducing and
// Aggregating states.
type ttlUnit[V any] struct {
	byteNamespace
	ser serializer.Serializer[ttl.Value[V]]
	p   *ttlpolicy.Policy
}

// read returns the stored unit of the current key and namespace and its
// bytes (valid until the next call on the table).
func (s *ttlUnit[V]) read() (ttl.Value[V], []byte, bool, error) {
	b, ok, err := s.t.Get(s.ns)
	if err != nil || !ok {
		return ttl.Value[V]{}, nil, false, err
	}
	tv, err := s.ser.Decode(b)
	if err != nil {
		return ttl.Value[V]{}, nil, false, err
	}
	return tv, b, true, nil
}

// get is the read of the value: an expired unit is removed, and returned
// only under ttl.ReturnExpiredIfNotCleanedUp; a live one is re-stamped
// under ttl.OnReadAndWrite.
func (s *ttlUnit[V]) get() (V, bool, error) {
	var zero V
	tv, b, ok, err := s.read()
	if err != nil || !ok {
		return zero, false, err
	}
	now := s.p.Now()
	if s.p.Expired(tv.Timestamp, now) {
		if err := s.t.Delete(s.ns); err != nil {
			return zero, false, err
		}
		if s.p.ReturnExpired() {
			return tv.Value, true, nil
		}
		return zero, false, nil
	}
	if s.p.UpdateOnRead() {
		s.buf = ttlunit.Restamp(s.buf, b, now)
		if err := s.t.Put(s.ns, s.buf); err != nil {
			return zero, false, err
		}
	}
	return tv.Value, true, nil
}

// live returns the stored value if it has not expired at now.
func (s *ttlUnit[V]) live(now int64) (V, bool, error) {
	var zero V
	tv, _, ok, err := s.read()
	if err != nil || !ok || s.p.Expired(tv.Timestamp, now) {
		return zero, false, err
	}
	return tv.Value, true, nil
}

func (s *ttlUnit[V]) put(v V, now int64) error {
	var err error
	if s.buf, err = s.ser.Append(s.buf[:0], ttlpolicy.Stamp(v, now)); err != nil {
		return err
	}
	return s.t.Put(s.ns, s.buf)
}

// TTLValueState is a value state with TTL.
type TTLValueState[V any] struct{ ttlUnit[V] }

func (s *TTLValueState[V]) Value() (V, bool, error) { return s.get() }
func (s *TTLValueState[V]) Update(v V) error        { return s.put(v, s.p.Now()) }

// TTLReducingState is a reducing state with TTL.
type TTLReducingState[V any] struct {
	ttlUnit[V]
	reduce func(a, b V) V
}

func (s *TTLReducingState[V]) Get() (V, bool, error) { return s.get() }

// Add reduces v into the stored value, or starts from v if that expired.
func (s *TTLReducingState[V]) Add(v V) error {
	now := s.p.Now()
	old, ok, err := s.live(now)
	if err != nil {
		return err
	}
	if ok {
		v = s.reduce(old, v)
	}
	return s.put(v, now)
}

// TTLAggregatingState is an aggregating state with TTL.
type TTLAggregatingState[IN, ACC, OUT any] struct {
	ttlUnit[ACC]
	create func() ACC
	add    func(IN, ACC) ACC
	result func(ACC) OUT
}

func (s *TTLAggregatingState[IN, ACC, OUT]) Get() (OUT, bool, error) {
	acc, ok, err := s.get()
	if err != nil || !ok {
		var zero OUT
		return zero, false, err
	}
	return s.result(acc), true, nil
}

// Add folds in into the stored accumulator, or into a new one if that
// expired.
func (s *TTLAggregatingState[IN, ACC, OUT]) Add(in IN) error {
	now := s.p.Now()
	acc, ok, err := s.live(now)
	if err != nil {
		return err
	}
	if !ok {
		acc = s.create()
	}
	return s.put(s.add(in, acc), now)
}

// TTLListState is a list state with TTL: each element expires on its own.
// It stores stamped elements; writes go through ListState.
type TTLListState[E any] struct {
	ListState[ttl.Value[E]]
	p       *ttlpolicy.Policy
	stamped []ttl.Value[E]
}

// Get returns the live elements (under ttl.ReturnExpiredIfNotCleanedUp,
// every element) and rewrites the list without the expired ones (under
// ttl.OnReadAndWrite, with the live ones re-stamped).
func (s *TTLListState[E]) Get() ([]E, error) {
	b, ok, err := s.t.Get(s.ns)
	if err != nil || !ok || len(b) == 0 {
		return nil, err
	}
	now := s.p.Now()
	var out []E
	dropped := 0
	s.buf = s.buf[:0] // the rewritten list
	err = statecodec.RangeElements(b, func(e []byte) error {
		tv, err := s.ser.Decode(e)
		if err != nil {
			return err
		}
		dead := s.p.Expired(tv.Timestamp, now)
		if !dead || s.p.ReturnExpired() {
			out = append(out, tv.Value)
		}
		switch {
		case dead:
			dropped++
		case s.p.UpdateOnRead():
			s.scratch = ttlunit.Restamp(s.scratch, e, now)
			s.buf = statecodec.AppendElement(s.buf, s.scratch)
		default:
			s.buf = statecodec.AppendElement(s.buf, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case len(s.buf) == 0:
		err = s.t.Delete(s.ns)
	case dropped > 0 || s.p.UpdateOnRead():
		err = s.t.Put(s.ns, s.buf)
	}
	return out, err
}

// stamp returns vs stamped with now, in a slice reused by the next call.
func (s *TTLListState[E]) stamp(vs []E) []ttl.Value[E] {
	now := s.p.Now()
	s.stamped = s.stamped[:0]
	for _, v := range vs {
		s.stamped = append(s.stamped, ttlpolicy.Stamp(v, now))
	}
	return s.stamped
}

func (s *TTLListState[E]) Add(v E) error { return s.AddAll([]E{v}) }

func (s *TTLListState[E]) AddAll(vs []E) error { return s.ListState.AddAll(s.stamp(vs)) }

func (s *TTLListState[E]) Update(vs []E) error { return s.ListState.Update(s.stamp(vs)) }

// TTLMapState is a map state with TTL: each entry expires on its own.
type TTLMapState[UK comparable, UV any] struct {
	MapState[UK, ttl.Value[UV]]
	p *ttlpolicy.Policy
}

func (s *TTLMapState[UK, UV]) Get(k UK) (UV, bool, error) {
	var zero UV
	kb, b, ok, err := s.entry(k)
	if err != nil || !ok {
		return zero, false, err
	}
	tv, err := s.vs.Decode(b)
	if err != nil {
		return zero, false, err
	}
	now := s.p.Now()
	if s.p.Expired(tv.Timestamp, now) {
		if err := s.t.DeleteEntry(s.ns, kb); err != nil {
			return zero, false, err
		}
		if s.p.ReturnExpired() {
			return tv.Value, true, nil
		}
		return zero, false, nil
	}
	if s.p.UpdateOnRead() {
		s.buf = ttlunit.Restamp(s.buf, b, now)
		if err := s.t.PutEntry(s.ns, kb, s.buf); err != nil {
			return zero, false, err
		}
	}
	return tv.Value, true, nil
}

func (s *TTLMapState[UK, UV]) Put(k UK, v UV) error {
	return s.MapState.Put(k, ttlpolicy.Stamp(v, s.p.Now()))
}

func (s *TTLMapState[UK, UV]) PutAll(m map[UK]UV) error {
	now := s.p.Now()
	for k, v := range m {
		if err := s.MapState.Put(k, ttlpolicy.Stamp(v, now)); err != nil {
			return err
		}
	}
	return nil
}

func (s *TTLMapState[UK, UV]) Contains(k UK) (bool, error) {
	_, ok, err := s.Get(k)
	return ok, err
}

// IsEmpty reports whether no live entry is left (under
// ttl.ReturnExpiredIfNotCleanedUp, no entry at all) and removes the
// expired entries it meets. It re-stamps nothing: it returns no entry.
func (s *TTLMapState[UK, UV]) IsEmpty() (bool, error) {
	empty := true
	err := s.rangeEntries(func(UK, UV) bool { empty = false; return false }, false)
	return empty, err
}

// Range calls fn for the live entries (under
// ttl.ReturnExpiredIfNotCleanedUp, every entry) in user-key byte order
// until fn returns false, then removes the expired entries it met and,
// under ttl.OnReadAndWrite, re-stamps the live entries it returned.
func (s *TTLMapState[UK, UV]) Range(fn func(UK, UV) bool) error {
	return s.rangeEntries(fn, s.p.UpdateOnRead())
}

// rangeEntries is Range; stampShown says whether the live entries shown
// are re-stamped.
func (s *TTLMapState[UK, UV]) rangeEntries(fn func(UK, UV) bool, stampShown bool) error {
	now := s.p.Now()
	var expired, shownKeys, shownValues [][]byte // copied
	var derr error
	err := s.t.Entries(s.ns, func(kb, vb []byte) bool {
		tv, err := s.vs.Decode(vb)
		if err != nil {
			derr = err
			return false
		}
		if dead := s.p.Expired(tv.Timestamp, now); dead {
			expired = append(expired, bytes.Clone(kb))
			if !s.p.ReturnExpired() {
				return true
			}
		} else if stampShown {
			shownKeys = append(shownKeys, bytes.Clone(kb))
			shownValues = append(shownValues, ttlunit.Restamp(nil, vb, now))
		}
		k, err := s.ks.Decode(kb)
		if err != nil {
			derr = err
			return false
		}
		return fn(k, tv.Value)
	})
	if err != nil {
		return err
	}
	if derr != nil {
		return derr
	}
	for _, kb := range expired {
		if err := s.t.DeleteEntry(s.ns, kb); err != nil {
			return err
		}
	}
	for i, kb := range shownKeys {
		if err := s.t.PutEntry(s.ns, kb, shownValues[i]); err != nil {
			return err
		}
	}
	return nil
}
