package cpu

import (
	"math"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu/gemm"
)

// Attention for training without the [B, H, Tq, Tk] probabilities
// (compute.FlashAttention), in the manner of FlashAttention-2 adapted to a
// CPU: the forward pass keeps only the log-sum-exp of each query row; the
// backward pass recomputes a block of probability rows at a time from it,
// P = exp(scale·Q·Kᵀ - lse), and uses D_i = Σ_d dO_i·O_i in place of
// Σ_j P_ij·dP_ij. A block of flashBlock query rows meets all the keys it
// sees at once: its scores are flashBlock × Tk, so the scratch, like
// everything else, grows linearly with the sequence length, and the products
// stay large enough for the GEMM kernels (a key-tiled online softmax would
// only pay off once a block of rows no longer fits the L2 cache).

// flashBlock is the number of query rows processed together by the LSE
// operations. Larger blocks amortize the packing of K and V inside the GEMMs
// over more rows; the backward pass keeps two flashBlock × Tk blocks per
// thread.
const flashBlock = 64

var _ compute.FlashAttention = (*Backend)(nil)

// flashTask is the argument block of AttentionLSE and AttentionBackwardLSE.
type flashTask struct {
	g                 attnGeom
	out, lse, q, k, v []float32
	dout, dq, dk, dv  []float32
	scratch           [][]float32
}

// AttentionLSE is Attention that saves, instead of the probabilities, the
// log-sum-exp of each query row's scaled scores in lse [B, H, Tq]; see
// compute.FlashAttention.
func (b *Backend) AttentionLSE(out, lse, q, k, v *compute.Tensor, batch, tq, tk, heads, kvHeads, headDim int) {
	const op = "AttentionLSE"
	g := attnGeom{batch, tq, tk, heads, kvHeads, headDim}
	t := &b.flashF
	*t = flashTask{
		g: g, out: data(op, "out", out), lse: data(op, "lse", lse),
		q: data(op, "q", q), k: data(op, "k", k), v: data(op, "v", v),
	}
	checkAttention(op, g, q, k, v)
	mustShape(op, "out", out, batch*tq, heads*headDim)
	mustLen(op, "lse", lse, batch*heads*tq)
	units := batch * heads
	if units == 0 || tq == 0 {
		*t = flashTask{}
		return
	}
	parts := b.pool.partsFor(units, tq*tk*headDim)
	b.growScratch(parts, min(flashBlock, tq)*tk)
	t.scratch = b.scratch[:parts]
	b.pool.parallel(units, parts, t)
	*t = flashTask{}
}

// run computes the units (batch, head) lo..hi-1 of the forward pass.
func (t *flashTask) run(part, lo, hi int) {
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
		lse := t.lse[u*g.tq : (u+1)*g.tq]
		for t0 := 0; t0 < g.tq; t0 += flashBlock {
			t1 := min(t0+flashBlock, g.tq)
			m, nc := t1-t0, pos0+t1
			p := t.scratch[part][:m*nc] // rows t0..t1 of P, stride nc
			// S = scale·Q·Kᵀ
			gemm.Sgemm(false, true, m, nc, g.hd, scale, qh[t0*ldq:], ldq, kh, ldk, 0, p, nc)
			for i := range m {
				lse[t0+i] = softmaxCausalLSE(p[i*nc:(i+1)*nc], pos0+t0+i+1)
			}
			// O = P·V
			gemm.Sgemm(false, false, m, g.hd, nc, 1, p, nc, vh, ldk, 0, oh[t0*ldq:], ldq)
		}
	}
}

// softmaxCausalLSE replaces row[:lim] by its softmax, zeroes row[lim:] and
// returns log Σ_j exp(row[j]) over j < lim, computed after subtracting the
// row's maximum so that no exponential overflows.
func softmaxCausalLSE(row []float32, lim int) float32 {
	r := row[:lim]
	mx := r[0]
	for _, v := range r[1:] {
		if v > mx {
			mx = v
		}
	}
	expShift(r, r, mx)
	sum := sum64(r)
	inv := float32(1 / sum)
	for j := range r {
		r[j] *= inv
	}
	clear(row[lim:])
	return float32(float64(mx) + math.Log(sum))
}

