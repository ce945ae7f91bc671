package cpu

import (
	"fmt"
	"unsafe"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu/gemm"
	"github.com/fynetune/fynetune/compute/quant"
)

// Weights stored in a compact format (f16, bf16, NF4, int8, Q8_0, Q4_0; see
// compute/quant) are multiplied without ever being widened whole.
//
// Batches of more than smallBatch rows go through gemm.SgemmDecode: each
// SGEMM thread decodes the blocks of the weight it packs straight into its
// packing buffers (forward, y = x·Wᵀ: panels of 16 rows of W, decoded and
// transposed in L1, for a thread's share of at most 144 rows of x each
// right before the micro-kernels use it; backward, dx = dy·W: blocks of
// rows of W decoded into packed panels). No tile of the weight is written
// to memory and read back, the only scratch is SGEMM's per-thread buffers,
// and there is one barrier per product, SGEMM's.
//
// Batches of at most smallBatch rows (token-by-token generation) have too
// little reuse for packing to pay: each thread decodes rows of W into its
// own scratch and takes dot products (forward) or axpys (backward) with it.
const (
	// tileAlign is the column granularity of the small-batch backward
	// pass: 64 is a multiple of every block size.
	tileAlign = quant.NF4Block

	smallBatch = 8 // most rows of a batch multiplied without packing
)

// quantState is the backend's state for the products with compact weights:
// the argument blocks of the parallel passes (kept here so that handing
// them to the pool does not allocate).
type quantState struct {
	fwd smallForwardTask
	bwd smallBackwardTask
}

// quantWeight returns the decoding view of a compact weight, made (and
// checked) on first use and kept in w.Dev.
func quantWeight(op string, w *compute.Weight) *quant.Matrix {
	if w == nil {
		panic(fmt.Sprintf("cpu: %s: weight is nil", op))
	}
	if m, ok := w.Dev.(*quant.Matrix); ok && m.DType() == w.DType && m.Rows() == w.Out && m.Cols() == w.In &&
		len(m.Raw()) == len(w.Raw) && (len(w.Raw) == 0 || unsafe.SliceData(m.Raw()) == unsafe.SliceData(w.Raw)) {
		return m
	}
	if w.Transposed {
		panic(fmt.Sprintf("cpu: %s: weight %q: a %v weight must be stored [Out, In], not transposed (transpose Conv1D weights before quantizing them)",
			op, w.Name, w.DType))
	}
	m, err := quant.NewMatrix(w.DType, w.Raw, w.Out, w.In)
	if err != nil {
		panic(fmt.Sprintf("cpu: %s: weight %q: %v", op, w.Name, err))
	}
	w.Dev = m
	return m
}

// linearQuant computes out[n, Out] = x·Wᵀ + beta·out for a compact weight
// (beta is 0 or 1: out already holds the bias).
func (b *Backend) linearQuant(m *quant.Matrix, od, xd []float32, n int, beta float32) {
	if n <= smallBatch {
		b.linearQuantSmall(m, od, xd, n, beta)
		return
	}
	out, in := m.Rows(), m.Cols()
	gemm.SgemmDecode(true, n, out, in, 1, xd, in, m, quant.BlockSize(m.DType()), beta, od, out)
}

// linearBackwardQuant computes dx[n, In] = dy·W + beta·dx for a compact
// weight (beta is 0 or 1).
func (b *Backend) linearBackwardQuant(m *quant.Matrix, dxd, dyd []float32, n int, beta float32) {
	if n <= smallBatch {
		b.linearBackwardQuantSmall(m, dxd, dyd, n, beta)
		return
	}
	out, in := m.Rows(), m.Cols()
	gemm.SgemmDecode(false, n, in, out, 1, dyd, out, m, quant.BlockSize(m.DType()), beta, dxd, in)
}

// smallForwardTask computes out[:, o] for the rows o of W in its range.
type smallForwardTask struct {
	b      *Backend
	m      *quant.Matrix
	od, xd []float32
	n      int
	beta   float32
}

