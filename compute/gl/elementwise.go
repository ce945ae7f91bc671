//go:build cgo && linux

package gl

import (
	"fmt"
	"math"

	"github.com/fynetune/fynetune/compute"
)

// ew runs one elementwise.glsl kernel over n elements.
func (b *Backend) ew(opDef string, n int, u args, bufs ...uint32) {
	if n == 0 {
		return
	}
	u["n"] = n
	p := b.program("elementwise.glsl", opDef)
	b.dispatch(p, groups1D(n, 256), 1, 1, u, bufs...)
}

// sameLen panics unless every tensor has n elements.
func sameLen(op string, n int, names []string, ts ...*compute.Tensor) {
	for i, t := range ts {
		if t.Len() != n {
			panic(fmt.Sprintf("gl: %s: %s is %v, want %d elements like %s", op, names[i], t, n, names[0]))
		}
	}
}

// Add computes out = a + b elementwise; out may alias a or b.
func (b *Backend) Add(out, x, y *compute.Tensor) {
	const op = "Add"
	od, xd, yd := b.dev(op, "out", out), b.dev(op, "a", x), b.dev(op, "b", y)
	n := out.Len()
	if x.Len() != n || y.Len() != n {
		panic(fmt.Sprintf("gl: %s: out %v, a %v and b %v differ in size", op, out, x, y))
	}
	b.post(func() {
		b.ew("OP_ADD", n, args{"off0": out.Off, "off2": x.Off, "off3": y.Off}, od.id, 0, xd.id, yd.id)
	})
}

// Mul computes out = a ⊙ b elementwise; out may alias a or b.
func (b *Backend) Mul(out, x, y *compute.Tensor) {
	const op = "Mul"
	od, xd, yd := b.dev(op, "out", out), b.dev(op, "a", x), b.dev(op, "b", y)
	n := out.Len()
	if x.Len() != n || y.Len() != n {
		panic(fmt.Sprintf("gl: %s: out %v, a %v and b %v differ in size", op, out, x, y))
	}
	b.post(func() {
		b.ew("OP_MUL", n, args{"off0": out.Off, "off2": x.Off, "off3": y.Off}, od.id, 0, xd.id, yd.id)
	})
}

// Scale multiplies x by s in place.
func (b *Backend) Scale(x *compute.Tensor, s float32) {
	xd := b.dev("Scale", "x", x)
	b.post(func() { b.ew("OP_SCALE", x.Len(), args{"off0": x.Off, "s": s}, xd.id) })
}

// AddBias adds bias[C] to every row of x in place.
func (b *Backend) AddBias(x, bias *compute.Tensor) {
	const op = "AddBias"
	xd, bd := b.dev(op, "x", x), b.dev(op, "bias", bias)
	c := x.Cols()
	mustLen(op, "bias", bias, c)
	if c == 0 {
		return
	}
	b.post(func() {
		b.ew("OP_ADD_BIAS", x.Len(), args{"off0": x.Off, "off2": bias.Off, "cols": c}, xd.id, 0, bd.id)
	})
}

// BiasBackward accumulates the column sums of dy into dbias[C].
func (b *Backend) BiasBackward(dbias, dy *compute.Tensor) {
	const op = "BiasBackward"
	bd, dd := b.dev(op, "dbias", dbias), b.dev(op, "dy", dy)
	c := dy.Cols()
	mustLen(op, "dbias", dbias, c)
	n := dy.Rows()
	if c == 0 || n == 0 {
		return
	}
	b.post(func() {
		b.colsum("MODE_BIAS", n, c, args{"offDOut": dy.Off}, []uint32{dd.id, 0, 0, 0},
			[]colTarget{{bd.id, dbias.Off}})
	})
}

// colTarget is a vector that receives (accumulates) column sums.
type colTarget struct {
	id  uint32
	off int
}

// colsum accumulates column sums of a per-element quantity (norm.glsl
// COLSUM in mode) of n rows × c columns into the targets: first partial
// sums over blocks of rows, then their sum, in a fixed order.
func (b *Backend) colsum(mode string, n, c int, u args, in []uint32, targets []colTarget) {
	nparts := min((n+31)/32, 128)
	rows := (n + nparts - 1) / nparts
	nparts = (n + rows - 1) / rows
	part := b.scratchBuffer("colsum", 4*2*nparts*c)
	u["N"], u["C"], u["R"], u["nparts"] = n, c, rows, nparts
	b.dispatch(b.program("norm.glsl", "COLSUM", mode), (c+63)/64, nparts, 1, u, append([]uint32{part}, in...)...)
	fin := b.program("norm.glsl", "COLSUM_FINISH")
	for i, t := range targets {
		if t.id == 0 {
			continue
		}
		b.dispatch(fin, (c+63)/64, 1, 1, args{"C": c, "nparts": nparts, "offDst": t.off, "offPart": i * nparts * c},
			t.id, part)
	}
}

