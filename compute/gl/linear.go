//go:build cgo && linux

package gl

import (
	"fmt"
	"unsafe"

	"github.com/fynetune/fynetune/compute"
	"github.com/go-gl/gl/v4.3-core/gl"
)

// weightDev is the GPU form of a frozen weight: its stored matrix in one
// buffer, float32 or packed (see packWeight), with what the kernels need
// to read it.
type weightDev struct {
	buf      *buffer
	dtype    compute.DType
	out, in  int
	trans    bool
	defines  []string // matmul.glsl defines selecting the format
	nb       int      // blocks per stored row (packed formats)
	scaleOff int      // word offset of the block scales (packed formats)

	// The stored matrix is rows × rowBytes, elem bytes a value (0 for the
	// block formats, whose codes and scales lie apart: they are never
	// bound a range at a time).
	rows, rowBytes, elem int
}

// PrepareWeight uploads w to the GPU, once; calling it again (after the
// weight's values changed, as full fine-tuning does) uploads the new
// values. F32 weights are stored as they are; the 16-bit and quantized
// formats stay packed and are widened inside the kernels.
func (b *Backend) PrepareWeight(w *compute.Weight) {
	const op = "PrepareWeight"
	payload, wd := b.packWeight(op, w)
	var prev *weightDev
	if p, ok := w.Dev.(*weightDev); ok && p.buf.owner == b {
		prev = p
	}
	if wd.elem == 0 && len(payload) > b.weightLimit {
		panic(fmt.Sprintf("gl: %s: weight %q: its %v payload of %d MiB is more than this driver binds to a shader (%d MiB); store it as f16 or f32",
			op, w.Name, w.DType, len(payload)>>20, b.weightLimit>>20))
	}
	b.do(func() {
		if prev != nil && prev.buf.bytes == max(len(payload), 4) {
			wd.buf = prev.buf
		} else {
			wd.buf = b.newBuffer(len(payload), fmt.Sprintf("weight %q", w.Name), false)
		}
		if len(payload) > 0 {
			b.beforeSubData(wd.buf.id)
			gl.BindBuffer(gl.SHADER_STORAGE_BUFFER, wd.buf.id)
			gl.BufferSubData(gl.SHADER_STORAGE_BUFFER, 0, len(payload), unsafe.Pointer(&payload[0]))
		}
	})
	w.Dev = wd
}

// weightOf returns w's GPU form, checking that w was prepared by this
// backend and has not changed shape since.
func (b *Backend) weightOf(op string, w *compute.Weight) *weightDev {
	if w == nil {
		panic(fmt.Sprintf("gl: %s: weight is nil", op))
	}
	wd, ok := w.Dev.(*weightDev)
	if !ok || wd.buf.owner != b {
		panic(fmt.Sprintf("gl: %s: weight %q was not prepared by this gl backend (call PrepareWeight)", op, w.Name))
	}
	if wd.out != w.Out || wd.in != w.In || wd.trans != w.Transposed || wd.dtype != w.DType {
		panic(fmt.Sprintf("gl: %s: weight %q changed shape or format since PrepareWeight", op, w.Name))
	}
	return wd
}

// gemmCall describes one (possibly batched) matmul.glsl dispatch:
// C = alpha·op(A)·op(B) (+ bias) + beta·C.
type gemmCall struct {
	m, n, k          int
	a, bb, c         uint32
	offA, offB, offC int
	lda, ldb, ldc    int
	transA, transB   bool
	alpha, beta      float32
	bias             uint32
	offBias          int
	w                *weightDev // B is this packed weight (nil: float32 B)
	bOff, bSize      int        // B is bound as bytes [bOff, bOff+bSize) when bSize > 0
	wOff             int        // packed B: element offset of the stored matrix in that range

	// Batching over gl_WorkGroupID.z (batch 0 means 1).
	batch, zH, groupB                      int
	strideAb, strideAh, strideBb, strideBh int
	strideCb, strideCh                     int
	causal, pos0                           int
}

// Split-k: a product with fewer output tiles than minTiles and a depth of
// at least splitMinK (the backward pass of the LM head, dlogits·W, is
// [64 rows × 768] deep by the vocabulary) splits its k loop so that more
// work groups share it, each slice at least splitMinK/2 deep.
const (
	minTiles  = 64
	splitMinK = 1024
)

// tileCfg is a tile shape of matmul.glsl: its defines and output tile.
type tileCfg struct {
	defs   []string
	bm, bn int
}

