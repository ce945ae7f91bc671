package cpu

import (
	"fmt"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu/gemm"
	"github.com/fynetune/fynetune/compute/quant"
)

// weightValues returns an f32 weight's packed form or its values, or the
// decoder of a weight held in another format (exactly one of them is not
// nil).
func weightValues(op string, w *compute.Weight) (*gemm.Packed, []float32, *quant.Matrix) {
	if w != nil && w.DType != compute.F32 {
		return nil, nil, quantWeight(op, w)
	}
	if w != nil {
		if p := packedWeight(op, w); p != nil {
			return p, nil, nil
		}
	}
	return nil, weightF32(op, w), nil
}

// Linear computes out[N,Out] = x[N,In]·Wᵀ (+ bias).
func (b *Backend) Linear(out, x *compute.Tensor, w *compute.Weight, bias *compute.Tensor) {
	const op = "Linear"
	pw, wd, qm := weightValues(op, w)
	xd, od := data(op, "x", x), data(op, "out", out)
	n := x.Rows()
	mustShape(op, "x", x, n, w.In)
	mustShape(op, "out", out, n, w.Out)
	beta := float32(0)
	if bias != nil {
		bd := data(op, "bias", bias)
		mustLen(op, "bias", bias, w.Out)
		// out starts as the bias in every row and the product is added to
		// it, like PyTorch's addmm.
		for i := range n {
			copy(od[i*w.Out:(i+1)*w.Out], bd)
		}
		beta = 1
	}
	if n == 0 || w.Out == 0 {
		return
	}
	if w.In == 0 {
		if bias == nil {
			clear(od)
		}
		return
	}
	if qm != nil {
		b.linearQuant(qm, od, xd, n, beta)
		return
	}
	if pw != nil {
		// out = x·op(S) with S the stored matrix: op(S) = Sᵀ for [Out, In]
		gemm.SgemmPacked(false, !w.Transposed, n, w.Out, w.In, 1, xd, w.In, pw, beta, od, w.Out)
		return
	}
	if w.Transposed {
		// stored [In, Out]: out = x·W
		gemm.Sgemm(false, false, n, w.Out, w.In, 1, xd, w.In, wd, w.Out, beta, od, w.Out)
	} else {
		gemm.Sgemm(false, true, n, w.Out, w.In, 1, xd, w.In, wd, w.In, beta, od, w.Out)
	}
}

// LinearBackwardInput computes dx[N,In] (+)= dy[N,Out]·W.
func (b *Backend) LinearBackwardInput(dx, dy *compute.Tensor, w *compute.Weight, accumulate bool) {
	const op = "LinearBackwardInput"
	pw, wd, qm := weightValues(op, w)
	dxd, dyd := data(op, "dx", dx), data(op, "dy", dy)
	n := dy.Rows()
	mustShape(op, "dy", dy, n, w.Out)
	mustShape(op, "dx", dx, n, w.In)
	beta := float32(0)
	if accumulate {
		beta = 1
	}
	if n == 0 || w.In == 0 {
		return
	}
	if w.Out == 0 {
		if !accumulate {
			clear(dxd)
		}
		return
	}
	if qm != nil {
		b.linearBackwardQuant(qm, dxd, dyd, n, beta)
		return
	}
	if pw != nil {
		// dx = dy·op(S): S for [Out, In], Sᵀ for [In, Out]
		gemm.SgemmPacked(false, w.Transposed, n, w.In, w.Out, 1, dyd, w.Out, pw, beta, dxd, w.In)
		return
	}
	if w.Transposed {
		// stored [In, Out]: dx = dy·Wstoredᵀ
		gemm.Sgemm(false, true, n, w.In, w.Out, 1, dyd, w.Out, wd, w.Out, beta, dxd, w.In)
	} else {
		gemm.Sgemm(false, false, n, w.In, w.Out, 1, dyd, w.Out, wd, w.In, beta, dxd, w.In)
	}
}