// SumSquares returns Σx², the partial sums of the GPU added in float64.
func (b *Backend) SumSquares(x *compute.Tensor) float64 {
	xd := b.dev("SumSquares", "x", x)
	n := x.Len()
	if n == 0 {
		return 0
	}
	var s float64
	b.do(func() {
		g := min((n+255)/256, 1024)
		part := b.scratchBuffer("sumsq", 4*g)
		b.dispatch(b.program("reduce.glsl", "SUMSQ", "WG=256"), g, 1, 1, args{"n": n, "offX": x.Off}, part, xd.id)
		for _, v := range readFloats(part, g) {
			s += float64(v)
		}
	})
	return s
}

// SplitCols copies column blocks of src[N, ΣC_i] into dsts[i][N, C_i].
func (b *Backend) SplitCols(dsts []*compute.Tensor, src *compute.Tensor) {
	const op = "SplitCols"
	sd := b.dev(op, "src", src)
	n, c := src.Rows(), src.Cols()
	type part struct {
		d       *buffer
		off, ci int
		t       *compute.Tensor
	}
	parts := make([]part, len(dsts))
	off := 0
	for i, d := range dsts {
		dd := b.dev(op, "a destination", d)
		ci := d.Cols()
		if d.Rows() != n || off+ci > c {
			panic(fmt.Sprintf("gl: %s: dsts[%d] is %v, does not fit src %v at column %d", op, i, d, src, off))
		}
		parts[i] = part{dd, off, ci, d}
		off += ci
	}
	if off != c {
		panic(fmt.Sprintf("gl: %s: the outputs have %d columns in all, src %v has %d", op, off, src, c))
	}
	b.post(func() {
		for _, p := range parts {
			if p.ci == 0 {
				continue
			}
			b.ew("OP_COPY2D", n*p.ci, args{"off0": p.t.Off, "off2": src.Off + p.off, "cols": p.ci, "ldo": p.ci, "ldi": c},
				p.d.id, 0, sd.id)
		}
	})
}

// ConcatCols copies srcs[i][N, C_i] side by side into dst[N, ΣC_i].
func (b *Backend) ConcatCols(dst *compute.Tensor, srcs []*compute.Tensor) {
	const op = "ConcatCols"
	dd := b.dev(op, "dst", dst)
	n, c := dst.Rows(), dst.Cols()
	type part struct {
		s       *buffer
		off, ci int
		t       *compute.Tensor
	}
	parts := make([]part, len(srcs))
	off := 0
	for i, s := range srcs {
		sd := b.dev(op, "a source", s)
		ci := s.Cols()
		if s.Rows() != n || off+ci > c {
			panic(fmt.Sprintf("gl: %s: srcs[%d] is %v, does not fit dst %v at column %d", op, i, s, dst, off))
		}
		parts[i] = part{sd, off, ci, s}
		off += ci
	}
	if off != c {
		panic(fmt.Sprintf("gl: %s: the inputs have %d columns in all, dst %v has %d", op, off, dst, c))
	}
	b.post(func() {
		for _, p := range parts {
			if p.ci == 0 {
				continue
			}
			b.ew("OP_COPY2D", n*p.ci, args{"off0": dst.Off + p.off, "off2": p.t.Off, "cols": p.ci, "ldo": c, "ldi": p.ci},
				dd.id, 0, p.s.id)
		}
	})
}

// GeluTanh computes out = 0.5x(1+tanh(√(2/π)(x+0.044715x³))).
func (b *Backend) GeluTanh(out, x *compute.Tensor) {
	const op = "GeluTanh"
	od, xd := b.dev(op, "out", out), b.dev(op, "x", x)
	sameLen(op, x.Len(), []string{"x", "out"}, x, out)
	b.post(func() { b.ew("OP_GELU", x.Len(), args{"off0": out.Off, "off2": x.Off}, od.id, 0, xd.id) })
}

