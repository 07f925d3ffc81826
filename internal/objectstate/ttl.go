package objectstate

import (
	"github.com/stated-io/stated/internal/cowstore"
	"github.com/stated-io/stated/internal/ttlpolicy"
	"github.com/stated-io/stated/ttl"
)

// The typed states with TTL: the stores hold ttl.Value units (a value,
// each list element, each map entry). Every access runs a step of
// incremental cleanup first (cowstore.Store.Accessed); reads remove the
// expired units they meet.

func singleExpiry[V any](p *ttlpolicy.Policy) *cowstore.Expiry[ttl.Value[V]] {
	return &cowstore.Expiry[ttl.Value[V]]{
		Policy: p,
		Oldest: func(v ttl.Value[V]) (int64, bool) { return v.Timestamp, true },
		Alive:  func(v ttl.Value[V], now int64) bool { return !p.Expired(v.Timestamp, now) },
		Stale:  func(v ttl.Value[V], now int64) bool { return p.Expired(v.Timestamp, now) },
		Prune: func(v ttl.Value[V], now int64) (ttl.Value[V], bool, bool) {
			if p.Expired(v.Timestamp, now) {
				return ttl.Value[V]{}, false, true
			}
			return v, true, false
		},
	}
}

func listExpiry[E any](p *ttlpolicy.Policy) *cowstore.Expiry[[]ttl.Value[E]] {
	return &cowstore.Expiry[[]ttl.Value[E]]{
		Policy: p,
		Oldest: func(l []ttl.Value[E]) (int64, bool) {
			var ts int64
			for i, e := range l {
				if i == 0 || e.Timestamp < ts {
					ts = e.Timestamp
				}
			}
			return ts, len(l) > 0
		},
		Alive: func(l []ttl.Value[E], now int64) bool {
			for _, e := range l {
				if !p.Expired(e.Timestamp, now) {
					return true
				}
			}
			return false
		},
		Stale: func(l []ttl.Value[E], now int64) bool {
			for _, e := range l {
				if p.Expired(e.Timestamp, now) {
					return true
				}
			}
			return false
		},
		Prune: func(l []ttl.Value[E], now int64) ([]ttl.Value[E], bool, bool) {
			live := liveElements(l, p, now)
			return live, len(live) > 0, len(live) < len(l)
		},
	}
}

// liveElements returns l without its expired elements: l itself if none
// expired, a new slice otherwise.
func liveElements[E any](l []ttl.Value[E], p *ttlpolicy.Policy, now int64) []ttl.Value[E] {
	for i, e := range l {
		if !p.Expired(e.Timestamp, now) {
			continue
		}
		out := make([]ttl.Value[E], i, len(l)-1)
		copy(out, l[:i])
		for _, e := range l[i+1:] {
			if !p.Expired(e.Timestamp, now) {
				out = append(out, e)
			}
		}
		return out
	}
	return l
}

