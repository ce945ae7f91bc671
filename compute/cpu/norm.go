package cpu

import (
	"math"

	"github.com/fynetune/fynetune/compute"
)

// normCost is the rough cost per element of a normalization pass.
const normCost = 4

// LayerNorm computes out = (x-mean)·rstd·w + b per row (biased variance) and
// saves mean[N] and rstd[N]. b may be nil (no bias).
func (b *Backend) LayerNorm(out, mean, rstd, x, w, bias *compute.Tensor, eps float32) {
	const op = "LayerNorm"
	xd := data(op, "x", x)
	n, c := x.Rows(), x.Cols()
	t := &b.lnFwd
	*t = layerNormTask{
		out: data(op, "out", out), mean: data(op, "mean", mean), rstd: data(op, "rstd", rstd),
		x: xd, w: data(op, "w", w), b: optData(op, "b", bias), c: c, eps: float64(eps),
	}
	mustShape(op, "out", out, n, c)
	mustLen(op, "mean", mean, n)
	mustLen(op, "rstd", rstd, n)
	mustLen(op, "w", w, c)
	if bias != nil {
		mustLen(op, "b", bias, c)
	}
	b.pool.parallel(n, b.pool.partsFor(n, c*normCost), t)
	*t = layerNormTask{}
}

type layerNormTask struct {
	out, mean, rstd, x, w, b []float32
	c                        int
	eps                      float64
}

func (t *layerNormTask) run(_, lo, hi int) {
	c := t.c
	for i := lo; i < hi; i++ {
		x := t.x[i*c : (i+1)*c]
		out := t.out[i*c : (i+1)*c]
		var s float64
		for _, v := range x {
			s += float64(v)
		}
		m := s / float64(c)
		var ss float64
		for _, v := range x {
			d := float64(v) - m
			ss += d * d
		}
		r := 1 / math.Sqrt(ss/float64(c)+t.eps)
		t.mean[i], t.rstd[i] = float32(m), float32(r)
		w := t.w[:c]
		if t.b != nil {
			bb := t.b[:c]
			for j, v := range x {
				out[j] = float32((float64(v)-m)*r*float64(w[j]) + float64(bb[j]))
			}
		} else {
			for j, v := range x {
				out[j] = float32((float64(v) - m) * r * float64(w[j]))
			}
		}
	}
}

// LayerNormBackward writes dx and accumulates dw and db (either may be nil).
func (b *Backend) LayerNormBackward(dx, dw, db, dout, x, mean, rstd, w *compute.Tensor) {
	const op = "LayerNormBackward"
	xd := data(op, "x", x)
	n, c := x.Rows(), x.Cols()
	t := &b.lnBwd
	*t = layerNormBackTask{
		dx: data(op, "dx", dx), dw: optData(op, "dw", dw), db: optData(op, "db", db),
		dout: data(op, "dout", dout), x: xd, mean: data(op, "mean", mean), rstd: data(op, "rstd", rstd),
		w: data(op, "w", w), c: c,
	}
	mustShape(op, "dx", dx, n, c)
	mustShape(op, "dout", dout, n, c)
	mustLen(op, "mean", mean, n)
	mustLen(op, "rstd", rstd, n)
	mustLen(op, "w", w, c)
	if dw != nil {
		mustLen(op, "dw", dw, c)
	}
	if db != nil {
		mustLen(op, "db", db, c)
	}
	parts := b.pool.partsFor(n, c*normCost*2)
	b.growScratch64(parts, 2*c)
	t.partial = b.scratch64[:parts]
	b.pool.parallel(n, parts, t)
	reduceParts(t.dw, t.partial, 0, c)
	reduceParts(t.db, t.partial, c, c)
	*t = layerNormBackTask{}
}

// reduceParts adds Σ_p partial[p][off:off+c] into dst (when dst is not nil),
// summing the parts in order.
func reduceParts(dst []float32, partial [][]float64, off, c int) {
	if dst == nil {
		return
	}
	for j := range c {
		var s float64
		for _, p := range partial {
			s += p[off+j]
		}
		dst[j] += float32(s)
	}
}

type layerNormBackTask struct {
	dx, dw, db, dout, x, mean, rstd, w []float32
	partial                            [][]float64 // per part: dw sums, then db sums
	c                                  int
}

