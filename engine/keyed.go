package engine

import (
	"fmt"
	"log/slog"

	"github.com/stated-io/stated/backend"
	"github.com/stated-io/stated/backend/heap"
	"github.com/stated-io/stated/backend/lsm"
	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/serializer"
	"github.com/stated-io/stated/snapshot"
	"github.com/stated-io/stated/state"
)

// newKeyedBackend creates the backend of state.backend.type for one
// subtask of a keyed operator and restores it.
func newKeyedBackend[K comparable](env *opEnv, keySer serializer.Serializer[K]) (backend.KeyedBackend[K], error) {
	cfg := env.rt.cfg
	opts := backend.KeyedOptions[K]{
		OperatorUID:    env.node.uid,
		Subtask:        env.subtask,
		MaxParallelism: env.maxParallelism,
		KeyGroups:      backend.KeyGroupRangeForSubtask(env.maxParallelism, env.parallelism, env.subtask),
		KeySerializer:  keySer,
		Compression:    cfg.Compression,
		Logger:         env.logger(),
	}
	var (
		b   backend.KeyedBackend[K]
		err error
	)
	switch cfg.Backend {
	case config.BackendHashMap:
		b, err = heap.New(opts)
	case config.BackendLSM:
		incremental := cfg.Incremental
		b, err = lsm.New(lsm.Options[K]{KeyedOptions: opts, Dir: cfg.LocalDir(), Incremental: &incremental})
	default:
		return nil, fmt.Errorf("state.backend.type %q: %w", cfg.Backend, backend.ErrUnsupportedBackend)
	}
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", env.node.uid, err)
	}
	if r := env.restore; r != nil && r.op != nil {
		src := backend.KeyedRestoreSource(r.store, r.dir, r.op)
		src.Mode = r.mode
		if err := b.Restore(env.ctx, src); err != nil {
			b.Close()
			return nil, err // names the operator
		}
	}
	return b, nil
}

// keyedBase is the part every keyed operator shares: the backend, the
// timers and the checkpoint plumbing.
type keyedBase[K comparable] struct {
	baseOperator
	uid     string
	logger  *slog.Logger
	backend backend.KeyedBackend[K]
	timers  *state.TimerService[K]
}

func openKeyedBase[K comparable](env *opEnv, keySer serializer.Serializer[K]) (*keyedBase[K], error) {
	b, err := newKeyedBackend(env, keySer)
	if err != nil {
		return nil, err
	}
	timers, err := state.NewTimerService(b)
	if err != nil {
		b.Close()
		return nil, fmt.Errorf("operator %q: %w", env.node.uid, err)
	}
	return &keyedBase[K]{baseOperator: baseOperator{env.out}, uid: env.node.uid, logger: env.logger(), backend: b, timers: timers}, nil
}

func (k *keyedBase[K]) setKey(r record) error {
	return k.backend.SetCurrentKey(r.key.(K))
}

func (k *keyedBase[K]) snapshotState(barrier) (*operatorCapture, error) {
	c, err := k.backend.Snapshot()
	if err != nil {
		return nil, fmt.Errorf("operator %q: %w", k.uid, err)
	}
	return &operatorCapture{uid: k.uid, keyed: c}, nil
}

// notifyComplete tells an incremental backend which checkpoint its next
// one may build on; savepoints share nothing and are not reported.
func (k *keyedBase[K]) notifyComplete(id int64, kind snapshot.Kind) error {
	if l, ok := k.backend.(backend.CheckpointListener); ok && kind == snapshot.KindCheckpoint {
		return l.NotifyCheckpointComplete(id)
	}
	return nil
}

func (k *keyedBase[K]) notifyAborted(id int64, kind snapshot.Kind) error {
	if l, ok := k.backend.(backend.CheckpointListener); ok && kind == snapshot.KindCheckpoint {
		return l.NotifyCheckpointAborted(id)
	}
	return nil
}

func (k *keyedBase[K]) close() error { return k.backend.Close() }
