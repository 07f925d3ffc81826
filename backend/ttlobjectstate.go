package backend

import (
	"github.com/stated-io/stated/ttl"
)

// The typed states with TTL over an ObjectBackend: the stores hold
// ttl.Value units (a value, each list element, each map entry). Every
// access runs a step of incremental cleanup first (objectStore.accessed);
// reads remove the expired units they meet.

func singleExpiry[V any](p *ttlPolicy) *objectExpiry[ttl.Value[V]] {
	return &objectExpiry[ttl.Value[V]]{
		policy: p,
		oldest: func(v ttl.Value[V]) (int64, bool) { return v.Timestamp, true },
		alive:  func(v ttl.Value[V], now int64) bool { return !p.expired(v.Timestamp, now) },
		stale:  func(v ttl.Value[V], now int64) bool { return p.expired(v.Timestamp, now) },
		prune: func(v ttl.Value[V], now int64) (ttl.Value[V], bool, bool) {
			if p.expired(v.Timestamp, now) {
				return ttl.Value[V]{}, false, true
			}
			return v, true, false
		},
	}
}

func listExpiry[E any](p *ttlPolicy) *objectExpiry[[]ttl.Value[E]] {
	return &objectExpiry[[]ttl.Value[E]]{
		policy: p,
		oldest: func(l []ttl.Value[E]) (int64, bool) {
			var ts int64
			for i, e := range l {
				if i == 0 || e.Timestamp < ts {
					ts = e.Timestamp
				}
			}
			return ts, len(l) > 0
		},
		alive: func(l []ttl.Value[E], now int64) bool {
			for _, e := range l {
				if !p.expired(e.Timestamp, now) {
					return true
				}
			}
			return false
		},
		stale: func(l []ttl.Value[E], now int64) bool {
			for _, e := range l {
				if p.expired(e.Timestamp, now) {
					return true
				}
			}
			return false
		},
		prune: func(l []ttl.Value[E], now int64) ([]ttl.Value[E], bool, bool) {
			live := liveElements(l, p, now)
			return live, len(live) > 0, len(live) < len(l)
		},
	}
}

// liveElements returns l without its expired elements: l itself if none
// expired, a new slice otherwise.
func liveElements[E any](l []ttl.Value[E], p *ttlPolicy, now int64) []ttl.Value[E] {
	for i, e := range l {
		if !p.expired(e.Timestamp, now) {
			continue
		}
		out := make([]ttl.Value[E], i, len(l)-1)
		copy(out, l[:i])
		for _, e := range l[i+1:] {
			if !p.expired(e.Timestamp, now) {
				out = append(out, e)
			}
		}
		return out
	}
	return l
}

func mapExpiry[UK comparable, UV any](p *ttlPolicy) *objectExpiry[map[UK]ttl.Value[UV]] {
	return &objectExpiry[map[UK]ttl.Value[UV]]{
		policy: p,
		oldest: func(m map[UK]ttl.Value[UV]) (int64, bool) {
			var ts int64
			first := true
			for _, e := range m {
				if first || e.Timestamp < ts {
					ts, first = e.Timestamp, false
				}
			}
			return ts, !first
		},
		alive: func(m map[UK]ttl.Value[UV], now int64) bool {
			for _, e := range m {
				if !p.expired(e.Timestamp, now) {
					return true
				}
			}
			return false
		},
		stale: func(m map[UK]ttl.Value[UV], now int64) bool {
			for _, e := range m {
				if p.expired(e.Timestamp, now) {
					return true
				}
			}
			return false
		},
		prune: func(m map[UK]ttl.Value[UV], now int64) (map[UK]ttl.Value[UV], bool, bool) {
			dead := 0
			for _, e := range m {
				if p.expired(e.Timestamp, now) {
					dead++
				}
			}
			if dead == 0 {
				return m, len(m) > 0, false
			}
			out := make(map[UK]ttl.Value[UV], len(m)-dead)
			for k, e := range m {
				if !p.expired(e.Timestamp, now) {
					out[k] = e
				}
			}
			return out, len(out) > 0, true
		},
	}
}

// getStamped reads the unit of the current key in ns. An expired unit is
// removed, and returned only under ttl.ReturnExpiredIfNotCleanedUp; a live
// one is re-stamped under ttl.OnReadAndWrite.
func getStamped[K comparable, V any](s *objectStore[K, ttl.Value[V]], p *ttlPolicy, ns string) (V, bool) {
	s.accessed()
	tv, ok := s.get(ns)
	if !ok {
		return tv.Value, false
	}
	now := p.now()
	if p.expired(tv.Timestamp, now) {
		s.del(ns)
		if p.returnExpired() {
			return tv.Value, true
		}
		var zero V
		return zero, false
	}
	if p.updateOnRead() {
		s.put(ns, stamp(tv.Value, now))
	}
	return tv.Value, true
}