func (t *layerNormBackTask) run(part, lo, hi int) {
	c := t.c
	acc := t.partial[part][:2*c]
	clear(acc)
	pw, pb := acc[:c], acc[c:]
	w := t.w[:c]
	for i := lo; i < hi; i++ {
		x := t.x[i*c : (i+1)*c]
		dout := t.dout[i*c : (i+1)*c]
		dx := t.dx[i*c : (i+1)*c]
		m, r := float64(t.mean[i]), float64(t.rstd[i])
		var sg, sgx float64
		for j, v := range x {
			g := float64(dout[j]) * float64(w[j])
			sg += g
			sgx += g * (float64(v) - m) * r
		}
		sg /= float64(c)
		sgx /= float64(c)
		for j, v := range x {
			xh := (float64(v) - m) * r
			g := float64(dout[j]) * float64(w[j])
			dx[j] = float32(r * (g - sg - xh*sgx))
			pw[j] += float64(dout[j]) * xh
			pb[j] += float64(dout[j])
		}
	}
}

// RMSNorm computes out = x·rstd·w per row with rstd = 1/sqrt(mean(x²)+eps),
// saving rstd[N].
func (b *Backend) RMSNorm(out, rstd, x, w *compute.Tensor, eps float32) {
	const op = "RMSNorm"
	xd := data(op, "x", x)
	n, c := x.Rows(), x.Cols()
	t := &b.rmsFwd
	*t = rmsNormTask{out: data(op, "out", out), rstd: data(op, "rstd", rstd), x: xd, w: data(op, "w", w), c: c, eps: float64(eps)}
	mustShape(op, "out", out, n, c)
	mustLen(op, "rstd", rstd, n)
	mustLen(op, "w", w, c)
	b.pool.parallel(n, b.pool.partsFor(n, c*normCost), t)
	*t = rmsNormTask{}
}

type rmsNormTask struct {
	out, rstd, x, w []float32
	c               int
	eps             float64
}

func (t *rmsNormTask) run(_, lo, hi int) {
	c := t.c
	w := t.w[:c]
	for i := lo; i < hi; i++ {
		x := t.x[i*c : (i+1)*c]
		out := t.out[i*c : (i+1)*c]
		var ss float64
		for _, v := range x {
			ss += float64(v) * float64(v)
		}
		r := float32(1 / math.Sqrt(ss/float64(c)+t.eps))
		t.rstd[i] = r
		// (x·rstd)·w, each product rounded to float32 as PyTorch does.
		for j, v := range x {
			out[j] = float32(v*r) * w[j]
		}
	}
}

// RMSNormBackward writes dx and accumulates dw (dw may be nil).
func (b *Backend) RMSNormBackward(dx, dw, dout, x, rstd, w *compute.Tensor) {
	const op = "RMSNormBackward"
	xd := data(op, "x", x)
	n, c := x.Rows(), x.Cols()
	t := &b.rmsBwd
	*t = rmsNormBackTask{
		dx: data(op, "dx", dx), dw: optData(op, "dw", dw), dout: data(op, "dout", dout),
		x: xd, rstd: data(op, "rstd", rstd), w: data(op, "w", w), c: c,
	}
	mustShape(op, "dx", dx, n, c)
	mustShape(op, "dout", dout, n, c)
	mustLen(op, "rstd", rstd, n)
	mustLen(op, "w", w, c)
	if dw != nil {
		mustLen(op, "dw", dw, c)
	}
	parts := b.pool.partsFor(n, c*normCost*2)
	b.growScratch64(parts, c)
	t.partial = b.scratch64[:parts]
	b.pool.parallel(n, parts, t)
	reduceParts(t.dw, t.partial, 0, c)
	*t = rmsNormBackTask{}
}

type rmsNormBackTask struct {
	dx, dw, dout, x, rstd, w []float32
	partial                  [][]float64
	c                        int
}

func (t *rmsNormBackTask) run(part, lo, hi int) {
	c := t.c
	pw := t.partial[part][:c]
	clear(pw)
	w := t.w[:c]
	for i := lo; i < hi; i++ {
		x := t.x[i*c : (i+1)*c]
		dout := t.dout[i*c : (i+1)*c]
		dx := t.dx[i*c : (i+1)*c]
		r := float64(t.rstd[i])
		var s float64
		for j, v := range x {
			s += float64(dout[j]) * float64(w[j]) * float64(v)
		}
		k := r * r * r * s / float64(c)
		for j, v := range x {
			xv := float64(v)
			dx[j] = float32(r*float64(dout[j])*float64(w[j]) - xv*k)
			pw[j] += float64(dout[j]) * xv * r
		}
	}
}
