package cpu

import (
	"fmt"
	"math"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu/gemm"
)

// attnBlock is the number of query rows processed together. Row block
// [t0, t1) only needs keys 0..pos0+t1-1, so blocking skips most of the
// masked upper triangle while keeping the products large enough for the
// GEMM kernels.
const attnBlock = 32

type attnGeom struct {
	batch, tq, tk, heads, kvHeads, hd int
}

func checkAttention(op string, g attnGeom, q, k, v *compute.Tensor) {
	if g.batch < 0 || g.tq < 0 || g.tk < g.tq || g.heads <= 0 || g.kvHeads <= 0 || g.hd <= 0 || g.heads%g.kvHeads != 0 {
		panic(fmt.Sprintf("cpu: %s: bad geometry batch=%d tq=%d tk=%d heads=%d kvHeads=%d headDim=%d "+
			"(need tk >= tq and heads a multiple of kvHeads)", op, g.batch, g.tq, g.tk, g.heads, g.kvHeads, g.hd))
	}
	mustShape(op, "q", q, g.batch*g.tq, g.heads*g.hd)
	mustShape(op, "k", k, g.batch*g.tk, g.kvHeads*g.hd)
	mustShape(op, "v", v, g.batch*g.tk, g.kvHeads*g.hd)
}

// Attention is causal scaled-dot-product attention with grouped KV heads;
// see compute.Backend. probs, when not nil, receives the softmax
// probabilities [B, H, Tq, Tk], zero above the causal diagonal.
func (b *Backend) Attention(out, probs, q, k, v *compute.Tensor, batch, tq, tk, heads, kvHeads, headDim int) {
	const op = "Attention"
	g := attnGeom{batch, tq, tk, heads, kvHeads, headDim}
	t := &b.attF
	*t = attentionTask{
		g: g, out: data(op, "out", out), probs: optData(op, "probs", probs),
		q: data(op, "q", q), k: data(op, "k", k), v: data(op, "v", v),
	}
	checkAttention(op, g, q, k, v)
	mustShape(op, "out", out, batch*tq, heads*headDim)
	if probs != nil {
		mustLen(op, "probs", probs, batch*heads*tq*tk)
	}
	units := batch * heads
	if units == 0 || tq == 0 {
		return
	}
	parts := b.pool.partsFor(units, tq*tk*headDim)
	if probs == nil {
		b.growScratch(parts, min(attnBlock, tq)*tk)
	}
	t.scratch = b.scratch[:parts]
	b.pool.parallel(units, parts, t)
	*t = attentionTask{}
}

type attentionTask struct {
	g                   attnGeom
	out, probs, q, k, v []float32
	dout, dq, dk, dv    []float32
	scratch             [][]float32
}

func (t *attentionTask) run(part, lo, hi int) {
	g := t.g
	ldq, ldk := g.heads*g.hd, g.kvHeads*g.hd
	group := g.heads / g.kvHeads
	pos0 := g.tk - g.tq
	scale := float32(1 / math.Sqrt(float64(g.hd)))
	for u := lo; u < hi; u++ {
		bi, h := u/g.heads, u%g.heads
		kvh := h / group
		qh := t.q[bi*g.tq*ldq+h*g.hd:]
		oh := t.out[bi*g.tq*ldq+h*g.hd:]
		kh := t.k[bi*g.tk*ldk+kvh*g.hd:]
		vh := t.v[bi*g.tk*ldk+kvh*g.hd:]
		for t0 := 0; t0 < g.tq; t0 += attnBlock {
			t1 := min(t0+attnBlock, g.tq)
			nc := pos0 + t1
			var p []float32 // rows t0..t1 of the probabilities, stride tk
			if t.probs != nil {
				p = t.probs[(u*g.tq+t0)*g.tk : (u*g.tq+t1)*g.tk]
			} else {
				p = t.scratch[part][:(t1-t0)*g.tk]
			}
			// scores = scale·Q·Kᵀ
			gemm.Sgemm(false, true, t1-t0, nc, g.hd, scale, qh[t0*ldq:], ldq, kh, ldk, 0, p, g.tk)
			for i := range t1 - t0 {
				softmaxCausal(p[i*g.tk:(i+1)*g.tk], pos0+t0+i+1)
			}
			// out = P·V
			gemm.Sgemm(false, false, t1-t0, g.hd, nc, 1, p, g.tk, vh, ldk, 0, oh[t0*ldq:], ldq)
		}
	}
}

// softmaxCausal replaces row[:lim] by its softmax and zeroes row[lim:].
func softmaxCausal(row []float32, lim int) {
	r := row[:lim]
	mx := r[0]
	for _, v := range r[1:] {
		if v > mx {
			mx = v
		}
	}
	expShift(r, r, mx)
	inv := float32(1 / sum64(r))
	for j := range r {
		r[j] *= inv
	}
	clear(row[lim:])
}

