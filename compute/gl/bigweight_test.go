//go:build cgo && linux

package gl_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/compute/quant"
)

// TestLargeWeights checks the products and gathers with weights larger
// than the driver binds to a shader (bound a range of rows at a time; the
// limit is lowered here so that small weights take that path) against the
// CPU backend, in f32 and f16, stored [Out, In] and transposed.
func TestLargeWeights(t *testing.T) {
	g := backend(t)
	c := cpu.New()
	defer g.SetWeightLimit(g.SetWeightLimit(2900))
	for _, dt := range []compute.DType{compute.F32, compute.F16} {
		for _, tr := range []bool{false, true} {
			if tr && dt != compute.F32 {
				continue // the compact formats are stored [Out, In]
			}
			t.Run(fmt.Sprintf("%v transposed=%v", dt, tr), func(t *testing.T) {
				const n, out, in = 7, 90, 37
				rng := rand.New(rand.NewPCG(3, uint64(dt)))
				randn := func(k int) []float32 {
					v := make([]float32, k)
					for i := range v {
						v[i] = float32(rng.NormFloat64())
					}
					return v
				}
				wv, xv, dyv, bv, d0 := randn(out*in), randn(n*in), randn(n*out), randn(out), randn(n*in)
				ids := []int32{89, 0, 45, 45, 3, 70}
				run := func(be compute.Backend) [][]float32 {
					w := &compute.Weight{Name: "big", Out: out, In: in, Transposed: tr, DType: dt}
					switch {
					case dt != compute.F32:
						w.Raw = quant.Quantize(dt, wv, out, in)
					case tr:
						w.F32 = make([]float32, out*in)
						for o := range out {
							for i := range in {
								w.F32[i*out+o] = wv[o*in+i]
							}
						}
					default:
						w.F32 = wv
					}
					be.PrepareWeight(w)
					x, y, dy, dx, bias := be.NewTensor(n, in), be.NewTensor(n, out), be.NewTensor(n, out), be.NewTensor(n, in), be.NewTensor(out)
					be.Upload(x, xv)
					be.Upload(dy, dyv)
					be.Upload(dx, d0)
					be.Upload(bias, bv)
					be.Linear(y, x, w, bias)
					be.LinearBackwardInput(dx, dy, w, true)
					res := [][]float32{get(be, y), get(be, dx)}
					if !tr {
						e := be.NewTensor(len(ids), in)
						be.Embedding(e, w, ids)
						res = append(res, get(be, e))
					}
					return res
				}
				want, got := run(c), run(g)
				for i := range want {
					if e := relDiff(got[i], want[i]); !(e <= 1e-5) {
						t.Errorf("result %d (Linear, LinearBackwardInput, Embedding): GL differs from the CPU by %.3g relative", i, e)
					}
				}
			})
		}
	}
}

// TestAttentionInPieces checks attention whose scores do not fit in
// scratch at once (a cap lowered here) and so run a few sequences at a
// time, against the CPU backend.
func TestAttentionInPieces(t *testing.T) {
	g := backend(t)
	c := cpu.New()
	const batch, tq, tk, h, hkv, hd = 5, 6, 9, 4, 2, 8
	g.SetScoreLimit(2 * 4 * h * tq * tk) // two sequences at a time
	defer g.SetScoreLimit(0)
	run := func(be compute.Backend) [][]float32 {
		m := &maker{be, rand.New(rand.NewPCG(11, 12))}
		q, k, v := m.randn(batch*tq, h*hd), m.randn(batch*tk, hkv*hd), m.randn(batch*tk, hkv*hd)
		out := m.randn(batch*tq, h*hd)
		be.Attention(out, nil, q, k, v, batch, tq, tk, h, hkv, hd)
		probs := be.NewTensor(batch, h, tq, tk)
		out2 := be.NewTensor(batch*tq, h*hd)
		be.Attention(out2, probs, q, k, v, batch, tq, tk, h, hkv, hd)
		dq, dk, dv := m.randn(batch*tq, h*hd), m.randn(batch*tk, hkv*hd), m.randn(batch*tk, hkv*hd)
		be.AttentionBackward(dq, dk, dv, m.randn(batch*tq, h*hd), probs, q, k, v, batch, tq, tk, h, hkv, hd)
		return [][]float32{get(be, out), get(be, dq), get(be, dk), get(be, dv)}
	}
	want, got := run(c), run(g)
	for i, what := range []string{"out", "dq", "dk", "dv"} {
		if e := relDiff(got[i], want[i]); !(e <= 1e-5) {
			t.Errorf("%s: GL differs from the CPU by %.3g relative", what, e)
		}
	}
}
