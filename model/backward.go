package model

import (
	"github.com/fynetune/fynetune/compute"
)

// Grads are the buffers of one backward pass: activation gradients,
// allocated once per batch shape and reused every step.
type Grads struct {
	B, T   int
	dRes   *compute.Tensor // gradient of the residual stream [BT, D]
	tmp    *compute.Tensor // [BT, D]
	dFinal *compute.Tensor // [BT, D]
	dNorm  *compute.Tensor // [BT, D]
	dQKV   *compute.Tensor // [BT, 3D] (GPT-2)
	dQ     *compute.Tensor
	dK, dV *compute.Tensor
	dAtt   *compute.Tensor // [BT, H*hd]
	dGate  *compute.Tensor // [BT, F]
	dUp    *compute.Tensor // [BT, F]
	dAct   *compute.Tensor // [BT, F]
	spare  *compute.Tensor // one allocation holding every buffer above but dFinal
}

// NewGrads allocates backward buffers for batches of b×t tokens. Every
// buffer but DFinal is used only inside Backward, so they are views of one
// allocation of at least spare values, which the caller may use between
// backward passes (Spare): the LM head's chunk of logits lives there, so
// that it costs no memory of its own.
func (m *Model) NewGrads(b, t, spare int) *Grads {
	c, be := m.Config, m.Be
	n := b * t
	q, kv := c.Heads*c.HeadDim, c.KVHeads*c.HeadDim
	widths := []int{c.Dim, c.Dim, c.Dim, q, kv, kv, q, c.FFN, c.FFN} // dRes, tmp, dNorm, dQ, dK, dV, dAtt, dUp, dAct
	if c.Arch == ArchGPT2 {
		widths = append(widths, 3*c.Dim) // dQKV
	} else {
		widths = append(widths, c.FFN) // dGate
	}
	total := 0
	for _, w := range widths {
		total += n * w
	}
	g := &Grads{B: b, T: t, dFinal: be.NewTensor(n, c.Dim), spare: be.NewTensor(max(total, spare))}
	off := 0
	next := func(w int) *compute.Tensor {
		v := g.spare.View(off, n, w)
		off += n * w
		return v
	}
	g.dRes, g.tmp, g.dNorm = next(c.Dim), next(c.Dim), next(c.Dim)
	g.dQ, g.dK, g.dV, g.dAtt = next(q), next(kv), next(kv), next(q)
	g.dUp, g.dAct = next(c.FFN), next(c.FFN)
	if c.Arch == ArchGPT2 {
		g.dQKV = next(3 * c.Dim)
	} else {
		g.dGate = next(c.FFN)
	}
	return g
}

// Spare is the storage of the backward buffers, free for the caller's use
// outside Backward (which overwrites it); at least NewGrads' spare values.
func (g *Grads) Spare() *compute.Tensor { return g.spare }

// DFinal is the gradient of the loss with respect to a.Final; the caller
// fills it (from the LM head's backward) before calling Backward.
func (g *Grads) DFinal() *compute.Tensor { return g.dFinal }

// Backward propagates g.DFinal() back through the final norm and every block,
// accumulating the gradients of the trainable parameters: adapters always,
// frozen weights only where full training gave them gradient buffers.
// a must hold the activations of the matching Forward (Keep set).
func (m *Model) Backward(a *Acts, g *Grads, ids []int32) {
	c, be := m.Config, m.Be
	if !a.Keep {
		panic("model: Backward needs activations kept by Forward (NewActs keep=true or NewActsMode)")
	}
	m.normBackward(g.dRes, m.NormWGrad, m.NormBGrad, g.dFinal, a.X[c.Layers], a.FinalMean, a.FinalRstd, m.NormW)
	for l := c.Layers - 1; l >= 0; l-- {
		m.blockBackward(a, g, l)
	}
	if m.EmbedGrad != nil {
		be.EmbeddingBackward(m.EmbedGrad, g.dRes, ids)
	}
	if m.PosEmbedGrad != nil {
		be.EmbeddingBackward(m.PosEmbedGrad, g.dRes, a.pos)
	}
}

