package engine

import (
	"context"

	"github.com/stated-io/stated/backend"
)

const (
	// batchSize is the number of records per envelope between subtasks.
	batchSize = 256
	// inboxCapacity is the number of envelopes a subtask's input holds
	// before its senders block (backpressure).
	inboxCapacity = 32
)

// partitioner is the output of a chain into a keyed operator: it routes
// each record to the subtask that owns its key group, in batches.
type partitioner struct {
	ctx     context.Context
	from    int
	sel     *keySelector
	maxP    int
	inboxes []chan envelope
	bufs    [][]record
	keyBuf  []byte
	lastWM  int64
}

func newPartitioner(ctx context.Context, from int, sel *keySelector, maxP int, inboxes []chan envelope) *partitioner {
	return &partitioner{ctx: ctx, from: from, sel: sel, maxP: maxP, inboxes: inboxes, bufs: make([][]record, len(inboxes)), lastWM: NoTimestamp}
}

func (p *partitioner) collect(r record) error {
	key := p.sel.extract(r.value)
	b, err := p.sel.keyBytes(p.keyBuf[:0], key)
	if err != nil {
		return err
	}
	p.keyBuf = b
	t := backend.SubtaskForKeyGroup(p.maxP, len(p.inboxes), backend.KeyGroupForKey(b, p.maxP))
	r.key = key
	if p.bufs[t] == nil {
		p.bufs[t] = make([]record, 0, batchSize)
	}
	p.bufs[t] = append(p.bufs[t], r)
	if len(p.bufs[t]) >= batchSize {
		return p.sendBatch(t)
	}
	return nil
}

func (p *partitioner) sendBatch(t int) error {
	env := envelope{kind: elemRecords, from: p.from, records: p.bufs[t]}
	p.bufs[t] = nil
	return p.send(t, env)
}

func (p *partitioner) send(t int, env envelope) error {
	select {
	case p.inboxes[t] <- env:
		return nil
	case <-p.ctx.Done():
		return context.Cause(p.ctx)
	}
}

// flush sends every partial batch.
func (p *partitioner) flush() error {
	for t, b := range p.bufs {
		if len(b) > 0 {
			if err := p.sendBatch(t); err != nil {
				return err
			}
		}
	}
	return nil
}

// broadcast flushes and then sends env to every subtask, so env follows
// every record collected before it.
func (p *partitioner) broadcast(env envelope) error {
	if err := p.flush(); err != nil {
		return err
	}
	env.from = p.from
	for t := range p.inboxes {
		if err := p.send(t, env); err != nil {
			return err
		}
	}
	return nil
}

func (p *partitioner) emitWatermark(wm int64) error {
	if wm <= p.lastWM {
		return nil
	}
	p.lastWM = wm
	return p.broadcast(envelope{kind: elemWatermark, watermark: wm})
}
