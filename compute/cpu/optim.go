package cpu

import (
	"fmt"
	"math"

	"github.com/fynetune/fynetune/compute"
)

// Mul computes out = a ⊙ b elementwise.
func (b *Backend) Mul(out, x, y *compute.Tensor) {
	const op = "Mul"
	od, xd, yd := data(op, "out", out), data(op, "a", x), data(op, "b", y)
	if len(xd) != len(od) || len(yd) != len(od) {
		panic(fmt.Sprintf("cpu: %s: out %v, a %v and b %v differ in size", op, out, x, y))
	}
	for i := range od {
		od[i] = xd[i] * yd[i]
	}
}

// SumSquares returns Σx² accumulated in float64.
func (b *Backend) SumSquares(x *compute.Tensor) float64 {
	var s float64
	for _, v := range data("SumSquares", "x", x) {
		s += float64(v) * float64(v)
	}
	return s
}

// valuesOfLen returns t's values after checking it has n of them.
func valuesOfLen(op, arg string, t *compute.Tensor, n int) []float32 {
	d := data(op, arg, t)
	if len(d) != n {
		panic(fmt.Sprintf("cpu: %s: %s %v has %d values, want %d", op, arg, t, len(d), n))
	}
	return d
}

// AdamW applies one torch.optim.AdamW step (see compute.Backend).
func (b *Backend) AdamW(p, g, m, v *compute.Tensor, lr, beta1, beta2, eps, wd float32, step int) {
	const op = "AdamW"
	pd := data(op, "p", p)
	gd, md, vd := valuesOfLen(op, "g", g, len(pd)), valuesOfLen(op, "m", m, len(pd)), valuesOfLen(op, "v", v, len(pd))
	bc1 := 1 - math.Pow(float64(beta1), float64(step))
	bc2 := 1 - math.Pow(float64(beta2), float64(step))
	stepSize := float32(float64(lr) / bc1)
	invSqrtBC2 := float32(1 / math.Sqrt(bc2))
	decay := 1 - lr*wd
	for i := range pd {
		gi := gd[i]
		pd[i] *= decay
		md[i] = beta1*md[i] + (1-beta1)*gi
		vd[i] = beta2*vd[i] + (1-beta2)*gi*gi
		denom := float32(math.Sqrt(float64(vd[i])))*invSqrtBC2 + eps
		pd[i] -= stepSize * md[i] / denom
	}
}

// SGD applies one torch.optim.SGD step (see compute.Backend).
func (b *Backend) SGD(p, g, buf *compute.Tensor, lr, momentum float32, step int) {
	const op = "SGD"
	pd := data(op, "p", p)
	gd := valuesOfLen(op, "g", g, len(pd))
	if momentum == 0 {
		for i := range pd {
			pd[i] -= lr * gd[i]
		}
		return
	}
	bd := valuesOfLen(op, "buf", buf, len(pd))
	for i := range pd {
		if step <= 1 {
			bd[i] = gd[i]
		} else {
			bd[i] = momentum*bd[i] + gd[i]
		}
		pd[i] -= lr * bd[i]
	}
}
