package gl_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/compute/gl"
)

// maker builds the inputs of a differential case on one backend; the same
// seed gives the same values on both.
type maker struct {
	be  compute.Backend
	rng *rand.Rand
}

func (m *maker) randn(shape ...int) *compute.Tensor {
	t := m.be.NewTensor(shape...)
	v := make([]float32, t.Len())
	for i := range v {
		v[i] = float32(m.rng.NormFloat64())
	}
	m.be.Upload(t, v)
	return t
}

func (m *maker) weight(out, in int, transposed bool) *compute.Weight {
	v := make([]float32, out*in)
	for i := range v {
		v[i] = float32(m.rng.NormFloat64() * 0.3)
	}
	w := &compute.Weight{Name: "w", Out: out, In: in, Transposed: transposed, DType: compute.F32, F32: v}
	m.be.PrepareWeight(w)
	return w
}

func get(be compute.Backend, t *compute.Tensor) []float32 {
	v := make([]float32, t.Len())
	be.Download(v, t)
	return v
}

// relDiff is ‖a-b‖/‖b‖ (absolute when b is 0).
func relDiff(a, b []float32) float64 {
	var d, n float64
	for i := range b {
		e := float64(a[i]) - float64(b[i])
		if math.IsNaN(e) {
			return math.Inf(1)
		}
		d += e * e
		n += float64(b[i]) * float64(b[i])
	}
	if n == 0 {
		return math.Sqrt(d)
	}
	return math.Sqrt(d / n)
}

// TestAgainstCPU runs operations the shared suite does not reach (row
// views with offsets, the large matmul tiles, aliasing, weights prepared
// twice) on the GL and CPU backends from the same inputs and compares the
// results.
func TestAgainstCPU(t *testing.T) {
	againstCPU(t, backend(t))
}