func (t *smallForwardTask) run(part, lo, hi int) {
	out, in := t.m.Rows(), t.m.Cols()
	w := t.b.scratch[part][:in]
	for o := lo; o < hi; o++ {
		t.m.DecodeRow(w, o, 0)
		for i := range t.n {
			s := dotF32(t.xd[i*in:(i+1)*in], w)
			if t.beta == 0 {
				t.od[i*out+o] = s
			} else {
				t.od[i*out+o] += s
			}
		}
	}
}

// linearQuantSmall is linearQuant for a batch of at most smallBatch rows.
func (b *Backend) linearQuantSmall(m *quant.Matrix, od, xd []float32, n int, beta float32) {
	out, in := m.Rows(), m.Cols()
	parts := b.pool.partsFor(out, in*(n+2))
	b.growScratch(parts, in)
	t := &b.quant.fwd
	*t = smallForwardTask{b: b, m: m, od: od, xd: xd, n: n, beta: beta}
	b.pool.parallel(out, parts, t)
	*t = smallForwardTask{}
}

// smallBackwardTask computes dx[:, c0:c1] for the blocks of 64 columns in
// its range, going down all the rows of W.
type smallBackwardTask struct {
	b        *Backend
	m        *quant.Matrix
	dxd, dyd []float32
	n        int
	beta     float32
}

func (t *smallBackwardTask) run(part, lo, hi int) {
	out, in := t.m.Rows(), t.m.Cols()
	c0, c1 := lo*tileAlign, min(hi*tileAlign, in)
	w := t.b.scratch[part][:c1-c0]
	if t.beta == 0 {
		for i := range t.n {
			clear(t.dxd[i*in+c0 : i*in+c1])
		}
	}
	for o := range out {
		t.m.DecodeRow(w, o, c0)
		for i := range t.n {
			axpyF32(t.dyd[i*out+o], w, t.dxd[i*in+c0:i*in+c1])
		}
	}
}

// linearBackwardQuantSmall is linearBackwardQuant for a batch of at most
// smallBatch rows.
func (b *Backend) linearBackwardQuantSmall(m *quant.Matrix, dxd, dyd []float32, n int, beta float32) {
	out, in := m.Rows(), m.Cols()
	blocks := (in + tileAlign - 1) / tileAlign
	parts := b.pool.partsFor(blocks, tileAlign*out*(n+2))
	b.growScratch(parts, (blocks+parts-1)/parts*tileAlign)
	t := &b.quant.bwd
	*t = smallBackwardTask{b: b, m: m, dxd: dxd, dyd: dyd, n: n, beta: beta}
	b.pool.parallel(blocks, parts, t)
	*t = smallBackwardTask{}
}

// embeddingQuant decodes the rows of a compact table for ids into od.
func embeddingQuant(op string, m *quant.Matrix, name string, od []float32, ids []int32) {
	v, d := m.Rows(), m.Cols()
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("cpu: %s: table %q: id %d at position %d is outside [0, %d)", op, name, id, i, v))
		}
		m.DecodeRow(od[i*d:(i+1)*d], int(id), 0)
	}
}

// dotGo is the portable dot product: four partial sums.
func dotGo(a, b []float32) float32 {
	b = b[:len(a)]
	var s0, s1, s2, s3 float32
	i := 0
	for ; i+4 <= len(a); i += 4 {
		s0 += a[i] * b[i]
		s1 += a[i+1] * b[i+1]
		s2 += a[i+2] * b[i+2]
		s3 += a[i+3] * b[i+3]
	}
	for ; i < len(a); i++ {
		s0 += a[i] * b[i]
	}
	return (s0 + s1) + (s2 + s3)
}

// axpyGo is the portable axpy.
func axpyGo(alpha float32, x, y []float32) {
	y = y[:len(x)]
	for i, v := range x {
		y[i] += alpha * v
	}
}
