package computetest

import (
	"github.com/nlpodyssey/spago/ag"
	"github.com/nlpodyssey/spago/mat"
)

// param wraps float64 values as a spago matrix that collects gradients.
func param(rows, cols int, v []float64) *mat.Dense[float64] {
	return mat.NewDense[float64](mat.WithShape(rows, cols), mat.WithBacking(append([]float64(nil), v...)), mat.WithGrad(true))
}

// grad returns the gradient spago accumulated in p (zeros when none).
func grad(p *mat.Dense[float64]) []float64 {
	if p.HasGrad() {
		return values(p.Grad())
	}
	return make([]float64, p.Size())
}

// weighted is the scalar Σ y⊙g, whose gradient with respect to y is g: it
// turns a backward pass from an upstream gradient into spago's scalar
// backward.
func weighted(y mat.Tensor, g *mat.Dense[float64]) mat.Tensor {
	return ag.Dot(y, g)
}

func testLinear(e *env) {
	for _, c := range []struct {
		n, in, out int
		transposed bool
		bias       bool
	}{
		{1, 1, 1, false, false},
		{3, 5, 4, false, true},
		{7, 13, 5, true, false},
		{7, 13, 5, true, true},
		{33, 70, 45, false, true},
		{64, 128, 96, true, true},
		{130, 96, 200, false, false},
	} {
		what := name("n=%d in=%d out=%d transposed=%v bias=%v", c.n, c.in, c.out, c.transposed, c.bias)
		xv, wv, bv, gv := e.randn(c.n*c.in, 1), e.randn(c.out*c.in, 0.3), e.randn(c.out, 1), e.randn(c.n*c.out, 1)

		// spago: y = x·Wᵀ (+ 1·biasᵀ), loss Σ y⊙g.
		x := param(c.n, c.in, f64(xv))
		y := ag.Mul(x, ag.T(dense(c.out, c.in, f64(wv))))
		if c.bias {
			y = ag.Add(y, ag.Mul(ones(c.n, 1), dense(1, c.out, f64(bv))))
		}
		if err := ag.Backward(weighted(y, dense(c.n, c.out, f64(gv)))); err != nil {
			e.Fatal(err)
		}

		w := e.weight("w", wv, c.out, c.in, c.transposed)
		xt := e.tensor(xv, c.n, c.in)
		out := e.tensor(e.randn(c.n*c.out, 1), c.n, c.out) // overwritten
		var bt = e.tensor(bv, c.out)
		if !c.bias {
			bt = nil
		}
		e.b.Linear(out, xt, w, bt)
		e.near("Linear "+what, e.get(out), values(y))

		dy := e.tensor(gv, c.n, c.out)
		dx := e.tensor(e.randn(c.n*c.in, 1), c.n, c.in) // overwritten
		e.b.LinearBackwardInput(dx, dy, w, false)
		e.near("LinearBackwardInput "+what, e.get(dx), grad(x))

		d0 := e.randn(c.n*c.in, 1)
		dx = e.tensor(d0, c.n, c.in)
		e.b.LinearBackwardInput(dx, dy, w, true)
		want := grad(x)
		for i, v := range d0 {
			want[i] += float64(v)
		}
		e.near("LinearBackwardInput accumulating "+what, e.get(dx), want)
	}
}

func testMatMul(e *env) {
	for _, c := range []struct {
		m, n, k     int
		ta, tb      bool
		alpha, beta float32
	}{
		{1, 1, 1, false, false, 1, 0},
		{4, 3, 5, false, false, 0.5, 0},
		{4, 3, 5, true, false, 1, 1},
		{4, 3, 5, false, true, -2, 0.25},
		{4, 3, 5, true, true, 1, 0},
		{16, 70, 8, false, true, 1.5, 1}, // LoRA: x·Aᵀ
		{8, 70, 33, true, false, 1, 1},   // LoRA gradient: dyᵀ·x
		{97, 130, 111, true, true, 0.3, -1},
	} {
		what := name("MatMul m=%d n=%d k=%d transA=%v transB=%v alpha=%g beta=%g", c.m, c.n, c.k, c.ta, c.tb, c.alpha, c.beta)
		ar, ac := c.m, c.k
		if c.ta {
			ar, ac = ac, ar
		}
		br, bc := c.k, c.n
		if c.tb {
			br, bc = bc, br
		}
		av, bv, cv := e.randn(ar*ac, 1), e.randn(br*bc, 1), e.randn(c.m*c.n, 1)
		var am, bm mat.Matrix = dense(ar, ac, f64(av)), dense(br, bc, f64(bv))
		if c.ta {
			am = am.T()
		}
		if c.tb {
			bm = bm.T()
		}
		want := values(am.Mul(bm).ProdScalar(float64(c.alpha)).Add(dense(c.m, c.n, f64(cv)).ProdScalar(float64(c.beta))))
		ct := e.tensor(cv, c.m, c.n)
		e.b.MatMul(ct, e.tensor(av, ar, ac), e.tensor(bv, br, bc), c.ta, c.tb, c.alpha, c.beta)
		e.near(what, e.get(ct), want)
	}
}
