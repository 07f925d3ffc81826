package backend

import (
	"bytes"

	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/ttl"
)

// The typed states with TTL over a ByteBackend: every stored unit (value,
// list element, map entry value) is a TTLSerializer encoding, so a
// timestamp is read or rewritten without decoding the user bytes. Reads
// remove the expired units they meet.

func byteTTLTable[K comparable](b KeyedBackend[K], name string, kind snapshot.StateKind, sers []SerializerSnapshot,
	migrate func(old []SerializerSnapshot) (ByteMigration, error), p *ttlPolicy) (ByteTable, error) {
	bb, ok := b.(ByteBackend[K])
	if !ok {
		return byteTable(b, name, kind, sers, migrate) // reports the unsupported backend
	}
	return bb.ByteTable(ByteRegistration{Name: name, Kind: kind, Serializers: sers, Migrate: migrate, TTL: p.cfg})
}

func newByteTTLValue[K comparable, V any](b KeyedBackend[K], d ValueDescriptor[V], p *ttlPolicy) (ValueState[V], error) {
	s := &byteTTLValue[V]{byteTTLUnit: byteTTLUnit[V]{ser: ttlSerializer(d.Serializer, p), p: p}}
	t, err := byteTTLTable(b, d.Name, snapshot.StateValue, []SerializerSnapshot{s.ser.Snapshot()}, singleMigration(&s.ser), p)
	if err != nil {
		return nil, err
	}
	s.t = t
	return s, nil
}

func newByteTTLList[K comparable, E any](b KeyedBackend[K], d ListDescriptor[E], p *ttlPolicy) (ListState[E], error) {
	s := &byteTTLList[E]{byteList: byteList[ttl.Value[E]]{ser: ttlSerializer(d.Serializer, p)}, p: p}
	t, err := byteTTLTable(b, d.Name, snapshot.StateList, []SerializerSnapshot{s.ser.Snapshot()}, singleMigration(&s.ser), p)
	if err != nil {
		return nil, err
	}
	s.t = t
	return s, nil
}

func newByteTTLMap[K, UK comparable, UV any](b KeyedBackend[K], d MapDescriptor[UK, UV], p *ttlPolicy) (MapState[UK, UV], error) {
	s := &byteTTLMap[UK, UV]{byteMap: byteMap[UK, ttl.Value[UV]]{ks: d.KeySerializer, vs: ttlSerializer(d.ValueSerializer, p)}, p: p}
	t, err := byteTTLTable(b, d.Name, snapshot.StateMap, []SerializerSnapshot{s.ks.Snapshot(), s.vs.Snapshot()}, s.byteMap.migrate, p)
	if err != nil {
		return nil, err
	}
	s.t = t
	return s, nil
}

func newByteTTLReducing[K comparable, V any](b KeyedBackend[K], d ReducingDescriptor[V], p *ttlPolicy) (ReducingState[V], error) {
	s := &byteTTLReducing[V]{byteTTLUnit: byteTTLUnit[V]{ser: ttlSerializer(d.Serializer, p), p: p}, reduce: d.Reduce}
	t, err := byteTTLTable(b, d.Name, snapshot.StateReducing, []SerializerSnapshot{s.ser.Snapshot()}, singleMigration(&s.ser), p)
	if err != nil {
		return nil, err
	}
	s.t = t
	return s, nil
}

func newByteTTLAggregating[K comparable, IN, ACC, OUT any](b KeyedBackend[K], d AggregatingDescriptor[IN, ACC, OUT], p *ttlPolicy) (AggregatingState[IN, OUT], error) {
	s := &byteTTLAggregating[IN, ACC, OUT]{byteTTLUnit: byteTTLUnit[ACC]{ser: ttlSerializer(d.AccumulatorSerializer, p), p: p}, agg: d.Aggregate}
	t, err := byteTTLTable(b, d.Name, snapshot.StateAggregating, []SerializerSnapshot{s.ser.Snapshot()}, singleMigration(&s.ser), p)
	if err != nil {
		return nil, err
	}
	s.t = t
	return s, nil
}

// restamp returns unit with its timestamp replaced by now, built in dst.
func restamp(dst, unit []byte, now int64) []byte {
	return append(ttl.AppendTimestamp(dst[:0], now), unit[ttl.TimestampSize:]...)
}

