package train

import (
	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/model"
)

// Stepper runs forward and backward passes of one batch shape, with every
// buffer allocated once.
type Stepper struct {
	M    *model.Model
	B, T int

	acts  *model.Acts
	grads *model.Grads
	rows  []int32 // positions with a scored target
	tgts  []int32 // their targets
	// LM head buffers sized for B*T scored rows; views cover fewer.
	h, logits, dh *compute.Tensor
}

// NewStepper allocates the buffers for batches of b sequences of t tokens.
func NewStepper(m *model.Model, b, t int) *Stepper {
	be, c := m.Be, m.Config
	n := b * t
	return &Stepper{M: m, B: b, T: t,
		acts: m.NewActs(b, t, true), grads: m.NewGrads(b, t),
		rows: make([]int32, 0, n), tgts: make([]int32, 0, n),
		h: be.NewTensor(n, c.Dim), logits: be.NewTensor(n, c.Vocab), dh: be.NewTensor(n, c.Dim)}
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
// positions. Gradients of the trainable parameters are accumulated, scaled
// by 1/denom, so that denom = the scored count of the whole step gives the
// gradient of the mean loss over the step. It returns the sum of the
// micro-batch's losses and its scored count. With backward false it only
// scores (evaluation).
func (s *Stepper) ForwardBackward(ids, targets []int32, denom int, backward bool) (float64, int) {
	m, be := s.M, s.M.Be
	s.rows, s.tgts = s.rows[:0], s.tgts[:0]
	for i, t := range targets {
		if t >= 0 {
			s.rows = append(s.rows, int32(i))
			s.tgts = append(s.tgts, t)
		}
	}
	n := len(s.rows)
	m.Forward(s.acts, ids, nil)
	if n == 0 {
		return 0, 0
	}
	h, logits := s.h.RowView(0, n), s.logits.RowView(0, n)
	be.GatherRows(h, s.acts.Final, s.rows)
	m.Logits(logits, h)
	var dl *compute.Tensor
	if backward {
		dl = logits // the softmax gradient overwrites the logits in place
	}
	sum, cnt := be.CrossEntropy(dl, logits, s.tgts, 1/float32(max(denom, 1)))
	if !backward {
		return sum, cnt
	}
	dh := s.dh.RowView(0, n)
	be.LinearBackwardInput(dh, dl, m.Head, false)
	if m.HeadGrad != nil {
		be.MatMul(m.HeadGrad, dl, h, true, false, 1, 1)
	} else if m.Head == m.Embed && m.EmbedGrad != nil {
		be.MatMul(m.EmbedGrad, dl, h, true, false, 1, 1)
	}
	dFinal := s.grads.DFinal()
	be.Zero(dFinal)
	be.EmbeddingBackward(dFinal, dh, s.rows)
	m.Backward(s.acts, s.grads, ids)
	return sum, cnt
}

// Acts exposes the activations of the last forward pass.
func (s *Stepper) Acts() *model.Acts { return s.acts }