// MatMul computes c = alpha·op(a)·op(b) + beta·c on the 2-D views of a, b
// and c. With beta == 0, c is not read.
func (b *Backend) MatMul(c, a, bm *compute.Tensor, transA, transB bool, alpha, beta float32) {
	const op = "MatMul"
	ad, bd, cd := data(op, "a", a), data(op, "b", bm), data(op, "c", c)
	m, k := a.Rows(), a.Cols()
	if transA {
		m, k = k, m
	}
	kb, n := bm.Rows(), bm.Cols()
	if transB {
		kb, n = n, kb
	}
	if kb != k {
		panic(fmt.Sprintf("cpu: %s: op(a) is %d×%d but op(b) is %d×%d (a %v transA=%v, b %v transB=%v)",
			op, m, k, kb, n, a, transA, bm, transB))
	}
	mustShape(op, "c", c, m, n)
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		// an empty product: c = beta·c
		if beta == 0 {
			clear(cd)
		} else {
			for i := range cd {
				cd[i] *= beta
			}
		}
		return
	}
	gemm.Sgemm(transA, transB, m, n, k, alpha, ad, a.Cols(), bd, bm.Cols(), beta, cd, n)
}

// Embedding copies the rows of table for ids into out[len(ids), D].
func (b *Backend) Embedding(out *compute.Tensor, table *compute.Weight, ids []int32) {
	const op = "Embedding"
	if table != nil && table.DType != compute.F32 {
		m := quantWeight(op, table)
		od := data(op, "out", out)
		mustShape(op, "out", out, len(ids), table.In)
		embeddingQuant(op, m, table.Name, od, ids)
		return
	}
	packed, td, _ := weightValues(op, table)
	od := data(op, "out", out)
	v, d := table.Out, table.In
	mustShape(op, "out", out, len(ids), d)
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("cpu: %s: table %q: id %d at position %d is outside [0, %d)", op, table.Name, id, i, v))
		}
		row := od[i*d : (i+1)*d]
		switch {
		case packed != nil && table.Transposed:
			packed.Col(int(id), row) // stored [D, V]
		case packed != nil:
			packed.Row(int(id), row)
		case table.Transposed:
			// stored [D, V]: the row of id is column id
			for j := range row {
				row[j] = td[j*v+int(id)]
			}
		default:
			copy(row, td[int(id)*d:(int(id)+1)*d])
		}
	}
}

// EmbeddingBackward accumulates the rows of dout into dtable[V, D] at ids
// (it is also the backward pass of GatherRows).
func (b *Backend) EmbeddingBackward(dtable, dout *compute.Tensor, ids []int32) {
	const op = "EmbeddingBackward"
	td, dd := data(op, "dtable", dtable), data(op, "dout", dout)
	v, d := dtable.Rows(), dtable.Cols()
	mustShape(op, "dout", dout, len(ids), d)
	for i, id := range ids {
		if id < 0 || int(id) >= v {
			panic(fmt.Sprintf("cpu: %s: id %d at position %d is outside [0, %d)", op, id, i, v))
		}
		dst := td[int(id)*d : (int(id)+1)*d]
		src := dd[i*d : (i+1)*d]
		for j, g := range src {
			dst[j] += g
		}
	}
}

// GatherRows copies rows src[rows[i]] into out[i]; out is [len(rows), C].
// EmbeddingBackward is its backward pass.
func (b *Backend) GatherRows(out, src *compute.Tensor, rows []int32) {
	const op = "GatherRows"
	od, sd := data(op, "out", out), data(op, "src", src)
	n, c := src.Rows(), src.Cols()
	mustShape(op, "out", out, len(rows), c)
	for i, r := range rows {
		if r < 0 || int(r) >= n {
			panic(fmt.Sprintf("cpu: %s: row %d at position %d is outside [0, %d) of src %v", op, r, i, n, src))
		}
		copy(od[i*c:(i+1)*c], sd[int(r)*c:(int(r)+1)*c])
	}
}
