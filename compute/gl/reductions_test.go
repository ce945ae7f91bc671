//go:build cgo && linux

package gl_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
)

// TestRowReductionsAgainstCPU runs the kernels that reduce a row across a
// work group (norms and their backward passes, the attention softmax and
// its backward pass, sums of squares) on rows whose length is not a
// multiple of the work group, so that the invocations of one group run
// their loops a different number of times before the reduction, and
// compares them with the CPU backend.
func TestRowReductionsAgainstCPU(t *testing.T) {
	g := backend(t)
	c := cpu.New()
	check := func(name string, run func(m *maker) []*compute.Tensor) {
		t.Helper()
		want := run(&maker{c, rand.New(rand.NewPCG(9, uint64(len(name))))})
		got := run(&maker{g, rand.New(rand.NewPCG(9, uint64(len(name))))})
		for i := range want {
			w, gv := get(c, want[i]), get(g, got[i])
			if e := relDiff(gv, w); !(e <= 1e-5) {
				t.Errorf("%s: result %d (%v): GL differs from the CPU by %.3g relative", name, i, want[i], e)
			}
		}
	}
	for _, cols := range []int{300, 1000, 2049, 50257} {
		check(fmt.Sprintf("norms C=%d", cols), func(m *maker) []*compute.Tensor {
			const n = 6
			x, w, bias, dout := m.randn(n, cols), m.randn(cols), m.randn(cols), m.randn(n, cols)
			out, mean, rstd := m.be.NewTensor(n, cols), m.be.NewTensor(n), m.be.NewTensor(n)
			m.be.LayerNorm(out, mean, rstd, x, w, bias, 1e-5)
			dx, dw, db := m.be.NewTensor(n, cols), m.be.NewTensor(cols), m.be.NewTensor(cols)
			m.be.LayerNormBackward(dx, dw, db, dout, x, mean, rstd, w)
			o2, r2, dx2 := m.be.NewTensor(n, cols), m.be.NewTensor(n), m.be.NewTensor(n, cols)
			m.be.RMSNorm(o2, r2, x, w, 1e-6)
			m.be.RMSNormBackward(dx2, dw, dout, x, r2, w)
			return []*compute.Tensor{out, mean, rstd, dx, dw, db, o2, r2, dx2}
		})
	}
	for _, tk := range []int{300, 333} {
		check(fmt.Sprintf("attention Tk=%d", tk), func(m *maker) []*compute.Tensor {
			const heads, hd = 2, 8
			tq := tk
			q, k, v := m.randn(tq, heads*hd), m.randn(tk, heads*hd), m.randn(tk, heads*hd)
			m.be.Scale(q, 2)
			out, probs := m.be.NewTensor(tq, heads*hd), m.be.NewTensor(1, heads, tq, tk)
			m.be.Attention(out, probs, q, k, v, 1, tq, tk, heads, heads, hd)
			dout := m.randn(tq, heads*hd)
			dq, dk, dv := m.be.NewTensor(tq, heads*hd), m.be.NewTensor(tk, heads*hd), m.be.NewTensor(tk, heads*hd)
			m.be.AttentionBackward(dq, dk, dv, dout, probs, q, k, v, 1, tq, tk, heads, heads, hd)
			return []*compute.Tensor{out, probs, dq, dk, dv}
		})
	}
	for _, n := range []int{1000, 100003, 1 << 20} {
		m := &maker{g, rand.New(rand.NewPCG(10, uint64(n)))}
		x := m.randn(n)
		v := get(g, x)
		var want float64
		for _, e := range v {
			want += float64(e) * float64(e)
		}
		if got := g.SumSquares(x); math.Abs(got-want) > 1e-5*want {
			t.Errorf("SumSquares of %d values: %.9g, want %.9g", n, got, want)
		}
	}
}