func againstCPU(t *testing.T, g *gl.Backend) {
	c := cpu.New()
	for _, tc := range []struct {
		name string
		run  func(m *maker) []*compute.Tensor
	}{
		{"MatMul large tiles", func(m *maker) []*compute.Tensor {
			var outs []*compute.Tensor
			for _, tr := range [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}} {
				const mm, nn, kk = 300, 260, 70
				ar, ac, br, bc := mm, kk, kk, nn
				if tr[0] {
					ar, ac = ac, ar
				}
				if tr[1] {
					br, bc = bc, br
				}
				out := m.randn(mm, nn)
				m.be.MatMul(out, m.randn(ar, ac), m.randn(br, bc), tr[0], tr[1], 0.7, 0.3)
				outs = append(outs, out)
			}
			return outs
		}},
		{"Linear on row views", func(m *maker) []*compute.Tensor {
			var outs []*compute.Tensor
			for _, tr := range []bool{false, true} {
				w := m.weight(45, 70, tr)
				x := m.randn(12, 70).RowView(3, 7)
				bias := m.randn(3, 45).RowView(1, 1)
				bias.Shape = []int{45}
				big := m.randn(12, 45)
				m.be.Linear(big.RowView(2, 7), x, w, bias)
				dxBig := m.randn(10, 70)
				m.be.LinearBackwardInput(dxBig.RowView(1, 7), big.RowView(2, 7), w, true)
				outs = append(outs, big, dxBig)
			}
			return outs
		}},
		{"deep products (split k)", func(m *maker) []*compute.Tensor {
			var outs []*compute.Tensor
			for _, tr := range [][2]bool{{false, false}, {true, true}} {
				a, bm := m.randn(20, 2100), m.randn(2100, 30)
				if tr[0] {
					a = m.randn(2100, 20)
				}
				if tr[1] {
					bm = m.randn(30, 2100)
				}
				out := m.randn(20, 30)
				m.be.MatMul(out, a, bm, tr[0], tr[1], 0.5, 2)
				outs = append(outs, out)
			}
			// the LM head's backward: dx = dlogits·W with a tall W
			w := m.weight(3000, 24, false)
			dx := m.randn(9, 24)
			m.be.LinearBackwardInput(dx.RowView(2, 7), m.randn(7, 3000), w, true)
			out := m.be.NewTensor(5, 3000)
			m.be.Linear(out, m.randn(5, 24), w, m.randn(3000))
			return append(outs, dx, out)
		}},
		{"Linear large tiles", func(m *maker) []*compute.Tensor {
			w := m.weight(257, 96, false)
			out := m.be.NewTensor(300, 257)
			m.be.Linear(out, m.randn(300, 96), w, nil)
			return []*compute.Tensor{out}
		}},
		{"PrepareWeight again", func(m *maker) []*compute.Tensor {
			w := m.weight(20, 30, false)
			x := m.randn(5, 30)
			out1 := m.be.NewTensor(5, 20)
			m.be.Linear(out1, x, w, nil)
			for i := range w.F32 {
				w.F32[i] *= -2
			}
			m.be.PrepareWeight(w)
			out2 := m.be.NewTensor(5, 20)
			m.be.Linear(out2, x, w, nil)
			return []*compute.Tensor{out1, out2}
		}},
		{"MatMul on views", func(m *maker) []*compute.Tensor {
			a := m.randn(20, 16).RowView(4, 9)
			bm := m.randn(11, 16).RowView(1, 8)
			cb := m.randn(30, 8)
			m.be.MatMul(cb.RowView(5, 9), a, bm, false, true, 1, 1)
			return []*compute.Tensor{cb}
		}},
		{"elementwise on views", func(m *maker) []*compute.Tensor {
			x := m.randn(10, 33)
			y := m.randn(10, 33)
			m.be.Add(x.RowView(2, 3), x.RowView(2, 3), y.RowView(5, 3))
			m.be.Mul(y.RowView(0, 2), x.RowView(7, 2), y.RowView(1, 2))
			m.be.Scale(x.RowView(9, 1), 3)
			m.be.GeluTanh(y.RowView(3, 2), x.RowView(0, 2))
			m.be.SiluMul(y.RowView(6, 2), x.RowView(1, 2), x.RowView(3, 2))
			m.be.AddBias(x.RowView(4, 2), y.RowView(8, 1))
			m.be.Zero(x.RowView(6, 1))
			m.be.Copy(y.RowView(9, 1), x.RowView(0, 1))
			bb := m.randn(33)
			m.be.BiasBackward(bb, x.RowView(1, 5))
			return []*compute.Tensor{x, y, bb}
		}},
		{"overlapping Copy", func(m *maker) []*compute.Tensor {
			x := m.randn(10, 7)
			m.be.Copy(x.RowView(2, 5), x.RowView(0, 5))
			m.be.Copy(x.RowView(0, 5), x.RowView(4, 5))
			return []*compute.Tensor{x}
		}},
		{"CrossEntropy in place on a view", func(m *maker) []*compute.Tensor {
			l := m.randn(9, 300)
			v := l.RowView(2, 6)
			sum, n := m.be.CrossEntropy(v, v, []int32{3, -100, 299, 0, 7, 7}, 0.5)
			s := m.be.NewTensor(2)
			m.be.Upload(s, []float32{float32(sum), float32(n)})
			return []*compute.Tensor{l, s}
		}},
		{"norms on views", func(m *maker) []*compute.Tensor {
			x := m.randn(9, 300)
			w, b := m.randn(2, 300), m.randn(300)
			out, mean, rstd := m.randn(10, 300), m.randn(12, 1), m.randn(12, 1)
			wv := w.RowView(1, 1)
			wv.Shape = []int{300}
			m.be.LayerNorm(out.RowView(1, 5), mean.RowView(2, 5), rstd.RowView(3, 5), x.RowView(4, 5), wv, b, 1e-5)
			dx, dw, db := m.randn(8, 300), m.randn(300), m.randn(300)
			dout := m.randn(6, 300).RowView(1, 5)
			m.be.LayerNormBackward(dx.RowView(3, 5), dw, db, dout, x.RowView(4, 5), mean.RowView(2, 5), rstd.RowView(3, 5), wv)
			r2 := m.randn(7, 1)
			o2 := m.randn(6, 300)
			m.be.RMSNorm(o2.RowView(1, 5), r2.RowView(2, 5), x.RowView(0, 5), wv, 1e-6)
			m.be.RMSNormBackward(dx.RowView(0, 5), dw, dout, x.RowView(0, 5), r2.RowView(2, 5), wv)
			return []*compute.Tensor{out, mean, rstd, dx, dw, db, o2, r2}
		}},
		{"attention on cache views", func(m *maker) []*compute.Tensor {
			// A KV cache of 20 rows of which 13 are in use, 4 new queries.
			const hd, h, hkv = 8, 4, 2
			kc, vc := m.randn(20, hkv*hd), m.randn(20, hkv*hd)
			q := m.randn(6, h*hd).RowView(1, 4)
			m.be.RoPE(q, 1, 4, h, hd, 9, 10000)
			out := m.randn(5, h*hd)
			probs := m.randn(1, h, 4, 13)
			m.be.Attention(out.RowView(1, 4), probs, q, kc.RowView(0, 13), vc.RowView(0, 13), 1, 4, 13, h, hkv, hd)
			dq, dk, dv := m.randn(4, h*hd), m.randn(14, hkv*hd), m.randn(13, hkv*hd)
			m.be.AttentionBackward(dq, dk.RowView(1, 13), dv, out.RowView(1, 4), probs, q, kc.RowView(0, 13), vc.RowView(0, 13),
				1, 4, 13, h, hkv, hd)
			m.be.RoPEBackward(dq, 1, 4, h, hd, 9, 10000)
			return []*compute.Tensor{out, probs, dq, dk, dv}
		}},
		{"gathers on views", func(m *maker) []*compute.Tensor {
			src := m.randn(12, 9)
			out := m.randn(8, 9)
			m.be.GatherRows(out.RowView(2, 4), src.RowView(3, 8), []int32{7, 0, 0, 5})
			m.be.EmbeddingBackward(src.RowView(1, 10), out.RowView(1, 6), []int32{9, 3, 9, 9, 0, 3})
			tab := m.weight(10, 9, true)
			m.be.Embedding(out.RowView(5, 3), tab, []int32{9, 1, 9})
			return []*compute.Tensor{src, out}
		}},
		{"optimizers on views", func(m *maker) []*compute.Tensor {
			p, g, mo, v := m.randn(5, 13), m.randn(5, 13), m.randn(5, 13), m.randn(5, 13)
			m.be.Mul(v, v, v) // v >= 0
			m.be.AdamW(p.RowView(1, 2), g.RowView(2, 2), mo.RowView(3, 2), v.RowView(0, 2), 0.01, 0.9, 0.99, 1e-8, 0.1, 3)
			m.be.SGD(p.RowView(3, 2), g.RowView(0, 2), mo.RowView(0, 2), 0.1, 0.9, 2)
			m.be.SGD(p.RowView(0, 1), g.RowView(4, 1), nil, 0.1, 0, 1)
			ss := m.be.NewTensor(1)
			m.be.Upload(ss, []float32{float32(m.be.SumSquares(p.RowView(1, 3)))})
			return []*compute.Tensor{p, mo, v, ss}
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			want := tc.run(&maker{c, rand.New(rand.NewPCG(7, uint64(len(tc.name))))})
			got := tc.run(&maker{g, rand.New(rand.NewPCG(7, uint64(len(tc.name))))})
			for i := range want {
				w, gv := get(c, want[i]), get(g, got[i])
				if e := relDiff(gv, w); !(e <= 1e-5) {
					t.Errorf("result %d (%v): GL differs from the CPU by %.3g relative", i, want[i], e)
				}
			}
		})
	}
}
