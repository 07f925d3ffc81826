package state

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/internal/compat"
	"github.com/stated-io/stated/internal/statecodec"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
)

// OperatorOptions configures the operator state of one subtask.
type OperatorOptions struct {
	// OperatorUID names the operator in errors and file names. Required.
	OperatorUID string
	// Subtask is the index of this subtask. Default 0.
	Subtask int
	// Parallelism is the number of subtasks; restores redistribute to it.
	// Default 1.
	Parallelism int
	// Compression of snapshot files. Default none.
	Compression snapshot.Compression
	// Logger receives logs. Default: discard.
	Logger *slog.Logger
}

// EnsureDefaults fills in the defaults of unset optional fields.
func (o *OperatorOptions) EnsureDefaults() {
	if o.Parallelism == 0 {
		o.Parallelism = 1
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
}

// Validate reports every problem of o at once.
func (o *OperatorOptions) Validate() error {
	var errs []error
	if o.OperatorUID == "" {
		errs = append(errs, errors.New("missing OperatorUID"))
	}
	if o.Parallelism < 1 {
		errs = append(errs, fmt.Errorf("invalid Parallelism %d: must be at least 1", o.Parallelism))
	}
	if o.Subtask < 0 || o.Subtask >= max(o.Parallelism, 1) {
		errs = append(errs, fmt.Errorf("invalid Subtask %d: outside [0, %d)", o.Subtask, o.Parallelism))
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("operator state options: %w", err)
	}
	return nil
}

// OperatorStates holds the operator (non-keyed) state of one subtask: list
// states (split on rescale), union list states and broadcast states. It is
// the same for every backend. Not safe for concurrent use, except that a
// capture returned by Snapshot may be written from another goroutine.
type OperatorStates struct {
	opts     OperatorOptions
	states   map[string]operatorState
	restored map[string]snapshot.OperatorStateData
}

// operatorState is a registered state as the snapshot sees it.
type operatorState interface {
	data() (snapshot.OperatorStateData, error)
}

// NewOperatorStates returns an empty operator state store.
func NewOperatorStates(opts OperatorOptions) (*OperatorStates, error) {
	opts.EnsureDefaults()
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	return &OperatorStates{opts: opts, states: map[string]operatorState{}, restored: map[string]snapshot.OperatorStateData{}}, nil
}

// Restore loads this subtask's share of the operator state written by the
// old subtasks (old[i] is old subtask i), redistributed per mode. It must
// be called before any state is registered.
func (o *OperatorStates) Restore(ctx context.Context, store snapshot.Storage, dir string, old []snapshot.SubtaskState) error {
	if len(o.states) > 0 {
		return fmt.Errorf("operator %q: %w", o.opts.OperatorUID, backend.ErrRestoreAfterUse)
	}
	perOld := make([][]snapshot.OperatorStateData, len(old))
	for i, st := range old {
		for j := range st.Operator {
			data, err := snapshot.ReadOperatorStates(ctx, store, dir, &st.Operator[j])
			if err != nil {
				return fmt.Errorf("operator %q: restore operator state: %w", o.opts.OperatorUID, err)
			}
			perOld[i] = append(perOld[i], data...)
		}
	}
	if len(perOld) == 0 {
		return nil
	}
	mine := RedistributeOperatorState(perOld, o.opts.Parallelism)[o.opts.Subtask]
	for _, st := range mine {
		if st.Mode == snapshot.ModeUnion && len(old) > 1 {
			o.opts.Logger.Debug("union list state is restored whole on every subtask",
				"operator", o.opts.OperatorUID, "state", st.Name, "elements", len(st.Elements), "old_parallelism", len(old))
		}
		o.restored[st.Name] = st
	}
	return nil
}

// OperatorSnapshot is the synchronous capture of operator state: the
// elements are already encoded.
type OperatorSnapshot struct {
	uid, prefix string
	comp        snapshot.Compression
	states      []snapshot.OperatorStateData
}

// Snapshot encodes every state (the synchronous phase; operator state is
// small). States restored but not registered again are kept.
func (o *OperatorStates) Snapshot() (*OperatorSnapshot, error) {
	s := &OperatorSnapshot{uid: o.opts.OperatorUID, comp: o.opts.Compression, prefix: fmt.Sprintf("%s-%d", o.opts.OperatorUID, o.opts.Subtask)}
	for _, name := range slices.Sorted(maps.Keys(o.states)) {
		d, err := o.states[name].data()
		if err != nil {
			return nil, fmt.Errorf("operator %q state %q: snapshot: %w", o.opts.OperatorUID, name, err)
		}
		s.states = append(s.states, d)
	}
	for _, name := range slices.Sorted(maps.Keys(o.restored)) {
		s.states = append(s.states, o.restored[name])
	}
	return s, nil
}

// Write writes the capture as one file under target.Dir and returns its
// handle, or nil if there is no operator state.
func (s *OperatorSnapshot) Write(ctx context.Context, target backend.SnapshotTarget) (*snapshot.OperatorStateHandle, error) {
	if len(s.states) == 0 {
		return nil, nil
	}
	name := target.FilePrefix + ".op"
	w, err := target.Store.Create(ctx, target.Dir+"/"+name, snapshot.CreateOptions{})
	if err != nil {
		return nil, fmt.Errorf("operator %q: snapshot: %w", s.uid, err)
	}
	metas, err := snapshot.WriteOperatorStates(w, s.comp, s.states)
	if err != nil {
		_ = w.Abort()
		return nil, fmt.Errorf("operator %q: snapshot: %w", s.uid, err)
	}
	written, err := w.Commit()
	if err != nil {
		return nil, fmt.Errorf("operator %q: snapshot: %w", s.uid, err)
	}
	return &snapshot.OperatorStateHandle{
		File:        snapshot.FileRef{Path: name, Scope: snapshot.ScopeExclusive, Size: written.Size, CRC32C: written.CRC32C},
		Compression: s.comp,
		States:      metas,
	}, nil
}

// register binds a new state of the given mode, decoding restored elements.
func register(o *OperatorStates, name string, mode snapshot.Mode, sers []serializer.Snapshot, decode func(old snapshot.OperatorStateData) error) error {
	if name == "" {
		return errors.New("operator state name is empty")
	}
	if _, ok := o.states[name]; ok {
		return fmt.Errorf("%w: operator %q state %q is already registered", backend.ErrStateConflict, o.opts.OperatorUID, name)
	}
	old, ok := o.restored[name]
	if !ok {
		return nil
	}
	if old.Mode != mode {
		return fmt.Errorf("%w: operator %q state %q was written as %s state, now registered as %s",
			backend.ErrStateConflict, o.opts.OperatorUID, name, old.Mode, mode)
	}
	if err := decode(old); err != nil {
		var ie *backend.IncompatibleStateError
		if errors.As(err, &ie) {
			ie.Operator, ie.State = o.opts.OperatorUID, name
			if ie.New.Name == "" && len(sers) > 0 {
				ie.New = sers[0]
			}
		}
		return fmt.Errorf("operator %q state %q: restore: %w", o.opts.OperatorUID, name, err)
	}
	delete(o.restored, name)
	return nil
}

// ListOperatorState is an operator list state. Not safe for concurrent use.
type ListOperatorState[V any] struct {
	name  string
	mode  snapshot.Mode
	ser   serializer.Serializer[V]
	elems []V
}

// GetListOperatorState registers a list state that is split among the new
// subtasks on rescale (ModeSplit).
func GetListOperatorState[V any](o *OperatorStates, name string, ser serializer.Serializer[V]) (*ListOperatorState[V], error) {
	return listOperatorState(o, name, snapshot.ModeSplit, ser)
}

// GetUnionListOperatorState registers a list state of which every new
// subtask gets all elements on restore (ModeUnion).
func GetUnionListOperatorState[V any](o *OperatorStates, name string, ser serializer.Serializer[V]) (*ListOperatorState[V], error) {
	return listOperatorState(o, name, snapshot.ModeUnion, ser)
}

func listOperatorState[V any](o *OperatorStates, name string, mode snapshot.Mode, ser serializer.Serializer[V]) (*ListOperatorState[V], error) {
	if ser == nil {
		return nil, fmt.Errorf("operator state %q: no serializer", name)
	}
	s := &ListOperatorState[V]{name: name, mode: mode, ser: ser}
	err := register(o, name, mode, []serializer.Snapshot{ser.Snapshot()}, func(old snapshot.OperatorStateData) error {
		if len(old.Serializers) != 1 {
			return compat.WantSerializers(old.Serializers, 1)
		}
		read, cur, err := compat.Reader(ser, old.Serializers[0])
		if err != nil {
			return err
		}
		s.ser = cur
		for _, e := range old.Elements {
			v, err := read(e)
			if err != nil {
				return err
			}
			s.elems = append(s.elems, v)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	o.states[name] = s
	return s, nil
}

// Get returns the elements; the slice is owned by the state.
func (s *ListOperatorState[V]) Get() []V { return slices.Clip(s.elems) }

// Add appends an element.
func (s *ListOperatorState[V]) Add(v V) { s.elems = append(s.elems, v) }

// Update replaces the elements.
func (s *ListOperatorState[V]) Update(vs []V) { s.elems = slices.Clone(vs) }

// Clear removes every element.
func (s *ListOperatorState[V]) Clear() { s.elems = nil }

func (s *ListOperatorState[V]) data() (snapshot.OperatorStateData, error) {
	d := snapshot.OperatorStateData{Name: s.name, Mode: s.mode, Serializers: []serializer.Snapshot{s.ser.Snapshot()}}
	for _, v := range s.elems {
		b, err := s.ser.Append(nil, v)
		if err != nil {
			return d, err
		}
		d.Elements = append(d.Elements, b)
	}
	return d, nil
}

// BroadcastState is an operator map state that every subtask holds in full
// (ModeBroadcast): on rescale, new subtask i gets old subtask i mod oldP's
// copy. Not safe for concurrent use.
type BroadcastState[K comparable, V any] struct {
	name string
	ks   serializer.Serializer[K]
	vs   serializer.Serializer[V]
	m    map[K]V
}

// GetBroadcastState registers a broadcast state.
func GetBroadcastState[K comparable, V any](o *OperatorStates, name string, ks serializer.Serializer[K], vs serializer.Serializer[V]) (*BroadcastState[K, V], error) {
	if ks == nil || vs == nil {
		return nil, fmt.Errorf("broadcast state %q: missing serializer", name)
	}
	s := &BroadcastState[K, V]{name: name, ks: ks, vs: vs, m: map[K]V{}}
	err := register(o, name, snapshot.ModeBroadcast, []serializer.Snapshot{ks.Snapshot(), vs.Snapshot()}, func(old snapshot.OperatorStateData) error {
		if err := compat.WantSerializers(old.Serializers, 2); err != nil {
			return err
		}
		readK, curK, err := compat.Reader(ks, old.Serializers[0])
		if err != nil {
			return err
		}
		readV, curV, err := compat.Reader(vs, old.Serializers[1])
		if err != nil {
			return err
		}
		s.ks, s.vs = curK, curV
		for _, e := range old.Elements {
			r := statecodec.NewReader(e)
			kb, err := r.Element()
			if err != nil {
				return err
			}
			vb, err := r.Element()
			if err != nil {
				return err
			}
			if err := r.Done(); err != nil {
				return err
			}
			k, err := readK(kb)
			if err != nil {
				return err
			}
			if s.m[k], err = readV(vb); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	o.states[name] = s
	return s, nil
}

func (s *BroadcastState[K, V]) Get(k K) (V, bool) { v, ok := s.m[k]; return v, ok }
func (s *BroadcastState[K, V]) Put(k K, v V)      { s.m[k] = v }
func (s *BroadcastState[K, V]) Remove(k K)        { delete(s.m, k) }
func (s *BroadcastState[K, V]) Contains(k K) bool { _, ok := s.m[k]; return ok }
func (s *BroadcastState[K, V]) Len() int          { return len(s.m) }
func (s *BroadcastState[K, V]) Clear()            { clear(s.m) }

// Range calls fn for each entry in unspecified order until it returns false.
func (s *BroadcastState[K, V]) Range(fn func(K, V) bool) {
	for k, v := range s.m {
		if !fn(k, v) {
			return
		}
	}
}

// data encodes each entry as one element: key and value, each prefixed by
// its uvarint length.
func (s *BroadcastState[K, V]) data() (snapshot.OperatorStateData, error) {
	d := snapshot.OperatorStateData{Name: s.name, Mode: snapshot.ModeBroadcast, Serializers: []serializer.Snapshot{s.ks.Snapshot(), s.vs.Snapshot()}}
	var kb, vb []byte
	for k, v := range s.m {
		var err error
		if kb, err = s.ks.Append(kb[:0], k); err != nil {
			return d, err
		}
		if vb, err = s.vs.Append(vb[:0], v); err != nil {
			return d, err
		}
		d.Elements = append(d.Elements, statecodec.AppendElement(statecodec.AppendElement(nil, kb), vb))
	}
	return d, nil
}
