package computetest

import (
	"math"

	"github.com/fynetune/fynetune/compute"
)

// refLSE is the log-sum-exp of each query row's scaled scores in float64,
// laid out [B, H, Tq]: log Σ_{j <= tk-tq+t} exp(q_t·k_j/√hd).
func refLSE(c attnCase, q, k []float64) []float64 {
	lse := make([]float64, c.batch*c.heads*c.tq)
	pos0 := c.tk - c.tq
	scale := 1 / math.Sqrt(float64(c.hd))
	s := make([]float64, c.tk)
	for b := range c.batch {
		for h := range c.heads {
			kvh := h / (c.heads / c.kvHeads)
			for t := range c.tq {
				qi := (b*c.tq+t)*c.heads*c.hd + h*c.hd
				lim := pos0 + t + 1
				mx := math.Inf(-1)
				for j := range lim {
					kj := (b*c.tk+j)*c.kvHeads*c.hd + kvh*c.hd
					var d float64
					for x := range c.hd {
						d += q[qi+x] * k[kj+x]
					}
					s[j] = d * scale
					mx = math.Max(mx, s[j])
				}
				var sum float64
				for j := range lim {
					sum += math.Exp(s[j] - mx)
				}
				lse[(b*c.heads+h)*c.tq+t] = mx + math.Log(sum)
			}
		}
	}
	return lse
}

// testFlashAttention checks compute.FlashAttention, where the backend has
// it, against the backend's own Attention and AttentionBackward (which
// testAttention checks against float64 references and finite differences)
// and the log-sum-exp against a float64 reference.
func testFlashAttention(e *env) {
	fa, ok := e.b.(compute.FlashAttention)
	if !ok {
		e.Skipf("%s does not implement compute.FlashAttention; the model trains it with Attention's saved probabilities",
			e.b.Name())
	}
	for _, c := range []struct {
		attnCase
		spread float64 // standard deviation of q and k
	}{
		{attnCase{1, 1, 1, 1, 1, 4}, 1},
		{attnCase{2, 3, 5, 4, 2, 4}, 1},      // GQA, two cached positions
		{attnCase{2, 6, 6, 4, 1, 8}, 1},      // multi-query
		{attnCase{1, 5, 5, 3, 3, 8}, 1},      // multi-head
		{attnCase{2, 150, 150, 4, 2, 16}, 1}, // GQA over several blocks of rows
		{attnCase{1, 130, 200, 3, 1, 8}, 1},  // multi-query, 70 cached positions, several blocks
		{attnCase{2, 40, 45, 2, 2, 16}, 6},   // scores up to ~±100: exp overflows float32 without the max
	} {
		what := name("B=%d Tq=%d Tk=%d H=%d Hkv=%d hd=%d spread=%g", c.batch, c.tq, c.tk, c.heads, c.kvHeads, c.hd, c.spread)
		nq, nk := c.batch*c.tq*c.heads*c.hd, c.batch*c.tk*c.kvHeads*c.hd
		nl := c.batch * c.heads * c.tq
		qv, kv, vv, gv := e.randn(nq, c.spread), e.randn(nk, c.spread), e.randn(nk, 1), e.randn(nq, 1)

		b := e.b
		q, k, v := e.tensor(qv, c.batch*c.tq, c.heads*c.hd), e.tensor(kv, c.batch*c.tk, c.kvHeads*c.hd), e.tensor(vv, c.batch*c.tk, c.kvHeads*c.hd)
		dout := e.tensor(gv, c.batch*c.tq, c.heads*c.hd)

		// The reference path: Attention with probabilities.
		out := b.NewTensor(c.batch*c.tq, c.heads*c.hd)
		probs := b.NewTensor(c.batch, c.heads, c.tq, c.tk)
		b.Attention(out, probs, q, k, v, c.batch, c.tq, c.tk, c.heads, c.kvHeads, c.hd)
		dq, dk, dv := b.NewTensor(c.batch*c.tq, c.heads*c.hd), b.NewTensor(c.batch*c.tk, c.kvHeads*c.hd), b.NewTensor(c.batch*c.tk, c.kvHeads*c.hd)
		b.AttentionBackward(dq, dk, dv, dout, probs, q, k, v, c.batch, c.tq, c.tk, c.heads, c.kvHeads, c.hd)

		// The LSE path, writing over garbage.
		outL := e.tensor(e.randn(nq, 1), c.batch*c.tq, c.heads*c.hd)
		lse := e.tensor(e.randn(nl, 1), c.batch, c.heads, c.tq)
		fa.AttentionLSE(outL, lse, q, k, v, c.batch, c.tq, c.tk, c.heads, c.kvHeads, c.hd)
		e.near("AttentionLSE out vs Attention "+what, e.get(outL), f64(e.get(out)))
		e.near("AttentionLSE lse "+what, e.get(lse), refLSE(c.attnCase, f64(qv), f64(kv)))

		dqL := e.tensor(e.randn(nq, 1), c.batch*c.tq, c.heads*c.hd)
		dkL := e.tensor(e.randn(nk, 1), c.batch*c.tk, c.kvHeads*c.hd)
		dvL := e.tensor(e.randn(nk, 1), c.batch*c.tk, c.kvHeads*c.hd)
		fa.AttentionBackwardLSE(dqL, dkL, dvL, dout, outL, lse, q, k, v, c.batch, c.tq, c.tk, c.heads, c.kvHeads, c.hd)
		e.near("AttentionBackwardLSE dq vs AttentionBackward "+what, e.get(dqL), f64(e.get(dq)))
		e.near("AttentionBackwardLSE dk vs AttentionBackward "+what, e.get(dkL), f64(e.get(dk)))
		e.near("AttentionBackwardLSE dv vs AttentionBackward "+what, e.get(dvL), f64(e.get(dv)))
	}
}
