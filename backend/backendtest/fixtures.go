package backendtest

import (
	"fmt"
	"maps"
	"slices"
	"testing"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/state"
)

// avgAcc is a mutable accumulator: avgFunc modifies it in place, so a
// backend that shares it with a snapshot without copying it fails.
type avgAcc struct {
	Sum, Count int64
}

type avgFunc struct{}

func (avgFunc) CreateAccumulator() *avgAcc { return &avgAcc{} }
func (avgFunc) Add(in int64, acc *avgAcc) *avgAcc {
	acc.Sum += in
	acc.Count++
	return acc
}
func (avgFunc) Result(acc *avgAcc) float64 { return float64(acc.Sum) / float64(acc.Count) }
func (avgFunc) Merge(a, b *avgAcc) *avgAcc {
	a.Sum += b.Sum
	a.Count += b.Count
	return a
}

// appendDigit is the reduce function of the reducing state: it appends the
// digit b to a. It is not commutative (appendDigit(1, 2) = 12 but
// appendDigit(2, 1) = 21), so a backend that reduces (added, stored)
// instead of (stored, added) fails. Values wrap around past 19 digits,
// the same way on every side.
func appendDigit(a, b int64) int64 { return a*10 + b }

// The states every conformance test uses, one of each kind.
var (
	valueDesc  = state.ValueDescriptor[int64]{Name: "value", Serializer: serializer.Int64{}}
	listDesc   = state.ListDescriptor[string]{Name: "list", Serializer: serializer.String{}}
	mapDesc    = state.MapDescriptor[string, int64]{Name: "map", KeySerializer: serializer.String{}, ValueSerializer: serializer.Int64{}}
	digitsDesc = state.ReducingDescriptor[int64]{Name: "digits", Serializer: serializer.Int64{}, Reduce: appendDigit}
	avgDesc    = state.AggregatingDescriptor[int64, *avgAcc, float64]{Name: "avg", AccumulatorSerializer: serializer.JSON[*avgAcc]{TypeName: "avgAcc"}, Aggregate: avgFunc{}}
)

// stateNames are the names of the states, in the order openStates
// registers them.
var stateNames = []string{valueDesc.Name, listDesc.Name, mapDesc.Name, digitsDesc.Name, avgDesc.Name}

type states struct {
	value  state.ValueState[int64]
	list   state.ListState[string]
	mapS   state.MapState[string, int64]
	digits state.ReducingState[int64]
	avg    state.AggregatingState[int64, float64]
}

func openStates(t testing.TB, b backend.KeyedBackend[string]) *states {
	t.Helper()
	return openStatesTTL(t, b, nil)
}

func (s *states) setNamespace(ns string) {
	s.value.SetNamespace(ns)
	s.list.SetNamespace(ns)
	s.mapS.SetNamespace(ns)
	s.digits.SetNamespace(ns)
	s.avg.SetNamespace(ns)
}

// entry is the model of all states of one key and namespace.
type entry struct {
	value    *int64
	list     []string
	m        map[string]int64
	digits   *int64
	avgSum   int64
	avgCount int64
}

func (e *entry) empty() bool {
	return e.value == nil && len(e.list) == 0 && len(e.m) == 0 && e.digits == nil && e.avgCount == 0
}

// holds reports whether e has state in the state named name.
func (e *entry) holds(name string) bool {
	switch name {
	case valueDesc.Name:
		return e.value != nil
	case listDesc.Name:
		return len(e.list) > 0
	case mapDesc.Name:
		return len(e.m) > 0
	case digitsDesc.Name:
		return e.digits != nil
	case avgDesc.Name:
		return e.avgCount > 0
	}
	panic("backendtest: no state " + name)
}

func (e *entry) clone() *entry {
	c := *e // value and digits are replaced, never modified in place
	c.list = slices.Clone(e.list)
	c.m = maps.Clone(e.m)
	return &c
}

type modelKey struct{ key, ns string }

// model is the expected content of every state, the reference the
// backends are checked against.
type model map[modelKey]*entry

func (m model) at(key, ns string) *entry {
	e := m[modelKey{key, ns}]
	if e == nil {
		e = &entry{}
		m[modelKey{key, ns}] = e
	}
	return e
}

func (m model) clone() model {
	c := model{}
	for k, e := range m {
		c[k] = e.clone()
	}
	return c
}

// keys returns the keys with state in the state named name and in ns,
// sorted.
func (m model) keys(name, ns string) []string {
	var ks []string
	for k, e := range m {
		if k.ns == ns && e.holds(name) {
			ks = append(ks, k.key)
		}
	}
	slices.Sort(ks)
	return ks
}