// liveStamped returns the unit of the current key in ns for modification
// (cloned out of a capture if needed) if it is live; expired units count
// as absent.
func liveStamped[K comparable, V any](s *objectStore[K, ttl.Value[V]], p *ttlPolicy, ns string, now int64) (V, bool, error) {
	tv, ok, err := s.mutable(ns)
	if err != nil || !ok || p.expired(tv.Timestamp, now) {
		var zero V
		return zero, false, err
	}
	return tv.Value, true, nil
}

type ttlObjectValue[K comparable, V any] struct {
	objectValue[K, ttl.Value[V]]
	p *ttlPolicy
}

func (s *ttlObjectValue[K, V]) Value() (V, bool, error) {
	v, ok := getStamped(s.s, s.p, s.ns)
	return v, ok, nil
}

func (s *ttlObjectValue[K, V]) Update(v V) error {
	s.s.accessed()
	now := s.p.now()
	s.s.put(s.ns, stamp(v, now))
	s.s.stamped(now)
	return nil
}

type ttlObjectList[K comparable, E any] struct {
	objectList[K, ttl.Value[E]]
	p *ttlPolicy
}

// Get returns the live elements (under ttl.ReturnExpiredIfNotCleanedUp,
// every element) and removes the expired ones from the list.
func (s *ttlObjectList[K, E]) Get() ([]E, error) {
	s.s.accessed()
	l, _ := s.s.get(s.ns)
	if len(l) == 0 {
		return nil, nil
	}
	now := s.p.now()
	live := liveElements(l, s.p, now)
	shown := live
	if s.p.returnExpired() {
		shown = l
	}
	var out []E
	if len(shown) > 0 {
		out = make([]E, len(shown))
		for i, e := range shown {
			out[i] = e.Value
		}
	}
	switch {
	case len(live) == 0:
		s.s.del(s.ns)
	case s.p.updateOnRead():
		restamped := make([]ttl.Value[E], len(live))
		for i, e := range live {
			restamped[i] = stamp(e.Value, now)
		}
		s.s.put(s.ns, restamped)
	case len(live) < len(l):
		s.s.put(s.ns, live)
	}
	return out, nil
}

func (s *ttlObjectList[K, E]) Add(v E) error { return s.AddAll([]E{v}) }

func (s *ttlObjectList[K, E]) AddAll(vs []E) error {
	s.s.accessed()
	if len(vs) == 0 {
		return nil
	}
	l, _, err := s.s.mutable(s.ns)
	if err != nil {
		return err
	}
	now := s.p.now()
	for _, v := range vs {
		l = append(l, stamp(v, now))
	}
	s.s.put(s.ns, l)
	s.s.stamped(now)
	return nil
}

func (s *ttlObjectList[K, E]) Update(vs []E) error {
	s.s.accessed()
	if len(vs) == 0 {
		s.s.del(s.ns)
		return nil
	}
	now := s.p.now()
	l := make([]ttl.Value[E], len(vs))
	for i, v := range vs {
		l[i] = stamp(v, now)
	}
	s.s.put(s.ns, l)
	s.s.stamped(now)
	return nil
}

type ttlObjectMap[K, UK comparable, UV any] struct {
	objectMap[K, UK, ttl.Value[UV]]
	p *ttlPolicy
}

func (s *ttlObjectMap[K, UK, UV]) Get(k UK) (UV, bool, error) {
	s.s.accessed()
	tv, ok := s.get()[k]
	if !ok {
		return tv.Value, false, nil
	}
	now := s.p.now()
	if s.p.expired(tv.Timestamp, now) {
		if err := s.objectMap.Remove(k); err != nil {
			return tv.Value, false, err
		}
		if s.p.returnExpired() {
			return tv.Value, true, nil
		}
		var zero UV
		return zero, false, nil
	}
	if s.p.updateOnRead() {
		if err := s.objectMap.Put(k, stamp(tv.Value, now)); err != nil {
			return tv.Value, false, err
		}
	}
	return tv.Value, true, nil
}

func (s *ttlObjectMap[K, UK, UV]) Put(k UK, v UV) error {
	s.s.accessed()
	now := s.p.now()
	s.s.stamped(now)
	return s.objectMap.Put(k, stamp(v, now))
}