func mapExpiry[UK comparable, UV any](p *ttlpolicy.Policy) *cowstore.Expiry[map[UK]ttl.Value[UV]] {
	return &cowstore.Expiry[map[UK]ttl.Value[UV]]{
		Policy: p,
		Oldest: func(m map[UK]ttl.Value[UV]) (int64, bool) {
			var ts int64
			first := true
			for _, e := range m {
				if first || e.Timestamp < ts {
					ts, first = e.Timestamp, false
				}
			}
			return ts, !first
		},
		Alive: func(m map[UK]ttl.Value[UV], now int64) bool {
			for _, e := range m {
				if !p.Expired(e.Timestamp, now) {
					return true
				}
			}
			return false
		},
		Stale: func(m map[UK]ttl.Value[UV], now int64) bool {
			for _, e := range m {
				if p.Expired(e.Timestamp, now) {
					return true
				}
			}
			return false
		},
		Prune: func(m map[UK]ttl.Value[UV], now int64) (map[UK]ttl.Value[UV], bool, bool) {
			dead := 0
			for _, e := range m {
				if p.Expired(e.Timestamp, now) {
					dead++
				}
			}
			if dead == 0 {
				return m, len(m) > 0, false
			}
			out := make(map[UK]ttl.Value[UV], len(m)-dead)
			for k, e := range m {
				if !p.Expired(e.Timestamp, now) {
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
func getStamped[K comparable, V any](s *cowstore.Store[K, ttl.Value[V]], p *ttlpolicy.Policy, ns string) (V, bool) {
	s.Accessed()
	tv, ok := s.Get(ns)
	if !ok {
		return tv.Value, false
	}
	now := p.Now()
	if p.Expired(tv.Timestamp, now) {
		s.Delete(ns)
		if p.ReturnExpired() {
			return tv.Value, true
		}
		var zero V
		return zero, false
	}
	if p.UpdateOnRead() {
		s.Put(ns, ttlpolicy.Stamp(tv.Value, now))
	}
	return tv.Value, true
}

// liveStamped returns the unit of the current key in ns for modification
// (cloned out of a capture if needed) if it is live; expired units count
// as absent.
func liveStamped[K comparable, V any](s *cowstore.Store[K, ttl.Value[V]], p *ttlpolicy.Policy, ns string, now int64) (V, bool, error) {
	tv, ok, err := s.Mutable(ns)
	if err != nil || !ok || p.Expired(tv.Timestamp, now) {
		var zero V
		return zero, false, err
	}
	return tv.Value, true, nil
}

// TTLValueState is a value state with TTL.
type TTLValueState[K comparable, V any] struct {
	ValueState[K, ttl.Value[V]]
	p *ttlpolicy.Policy
}

func (s *TTLValueState[K, V]) Value() (V, bool, error) {
	v, ok := getStamped(s.s, s.p, s.ns)
	return v, ok, nil
}

func (s *TTLValueState[K, V]) Update(v V) error {
	s.s.Accessed()
	now := s.p.Now()
	s.s.Put(s.ns, ttlpolicy.Stamp(v, now))
	s.s.Stamped(now)
	return nil
}

// TTLListState is a list state with TTL: each element expires on its own.
type TTLListState[K comparable, E any] struct {
	ListState[K, ttl.Value[E]]
	p *ttlpolicy.Policy
}

// Get returns the live elements (under ttl.ReturnExpiredIfNotCleanedUp,
// every element) and removes the expired ones from the list.
func (s *TTLListState[K, E]) Get() ([]E, error) {
	s.s.Accessed()
	l, _ := s.s.Get(s.ns)
	if len(l) == 0 {
		return nil, nil
	}
	now := s.p.Now()
	live := liveElements(l, s.p, now)
	shown := live
	if s.p.ReturnExpired() {
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
		s.s.Delete(s.ns)
	case s.p.UpdateOnRead():
		restamped := make([]ttl.Value[E], len(live))
		for i, e := range live {
			restamped[i] = ttlpolicy.Stamp(e.Value, now)
		}
		s.s.Put(s.ns, restamped)
	case len(live) < len(l):
		s.s.Put(s.ns, live)
	}
	return out, nil
}

func (s *TTLListState[K, E]) Add(v E) error { return s.AddAll([]E{v}) }

func (s *TTLListState[K, E]) AddAll(vs []E) error {
	s.s.Accessed()
	if len(vs) == 0 {
		return nil
	}
	l, _, err := s.s.Mutable(s.ns)
	if err != nil {
		return err
	}
	now := s.p.Now()
	for _, v := range vs {
		l = append(l, ttlpolicy.Stamp(v, now))
	}
	s.s.Put(s.ns, l)
	s.s.Stamped(now)
	return nil
}

func (s *TTLListState[K, E]) Update(vs []E) error {
	s.s.Accessed()
	if len(vs) == 0 {
		s.s.Delete(s.ns)
		return nil
	}
	now := s.p.Now()
	l := make([]ttl.Value[E], len(vs))
	for i, v := range vs {
		l[i] = ttlpolicy.Stamp(v, now)
	}
	s.s.Put(s.ns, l)
	s.s.Stamped(now)
	return nil
}

// TTLMapState is a map state with TTL: each entry expires on its own.
type TTLMapState[K, UK comparable, UV any] struct {
	MapState[K, UK, ttl.Value[UV]]
	p *ttlpolicy.Policy
}

func (s *TTLMapState[K, UK, UV]) Get(k UK) (UV, bool, error) {
	s.s.Accessed()
	tv, ok := s.get()[k]
	if !ok {
		return tv.Value, false, nil
	}
	now := s.p.Now()
	if s.p.Expired(tv.Timestamp, now) {
		if err := s.MapState.Remove(k); err != nil {
			return tv.Value, false, err
		}
		if s.p.ReturnExpired() {
			return tv.Value, true, nil
		}
		var zero UV
		return zero, false, nil
	}
	if s.p.UpdateOnRead() {
		if err := s.MapState.Put(k, ttlpolicy.Stamp(tv.Value, now)); err != nil {
			return tv.Value, false, err
		}
	}
	return tv.Value, true, nil
}

func (s *TTLMapState[K, UK, UV]) Put(k UK, v UV) error {
	s.s.Accessed()
	now := s.p.Now()
	s.s.Stamped(now)
	return s.MapState.Put(k, ttlpolicy.Stamp(v, now))
}

func (s *TTLMapState[K, UK, UV]) PutAll(entries map[UK]UV) error {
	s.s.Accessed()
	if len(entries) == 0 {
		return nil
	}
	m, err := s.mutable(len(entries))
	if err != nil {
		return err
	}
	now := s.p.Now()
	for k, v := range entries {
		m[k] = ttlpolicy.Stamp(v, now)
	}
	s.s.Stamped(now)
	return nil
}

func (s *TTLMapState[K, UK, UV]) Remove(k UK) error {
	s.s.Accessed()
	return s.MapState.Remove(k)
}

func (s *TTLMapState[K, UK, UV]) Contains(k UK) (bool, error) {
	_, ok, err := s.Get(k)
	return ok, err
}

// IsEmpty reports whether no live entry is left (under
// ttl.ReturnExpiredIfNotCleanedUp, no entry at all) and removes the
// expired entries it meets. It re-stamps nothing: it returns no entry.
func (s *TTLMapState[K, UK, UV]) IsEmpty() (bool, error) {
	empty := true
	err := s.rangeEntries(func(UK, UV) bool { empty = false; return false }, false)
	return empty, err
}

// Range calls fn for the live entries (under
// ttl.ReturnExpiredIfNotCleanedUp, every entry) until fn returns false,
// then removes the expired entries it met and, under ttl.OnReadAndWrite,
// re-stamps the live entries it returned.
func (s *TTLMapState[K, UK, UV]) Range(fn func(UK, UV) bool) error {
	return s.rangeEntries(fn, s.p.UpdateOnRead())
}

// rangeEntries is Range; restamp says whether the live entries shown are
// re-stamped.
func (s *TTLMapState[K, UK, UV]) rangeEntries(fn func(UK, UV) bool, restamp bool) error {
	s.s.Accessed()
	m := s.get()
	if len(m) == 0 {
		return nil
	}
	now := s.p.Now()
	var expired, shown []UK
	for k, e := range m {
		dead := s.p.Expired(e.Timestamp, now)
		if dead {
			expired = append(expired, k)
			if !s.p.ReturnExpired() {
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
		w[k] = ttlpolicy.Stamp(w[k].Value, now)
	}
	for _, k := range expired {
		delete(w, k)
	}
	if len(w) == 0 {
		s.s.Delete(s.ns)
	}
	return nil
}

// TTLReducingState is a reducing state with TTL.
type TTLReducingState[K comparable, V any] struct {
	ValueState[K, ttl.Value[V]]
	p      *ttlpolicy.Policy
	reduce func(a, b V) V
}

func (s *TTLReducingState[K, V]) Get() (V, bool, error) {
	v, ok := getStamped(s.s, s.p, s.ns)
	return v, ok, nil
}

// Add reduces v into the stored value, or starts from v if that expired.
func (s *TTLReducingState[K, V]) Add(v V) error {
	s.s.Accessed()
	now := s.p.Now()
	old, ok, err := liveStamped(s.s, s.p, s.ns, now)
	if err != nil {
		return err
	}
	if ok {
		v = s.reduce(old, v)
	}
	s.s.Put(s.ns, ttlpolicy.Stamp(v, now))
	s.s.Stamped(now)
	return nil
}

// TTLAggregatingState is an aggregating state with TTL.
type TTLAggregatingState[K comparable, IN, ACC, OUT any] struct {
	ValueState[K, ttl.Value[ACC]]
	p      *ttlpolicy.Policy
	create func() ACC
	add    func(IN, ACC) ACC
	result func(ACC) OUT
}

func (s *TTLAggregatingState[K, IN, ACC, OUT]) Get() (OUT, bool, error) {
	acc, ok := getStamped(s.s, s.p, s.ns)
	if !ok {
		var zero OUT
		return zero, false, nil
	}
	return s.result(acc), true, nil
}

// Add folds in into the stored accumulator, or into a new one if that
// expired.
func (s *TTLAggregatingState[K, IN, ACC, OUT]) Add(in IN) error {
	s.s.Accessed()
	now := s.p.Now()
	acc, ok, err := liveStamped(s.s, s.p, s.ns, now)
	if err != nil {
		return err
	}
	if !ok {
		acc = s.create()
	}
	s.s.Put(s.ns, ttlpolicy.Stamp(s.add(in, acc), now))
	s.s.Stamped(now)
	return nil
}
