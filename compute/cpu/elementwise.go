package cpu

import (
	"fmt"

	"github.com/fynetune/fynetune/compute"
)

// Add computes out = a + b elementwise; out may alias a or b.
func (b *Backend) Add(out, x, y *compute.Tensor) {
	const op = "Add"
	od, xd, yd := data(op, "out", out), data(op, "a", x), data(op, "b", y)
	if len(xd) != len(od) || len(yd) != len(od) {
		panic(fmt.Sprintf("cpu: %s: out %v, a %v and b %v differ in size", op, out, x, y))
	}
	o := denseOf(out)
	switch {
	case same(od, xd):
		o.AddInPlace(denseOf(y))
	case same(od, yd):
		o.AddInPlace(denseOf(x))
	default:
		copy(od, xd)
		o.AddInPlace(denseOf(y))
	}
}

// same reports whether two equally long slices share their first element.
func same(a, b []float32) bool {
	return len(a) > 0 && len(b) > 0 && &a[0] == &b[0]
}

// AddBias adds bias[C] to every row of x in place.
func (b *Backend) AddBias(x, bias *compute.Tensor) {
	const op = "AddBias"
	xd, bd := data(op, "x", x), data(op, "bias", bias)
	c := x.Cols()
	mustLen(op, "bias", bias, c)
	for i := 0; i+c <= len(xd) && c > 0; i += c {
		row := xd[i : i+c]
		for j, v := range bd {
			row[j] += v
		}
	}
}

// BiasBackward accumulates the column sums of dy into dbias[C].
func (b *Backend) BiasBackward(dbias, dy *compute.Tensor) {
	const op = "BiasBackward"
	db, dd := data(op, "dbias", dbias), data(op, "dy", dy)
	c := dy.Cols()
	mustLen(op, "dbias", dbias, c)
	if c == 0 {
		return
	}
	n := dy.Rows()
	t := &b.biasT
	*t = biasTask{dbias: db, dy: dd, sums: b.rowBuf(c), n: n, c: c}
	// Parts split the columns, so every column is summed in row order by
	// one goroutine, whatever the thread count.
	b.pool.parallel(c, b.pool.partsFor(c, n), t)
	t.dy = nil
}

type biasTask struct {
	dbias, dy []float32
	sums      []float64
	n, c      int
}

func (t *biasTask) run(_, lo, hi int) {
	s := t.sums[lo:hi]
	clear(s)
	for i := range t.n {
		row := t.dy[i*t.c+lo : i*t.c+hi]
		for j, v := range row {
			s[j] += float64(v)
		}
	}
	for j, v := range s {
		t.dbias[lo+j] += float32(v)
	}
}

// Scale multiplies x by s in place.
func (b *Backend) Scale(x *compute.Tensor, s float32) {
	data("Scale", "x", x)
	denseOf(x).ProdScalarInPlace(float64(s))
}

// Copy copies src into dst (same number of elements).
func (b *Backend) Copy(dst, src *compute.Tensor) {
	const op = "Copy"
	dd, sd := data(op, "dst", dst), data(op, "src", src)
	if len(dd) != len(sd) {
		panic(fmt.Sprintf("cpu: %s: dst %v and src %v differ in size", op, dst, src))
	}
	copy(dd, sd)
}

// SplitCols copies column blocks of src[N, ΣC_i] into dsts[i][N, C_i].
func (b *Backend) SplitCols(dsts []*compute.Tensor, src *compute.Tensor) {
	const op = "SplitCols"
	sd := data(op, "src", src)
	n, c := src.Rows(), src.Cols()
	off := 0
	for i, d := range dsts {
		dd := data(op, "a destination", d)
		ci := d.Cols()
		if d.Rows() != n || off+ci > c {
			panic(fmt.Sprintf("cpu: %s: dsts[%d] is %v, does not fit src %v at column %d", op, i, d, src, off))
		}
		for r := range n {
			copy(dd[r*ci:(r+1)*ci], sd[r*c+off:r*c+off+ci])
		}
		off += ci
	}
	if off != c {
		panic(fmt.Sprintf("cpu: %s: the outputs have %d columns in all, src %v has %d", op, off, src, c))
	}
}

// ConcatCols copies srcs[i][N, C_i] side by side into dst[N, ΣC_i].
func (b *Backend) ConcatCols(dst *compute.Tensor, srcs []*compute.Tensor) {
	const op = "ConcatCols"
	dd := data(op, "dst", dst)
	n, c := dst.Rows(), dst.Cols()
	off := 0
	for i, s := range srcs {
		sd := data(op, "a source", s)
		ci := s.Cols()
		if s.Rows() != n || off+ci > c {
			panic(fmt.Sprintf("cpu: %s: srcs[%d] is %v, does not fit dst %v at column %d", op, i, s, dst, off))
		}
		for r := range n {
			copy(dd[r*c+off:r*c+off+ci], sd[r*ci:(r+1)*ci])
		}
		off += ci
	}
	if off != c {
		panic(fmt.Sprintf("cpu: %s: the inputs have %d columns in all, dst %v has %d", op, off, dst, c))
	}
}

