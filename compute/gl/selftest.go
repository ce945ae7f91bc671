//go:build cgo && linux

package gl

import (
	"fmt"
	"math"

	"github.com/fynetune/fynetune/compute"
)

// SelfTest runs a few small operations (a linear layer with bias, a
// transposed product, a reduction) and compares them with float64
// computations on the host. It returns an error naming the first wrong
// result, or what went wrong on the GPU.
func (b *Backend) SelfTest() (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("gl: self-test on %s failed: %v", b.Name(), p)
		}
	}()
	const n, in, out = 37, 53, 29
	xv, wv, bv := pseudo(n*in, 1), pseudo(out*in, 2), pseudo(out, 3)
	x := b.NewTensor(n, in)
	b.Upload(x, xv)
	bias := b.NewTensor(out)
	b.Upload(bias, bv)
	w := &compute.Weight{Name: "selftest", Out: out, In: in, DType: compute.F32, F32: wv}
	b.PrepareWeight(w)
	y := b.NewTensor(n, out)
	b.Linear(y, x, w, bias)
	want := make([]float64, n*out)
	for i := range n {
		for o := range out {
			s := float64(bv[o])
			for k := range in {
				s += float64(xv[i*in+k]) * float64(wv[o*in+k])
			}
			want[i*out+o] = s
		}
	}
	if err := compare("Linear", b, y, want); err != nil {
		return err
	}
	// xᵀ·x through MatMul with transA.
	g := b.NewTensor(in, in)
	b.MatMul(g, x, x, true, false, 0.5, 0)
	want = make([]float64, in*in)
	for i := range in {
		for j := range in {
			var s float64
			for r := range n {
				s += float64(xv[r*in+i]) * float64(xv[r*in+j])
			}
			want[i*in+j] = 0.5 * s
		}
	}
	if err := compare("MatMul", b, g, want); err != nil {
		return err
	}
	var ss float64
	for _, v := range xv {
		ss += float64(v) * float64(v)
	}
	if got := b.SumSquares(x); math.Abs(got-ss) > 1e-4*ss {
		return fmt.Errorf("gl: self-test on %s: SumSquares = %g, want %g", b.Name(), got, ss)
	}
	return nil
}

// pseudo returns n deterministic values in [-1, 1).
func pseudo(n int, seed uint32) []float32 {
	v := make([]float32, n)
	s := seed*2654435761 + 1
	for i := range v {
		s = s*1664525 + 1013904223
		v[i] = float32(s>>8)/float32(1<<24)*2 - 1
	}
	return v
}

// compare downloads t and checks it against want within 1e-4 of want's norm.
func compare(what string, b *Backend, t *compute.Tensor, want []float64) error {
	got := make([]float32, t.Len())
	b.Download(got, t)
	var d, w float64
	for i, v := range want {
		e := float64(got[i]) - v
		if math.IsNaN(e) {
			return fmt.Errorf("gl: self-test on %s: %s gave NaN at [%d]", b.Name(), what, i)
		}
		d += e * e
		w += v * v
	}
	if math.Sqrt(d) > 1e-4*math.Sqrt(w) {
		return fmt.Errorf("gl: self-test on %s: %s is off by %.3g relative to its norm", b.Name(), what, math.Sqrt(d/w))
	}
	return nil
}
