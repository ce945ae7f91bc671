package computetest

import (
	"math"
)

func testMul(e *env) {
	a, b := e.randn(37, 1), e.randn(37, 1)
	ta, tb, out := e.tensor(a, 37), e.tensor(b, 37), e.b.NewTensor(37)
	e.b.Mul(out, ta, tb)
	want := make([]float64, 37)
	for i := range want {
		want[i] = float64(a[i]) * float64(b[i])
	}
	e.near("Mul", e.get(out), want)
	e.b.Mul(ta, ta, tb) // out aliases a
	e.near("Mul in place", e.get(ta), want)
}

func testSumSquares(e *env) {
	a := e.randn(1001, 3)
	var want float64
	for _, v := range a {
		want += float64(v) * float64(v)
	}
	if got := e.b.SumSquares(e.tensor(a, 1001)); math.Abs(got-want) > Tol*want {
		e.Errorf("SumSquares = %g, want %g", got, want)
	}
}

// testOptimizers runs three steps of AdamW and of SGD (with and without
// momentum) against float64 statements of torch.optim's update rules.
func testOptimizers(e *env) {
	const n = 65
	p0 := e.randn(n, 1)
	grads := [][]float32{e.randn(n, 0.5), e.randn(n, 0.5), e.randn(n, 0.5)}
	lr, b1, b2, eps, wd := 0.01, 0.9, 0.999, 1e-8, 0.1
	pw, m, v := make([]float64, n), make([]float64, n), make([]float64, n)
	for i, x := range p0 {
		pw[i] = float64(x)
	}
	tp, tg, tm, tv := e.tensor(p0, n), e.b.NewTensor(n), e.b.NewTensor(n), e.b.NewTensor(n)
	for s, g := range grads {
		t := float64(s + 1)
		for i := range pw {
			gi := float64(g[i])
			pw[i] *= 1 - lr*wd
			m[i] = b1*m[i] + (1-b1)*gi
			v[i] = b2*v[i] + (1-b2)*gi*gi
			pw[i] -= lr / (1 - math.Pow(b1, t)) * m[i] / (math.Sqrt(v[i]/(1-math.Pow(b2, t))) + eps)
		}
		e.b.Upload(tg, g)
		e.b.AdamW(tp, tg, tm, tv, float32(lr), float32(b1), float32(b2), float32(eps), float32(wd), s+1)
	}
	e.near("AdamW", e.get(tp), pw)
	for _, mu := range []float64{0, 0.9} {
		ps, buf := make([]float64, n), make([]float64, n)
		for i, x := range p0 {
			ps[i] = float64(x)
		}
		tp, tb := e.tensor(p0, n), e.b.NewTensor(n)
		for s, g := range grads {
			for i := range ps {
				d := float64(g[i])
				if mu != 0 {
					if s == 0 {
						buf[i] = d
					} else {
						buf[i] = mu*buf[i] + d
					}
					d = buf[i]
				}
				ps[i] -= lr * d
			}
			e.b.Upload(tg, g)
			e.b.SGD(tp, tg, tb, float32(lr), float32(mu), s+1)
		}
		e.near("SGD", e.get(tp), ps)
	}
}