// The tile shapes: on a GPU, large products use 128×128 tiles with 8×8
// outputs an invocation and small ones 64×64 with 4×4 (256 invocations a
// group); on a software renderer (llvmpipe, where every barrier costs a
// switch between all the invocations of a group) 64×64 and 32×32 tiles
// with 64 invocations.
var (
	gpuLarge  = tileCfg{[]string{"BM=128", "BN=128", "BK=8", "TM=8", "TN=8", "NT=256"}, 128, 128}
	gpuSmall  = tileCfg{[]string{"BM=64", "BN=64", "BK=16", "TM=4", "TN=4", "NT=256"}, 64, 64}
	softLarge = tileCfg{[]string{"BM=64", "BN=64", "BK=16", "TM=8", "TN=8", "NT=64"}, 64, 64}
	softSmall = tileCfg{[]string{"BM=32", "BN=32", "BK=32", "TM=4", "TN=4", "NT=64"}, 32, 32}
)

// gemm runs g on the GL thread.
func (b *Backend) gemm(g *gemmCall) {
	if g.m == 0 || g.n == 0 {
		return
	}
	batch := max(g.batch, 1)
	tile := b.tiles[0]
	if g.m >= 256 && g.n >= 256 {
		tile = b.tiles[1]
	}
	bm, bn := tile.bm, tile.bn
	defs := append([]string(nil), tile.defs...)
	if g.transA {
		defs = append(defs, "TRANS_A")
	}
	if g.transB {
		defs = append(defs, "TRANS_B")
	}
	u := args{
		"M": g.m, "N": g.n, "K": g.k, "lda": g.lda, "ldb": g.ldb, "ldc": g.ldc,
		"offA": g.offA, "offB": g.offB, "offC": g.offC, "offBias": g.offBias,
		"alpha": g.alpha, "beta": g.beta, "hasBias": g.bias != 0,
		"zH": max(g.zH, 1), "groupB": max(g.groupB, 1),
		"strideAb": g.strideAb, "strideAh": g.strideAh, "strideBb": g.strideBb, "strideBh": g.strideBh,
		"strideCb": g.strideCb, "strideCh": g.strideCh, "causal": g.causal, "pos0": g.pos0,
	}
	if g.w != nil {
		defs = append(defs, g.w.defines...)
		u["nb"], u["scaleOff"], u["wOff"] = g.w.nb, g.w.scaleOff, g.wOff
		if g.w.dtype == compute.NF4 {
			u["nf4"] = nf4Codebook()
		}
	}
	p := b.program("matmul.glsl", defs...)
	bias := g.bias
	if bias == 0 {
		bias = g.c // bound but unread
	}
	gx, gy := (g.n+bn-1)/bn, (g.m+bm-1)/bm
	if tiles := gx * gy; batch == 1 && g.causal == 0 && tiles < minTiles && g.k >= splitMinK {
		b.gemmSplitK(g, p, u, gx, gy, bias)
		return
	}
	u["splitK"] = 0
	b.dispatchB(p, gx, gy, batch, u, []bind{{id: g.a}, {g.bb, g.bOff, g.bSize}, {id: g.c}, {id: bias}})
}

// gemmSplitK runs a single product as nsplit partial products over slices
// of k into scratch, then adds them up in order with alpha, bias and beta.
func (b *Backend) gemmSplitK(g *gemmCall, p *program, u args, gx, gy int, bias uint32) {
	bk := 16
	nsplit := min((2*minTiles+gx*gy-1)/(gx*gy), g.k/(splitMinK/2))
	chunk := (g.k + nsplit - 1) / nsplit
	chunk = (chunk + bk - 1) / bk * bk
	nsplit = (g.k + chunk - 1) / chunk
	mn := g.m * g.n
	part := b.scratchBuffer("splitk", 4*nsplit*mn)
	u["splitK"], u["offC"], u["ldc"], u["alpha"], u["beta"], u["hasBias"] = chunk, 0, g.n, float32(1), float32(0), false
	u["strideCb"], u["zH"], u["strideAb"], u["strideBb"] = mn, 1, 0, 0
	b.dispatchB(p, gx, gy, nsplit, u, []bind{{id: g.a}, {g.bb, g.bOff, g.bSize}, {id: part}, {id: part}})
	b.ew("OP_SPLITK", mn, args{"off0": g.offC, "off2": 0, "off3": g.offBias, "cols": g.n, "ldo": g.ldc,
		"s": g.alpha, "beta": g.beta, "nsplit": nsplit, "hasBias": g.bias != 0}, g.c, 0, part, bias)
}

