package computetest

import (
	"math"

	"github.com/nlpodyssey/spago/ag"
	"github.com/nlpodyssey/spago/mat"
)

// normShapes are the [N, C] shapes the normalizations are checked on. RMSNorm
// skips C = 1, where its gradient (eps/(x²+eps)^1.5) is pure cancellation
// noise in float32.
var normShapes = [][2]int{{1, 1}, {1, 3}, {3, 5}, {17, 64}, {70, 300}}

// normCase is a normalization's inputs and spago's results for them.
type normCase struct {
	n, c          int
	layerNorm     bool // LayerNorm, else RMSNorm
	eps           float64
	x, w, b, g    []float32 // input, weight, bias, upstream gradient
	y, mean, rstd []float64 // outputs and saved statistics
	dx, dw, db    []float64 // gradients
	what          string
}

// spagoNorm builds LayerNorm or RMSNorm row by row out of spago operators,
// runs spago's backward pass for the upstream gradient g and collects the
// values and gradients.
func spagoNorm(c *normCase) {
	w, b := param(c.c, 1, f64(c.w)), param(c.c, 1, f64(c.b))
	eps := mat.Scalar(c.eps)
	var losses []mat.Tensor
	xs := make([]*mat.Dense[float64], c.n)
	ys, means, rstds := make([]mat.Tensor, c.n), make([]mat.Tensor, c.n), make([]mat.Tensor, c.n)
	for i := range c.n {
		x := param(c.c, 1, f64(c.x[i*c.c:(i+1)*c.c]))
		xs[i] = x
		if c.layerNorm {
			m := ag.ReduceMean(x)
			xc := ag.SubScalar(x, m)
			rs := ag.Reciprocal(ag.Sqrt(ag.AddScalar(ag.ReduceMean(ag.Square(xc)), eps)))
			means[i], rstds[i] = m, rs
			ys[i] = ag.Add(ag.Prod(ag.ProdScalar(xc, rs), w), b)
		} else {
			rs := ag.Reciprocal(ag.Sqrt(ag.AddScalar(ag.ReduceMean(ag.Square(x)), eps)))
			rstds[i] = rs
			ys[i] = ag.Prod(ag.ProdScalar(x, rs), w)
		}
		losses = append(losses, weighted(ys[i], dense(c.c, 1, f64(c.g[i*c.c:(i+1)*c.c]))))
	}
	if err := ag.Backward(ag.Sum(losses...)); err != nil {
		panic(err)
	}
	for i := range c.n {
		c.y = append(c.y, values(ys[i])...)
		c.dx = append(c.dx, grad(xs[i])...)
		c.rstd = append(c.rstd, values(rstds[i])...)
		if c.layerNorm {
			c.mean = append(c.mean, values(means[i])...)
		}
	}
	c.dw, c.db = grad(w), grad(b)
}

func (e *env) normCase(n, c int, layerNorm bool) *normCase {
	nc := &normCase{n: n, c: c, layerNorm: layerNorm, eps: 1e-5,
		x: e.randn(n*c, 1), w: e.randn(c, 1), b: e.randn(c, 1), g: e.randn(n*c, 1)}
	// An offset and spread per row, as in real activations.
	for i := range n {
		off, sc := e.rng.NormFloat64()*3, math.Exp(e.rng.NormFloat64())
		for j := range c {
			nc.x[i*c+j] = float32(float64(nc.x[i*c+j])*sc + off)
		}
	}
	nc.what = name("%dx%d", n, c)
	spagoNorm(nc)
	return nc
}

// plus returns a + b.
func plus(a []float64, b []float32) []float64 {
	out := make([]float64, len(a))
	for i := range a {
		out[i] = a[i] + float64(b[i])
	}
	return out
}

func testLayerNorm(e *env) {
	for _, s := range normShapes {
		c := e.normCase(s[0], s[1], true)
		b := e.b
		x := e.tensor(c.x, c.n, c.c)
		w, bias := e.tensor(c.w, c.c), e.tensor(c.b, c.c)
		out, mean, rstd := b.NewTensor(c.n, c.c), b.NewTensor(c.n), b.NewTensor(c.n)
		b.LayerNorm(out, mean, rstd, x, w, bias, float32(c.eps))
		e.near("LayerNorm out "+c.what, e.get(out), c.y)
		e.near("LayerNorm mean "+c.what, e.get(mean), c.mean)
		e.near("LayerNorm rstd "+c.what, e.get(rstd), c.rstd)

		dw0, db0 := e.randn(c.c, 1), e.randn(c.c, 1)
		dx, dw, db := e.tensor(e.randn(c.n*c.c, 1), c.n, c.c), e.tensor(dw0, c.c), e.tensor(db0, c.c)
		b.LayerNormBackward(dx, dw, db, e.tensor(c.g, c.n, c.c), x, mean, rstd, w)
		e.near("LayerNormBackward dx "+c.what, e.get(dx), c.dx)
		e.near("LayerNormBackward dw (accumulated) "+c.what, e.get(dw), plus(c.dw, dw0))
		e.near("LayerNormBackward db (accumulated) "+c.what, e.get(db), plus(c.db, db0))

		// Without parameter gradients.
		dx2 := b.NewTensor(c.n, c.c)
		b.LayerNormBackward(dx2, nil, nil, e.tensor(c.g, c.n, c.c), x, mean, rstd, w)
		e.near("LayerNormBackward dx (dw, db nil) "+c.what, e.get(dx2), c.dx)
	}
}