// check compares every state of the current key in ns against want and
// returns the first difference.
func (s *states) check(ns string, want *entry) error {
	s.setNamespace(ns)
	if want == nil {
		want = &entry{}
	}
	v, ok, err := s.value.Value()
	switch {
	case err != nil:
		return fmt.Errorf("value: %w", err)
	case ok != (want.value != nil) || ok && v != *want.value:
		return fmt.Errorf("value: got (%d, %v), want %v", v, ok, fmtPtr(want.value))
	}
	l, err := s.list.Get()
	switch {
	case err != nil:
		return fmt.Errorf("list: %w", err)
	case !slices.Equal(l, want.list):
		return fmt.Errorf("list: got %q, want %q", l, want.list)
	}
	got := map[string]int64{}
	if err := s.mapS.Range(func(k string, v int64) bool { got[k] = v; return true }); err != nil {
		return fmt.Errorf("map range: %w", err)
	}
	if !maps.Equal(got, want.m) && len(got)+len(want.m) > 0 {
		return fmt.Errorf("map: got %v, want %v", got, want.m)
	}
	isEmpty, err := s.mapS.IsEmpty()
	if err != nil || isEmpty != (len(want.m) == 0) {
		return fmt.Errorf("map IsEmpty: got %v (err %v), want %v", isEmpty, err, len(want.m) == 0)
	}
	for k, wv := range want.m {
		gv, ok, err := s.mapS.Get(k)
		if err != nil || !ok || gv != wv {
			return fmt.Errorf("map Get(%q): got (%d, %v, %v), want %d", k, gv, ok, err, wv)
		}
		if ok, err := s.mapS.Contains(k); err != nil || !ok {
			return fmt.Errorf("map Contains(%q): got (%v, %v), want true", k, ok, err)
		}
	}
	digits, ok, err := s.digits.Get()
	switch {
	case err != nil:
		return fmt.Errorf("reducing: %w", err)
	case ok != (want.digits != nil) || ok && digits != *want.digits:
		return fmt.Errorf("reducing: got (%d, %v), want %v", digits, ok, fmtPtr(want.digits))
	}
	avg, ok, err := s.avg.Get()
	switch {
	case err != nil:
		return fmt.Errorf("aggregating: %w", err)
	case ok != (want.avgCount > 0):
		return fmt.Errorf("aggregating: got ok=%v, want %v", ok, want.avgCount > 0)
	case ok && avg != float64(want.avgSum)/float64(want.avgCount):
		return fmt.Errorf("aggregating: got %v, want %v", avg, float64(want.avgSum)/float64(want.avgCount))
	}
	return nil
}

func fmtPtr(p *int64) string {
	if p == nil {
		return "none"
	}
	return fmt.Sprint(*p)
}

func ptr(v int64) *int64 { return &v }

// stateful is a cluster with the conformance states open on every subtask.
type stateful struct {
	*cluster
	states []*states
}

func withStates(t testing.TB, c *cluster) *stateful {
	t.Helper()
	s := &stateful{cluster: c}
	for _, b := range c.keyed {
		s.states = append(s.states, openStates(t, b))
	}
	return s
}

// at sets key as current on its owner and returns the owner's states.
func (s *stateful) at(key string) *states {
	i, _ := s.owner(key)
	return s.states[i]
}

// verify checks every entry of m and that key enumeration matches m.
func (s *stateful) verify(t testing.TB, m model, namespaces []string) {
	t.Helper()
	for k, e := range m {
		if err := s.at(k.key).check(k.ns, e); err != nil {
			t.Fatalf("key %q namespace %q: %v", k.key, k.ns, err)
		}
	}
	s.verifyKeys(t, m, namespaces)
}

// verifyKeys checks that Keys of every state and namespace enumerates the
// keys that m has in it, each once, on the subtask that owns it. It needs
// no state registered: it checks restored state that is not registered
// again as well.
func (c *cluster) verifyKeys(t testing.TB, m model, namespaces []string) {
	t.Helper()
	for _, ns := range namespaces {
		for _, name := range stateNames {
			var got []string
			for i, b := range c.keyed {
				err := b.Keys(name, ns, func(k string) bool {
					if o := backend.SubtaskForKeyGroup(c.maxP, len(c.keyed), backend.KeyGroupForKey([]byte(k), c.maxP)); o != i {
						t.Errorf("key %q enumerated on subtask %d, owned by %d", k, i, o)
					}
					got = append(got, k)
					return true
				})
				if err != nil {
					t.Fatalf("Keys(%q, %q): %v", name, ns, err)
				}
			}
			slices.Sort(got)
			if want := m.keys(name, ns); !slices.Equal(got, want) {
				t.Fatalf("Keys(%q, %q): got %d keys %v, want %d keys %v", name, ns, len(got), head(got), len(want), head(want))
			}
		}
	}
}

func head(s []string) []string {
	if len(s) > 10 {
		return s[:10]
	}
	return s
}