// byteTTLUnit is the single stamped value of Value, Reducing and
// Aggregating states.
type byteTTLUnit[V any] struct {
	byteNamespace
	ser Serializer[ttl.Value[V]]
	p   *ttlPolicy
}

// read returns the stored unit of the current key and namespace and its
// bytes (valid until the next call on the table).
func (s *byteTTLUnit[V]) read() (ttl.Value[V], []byte, bool, error) {
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
func (s *byteTTLUnit[V]) get() (V, bool, error) {
	var zero V
	tv, b, ok, err := s.read()
	if err != nil || !ok {
		return zero, false, err
	}
	now := s.p.now()
	if s.p.expired(tv.Timestamp, now) {
		if err := s.t.Delete(s.ns); err != nil {
			return zero, false, err
		}
		if s.p.returnExpired() {
			return tv.Value, true, nil
		}
		return zero, false, nil
	}
	if s.p.updateOnRead() {
		s.buf = restamp(s.buf, b, now)
		if err := s.t.Put(s.ns, s.buf); err != nil {
			return zero, false, err
		}
	}
	return tv.Value, true, nil
}

// live returns the stored value if it has not expired at now.
func (s *byteTTLUnit[V]) live(now int64) (V, bool, error) {
	var zero V
	tv, _, ok, err := s.read()
	if err != nil || !ok || s.p.expired(tv.Timestamp, now) {
		return zero, false, err
	}
	return tv.Value, true, nil
}

func (s *byteTTLUnit[V]) put(v V, now int64) error {
	var err error
	if s.buf, err = s.ser.Append(s.buf[:0], stamp(v, now)); err != nil {
		return err
	}
	return s.t.Put(s.ns, s.buf)
}

type byteTTLValue[V any] struct{ byteTTLUnit[V] }

func (s *byteTTLValue[V]) Value() (V, bool, error) { return s.get() }
func (s *byteTTLValue[V]) Update(v V) error        { return s.put(v, s.p.now()) }

type byteTTLReducing[V any] struct {
	byteTTLUnit[V]
	reduce func(a, b V) V
}

func (s *byteTTLReducing[V]) Get() (V, bool, error) { return s.get() }

// Add reduces v into the stored value, or starts from v if that expired.
func (s *byteTTLReducing[V]) Add(v V) error {
	now := s.p.now()
	old, ok, err := s.live(now)
	if err != nil {
		return err
	}
	if ok {
		v = s.reduce(old, v)
	}
	return s.put(v, now)
}

type byteTTLAggregating[IN, ACC, OUT any] struct {
	byteTTLUnit[ACC]
	agg AggregateFunction[IN, ACC, OUT]
}

func (s *byteTTLAggregating[IN, ACC, OUT]) Get() (OUT, bool, error) {
	acc, ok, err := s.get()
	if err != nil || !ok {
		var zero OUT
		return zero, false, err
	}
	return s.agg.Result(acc), true, nil
}

// Add folds in into the stored accumulator, or into a new one if that
// expired.
func (s *byteTTLAggregating[IN, ACC, OUT]) Add(in IN) error {
	now := s.p.now()
	acc, ok, err := s.live(now)
	if err != nil {
		return err
	}
	if !ok {
		acc = s.agg.CreateAccumulator()
	}
	return s.put(s.agg.Add(in, acc), now)
}

// byteTTLList stores stamped elements; writes go through byteList.
type byteTTLList[E any] struct {
	byteList[ttl.Value[E]]
	p       *ttlPolicy
	stamped []ttl.Value[E]
}

// Get returns the live elements (under ttl.ReturnExpiredIfNotCleanedUp,
// every element) and rewrites the list without the expired ones (under
// ttl.OnReadAndWrite, with the live ones re-stamped).
func (s *byteTTLList[E]) Get() ([]E, error) {
	b, ok, err := s.t.Get(s.ns)
	if err != nil || !ok || len(b) == 0 {
		return nil, err
	}
	now := s.p.now()
	var out []E
	dropped := 0
	s.buf = s.buf[:0] // the rewritten list
	err = RangeElements(b, func(e []byte) error {
		tv, err := s.ser.Decode(e)
		if err != nil {
			return err
		}
		dead := s.p.expired(tv.Timestamp, now)
		if !dead || s.p.returnExpired() {
			out = append(out, tv.Value)
		}
		switch {
		case dead:
			dropped++
		case s.p.updateOnRead():
			s.scratch = restamp(s.scratch, e, now)
			s.buf = appendElement(s.buf, s.scratch)
		default:
			s.buf = appendElement(s.buf, e)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	switch {
	case len(s.buf) == 0:
		err = s.t.Delete(s.ns)
	case dropped > 0 || s.p.updateOnRead():
		err = s.t.Put(s.ns, s.buf)
	}
	return out, err
}

// stamp returns vs stamped with now, in a slice reused by the next call.
func (s *byteTTLList[E]) stamp(vs []E) []ttl.Value[E] {
	now := s.p.now()
	s.stamped = s.stamped[:0]
	for _, v := range vs {
		s.stamped = append(s.stamped, stamp(v, now))
	}
	return s.stamped
}

func (s *byteTTLList[E]) Add(v E) error { return s.AddAll([]E{v}) }

func (s *byteTTLList[E]) AddAll(vs []E) error { return s.byteList.AddAll(s.stamp(vs)) }

func (s *byteTTLList[E]) Update(vs []E) error { return s.byteList.Update(s.stamp(vs)) }

type byteTTLMap[UK comparable, UV any] struct {
	byteMap[UK, ttl.Value[UV]]
	p *ttlPolicy
}

func (s *byteTTLMap[UK, UV]) Get(k UK) (UV, bool, error) {
	var zero UV
	kb, b, ok, err := s.entry(k)
	if err != nil || !ok {
		return zero, false, err
	}
	tv, err := s.vs.Decode(b)
	if err != nil {
		return zero, false, err
	}
	now := s.p.now()
	if s.p.expired(tv.Timestamp, now) {
		if err := s.t.DeleteEntry(s.ns, kb); err != nil {
			return zero, false, err
		}
		if s.p.returnExpired() {
			return tv.Value, true, nil
		}
		return zero, false, nil
	}
	if s.p.updateOnRead() {
		s.buf = restamp(s.buf, b, now)
		if err := s.t.PutEntry(s.ns, kb, s.buf); err != nil {
			return zero, false, err
		}
	}
	return tv.Value, true, nil
}

func (s *byteTTLMap[UK, UV]) Put(k UK, v UV) error { return s.byteMap.Put(k, stamp(v, s.p.now())) }

func (s *byteTTLMap[UK, UV]) PutAll(m map[UK]UV) error {
	now := s.p.now()
	for k, v := range m {
		if err := s.byteMap.Put(k, stamp(v, now)); err != nil {
			return err
		}
	}
	return nil
}

func (s *byteTTLMap[UK, UV]) Contains(k UK) (bool, error) {
	_, ok, err := s.Get(k)
	return ok, err
}

// IsEmpty reports whether no live entry is left (under
// ttl.ReturnExpiredIfNotCleanedUp, no entry at all) and removes the
// expired entries it meets. It re-stamps nothing: it returns no entry.
func (s *byteTTLMap[UK, UV]) IsEmpty() (bool, error) {
	empty := true
	err := s.rangeEntries(func(UK, UV) bool { empty = false; return false }, false)
	return empty, err
}

// Range calls fn for the live entries (under
// ttl.ReturnExpiredIfNotCleanedUp, every entry) in user-key byte order
// until fn returns false, then removes the expired entries it met and,
// under ttl.OnReadAndWrite, re-stamps the live entries it returned.
func (s *byteTTLMap[UK, UV]) Range(fn func(UK, UV) bool) error {
	return s.rangeEntries(fn, s.p.updateOnRead())
}

// rangeEntries is Range; stampShown says whether the live entries shown
// are re-stamped.
func (s *byteTTLMap[UK, UV]) rangeEntries(fn func(UK, UV) bool, stampShown bool) error {
	now := s.p.now()
	var expired, shownKeys, shownValues [][]byte // copied
	var derr error
	err := s.t.Entries(s.ns, func(kb, vb []byte) bool {
		tv, err := s.vs.Decode(vb)
		if err != nil {
			derr = err
			return false
		}
		if dead := s.p.expired(tv.Timestamp, now); dead {
			expired = append(expired, bytes.Clone(kb))
			if !s.p.returnExpired() {
				return true
			}
		} else if stampShown {
			shownKeys = append(shownKeys, bytes.Clone(kb))
			shownValues = append(shownValues, restamp(nil, vb, now))
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