// AttentionBackwardLSE writes dq, dk and dv from dout, the forward pass's
// out and lse, and q, k, v, recomputing the probabilities a block of query
// rows at a time; see compute.FlashAttention.
func (b *Backend) AttentionBackwardLSE(dq, dk, dv, dout, out, lse, q, k, v *compute.Tensor, batch, tq, tk, heads, kvHeads, headDim int) {
	const op = "AttentionBackwardLSE"
	g := attnGeom{batch, tq, tk, heads, kvHeads, headDim}
	t := &b.flashB
	*t = flashBackTask{flashTask{
		g: g, out: data(op, "out", out), lse: data(op, "lse", lse),
		q: data(op, "q", q), k: data(op, "k", k), v: data(op, "v", v),
		dout: data(op, "dout", dout), dq: data(op, "dq", dq), dk: data(op, "dk", dk), dv: data(op, "dv", dv),
	}}
	checkAttention(op, g, q, k, v)
	mustShape(op, "out", out, batch*tq, heads*headDim)
	mustShape(op, "dout", dout, batch*tq, heads*headDim)
	mustShape(op, "dq", dq, batch*tq, heads*headDim)
	mustShape(op, "dk", dk, batch*tk, kvHeads*headDim)
	mustShape(op, "dv", dv, batch*tk, kvHeads*headDim)
	mustLen(op, "lse", lse, batch*heads*tq)
	// One unit per (batch, KV head): the query heads of a group all add
	// into the same dk, dv columns, so they stay on one goroutine.
	units := batch * kvHeads
	if units == 0 || tq == 0 {
		clear(t.dk)
		clear(t.dv)
		*t = flashBackTask{}
		return
	}
	parts := b.pool.partsFor(units, (heads/kvHeads)*tq*tk*headDim*4)
	b.growScratch(parts, 2*min(flashBlock, tq)*tk)
	t.scratch = b.scratch[:parts]
	b.pool.parallel(units, parts, t)
	*t = flashBackTask{}
}

type flashBackTask struct{ flashTask }

// run computes the units (batch, KV head) lo..hi-1 of the backward pass.
func (t *flashBackTask) run(part, lo, hi int) {
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
			qh, oh, doh, dqh := t.q[off:], t.out[off:], t.dout[off:], t.dq[off:]
			lse := t.lse[(bi*g.heads+h)*g.tq:]
			for t0 := 0; t0 < g.tq; t0 += flashBlock {
				t1 := min(t0+flashBlock, g.tq)
				m, nc := t1-t0, pos0+t1
				p := t.scratch[part][:m*nc]          // P, stride nc
				ds := t.scratch[part][m*nc : 2*m*nc] // dP, then dS
				// P = exp(scale·Q·Kᵀ - lse), zero above the diagonal. The
				// scores are the forward pass's to the bit: same product.
				gemm.Sgemm(false, true, m, nc, g.hd, scale, qh[t0*ldq:], ldq, kh, ldk, 0, p, nc)
				for i := range m {
					lim := pos0 + t0 + i + 1
					r := p[i*nc : (i+1)*nc]
					expShift(r[:lim], r[:lim], lse[t0+i])
					clear(r[lim:])
				}
				// dV[:nc] += Pᵀ·dO
				gemm.Sgemm(true, false, nc, g.hd, m, 1, p, nc, doh[t0*ldq:], ldq, 1, dvh, ldk)
				// dP = dO·Vᵀ
				gemm.Sgemm(false, true, m, nc, g.hd, 1, doh[t0*ldq:], ldq, vh, ldk, 0, ds, nc)
				// dS = P ⊙ (dP - D), D_i = Σ_d dO_id·O_id (= Σ_j P_ij·dP_ij)
				for i := range m {
					lim := pos0 + t0 + i + 1
					row := (t0 + i) * ldq
					d := float32(dot64(doh[row:row+g.hd], oh[row:row+g.hd]))
					dsRow(ds[i*nc:i*nc+lim], p[i*nc:i*nc+lim], d)
					clear(ds[i*nc+lim : (i+1)*nc])
				}
				// dQ = scale·dS·K, dK[:nc] += scale·dSᵀ·Q
				gemm.Sgemm(false, false, m, g.hd, nc, scale, ds, nc, kh, ldk, 0, dqh[t0*ldq:], ldq)
				gemm.Sgemm(true, false, nc, g.hd, m, scale, ds, nc, qh[t0*ldq:], ldq, 1, dkh, ldk)
			}
		}
	}
}

// dsRow sets ds[j] = p[j]·(ds[j] - d).
func dsRow(ds, p []float32, d float32) {
	p = p[:len(ds)]
	for j, pv := range p {
		ds[j] = pv * (ds[j] - d)
	}
}

// dot64 returns Σ a[i]·b[i] accumulated in float64.
func dot64(a, b []float32) float64 {
	b = b[:len(a)]
	var s0, s1 float64
	i := 0
	for ; i+2 <= len(a); i += 2 {
		s0 += float64(a[i]) * float64(b[i])
		s1 += float64(a[i+1]) * float64(b[i+1])
	}
	if i < len(a) {
		s0 += float64(a[i]) * float64(b[i])
	}
	return s0 + s1
}
