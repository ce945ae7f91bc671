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
// Batches of more than smallBatch rows go through tiles: a tile of the
// weight is decoded into a float32 buffer of the backend (rows of the tile
// split among the workers), then multiplied by the packed, multi-threaded
// SGEMM, and so on over the weight. Each product decodes the weight once.
// SGEMM repacks the activations' slice of the reduction dimension for every
// tile, so tiles are as large as the buffer allows across that dimension:
// forward (y = x·Wᵀ, reducing over In) uses tiles of quantDepth columns and
// as many rows as fit; backward (dx = dy·W, reducing over Out) tiles of up
// to tileWidth columns and as many rows as fit. The buffer holds tileElems
// values (4 MiB): fewer, larger tiles mean fewer passes of the worker pool
// and of SGEMM's threads, each a barrier.
//
// Batches of at most smallBatch rows (token-by-token generation) have too
// little reuse for packing to pay: each thread decodes rows of W into its
// own scratch and takes dot products (forward) or axpys (backward) with it.
const (
	quantDepth = 256  // reduction depth of a forward tile (SGEMM's own KC)
	tileWidth  = 4096 // columns of a backward tile
	// Tiles start on block boundaries: 64 is a multiple of every block
	// size, and quantDepth and tileWidth are multiples of 64.
	tileAlign = quant.NF4Block

	smallBatch = 8 // most rows of a batch multiplied without tiles
)

// tileElems is the number of float32 values of the tile buffer. It is a
// variable so that tests can cut small weights into many tiles; it must be
// a multiple of 16·quantDepth (4096), so that a forward tile has at least
// 16 rows and a backward tile 16 rows of at most tileElems/16 columns.
var tileElems = 1 << 20

// quantState is the backend's state for the products with compact weights:
// the tile buffer and the argument blocks of the parallel passes (kept here
// so that handing them to the pool does not allocate).
type quantState struct {
	tile   []float32
	decode decodeTask
	fwd    smallForwardTask
	bwd    smallBackwardTask
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

// decodeTask decodes rows [r0, r0+rows) × columns [c0, c0+cols) of a
// compact weight into buf, row i of the tile at buf[i·ld:].
type decodeTask struct {
	m      *quant.Matrix
	buf    []float32
	ld     int
	r0, c0 int
	cols   int
}

func (t *decodeTask) run(_, lo, hi int) {
	for i := lo; i < hi; i++ {
		t.m.DecodeRow(t.buf[i*t.ld:i*t.ld+t.cols], t.r0+i, t.c0)
	}
}

// decodeTile decodes a rows×cols tile of m at (r0, c0) into the backend's
// tile buffer with leading dimension ld, rows split among the workers.
func (b *Backend) decodeTile(m *quant.Matrix, r0, rows, c0, cols, ld int) []float32 {
	q := &b.quant
	if len(q.tile) < tileElems {
		q.tile = make([]float32, tileElems)
	}
	t := &q.decode
	*t = decodeTask{m: m, buf: q.tile, ld: ld, r0: r0, c0: c0, cols: cols}
	b.pool.parallel(rows, b.pool.partsFor(rows, cols), t)
	*t = decodeTask{}
	return q.tile[:(rows-1)*ld+cols]
}

// split cuts n into the fewest pieces of at most limit and returns the
// piece size, rounded up to a multiple of align but not above limit (the
// last piece may be shorter). limit must be a multiple of align.
func split(n, limit, align int) int {
	if n <= 0 {
		return align
	}
	pieces := (n + limit - 1) / limit
	size := (n + pieces - 1) / pieces
	return min((size+align-1)/align*align, limit)
}

// linearQuant computes out[n, Out] = x·Wᵀ + beta·out for a compact weight
// (beta is 0 or 1: out already holds the bias).
func (b *Backend) linearQuant(m *quant.Matrix, od, xd []float32, n int, beta float32) {
	if n <= smallBatch {
		b.linearQuantSmall(m, od, xd, n, beta)
		return
	}
	out, in := m.Rows(), m.Cols()
	kc := split(in, quantDepth, tileAlign)   // columns of W per tile: the reduction
	rc := split(out, tileElems/kc/16*16, 16) // rows of W per tile: columns of out
	for o0 := 0; o0 < out; o0 += rc {
		r := min(rc, out-o0)
		for k0 := 0; k0 < in; k0 += kc {
			k := min(kc, in-k0)
			tile := b.decodeTile(m, o0, r, k0, k, kc)
			bt := beta
			if k0 > 0 {
				bt = 1
			}
			gemm.Sgemm(false, true, n, r, k, 1, xd[k0:], in, tile, kc, bt, od[o0:], out)
		}
	}
}

// linearBackwardQuant computes dx[n, In] = dy·W + beta·dx for a compact
// weight (beta is 0 or 1).
func (b *Backend) linearBackwardQuant(m *quant.Matrix, dxd, dyd []float32, n int, beta float32) {
	if n <= smallBatch {
		b.linearBackwardQuantSmall(m, dxd, dyd, n, beta)
		return
	}
	out, in := m.Rows(), m.Cols()
	nc := split(in, min(tileWidth, tileElems/16), tileAlign) // columns of W per tile: columns of dx
	kr := split(out, tileElems/nc, 1)                        // rows of W per tile: the reduction
	for c0 := 0; c0 < in; c0 += nc {
		c := min(nc, in-c0)
		for o0 := 0; o0 < out; o0 += kr {
			r := min(kr, out-o0)
			tile := b.decodeTile(m, o0, r, c0, c, nc)
			bt := beta
			if o0 > 0 {
				bt = 1
			}
			gemm.Sgemm(false, false, n, c, r, 1, dyd[o0:], out, tile, nc, bt, dxd[c0:], in)
		}
	}
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