func (s *ttlObjectMap[K, UK, UV]) PutAll(entries map[UK]UV) error {
	s.s.accessed()
	if len(entries) == 0 {
		return nil
	}
	m, err := s.mutable(len(entries))
	if err != nil {
		return err
	}
	now := s.p.now()
	for k, v := range entries {
		m[k] = stamp(v, now)
	}
	s.s.stamped(now)
	return nil
}

func (s *ttlObjectMap[K, UK, UV]) Remove(k UK) error {
	s.s.accessed()
	return s.objectMap.Remove(k)
}

func (s *ttlObjectMap[K, UK, UV]) Contains(k UK) (bool, error) {
	_, ok, err := s.Get(k)
	return ok, err
}

// IsEmpty reports whether no live entry is left (under
// ttl.ReturnExpiredIfNotCleanedUp, no entry at all) and removes the
// expired entries it meets. It re-stamps nothing: it returns no entry.
func (s *ttlObjectMap[K, UK, UV]) IsEmpty() (bool, error) {
	empty := true
	err := s.rangeEntries(func(UK, UV) bool { empty = false; return false }, false)
	return empty, err
}

// Range calls fn for the live entries (under
// ttl.ReturnExpiredIfNotCleanedUp, every entry) until fn returns false,
// then removes the expired entries it met and, under ttl.OnReadAndWrite,
// re-stamps the live entries it returned.
func (s *ttlObjectMap[K, UK, UV]) Range(fn func(UK, UV) bool) error {
	return s.rangeEntries(fn, s.p.updateOnRead())
}

// rangeEntries is Range; restamp says whether the live entries shown are
// re-stamped.
func (s *ttlObjectMap[K, UK, UV]) rangeEntries(fn func(UK, UV) bool, restamp bool) error {
	s.s.accessed()
	m := s.get()
	if len(m) == 0 {
		return nil
	}
	now := s.p.now()
	var expired, shown []UK
	for k, e := range m {
		dead := s.p.expired(e.Timestamp, now)
		if dead {
			expired = append(expired, k)
			if !s.p.returnExpired() {
				continue
			}
		} else if restamp {
			shown = append(shown, k)
		}
		if !fn(k, e.Value) {
			break
		}
	}
	if len(expired) == 0 && len(shown) == 0 {
		return nil
	}
	w, err := s.mutable(0)
	if err != nil {
		return err
	}
	for _, k := range shown {
		w[k] = stamp(w[k].Value, now)
	}
	for _, k := range expired {
		delete(w, k)
	}
	if len(w) == 0 {
		s.s.del(s.ns)
	}
	return nil
}

type ttlObjectReducing[K comparable, V any] struct {
	objectValue[K, ttl.Value[V]]
	p      *ttlPolicy
	reduce func(a, b V) V
}

func (s *ttlObjectReducing[K, V]) Get() (V, bool, error) {
	v, ok := getStamped(s.s, s.p, s.ns)
	return v, ok, nil
}

// Add reduces v into the stored value, or starts from v if that expired.
func (s *ttlObjectReducing[K, V]) Add(v V) error {
	s.s.accessed()
	now := s.p.now()
	old, ok, err := liveStamped(s.s, s.p, s.ns, now)
	if err != nil {
		return err
	}
	if ok {
		v = s.reduce(old, v)
	}
	s.s.put(s.ns, stamp(v, now))
	s.s.stamped(now)
	return nil
}

type ttlObjectAggregating[K comparable, IN, ACC, OUT any] struct {
	objectValue[K, ttl.Value[ACC]]
	p   *ttlPolicy
	agg AggregateFunction[IN, ACC, OUT]
}

func (s *ttlObjectAggregating[K, IN, ACC, OUT]) Get() (OUT, bool, error) {
	acc, ok := getStamped(s.s, s.p, s.ns)
	if !ok {
		var zero OUT
		return zero, false, nil
	}
	return s.agg.Result(acc), true, nil
}

// Add folds in into the stored accumulator, or into a new one if that
// expired.
func (s *ttlObjectAggregating[K, IN, ACC, OUT]) Add(in IN) error {
	s.s.accessed()
	now := s.p.now()
	acc, ok, err := liveStamped(s.s, s.p, s.ns, now)
	if err != nil {
		return err
	}
	if !ok {
		acc = s.agg.CreateAccumulator()
	}
	s.s.put(s.ns, stamp(s.agg.Add(in, acc), now))
	s.s.stamped(now)
	return nil
}