// AttentionBackward writes dq, dk and dv from dout and the probabilities
// saved by Attention.
func (b *Backend) AttentionBackward(dq, dk, dv, dout, probs, q, k, v *compute.Tensor, batch, tq, tk, heads, kvHeads, headDim int) {
	const op = "AttentionBackward"
	g := attnGeom{batch, tq, tk, heads, kvHeads, headDim}
	t := &b.attB
	*t = attentionBackTask{attentionTask{
		g: g, probs: data(op, "probs", probs),
		q: data(op, "q", q), k: data(op, "k", k), v: data(op, "v", v),
		dout: data(op, "dout", dout), dq: data(op, "dq", dq), dk: data(op, "dk", dk), dv: data(op, "dv", dv),
	}}
	checkAttention(op, g, q, k, v)
	mustShape(op, "dout", dout, batch*tq, heads*headDim)
	mustShape(op, "dq", dq, batch*tq, heads*headDim)
	mustShape(op, "dk", dk, batch*tk, kvHeads*headDim)
	mustShape(op, "dv", dv, batch*tk, kvHeads*headDim)
	mustLen(op, "probs", probs, batch*heads*tq*tk)
	// One unit per (batch, KV head): the query heads of a group all add
	// into the same dk, dv columns, so they stay on one goroutine.
	units := batch * kvHeads
	if units == 0 {
		return
	}
	if tq == 0 {
		clear(t.dk)
		clear(t.dv)
		return
	}
	parts := b.pool.partsFor(units, (heads/kvHeads)*tq*tk*headDim*2)
	b.growScratch(parts, min(attnBlock, tq)*tk)
	t.scratch = b.scratch[:parts]
	b.pool.parallel(units, parts, t)
	*t = attentionBackTask{}
}

type attentionBackTask struct{ attentionTask }

// kvUnit returns, for batch bi and KV head kvh, where that head's K and V
// rows start and its dK and dV rows, which it clears: the backward passes
// accumulate every query head of the group into them.
func (g attnGeom) kvUnit(bi, kvh int, k, v, dk, dv []float32) (kh, vh, dkh, dvh []float32) {
	ldk := g.kvHeads * g.hd
	at := bi*g.tk*ldk + kvh*g.hd
	kh, vh, dkh, dvh = k[at:], v[at:], dk[at:], dv[at:]
	for j := range g.tk {
		clear(dkh[j*ldk : j*ldk+g.hd])
		clear(dvh[j*ldk : j*ldk+g.hd])
	}
	return kh, vh, dkh, dvh
}

func (t *attentionBackTask) run(part, lo, hi int) {
	g := t.g
	ldq, ldk := g.heads*g.hd, g.kvHeads*g.hd
	group := g.heads / g.kvHeads
	pos0 := g.tk - g.tq
	scale := float32(1 / math.Sqrt(float64(g.hd)))
	for u := lo; u < hi; u++ {
		bi, kvh := u/g.kvHeads, u%g.kvHeads
		kh, vh, dkh, dvh := g.kvUnit(bi, kvh, t.k, t.v, t.dk, t.dv)
		for h := kvh * group; h < (kvh+1)*group; h++ {
			off := bi*g.tq*ldq + h*g.hd
			qh, doh, dqh := t.q[off:], t.dout[off:], t.dq[off:]
			ph := t.probs[(bi*g.heads+h)*g.tq*g.tk:]
			for t0 := 0; t0 < g.tq; t0 += attnBlock {
				t1 := min(t0+attnBlock, g.tq)
				m, nc := t1-t0, pos0+t1
				p := ph[t0*g.tk:]
				ds := t.scratch[part][:m*g.tk]
				// dV[:nc] += Pᵀ·dO
				gemm.Sgemm(true, false, nc, g.hd, m, 1, p, g.tk, doh[t0*ldq:], ldq, 1, dvh, ldk)
				// dP = dO·Vᵀ
				gemm.Sgemm(false, true, m, nc, g.hd, 1, doh[t0*ldq:], ldq, vh, ldk, 0, ds, g.tk)
				// dS = P ⊙ (dP - Σ_j P·dP), zero above the diagonal
				for i := range m {
					lim := pos0 + t0 + i + 1
					pr, dr := p[i*g.tk:i*g.tk+lim], ds[i*g.tk:i*g.tk+nc]
					var dot float64
					for j, pv := range pr {
						dot += float64(pv) * float64(dr[j])
					}
					for j, pv := range pr {
						dr[j] = float32(float64(pv) * (float64(dr[j]) - dot))
					}
					clear(dr[lim:])
				}
				// dQ = scale·dS·K, dK[:nc] += scale·dSᵀ·Q
				gemm.Sgemm(false, false, m, g.hd, nc, scale, ds, g.tk, kh, ldk, 0, dqh[t0*ldq:], ldq)
				gemm.Sgemm(true, false, nc, g.hd, m, scale, ds, g.tk, qh[t0*ldq:], ldq, 1, dkh, ldk)
			}
		}
	}
}
