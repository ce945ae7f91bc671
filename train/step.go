package train

import (
	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/model"
)

// headChunk is how many scored rows go through the LM head and the
// cross-entropy at a time: the [tokens × vocab] logits never exist whole,
// only [headChunk × vocab].
const headChunk = 128

// Stepper runs forward and backward passes of one batch shape, with every
// buffer allocated once: the step loop allocates nothing.
type Stepper struct {
	M    *model.Model
	B, T int

	acts  *model.Acts
	grads *model.Grads
	rows  []int32 // positions with a scored target
	tgts  []int32 // their targets
	// LM head buffers for one chunk of scored rows.
	h, logits, dh *compute.Tensor
	views         map[[2]int]*compute.Tensor // row views of the buffers, made once
}

// NewStepper allocates the buffers for batches of b sequences of t tokens,
// keeping the activations backward needs (model.KeepLean).
func NewStepper(m *model.Model, b, t int) *Stepper {
	return NewStepperMode(m, b, t, model.KeepLean)
}

// NewStepperMode is NewStepper with the activation memory mode: KeepNone
// for a stepper that only scores (evaluation; ForwardBackward with backward
// set panics), KeepInputs for gradient checkpointing.
func NewStepperMode(m *model.Model, b, t int, mode model.KeepMode) *Stepper {
	be, c := m.Be, m.Config
	n := b * t
	k := min(n, headChunk)
	s := &Stepper{M: m, B: b, T: t, acts: m.NewActsMode(b, t, mode),
		rows: make([]int32, 0, n), tgts: make([]int32, 0, n), views: map[[2]int]*compute.Tensor{}}
	headSize := k*c.Vocab + 2*k*c.Dim
	var head *compute.Tensor
	if mode != model.KeepNone {
		// The head runs between the forward and the backward pass: its
		// buffers borrow the backward scratch.
		s.grads = m.NewGrads(b, t, headSize)
		head = s.grads.Spare()
	} else {
		head = be.NewTensor(headSize)
	}
	s.logits = head.View(0, k, c.Vocab)
	s.h = head.View(k*c.Vocab, k, c.Dim)
	s.dh = head.View(k*c.Vocab+k*c.Dim, k, c.Dim)
	return s
}

// view returns rows [0, n) of one of the head buffers (which: 0 h, 1
// logits, 2 dh), cached so that steps do not allocate.
func (s *Stepper) view(which, n int) *compute.Tensor {
	key := [2]int{which, n}
	if v, ok := s.views[key]; ok {
		return v
	}
	v := [...]*compute.Tensor{s.h, s.logits, s.dh}[which].RowView(0, n)
	s.views[key] = v
	return v
}

// Scored counts the targets that are scored (not IgnoreIndex).
func Scored(targets []int32) int {
	n := 0
	for _, t := range targets {
		if t >= 0 {
			n++
		}
	}
	return n
}

// ForwardBackward runs one micro-batch: ids and targets are [B*T], targets
// aligned to positions (-100: not scored). Logits are computed only at scored
// positions, a chunk of rows at a time. Gradients of the trainable parameters
// are accumulated, scaled by 1/denom, so that denom = the scored count of the
// whole step gives the gradient of the mean loss over the step. It returns
// the sum of the micro-batch's losses and its scored count. With backward
// false it only scores (evaluation).
func (s *Stepper) ForwardBackward(ids, targets []int32, denom int, backward bool) (float64, int) {
	m, be := s.M, s.M.Be
	s.rows, s.tgts = s.rows[:0], s.tgts[:0]
	for i, t := range targets {
		if t >= 0 {
			s.rows = append(s.rows, int32(i))
			s.tgts = append(s.tgts, t)
		}
	}
	if backward && s.grads == nil {
		panic("train: ForwardBackward: backward on a scoring-only stepper (KeepNone)")
	}
	m.Forward(s.acts, ids, nil)
	var dFinal *compute.Tensor
	if backward {
		dFinal = s.grads.DFinal()
		be.Zero(dFinal)
	}
	var sum float64
	var count int
	for lo := 0; lo < len(s.rows); lo += headChunk {
		hi := min(lo+headChunk, len(s.rows))
		n := hi - lo
		rows := s.rows[lo:hi]
		h, logits := s.view(0, n), s.view(1, n)
		be.GatherRows(h, s.acts.Final, rows)
		m.Logits(logits, h)
		var dl *compute.Tensor
		if backward {
			dl = logits // the softmax gradient overwrites the logits in place
		}
		ls, c := be.CrossEntropy(dl, logits, s.tgts[lo:hi], 1/float32(max(denom, 1)))
		sum += ls
		count += c
		if !backward {
			continue
		}
		dh := s.view(2, n)
		be.LinearBackwardInput(dh, dl, m.Head, false)
		if m.HeadGrad != nil {
			be.MatMul(m.HeadGrad, dl, h, true, false, 1, 1)
		} else if m.Head == m.Embed && m.EmbedGrad != nil {
			be.MatMul(m.EmbedGrad, dl, h, true, false, 1, 1)
		}
		be.EmbeddingBackward(dFinal, dh, rows)
	}
	if backward && count > 0 {
		m.Backward(s.acts, s.grads, ids)
	}
	return sum, count
}

// Acts exposes the activations of the last forward pass.
func (s *Stepper) Acts() *model.Acts { return s.acts }