// gemmWeight runs g, whose B is the weight wd, on the GL thread. A weight
// larger than the driver binds to a shader is bound a range of its stored
// rows at a time: the rows are the output columns of the product when it
// reads the weight transposed (TRANS_B), else its depth, whose ranges are
// then accumulated in order.
func (b *Backend) gemmWeight(g *gemmCall, wd *weightDev) {
	if wd.buf.bytes <= b.weightLimit {
		b.gemm(g)
		return
	}
	if wd.elem == 0 || g.transA || wd.rowBytes+b.ssboAlign > b.weightLimit {
		panic(fmt.Sprintf("gl: a %v weight of %d MiB is more than this driver binds to a shader (%d MiB)",
			wd.dtype, wd.buf.bytes>>20, b.weightLimit>>20))
	}
	chunk := (b.weightLimit - b.ssboAlign) / wd.rowBytes
	for r0 := 0; r0 < wd.rows; r0 += chunk {
		r1 := min(wd.rows, r0+chunk)
		start := r0 * wd.rowBytes
		sub := *g
		sub.bOff = start / b.ssboAlign * b.ssboAlign
		sub.bSize = r1*wd.rowBytes - sub.bOff
		if wd.defines != nil {
			sub.wOff = (start - sub.bOff) / wd.elem
		} else {
			sub.offB = (start - sub.bOff) / 4
		}
		if g.transB {
			// rows r0..r1 are output columns
			sub.n, sub.offC = r1-r0, g.offC+r0
			if g.bias != 0 {
				sub.offBias = g.offBias + r0
			}
		} else {
			// rows r0..r1 are depth: A's columns r0..r1, accumulated
			sub.k, sub.offA = r1-r0, g.offA+r0
			if r0 > 0 {
				sub.beta = 1
				sub.bias = 0
			}
		}
		b.gemm(&sub)
	}
}

// Linear computes out[N,Out] = x[N,In]·Wᵀ (+ bias).
func (b *Backend) Linear(out, x *compute.Tensor, w *compute.Weight, bias *compute.Tensor) {
	const op = "Linear"
	wd := b.weightOf(op, w)
	xd, od, bd := b.dev(op, "x", x), b.dev(op, "out", out), b.optDev(op, "bias", bias)
	n := x.Rows()
	mustShape(op, "x", x, n, w.In)
	mustShape(op, "out", out, n, w.Out)
	g := &gemmCall{m: n, n: w.Out, k: w.In, a: xd.id, offA: x.Off, lda: w.In,
		bb: wd.buf.id, c: od.id, offC: out.Off, ldc: w.Out, alpha: 1}
	if bd != nil {
		mustLen(op, "bias", bias, w.Out)
		g.bias, g.offBias = bd.id, bias.Off
	}
	if w.Transposed {
		g.ldb = w.Out // stored [In, Out] = op(B)
	} else {
		g.ldb, g.transB = w.In, true // stored [Out, In]
	}
	if wd.defines != nil {
		g.w = wd
	}
	b.post(func() { b.gemmWeight(g, wd) })
}

// LinearBackwardInput computes dx[N,In] (+)= dy[N,Out]·W.
func (b *Backend) LinearBackwardInput(dx, dy *compute.Tensor, w *compute.Weight, accumulate bool) {
	const op = "LinearBackwardInput"
	wd := b.weightOf(op, w)
	dxd, dyd := b.dev(op, "dx", dx), b.dev(op, "dy", dy)
	n := dy.Rows()
	mustShape(op, "dy", dy, n, w.Out)
	mustShape(op, "dx", dx, n, w.In)
	g := &gemmCall{m: n, n: w.In, k: w.Out, a: dyd.id, offA: dy.Off, lda: w.Out,
		bb: wd.buf.id, c: dxd.id, offC: dx.Off, ldc: w.In, alpha: 1}
	if accumulate {
		g.beta = 1
	}
	if w.Transposed {
		g.ldb, g.transB = w.Out, true // stored [In, Out]: dx = dy·Wstoredᵀ
	} else {
		g.ldb = w.In // stored [Out, In] = op(B)
	}
	if wd.defines != nil {
		g.w = wd
	}
	b.post(func() { b.gemmWeight(g, wd) })
}

// MatMul computes c = alpha·op(a)·op(b) + beta·c on the 2-D views of a, b
// and c. With beta == 0, c is not read.
func (b *Backend) MatMul(c, a, bm *compute.Tensor, transA, transB bool, alpha, beta float32) {
	const op = "MatMul"
	ad, bd, cd := b.dev(op, "a", a), b.dev(op, "b", bm), b.dev(op, "c", c)
	m, k := a.Rows(), a.Cols()
	if transA {
		m, k = k, m
	}
	kb, n := bm.Rows(), bm.Cols()
	if transB {
		kb, n = n, kb
	}
	if kb != k {
		panic(fmt.Sprintf("gl: %s: op(a) is %d×%d but op(b) is %d×%d (a %v transA=%v, b %v transB=%v)",
			op, m, k, kb, n, a, transA, bm, transB))
	}
	mustShape(op, "c", c, m, n)
	g := &gemmCall{m: m, n: n, k: k, a: ad.id, offA: a.Off, lda: a.Cols(), bb: bd.id, offB: bm.Off, ldb: bm.Cols(),
		c: cd.id, offC: c.Off, ldc: n, transA: transA, transB: transB, alpha: alpha, beta: beta}
	b.post(func() { b.gemm(g) })
}
