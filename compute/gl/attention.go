//go:build cgo && linux

package gl

import (
	"fmt"
	"math"

	"github.com/fynetune/fynetune/compute"
)

type attnGeom struct {
	batch, tq, tk, heads, kvHeads, hd int
}

func (b *Backend) checkAttention(op string, g attnGeom, q, k, v *compute.Tensor) {
	if g.batch < 0 || g.tq < 0 || g.tk < g.tq || g.heads <= 0 || g.kvHeads <= 0 || g.hd <= 0 || g.heads%g.kvHeads != 0 {
		panic(fmt.Sprintf("gl: %s: bad geometry batch=%d tq=%d tk=%d heads=%d kvHeads=%d headDim=%d "+
			"(need tk >= tq and heads a multiple of kvHeads)", op, g.batch, g.tq, g.tk, g.heads, g.kvHeads, g.hd))
	}
	mustShape(op, "q", q, g.batch*g.tq, g.heads*g.hd)
	mustShape(op, "k", k, g.batch*g.tk, g.kvHeads*g.hd)
	mustShape(op, "v", v, g.batch*g.tk, g.kvHeads*g.hd)
}

// The attention products are batched over (batch, head) with these
// strides: Q-like tensors [B*Tq, H*hd], KV tensors [B*Tk, Hkv*hd] and the
// score matrices [B, H, Tq, Tk].
func (g attnGeom) qStrides() (ld, sb, sh int) { return g.heads * g.hd, g.tq * g.heads * g.hd, g.hd }
func (g attnGeom) kvStrides() (ld, sb, sh int) {
	return g.kvHeads * g.hd, g.tk * g.kvHeads * g.hd, g.hd
}
func (g attnGeom) sStrides() (ld, sb, sh int) { return g.tk, g.heads * g.tq * g.tk, g.tq * g.tk }

// Attention is causal scaled-dot-product attention with grouped KV heads;
// see compute.Backend. probs, when not nil, receives the softmax
// probabilities [B, H, Tq, Tk], zero above the causal diagonal. It runs as
// scores = scale·Q·Kᵀ (tiles above the diagonal skipped), a row softmax and
// out = P·V (the k loop stopping at the diagonal), each batched over
// (batch, head).
func (b *Backend) Attention(out, probs, q, k, v *compute.Tensor, batch, tq, tk, heads, kvHeads, headDim int) {
	const op = "Attention"
	g := attnGeom{batch, tq, tk, heads, kvHeads, headDim}
	od, pd := b.dev(op, "out", out), b.optDev(op, "probs", probs)
	qd, kd, vd := b.dev(op, "q", q), b.dev(op, "k", k), b.dev(op, "v", v)
	b.checkAttention(op, g, q, k, v)
	mustShape(op, "out", out, batch*tq, heads*headDim)
	if probs != nil {
		mustLen(op, "probs", probs, batch*heads*tq*tk)
	}
	if batch == 0 || tq == 0 {
		return
	}
	scale := float32(1 / math.Sqrt(float64(headDim)))
	b.post(func() {
		if pd != nil {
			b.attention(g, pd.id, probs.Off, od.id, out.Off, qd.id, q.Off, kd.id, k.Off, vd.id, v.Off, scale)
			return
		}
		// Without probs the scores go to scratch, a few sequences at a
		// time when all of them would not fit.
		bc := b.scoreBatches(g)
		sid := b.scratchBuffer("attn_s", 4*bc*heads*tq*tk)
		for b0 := 0; b0 < batch; b0 += bc {
			gc := g
			gc.batch = min(bc, batch-b0)
			qo, ko := b0*tq*heads*headDim, b0*tk*kvHeads*headDim
			b.attention(gc, sid, 0, od.id, out.Off+qo, qd.id, q.Off+qo, kd.id, k.Off+ko, vd.id, v.Off+ko, scale)
		}
	})
}

// scoreBatches is how many sequences' score matrices [H, Tq, Tk] go into
// one scratch buffer: all of them when they fit in 256 MiB (and what the
// driver binds), else fewer.
func (b *Backend) scoreBatches(g attnGeom) int {
	per := 4 * g.heads * g.tq * g.tk
	limit := min(b.maxBlock, 256<<20)
	if b.scoreLimit > 0 {
		limit = b.scoreLimit
	}
	if per > limit {
		panic(fmt.Sprintf("gl: attention over %d×%d positions with %d heads needs %d MiB of scores a sequence, more than this driver binds to a shader (%d MiB)",
			g.tq, g.tk, g.heads, per>>20, limit>>20))
	}
	return max(1, min(g.batch, limit/per))
}