// blockBackward turns g.dRes = dLoss/dX[l+1] into dLoss/dX[l], mirroring
// blockForward step by step in reverse.
func (m *Model) blockBackward(a *Acts, g *Grads, l int) {
	c, be, blk, L := m.Config, m.Be, &m.Blocks[l], a.layer(l)
	B, T := a.B, a.T
	x := a.X[l]
	// The shared buffers (norm outputs, attention output, MLP activation)
	// hold another layer's or another op's values: recompute each right
	// before it is read, and only where something reads it. First the
	// residual after attention, x2, which backward reads: it lives in
	// X[l+1], the next block's input, free once that block's backward (or
	// the final norm's) is done. Under KeepInputs the block is rerun, up to
	// its MLP projections, which writes x2 there and leaves the MLP norm
	// current; KeepLean recomputes the attention output and x2 from it.
	// Either way the attention output stays current unless the activation
	// (same buffer) is recomputed over it.
	rerun := a.Mode == KeepInputs
	x2 := a.X[l+1]
	if rerun {
		m.blockForward(a, l, 0, nil, true)
	} else {
		m.attention(L, B, T)
		m.residualAfterAttention(blk, L, x2, x, true)
	}
	attCurrent := true

	// MLP: out = X2 + Down(act(...)); g.dRes is dOut = dX2 (partial) = dMLPOut.
	if blk.Down.trains() {
		m.mlpAct(L)
		attCurrent = false
	}
	blk.Down.backward(be, g.dAct, g.dRes, L.Act, false)
	if !rerun && (blk.Up.trains() || blk.Gate != nil && blk.Gate.trains()) {
		m.mlpNorm(blk, L, x2)
	}
	if c.Arch == ArchGPT2 {
		be.GeluTanhBackward(g.dUp, g.dAct, L.Up)
		blk.Up.backward(be, g.dNorm, g.dUp, L.Norm2, false)
	} else {
		be.SiluMulBackward(g.dGate, g.dUp, g.dAct, L.Gate, L.Up)
		blk.Gate.backward(be, g.dNorm, g.dGate, L.Norm2, false)
		blk.Up.backward(be, g.dNorm, g.dUp, L.Norm2, true)
	}
	m.normBackward(g.tmp, blk.Norm2WGrad, blk.Norm2BGrad, g.dNorm, x2, L.Mean2, L.Rstd2, blk.Norm2W)
	be.Add(g.dRes, g.dRes, g.tmp) // dX2

	// attention: X2 = X + O(attn(q, k, v)); g.dRes is dX2 = dAttProj.
	// Flash attention's backward reads its output; with saved
	// probabilities only a trainable O reads it.
	if !attCurrent && (L.LSE != nil || blk.O.trains()) {
		m.attention(L, B, T)
	}
	blk.O.backward(be, g.dAtt, g.dRes, L.Att, false)
	if L.LSE != nil {
		be.(compute.FlashAttention).AttentionBackwardLSE(g.dQ, g.dK, g.dV, g.dAtt, L.Att, L.LSE, L.Q, L.K, L.V,
			B, T, T, c.Heads, c.KVHeads, c.HeadDim)
	} else {
		be.AttentionBackward(g.dQ, g.dK, g.dV, g.dAtt, L.Probs, L.Q, L.K, L.V, B, T, T, c.Heads, c.KVHeads, c.HeadDim)
	}
	if c.Arch == ArchGPT2 && blk.QKV.trains() || c.Arch == ArchLlama && (blk.Q.trains() || blk.K.trains() || blk.V.trains()) {
		m.attnNorm(blk, L, x)
	}
	if c.Arch == ArchGPT2 {
		be.ConcatCols(g.dQKV, []*compute.Tensor{g.dQ, g.dK, g.dV})
		blk.QKV.backward(be, g.dNorm, g.dQKV, L.Norm1, false)
	} else {
		be.RoPEBackward(g.dQ, B, T, c.Heads, c.HeadDim, 0, c.RopeTheta)
		be.RoPEBackward(g.dK, B, T, c.KVHeads, c.HeadDim, 0, c.RopeTheta)
		blk.Q.backward(be, g.dNorm, g.dQ, L.Norm1, false)
		blk.K.backward(be, g.dNorm, g.dK, L.Norm1, true)
		blk.V.backward(be, g.dNorm, g.dV, L.Norm1, true)
	}
	m.normBackward(g.tmp, blk.Norm1WGrad, blk.Norm1BGrad, g.dNorm, x, L.Mean1, L.Rstd1, blk.Norm1W)
	be.Add(g.dRes, g.dRes, g.tmp) // dX[l]
}

// normBackward is norm's backward pass: dx from dy, with the gradients of
// the weight and bias accumulated into dw and db where they train (nil
// otherwise; db only for LayerNorm).
func (m *Model) normBackward(dx, dw, db, dy, x, mean, rstd, w *compute.Tensor) {
	if m.Config.Arch == ArchGPT2 {
		m.Be.LayerNormBackward(dx, dw, db, dy, x, mean, rstd, w)
	} else {
		m.Be.RMSNormBackward(dx, dw, dy, x, rstd, w)
	}
}

// attention recomputes the attention output L.Att of a training batch from
// q, k, v and the saved log-sum-exp (or probabilities).
func (m *Model) attention(L *LayerActs, B, T int) {
	c, be := m.Config, m.Be
	if L.LSE != nil {
		be.(compute.FlashAttention).AttentionLSE(L.Att, L.LSE, L.Q, L.K, L.V, B, T, T, c.Heads, c.KVHeads, c.HeadDim)
	} else {
		be.Attention(L.Att, L.Probs, L.Q, L.K, L.V, B, T, T, c.Heads, c.KVHeads, c.HeadDim)
	}
}

// backward writes (or with accumulate, adds) dx = dy·W plus the adapter's
// share, and accumulates the gradients of whatever in the module trains.
func (l *Linear) backward(be compute.Backend, dx, dy, x *compute.Tensor, accumulate bool) {
	be.LinearBackwardInput(dx, dy, l.W, accumulate)
	if l.Adapter != nil {
		l.Adapter.Backward(be, dx, dy, x)
	}
	if l.WGrad != nil {
		if l.W.Transposed { // stored [In, Out]: dW += xᵀ·dy
			be.MatMul(l.WGrad, x, dy, true, false, 1, 1)
		} else { // stored [Out, In]: dW += dyᵀ·x
			be.MatMul(l.WGrad, dy, x, true, false, 1, 1)
		}
	}
	if l.BiasGrad != nil {
		be.BiasBackward(l.BiasGrad, dy)
	}
}
