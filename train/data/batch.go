package data

import (
	"errors"
	"fmt"
)

// Position is where a Batcher is in the data: the next batch starts at
// row Index of epoch Epoch's order. Saving it with a checkpoint and giving
// it back to SetPosition resumes with exactly the same batches.
type Position struct {
	Epoch int `json:"epoch"` // 0-based epoch
	Index int `json:"index"` // rows of the epoch's order already served
}

// BatcherOptions configure a Batcher.
type BatcherOptions struct {
	// BatchSize is the number of rows per batch (> 0).
	BatchSize int
	// SeqLen is the number of positions per row (> 0); every example must fit.
	SeqLen int
	// Shuffle draws a new order of the examples each epoch from a PCG
	// seeded with (Seed, epoch); without it the order is the given one.
	Shuffle bool
	// Seed of the per-epoch shuffles.
	Seed uint64
	// PadID is the input id of padding positions (see PadID).
	PadID int32
	// DropLast skips the last batch of an epoch when it is not full; else
	// that batch is filled up with padding rows.
	DropLast bool
}

// PadID returns the id to pad inputs with: EOS, or 0 when there is none.
// Padded positions have label IgnoreIndex, so the id is never scored.
func PadID(tok Tokenizer) int32 {
	if e := tok.EOS(); e >= 0 {
		return int32(e)
	}
	return 0
}

// Batch describes the batch that Next wrote.
type Batch struct {
	// Epoch and Index are the position of the batch's first row.
	Epoch, Index int
	// Rows is the number of rows holding examples; the rest are padding.
	Rows int
	// Tokens is the number of non-padding positions.
	Tokens int
	// Scored is the number of positions with a target.
	Scored int
	// EpochEnd says this was the last batch of its epoch.
	EpochEnd bool
}

// Batcher cuts examples into fixed-shape batches, epoch after epoch.
type Batcher struct {
	ex        []Example
	opt       BatcherOptions
	pos       Position
	order     []int
	orderFrom int // epoch whose order is in order (-1: none)
}

// NewBatcher returns a batcher at position {0, 0}.
func NewBatcher(examples []Example, opt BatcherOptions) (*Batcher, error) {
	if opt.BatchSize <= 0 || opt.SeqLen <= 0 {
		return nil, fmt.Errorf("batch size and seq-len must be > 0, got %d and %d", opt.BatchSize, opt.SeqLen)
	}
	if len(examples) == 0 {
		return nil, errors.New("no examples to batch")
	}
	if opt.DropLast && len(examples) < opt.BatchSize {
		return nil, fmt.Errorf("%d examples are fewer than one batch of %d and the last partial batch is dropped", len(examples), opt.BatchSize)
	}
	for i := range examples {
		ex := &examples[i]
		if len(ex.IDs) != len(ex.Labels) {
			return nil, fmt.Errorf("example %d (%s:%d): %d ids but %d labels", i, ex.Source, ex.Line, len(ex.IDs), len(ex.Labels))
		}
		if len(ex.IDs) > opt.SeqLen {
			return nil, fmt.Errorf("example %d (%s:%d) has %d positions, more than the seq-len %d", i, ex.Source, ex.Line, len(ex.IDs), opt.SeqLen)
		}
	}
	return &Batcher{ex: examples, opt: opt, orderFrom: -1}, nil
}

// Len returns the number of examples.
func (b *Batcher) Len() int { return len(b.ex) }

// BatchesPerEpoch returns the number of batches in one epoch.
func (b *Batcher) BatchesPerEpoch() int {
	if b.opt.DropLast {
		return len(b.ex) / b.opt.BatchSize
	}
	return (len(b.ex) + b.opt.BatchSize - 1) / b.opt.BatchSize
}

// Position returns the position of the next batch.
func (b *Batcher) Position() Position { return b.pos }

// SetPosition moves to a position saved by Position.
func (b *Batcher) SetPosition(p Position) error {
	if p.Epoch < 0 || p.Index < 0 || p.Index >= len(b.ex) {
		return fmt.Errorf("batcher position %+v out of range (%d examples)", p, len(b.ex))
	}
	if b.opt.DropLast && len(b.ex)-p.Index < b.opt.BatchSize {
		return fmt.Errorf("batcher position %+v: fewer than a batch of examples left in the epoch, which DropLast skips", p)
	}
	b.pos = p
	return nil
}

// epochOrder returns the order of the examples in epoch e.
func (b *Batcher) epochOrder(e int) []int {
	if b.orderFrom != e {
		if b.order == nil {
			b.order = make([]int, len(b.ex))
		}
		for i := range b.order {
			b.order[i] = i
		}
		if b.opt.Shuffle {
			Shuffle(b.order, b.opt.Seed, streamEpoch+uint64(e))
		}
		b.orderFrom = e
	}
	return b.order
}

// Next writes the next batch into inputs and targets, each of length
// BatchSize*SeqLen, row after row: a row's example ids and labels, then
// padding (input PadID, target IgnoreIndex). Rows past the end of the epoch
// are all padding. It then advances the position, to the next epoch after
// the last batch of one.
func (b *Batcher) Next(inputs, targets []int32) (Batch, error) {
	bs, T := b.opt.BatchSize, b.opt.SeqLen
	if len(inputs) != bs*T || len(targets) != bs*T {
		return Batch{}, fmt.Errorf("batch buffers have %d and %d elements, want %d (batch %d x seq-len %d)",
			len(inputs), len(targets), bs*T, bs, T)
	}
	order := b.epochOrder(b.pos.Epoch)
	info := Batch{Epoch: b.pos.Epoch, Index: b.pos.Index}
	for r := range bs {
		in, tg := inputs[r*T:(r+1)*T], targets[r*T:(r+1)*T]
		n := 0
		if i := b.pos.Index + r; i < len(order) {
			ex := &b.ex[order[i]]
			n = copy(in, ex.IDs)
			copy(tg, ex.Labels)
			info.Rows++
			info.Tokens += n
			info.Scored += ex.Scored()
		}
		for j := n; j < T; j++ {
			in[j] = b.opt.PadID
			tg[j] = IgnoreIndex
		}
	}
	b.pos.Index += info.Rows
	left := len(b.ex) - b.pos.Index
	if left <= 0 || (b.opt.DropLast && left < bs) {
		b.pos = Position{Epoch: b.pos.Epoch + 1}
		info.EpochEnd = true
	}
	return info, nil
}