// attention runs the forward pass with the scores at sid+soff.
func (b *Backend) attention(g attnGeom, sid uint32, soff int, oid uint32, ooff int, qid uint32, qoff int,
	kid uint32, koff int, vid uint32, voff int, scale float32) {
	b.attnScores(g, sid, soff, qid, qoff, kid, koff, scale)
	b.attnRows("SOFTMAX", g, sid, soff, 0, 0)
	// out = P·V
	sld, ssb, ssh := g.sStrides()
	kld, ksb, ksh := g.kvStrides()
	qld, qsb, qsh := g.qStrides()
	b.gemm(&gemmCall{m: g.tq, n: g.hd, k: g.tk, a: sid, offA: soff, lda: sld, bb: vid, offB: voff, ldb: kld,
		c: oid, offC: ooff, ldc: qld, alpha: 1,
		batch: g.batch * g.heads, zH: g.heads, groupB: g.heads / g.kvHeads,
		strideAb: ssb, strideAh: ssh, strideBb: ksb, strideBh: ksh, strideCb: qsb, strideCh: qsh,
		causal: 2, pos0: g.tk - g.tq})
}

// attnScores writes scale·Q·Kᵀ (or, with dout for q and v for k, dO·Vᵀ)
// into the score matrices at sid+soff, skipping tiles above the diagonal.
func (b *Backend) attnScores(g attnGeom, sid uint32, soff int, qid uint32, qoff int, kid uint32, koff int, alpha float32) {
	sld, ssb, ssh := g.sStrides()
	kld, ksb, ksh := g.kvStrides()
	qld, qsb, qsh := g.qStrides()
	b.gemm(&gemmCall{m: g.tq, n: g.tk, k: g.hd, a: qid, offA: qoff, lda: qld, bb: kid, offB: koff, ldb: kld, transB: true,
		c: sid, offC: soff, ldc: sld, alpha: alpha,
		batch: g.batch * g.heads, zH: g.heads, groupB: g.heads / g.kvHeads,
		strideAb: qsb, strideAh: qsh, strideBb: ksb, strideBh: ksh, strideCb: ssb, strideCh: ssh,
		causal: 1, pos0: g.tk - g.tq})
}

// attnRows runs an attention.glsl row kernel over the B·H·Tq score rows.
func (b *Backend) attnRows(kernel string, g attnGeom, sid uint32, soff int, pid uint32, poff int) {
	rows := g.batch * g.heads * g.tq
	gx, gy := b.rowGrid(rows)
	wg := "WG=64"
	if g.tk > 256 {
		wg = "WG=256"
	}
	if pid == 0 {
		pid = sid
	}
	b.dispatch(b.program("attention.glsl", kernel, wg), gx, gy, 1,
		args{"rows": rows, "Tq": g.tq, "Tk": g.tk, "pos0": g.tk - g.tq, "offS": soff, "offP": poff}, sid, pid)
}