func testRMSNorm(e *env) {
	for _, s := range normShapes {
		if s[1] == 1 {
			continue
		}
		c := e.normCase(s[0], s[1], false)
		b := e.b
		x := e.tensor(c.x, c.n, c.c)
		w := e.tensor(c.w, c.c)
		out, rstd := b.NewTensor(c.n, c.c), b.NewTensor(c.n)
		b.RMSNorm(out, rstd, x, w, float32(c.eps))
		e.near("RMSNorm out "+c.what, e.get(out), c.y)
		e.near("RMSNorm rstd "+c.what, e.get(rstd), c.rstd)

		dw0 := e.randn(c.c, 1)
		dx, dw := e.tensor(e.randn(c.n*c.c, 1), c.n, c.c), e.tensor(dw0, c.c)
		b.RMSNormBackward(dx, dw, e.tensor(c.g, c.n, c.c), x, rstd, w)
		e.near("RMSNormBackward dx "+c.what, e.get(dx), c.dx)
		e.near("RMSNormBackward dw (accumulated) "+c.what, e.get(dw), plus(c.dw, dw0))

		dx2 := b.NewTensor(c.n, c.c)
		b.RMSNormBackward(dx2, nil, e.tensor(c.g, c.n, c.c), x, rstd, w)
		e.near("RMSNormBackward dx (dw nil) "+c.what, e.get(dx2), c.dx)
	}
}

var activationShapes = [][2]int{{1, 1}, {4, 7}, {64, 300}}

func testGelu(e *env) {
	for _, s := range activationShapes {
		n, c := s[0], s[1]
		xv, gv := e.randn(n*c, 2.5), e.randn(n*c, 1)
		// gelu_new out of spago operators:
		// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³)))
		x := param(n, c, f64(xv))
		inner := ag.ProdScalar(ag.Add(x, ag.ProdScalar(ag.Pow(x, 3), mat.Scalar(0.044715))), mat.Scalar(math.Sqrt(2/math.Pi)))
		y := ag.Prod(ag.ProdScalar(x, mat.Scalar(0.5)), ag.AddScalar(ag.Tanh(inner), mat.Scalar(1.0)))
		if err := ag.Backward(weighted(y, dense(n, c, f64(gv)))); err != nil {
			e.Fatal(err)
		}
		what := name("%dx%d", n, c)
		xt, out := e.tensor(xv, n, c), e.b.NewTensor(n, c)
		e.b.GeluTanh(out, xt)
		e.near("GeluTanh "+what, e.get(out), values(y))
		dx := e.tensor(e.randn(n*c, 1), n, c)
		e.b.GeluTanhBackward(dx, e.tensor(gv, n, c), xt)
		e.near("GeluTanhBackward "+what, e.get(dx), grad(x))
	}
}

func testSiluMul(e *env) {
	for _, s := range activationShapes {
		n, c := s[0], s[1]
		gate, up, gv := e.randn(n*c, 3), e.randn(n*c, 1), e.randn(n*c, 1)
		// silu(gate)·up = gate·sigmoid(gate)·up
		g, u := param(n, c, f64(gate)), param(n, c, f64(up))
		y := ag.Prod(ag.Prod(g, ag.Sigmoid(g)), u)
		if err := ag.Backward(weighted(y, dense(n, c, f64(gv)))); err != nil {
			e.Fatal(err)
		}
		what := name("%dx%d", n, c)
		gt, ut, out := e.tensor(gate, n, c), e.tensor(up, n, c), e.b.NewTensor(n, c)
		e.b.SiluMul(out, gt, ut)
		e.near("SiluMul "+what, e.get(out), values(y))
		dg, du := e.tensor(e.randn(n*c, 1), n, c), e.tensor(e.randn(n*c, 1), n, c)
		e.b.SiluMulBackward(dg, du, e.tensor(gv, n, c), gt, ut)
		e.near("SiluMulBackward dgate "+what, e.get(dg), grad(g))
		e.near("SiluMulBackward dup "+what, e.get(du), grad(u))
	}
}