// GeluTanhBackward writes dx = dout·gelu'(x).
func (b *Backend) GeluTanhBackward(dx, dout, x *compute.Tensor) {
	const op = "GeluTanhBackward"
	dxd, dod, xd := b.dev(op, "dx", dx), b.dev(op, "dout", dout), b.dev(op, "x", x)
	sameLen(op, x.Len(), []string{"x", "dx", "dout"}, x, dx, dout)
	b.post(func() {
		b.ew("OP_GELU_BACK", x.Len(), args{"off0": dx.Off, "off2": dout.Off, "off3": x.Off}, dxd.id, 0, dod.id, xd.id)
	})
}

// SiluMul computes out = silu(gate)·up.
func (b *Backend) SiluMul(out, gate, up *compute.Tensor) {
	const op = "SiluMul"
	od, gd, ud := b.dev(op, "out", out), b.dev(op, "gate", gate), b.dev(op, "up", up)
	sameLen(op, gate.Len(), []string{"gate", "up", "out"}, gate, up, out)
	b.post(func() {
		b.ew("OP_SILU_MUL", gate.Len(), args{"off0": out.Off, "off2": gate.Off, "off3": up.Off}, od.id, 0, gd.id, ud.id)
	})
}

// SiluMulBackward writes dgate = dout·up·silu'(gate) and dup = dout·silu(gate).
func (b *Backend) SiluMulBackward(dgate, dup, dout, gate, up *compute.Tensor) {
	const op = "SiluMulBackward"
	dgd, dud := b.dev(op, "dgate", dgate), b.dev(op, "dup", dup)
	dod, gd, ud := b.dev(op, "dout", dout), b.dev(op, "gate", gate), b.dev(op, "up", up)
	sameLen(op, gate.Len(), []string{"gate", "up", "dout", "dgate", "dup"}, gate, up, dout, dgate, dup)
	b.post(func() {
		b.ew("OP_SILU_MUL_BACK", gate.Len(),
			args{"off0": dgate.Off, "off1": dup.Off, "off2": dout.Off, "off3": gate.Off, "off4": up.Off},
			dgd.id, dud.id, dod.id, gd.id, ud.id)
	})
}

// sameSize panics unless the tensors have as many elements as the first.
func (b *Backend) sameSize(op string, names []string, ts ...*compute.Tensor) []*buffer {
	out := make([]*buffer, len(ts))
	for i, t := range ts {
		out[i] = b.dev(op, names[i], t)
		if t.Len() != ts[0].Len() {
			panic(fmt.Sprintf("gl: %s: %s %v and %s %v differ in size", op, names[0], ts[0], names[i], t))
		}
	}
	return out
}

// AdamW applies one torch.optim.AdamW step (see compute.Backend).
func (b *Backend) AdamW(p, g, m, v *compute.Tensor, lr, beta1, beta2, eps, wd float32, step int) {
	const op = "AdamW"
	d := b.sameSize(op, []string{"p", "g", "m", "v"}, p, g, m, v)
	bc1 := 1 - math.Pow(float64(beta1), float64(step))
	bc2 := 1 - math.Pow(float64(beta2), float64(step))
	u := args{
		"n": p.Len(), "offP": p.Off, "offG": g.Off, "offM": m.Off, "offV": v.Off,
		"beta1": beta1, "beta2": beta2, "eps": eps, "decay": 1 - lr*wd,
		"stepSize": float32(float64(lr) / bc1), "invSqrtBC2": float32(1 / math.Sqrt(bc2)),
	}
	b.post(func() {
		if p.Len() > 0 {
			b.dispatch(b.program("optim.glsl", "ADAMW"), groups1D(p.Len(), 256), 1, 1, u, d[0].id, d[1].id, d[2].id, d[3].id)
		}
	})
}

// SGD applies one torch.optim.SGD step (see compute.Backend).
func (b *Backend) SGD(p, g, buf *compute.Tensor, lr, momentum float32, step int) {
	const op = "SGD"
	n := p.Len()
	if momentum == 0 {
		d := b.sameSize(op, []string{"p", "g"}, p, g)
		b.post(func() {
			if n > 0 {
				b.dispatch(b.program("optim.glsl", "SGD"), groups1D(n, 256), 1, 1,
					args{"n": n, "offP": p.Off, "offG": g.Off, "lr": lr}, d[0].id, d[1].id)
			}
		})
		return
	}
	d := b.sameSize(op, []string{"p", "g", "buf"}, p, g, buf)
	b.post(func() {
		if n > 0 {
			b.dispatch(b.program("optim.glsl", "SGD_MOMENTUM"), groups1D(n, 256), 1, 1,
				args{"n": n, "offP": p.Off, "offG": g.Off, "offM": buf.Off, "lr": lr, "momentum": momentum, "first": step <= 1},
				d[0].id, d[1].id, d[2].id)
		}
	})
}
