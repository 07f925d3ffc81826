package engine

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"sync"
	"time"

	"github.com/stated-io/stated/engine/config"
	"github.com/stated-io/stated/snapshot"
)

// ErrInvalidJob is wrapped by the errors of a job graph that cannot run:
// a missing or duplicate uid, a stream used across jobs.
var ErrInvalidJob = errors.New("invalid job")

// Options configures a Job.
type Options struct {
	// Config is the job configuration (see package config). Required.
	Config *config.Job
	// Logger receives the job's logs. Default: discard.
	Logger *slog.Logger
	// Now is the processing-time clock. Default time.Now.
	Now func() time.Time
	// OnCheckpoint, if set, is called on the coordinator's goroutine after
	// every checkpoint or savepoint completes or fails; it must not block.
	OnCheckpoint func(CheckpointStats)
}

// CheckpointStats describes a checkpoint or savepoint that completed or
// failed.
type CheckpointStats struct {
	ID   int64
	Kind snapshot.Kind
	// Location is the directory of the snapshot (a path or URL).
	Location string
	// Duration runs from the trigger to the commit of _metadata (or to the
	// failure).
	Duration time.Duration
	// Err is nil for a completed snapshot.
	Err error
}

// Job is a streaming job: a graph of operators built with FromSource and
// the stream functions, run by Run.
type Job struct {
	opts  Options
	nodes []*node
	uids  map[string]*node
	err   error // the first build error, reported by Run

	stopOnce sync.Once
	stop     chan struct{}
	ran      bool

	// wrapStorage, set by tests, wraps the checkpoint storage to inject
	// faults.
	wrapStorage func(snapshot.Storage) snapshot.Storage
}

// New returns an empty job.
func New(opts Options) *Job {
	if opts.Logger == nil {
		opts.Logger = slog.New(slog.DiscardHandler)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	return &Job{opts: opts, uids: map[string]*node{}, stop: make(chan struct{})}
}

// StopWithSavepoint asks a running job to take a final savepoint into
// execution.checkpointing.savepoint-dir, commit its sinks and return; Run
// then reports the savepoint's location. Safe to call from any goroutine
// and more than once.
func (j *Job) StopWithSavepoint() { j.stopOnce.Do(func() { close(j.stop) }) }

// nodeRole says how a node receives its input.
type nodeRole uint8

const (
	roleSource  nodeRole = iota // no input: reads splits
	roleChained                 // input from its parent in the same subtask
	roleKeyed                   // input partitioned by key from its parent's subtasks
)

// node is one operator of the graph.
type node struct {
	id       int
	name     string
	uid      string // set for stateful operators
	role     nodeRole
	parent   *node
	children []*node
	// partition routes records to the subtask that owns their key group;
	// set when role is roleKeyed.
	partition *keySelector
	// newOperator creates the operator of one subtask.
	newOperator func(env *opEnv) (operator, error)
	// newSource creates the source of one subtask; set when role is
	// roleSource.
	newSource func(env *opEnv) (sourceOperator, error)
	// rate caps the records per second of a source, across its subtasks.
	rate float64
}

// opEnv is what an operator of one subtask is created with.
type opEnv struct {
	ctx            context.Context
	rt             *runtime
	node           *node
	subtask        int
	parallelism    int
	maxParallelism int
	out            output
	// restore is nil on a fresh start.
	restore *restoreState
}

func (e *opEnv) logger() *slog.Logger {
	return e.rt.logger.With("operator", e.node.name, "subtask", e.subtask)
}

// uidPattern is what a uid may look like: it becomes part of file names.
var uidPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*$`)

// add appends a node to the graph; uid is empty for stateless operators.
func (j *Job) add(parent *node, n *node) *node {
	if parent != nil && j.err == nil && !j.owns(parent) {
		j.err = fmt.Errorf("%w: operator %q: its input belongs to another job", ErrInvalidJob, n.name)
	}
	n.id = len(j.nodes)
	n.parent = parent
	if parent != nil {
		parent.children = append(parent.children, n)
	}
	j.nodes = append(j.nodes, n)
	if n.uid != "" || n.stateful() {
		switch {
		case n.uid == "":
			j.fail(fmt.Errorf("%w: operator %q keeps state and needs a uid", ErrInvalidJob, n.name))
		case !uidPattern.MatchString(n.uid):
			j.fail(fmt.Errorf("%w: operator %q: uid %q: want letters, digits, '.', '_' or '-', not starting with a symbol", ErrInvalidJob, n.name, n.uid))
		case j.uids[n.uid] != nil:
			j.fail(fmt.Errorf("%w: uid %q is used by operators %q and %q", ErrInvalidJob, n.uid, j.uids[n.uid].name, n.name))
		default:
			j.uids[n.uid] = n
		}
	}
	return n
}

func (j *Job) owns(n *node) bool { return n.id < len(j.nodes) && j.nodes[n.id] == n }

func (j *Job) fail(err error) {
	if j.err == nil {
		j.err = err
	}
}

// stateful reports whether the node's operator keeps state; such
// operators need a uid.
func (n *node) stateful() bool { return n.role == roleSource || n.role == roleKeyed || n.uid != "" }

// stage is a chain of nodes that runs in one goroutine per subtask: a head
// (a source or a keyed operator) and the nodes chained below it.
type stage struct {
	head  *node
	nodes []*node // head first, then chained descendants in graph order
	// downstream are the keyed nodes fed by this stage's nodes.
	downstream []*node
	// upstream is the stage whose partitioned output feeds a keyed head.
	upstream *stage
}

// stages splits the graph into chains. Every node belongs to exactly one
// stage; a keyed node starts a new one.
func (j *Job) stages() ([]*stage, error) {
	if len(j.nodes) == 0 {
		return nil, fmt.Errorf("%w: the job has no operators", ErrInvalidJob)
	}
	byHead := map[*node]*stage{}
	var out []*stage
	for _, n := range j.nodes {
		switch n.role {
		case roleSource, roleKeyed:
			s := &stage{head: n, nodes: []*node{n}}
			byHead[n] = s
			out = append(out, s)
		}
	}
	// Nodes are in creation order, so a parent is always placed before
	// its children.
	stageOf := map[*node]*stage{}
	for _, s := range out {
		stageOf[s.head] = s
	}
	for _, n := range j.nodes {
		switch n.role {
		case roleChained:
			s := stageOf[n.parent]
			s.nodes = append(s.nodes, n)
			stageOf[n] = s
		case roleKeyed:
			up := stageOf[n.parent]
			up.downstream = append(up.downstream, n)
			byHead[n].upstream = up
		}
	}
	for _, s := range out {
		if s.head.role == roleKeyed && s.upstream == nil {
			return nil, fmt.Errorf("%w: keyed operator %q has no input", ErrInvalidJob, s.head.name)
		}
	}
	return out, nil
}
