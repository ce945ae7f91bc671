package model

import (
	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/quant"
	"github.com/fynetune/fynetune/internal/hugepage"
)

// Param is a trainable tensor with its gradient, named by its checkpoint key.
type Param struct {
	Name        string
	Value, Grad *compute.Tensor
}

// EnableFullTraining makes every weight of the model trainable: weights are
// copied out of the read-only checkpoint mapping into writable memory and
// given gradient buffers, so Backward computes dW for all of them. It returns
// the parameters in a fixed order (each tied tensor once). The model must
// have been loaded at 16 bits.
func (m *Model) EnableFullTraining() []Param {
	be := m.Be
	var ps []Param
	weight := func(w *compute.Weight) *compute.Tensor {
		switch w.DType {
		case compute.F32:
			// Values copies from F32 (which may be the read-only mapping) or
			// from the backend's packed form (F32 rearranged in place); the
			// PrepareWeight below lets the backend drop or refresh that form.
			w.F32 = w.Values()
		case compute.F16, compute.BF16:
			w.F32 = hugepage.Make(w.Out * w.In)
			if err := quant.Dequantize(w.DType, w.F32, w.Raw, w.Out, w.In); err != nil {
				panic("model: " + w.Name + ": " + err.Error())
			}
			w.DType, w.Raw = compute.F32, nil
		default:
			panic("model: full training needs 16-bit weights, " + w.Name + " is " + w.DType.String())
		}
		w.Own, w.Trainable = true, true
		be.PrepareWeight(w) // drop any packed form: the optimizer writes F32
		rows, cols := w.StoredShape()
		v := &compute.Tensor{Shape: []int{rows, cols}, Data: w.F32}
		g := be.NewTensor(rows, cols)
		ps = append(ps, Param{Name: w.Name, Value: v, Grad: g})
		return g
	}
	vector := func(name string, t *compute.Tensor) *compute.Tensor {
		if t == nil {
			return nil
		}
		g := be.NewTensor(t.Shape...)
		ps = append(ps, Param{Name: name, Value: t, Grad: g})
		return g
	}
	m.EmbedGrad = weight(m.Embed)
	if m.PosEmbed != nil {
		m.PosEmbedGrad = weight(m.PosEmbed)
	}
	for i := range m.Blocks {
		b := &m.Blocks[i]
		for _, l := range []*Linear{b.QKV, b.Q, b.K, b.V, b.O, b.Gate, b.Up, b.Down} {
			if l == nil {
				continue
			}
			l.WGrad = weight(l.W)
			l.BiasGrad = vector(l.W.Name[:len(l.W.Name)-len("weight")]+"bias", l.Bias)
		}
		b.Norm1WGrad = vector(b.norm1Name+".weight", b.Norm1W)
		b.Norm1BGrad = vector(b.norm1Name+".bias", b.Norm1B)
		b.Norm2WGrad = vector(b.norm2Name+".weight", b.Norm2W)
		b.Norm2BGrad = vector(b.norm2Name+".bias", b.Norm2B)
	}
	m.NormWGrad = vector(m.normName+".weight", m.NormW)
	m.NormBGrad = vector(m.normName+".bias", m.NormB)
	if m.Head != m.Embed {
		m.HeadGrad = weight(m.Head)
	}
	return ps
}

// WeightsChanged tells the backend that trainable weights were updated, so
// any prepared (packed or uploaded) form is refreshed.
func (m *Model) WeightsChanged() {
	m.Be.PrepareWeight(m.Embed)
	if m.PosEmbed != nil {
		m.Be.PrepareWeight(m.PosEmbed)
	}
	for _, l := range m.Linears() {
		m.Be.PrepareWeight(l.W)
	}
	if m.Head != m.Embed {
		m.Be.PrepareWeight(m.Head)
	}
}