// The elementwise activations.
const (
	opGelu = iota
	opGeluBack
	opSiluMul
	opSiluMulBack
)

// elementwiseCost is the rough cost of one activation element, in the
// units of minWork.
const elementwiseCost = 16

// The constants of gelu_new: √(2/π) and the cubic coefficient.
const (
	geluK = float32(0.7978845608028654)
	geluC = float32(0.044715)
)

type elementwiseTask struct {
	op         int
	o1, o2     []float32 // outputs
	i1, i2, i3 []float32 // inputs
}

// actChunk is how many elements the activations take at a time: the
// exponentials of a chunk are computed in one vector pass into a stack buffer.
const actChunk = 256

// The activations use exp only: 0.5(1+tanh(u)) = sigmoid(2u), so
// gelu(x) = x/(1+e^(-2u)) with u = √(2/π)(x+0.044715x³), and
// silu(g) = g/(1+e^(-g)).
func (t *elementwiseTask) run(_, lo, hi int) {
	var buf [actChunk]float32
	for c0 := lo; c0 < hi; c0 += actChunk {
		c1 := min(c0+actChunk, hi)
		e := buf[:c1-c0]
		switch t.op {
		case opGelu:
			out, x := t.o1[c0:c1], t.i1[c0:c1]
			geluArg(e, x)
			expShift(e, e, 0)
			geluOut(out, x, e)
		case opGeluBack:
			dx, dout, x := t.o1[c0:c1], t.i1[c0:c1], t.i2[c0:c1]
			geluArg(e, x)
			expShift(e, e, 0)
			geluBack(dx, dout, x, e)
		case opSiluMul:
			out, gate, up := t.o1[c0:c1], t.i1[c0:c1], t.i2[c0:c1]
			negate(e, gate)
			expShift(e, e, 0)
			siluMulOut(out, gate, up, e)
		case opSiluMulBack:
			dgate, dup := t.o1[c0:c1], t.o2[c0:c1]
			dout, gate, up := t.i1[c0:c1], t.i2[c0:c1], t.i3[c0:c1]
			negate(e, gate)
			expShift(e, e, 0)
			siluMulBack(dgate, dup, dout, gate, up, e)
		}
	}
}

func (b *Backend) elementwise(t elementwiseTask) {
	n := len(t.i1)
	p := &b.unaryT
	*p = t
	b.pool.parallel(n, b.pool.partsFor(n, elementwiseCost), p)
	*p = elementwiseTask{}
}

// sameLen panics unless every tensor has n elements.
func sameLen(op string, n int, names []string, ts ...*compute.Tensor) {
	for i, t := range ts {
		if t.Len() != n {
			panic(fmt.Sprintf("cpu: %s: %s is %v, want %d elements like %s", op, names[i], t, n, names[0]))
		}
	}
}

// GeluTanh computes out = 0.5x(1+tanh(√(2/π)(x+0.044715x³))).
func (b *Backend) GeluTanh(out, x *compute.Tensor) {
	const op = "GeluTanh"
	od, xd := data(op, "out", out), data(op, "x", x)
	sameLen(op, len(xd), []string{"x", "out"}, x, out)
	b.elementwise(elementwiseTask{op: opGelu, o1: od, i1: xd})
}

// GeluTanhBackward writes dx = dout·gelu'(x).
func (b *Backend) GeluTanhBackward(dx, dout, x *compute.Tensor) {
	const op = "GeluTanhBackward"
	dxd, dod, xd := data(op, "dx", dx), data(op, "dout", dout), data(op, "x", x)
	sameLen(op, len(xd), []string{"x", "dx", "dout"}, x, dx, dout)
	b.elementwise(elementwiseTask{op: opGeluBack, o1: dxd, i1: dod, i2: xd})
}

// SiluMul computes out = silu(gate)·up.
func (b *Backend) SiluMul(out, gate, up *compute.Tensor) {
	const op = "SiluMul"
	od, gd, ud := data(op, "out", out), data(op, "gate", gate), data(op, "up", up)
	sameLen(op, len(gd), []string{"gate", "up", "out"}, gate, up, out)
	b.elementwise(elementwiseTask{op: opSiluMul, o1: od, i1: gd, i2: ud})
}

// SiluMulBackward writes dgate = dout·up·silu'(gate) and dup = dout·silu(gate).
func (b *Backend) SiluMulBackward(dgate, dup, dout, gate, up *compute.Tensor) {
	const op = "SiluMulBackward"
	dgd, dud := data(op, "dgate", dgate), data(op, "dup", dup)
	dod, gd, ud := data(op, "dout", dout), data(op, "gate", gate), data(op, "up", up)
	sameLen(op, len(gd), []string{"gate", "up", "dout", "dgate", "dup"}, gate, up, dout, dgate, dup)
	b.elementwise(elementwiseTask{op: opSiluMulBack, o1: dgd, o2: dud, i1: dod, i2: gd, i3: ud})
}