// AttentionBackward writes dq, dk and dv from dout and the probabilities
// saved by Attention: dP = dO·Vᵀ, dS = P⊙(dP - rowsum(P⊙dP)), dQ = scale·dS·K,
// and dK = scale·Σ dSᵀ·Q, dV = Σ Pᵀ·dO over the query heads of each KV
// head (one batched product per head of the group, accumulated in order).
func (b *Backend) AttentionBackward(dq, dk, dv, dout, probs, q, k, v *compute.Tensor, batch, tq, tk, heads, kvHeads, headDim int) {
	const op = "AttentionBackward"
	g := attnGeom{batch, tq, tk, heads, kvHeads, headDim}
	pd := b.dev(op, "probs", probs)
	qd, kd, vd := b.dev(op, "q", q), b.dev(op, "k", k), b.dev(op, "v", v)
	dod, dqd, dkd, dvd := b.dev(op, "dout", dout), b.dev(op, "dq", dq), b.dev(op, "dk", dk), b.dev(op, "dv", dv)
	b.checkAttention(op, g, q, k, v)
	mustShape(op, "dout", dout, batch*tq, heads*headDim)
	mustShape(op, "dq", dq, batch*tq, heads*headDim)
	mustShape(op, "dk", dk, batch*tk, kvHeads*headDim)
	mustShape(op, "dv", dv, batch*tk, kvHeads*headDim)
	mustLen(op, "probs", probs, batch*heads*tq*tk)
	if batch == 0 {
		return
	}
	scale := float32(1 / math.Sqrt(float64(headDim)))
	b.post(func() {
		// dS goes to scratch, a few sequences at a time when all of them
		// would not fit.
		bc := b.scoreBatches(g)
		ds := uint32(0)
		if tq > 0 {
			ds = b.scratchBuffer("attn_ds", 4*bc*heads*tq*tk)
		}
		for b0 := 0; b0 < batch; b0 += bc {
			gc := g
			gc.batch = min(bc, batch-b0)
			qo, ko, po := b0*tq*heads*headDim, b0*tk*kvHeads*headDim, b0*heads*tq*tk
			b.attentionBack(gc, ds, scale, attnBufs{
				q: qd.id, k: kd.id, v: vd.id, dout: dod.id, probs: pd.id, dq: dqd.id, dk: dkd.id, dv: dvd.id,
				qOff: q.Off + qo, kOff: k.Off + ko, vOff: v.Off + ko, doutOff: dout.Off + qo, probsOff: probs.Off + po,
				dqOff: dq.Off + qo, dkOff: dk.Off + ko, dvOff: dv.Off + ko})
		}
	})
}

// attnBufs are the buffers and element offsets of a backward pass.
type attnBufs struct {
	q, k, v, dout, probs, dq, dk, dv                         uint32
	qOff, kOff, vOff, doutOff, probsOff, dqOff, dkOff, dvOff int
}

// attentionBack runs the backward pass of g with dS in scratch ds.
func (b *Backend) attentionBack(g attnGeom, ds uint32, scale float32, t attnBufs) {
	tq, tk, heads, kvHeads, headDim := g.tq, g.tk, g.heads, g.kvHeads, g.hd
	pos0 := tk - tq
	group := heads / kvHeads
	sld, ssb, ssh := g.sStrides()
	kld, ksb, ksh := g.kvStrides()
	qld, qsb, qsh := g.qStrides()
	if tq > 0 {
		// dS, then dQ = scale·dS·K
		b.attnScores(g, ds, 0, t.dout, t.doutOff, t.v, t.vOff, 1)
		b.attnRows("SOFTMAX_BACK", g, ds, 0, t.probs, t.probsOff)
		b.gemm(&gemmCall{m: tq, n: headDim, k: tk, a: ds, lda: sld, bb: t.k, offB: t.kOff, ldb: kld,
			c: t.dq, offC: t.dqOff, ldc: qld, alpha: scale,
			batch: g.batch * heads, zH: heads, groupB: group,
			strideAb: ssb, strideAh: ssh, strideBb: ksb, strideBh: ksh, strideCb: qsb, strideCh: qsh,
			causal: 2, pos0: pos0})
	}
	// dK = scale·Σ_h dS_hᵀ·Q_h and dV = Σ_h P_hᵀ·dO_h over the heads
	// h = kvh·group + j of each KV head, batched over (batch, KV head).
	for j := range group {
		beta := float32(1)
		if j == 0 {
			beta = 0
		}
		for _, p := range []struct {
			s      uint32
			soff   int
			x      uint32
			xoff   int
			dst    uint32
			dstOff int
			alpha  float32
		}{
			{ds, 0, t.q, t.qOff, t.dk, t.dkOff, scale},
			{t.probs, t.probsOff, t.dout, t.doutOff, t.dv, t.dvOff, 1},
		} {
			s := p.s
			if s == 0 {
				s = p.dst // tq == 0: nothing is read
			}
			b.gemm(&gemmCall{m: tk, n: headDim, k: tq, a: s, offA: p.soff + j*tq*tk, lda: sld, transA: true,
				bb: p.x, offB: p.xoff + j*headDim, ldb: qld, c: p.dst, offC: p.dstOff, ldc: kld,
				alpha: p.alpha, beta: beta,
				batch: g.batch * kvHeads, zH: kvHeads, groupB: 1,
				strideAb: ssb, strideAh: group * ssh, strideBb: qsb, strideBh: group * qsh,
				strideCb: ksb, strideCh: ksh,
				causal: 3, pos0: pos0})
		}
	}
}
