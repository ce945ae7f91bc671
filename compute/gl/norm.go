//go:build cgo && linux

package gl

import (
	"github.com/fynetune/fynetune/compute"
)

// normWG is the work-group size of the row kernels of norm.glsl.
const normWG = "WG=64"

// LayerNorm computes out = (x-mean)·rstd·w + b per row (biased variance) and
// saves mean[N] and rstd[N]. b may be nil (no bias).
func (b *Backend) LayerNorm(out, mean, rstd, x, w, bias *compute.Tensor, eps float32) {
	const op = "LayerNorm"
	xd := b.dev(op, "x", x)
	od, md, rd, wd := b.dev(op, "out", out), b.dev(op, "mean", mean), b.dev(op, "rstd", rstd), b.dev(op, "w", w)
	bd := b.optDev(op, "b", bias)
	n, c := x.Rows(), x.Cols()
	mustShape(op, "out", out, n, c)
	mustLen(op, "mean", mean, n)
	mustLen(op, "rstd", rstd, n)
	mustLen(op, "w", w, c)
	u := args{"N": n, "C": c, "offOut": out.Off, "offMean": mean.Off, "offRstd": rstd.Off, "offX": x.Off,
		"offW": w.Off, "eps": eps, "hasB": bd != nil}
	bid := wd.id
	if bd != nil {
		mustLen(op, "b", bias, c)
		u["offB"], bid = bias.Off, bd.id
	}
	b.post(func() {
		gx, gy := b.rowGrid(n)
		b.dispatch(b.program("norm.glsl", "LAYERNORM", normWG), gx, gy, 1, u, od.id, md.id, rd.id, xd.id, wd.id, bid)
	})
}

// LayerNormBackward writes dx and accumulates dw and db (either may be nil).
func (b *Backend) LayerNormBackward(dx, dw, db, dout, x, mean, rstd, w *compute.Tensor) {
	const op = "LayerNormBackward"
	xd := b.dev(op, "x", x)
	dxd, dod := b.dev(op, "dx", dx), b.dev(op, "dout", dout)
	md, rd, wd := b.dev(op, "mean", mean), b.dev(op, "rstd", rstd), b.dev(op, "w", w)
	dwd, dbd := b.optDev(op, "dw", dw), b.optDev(op, "db", db)
	n, c := x.Rows(), x.Cols()
	mustShape(op, "dx", dx, n, c)
	mustShape(op, "dout", dout, n, c)
	mustLen(op, "mean", mean, n)
	mustLen(op, "rstd", rstd, n)
	mustLen(op, "w", w, c)
	var targets []colTarget
	if dw != nil {
		mustLen(op, "dw", dw, c)
		targets = append(targets, colTarget{dwd.id, dw.Off})
	} else {
		targets = append(targets, colTarget{})
	}
	if db != nil {
		mustLen(op, "db", db, c)
		targets = append(targets, colTarget{dbd.id, db.Off})
	}
	b.post(func() {
		if n == 0 || c == 0 {
			return
		}
		// The column sums read x, dout, mean and rstd; dx may alias dout,
		// so they run before dx is written.
		if dw != nil || db != nil {
			b.colsum("MODE_LN", n, c, args{"offDOut": dout.Off, "offX": x.Off, "offMean": mean.Off, "offRstd": rstd.Off},
				[]uint32{dod.id, xd.id, md.id, rd.id}, targets)
		}
		gx, gy := b.rowGrid(n)
		b.dispatch(b.program("norm.glsl", "LAYERNORM_BACK", normWG), gx, gy, 1,
			args{"N": n, "C": c, "offDX": dx.Off, "offDOut": dout.Off, "offX": x.Off, "offMean": mean.Off,
				"offRstd": rstd.Off, "offW": w.Off},
			dxd.id, dod.id, xd.id, md.id, rd.id, wd.id)
	})
}

// RMSNorm computes out = x·rstd·w per row with rstd = 1/sqrt(mean(x²)+eps),
// saving rstd[N].
func (b *Backend) RMSNorm(out, rstd, x, w *compute.Tensor, eps float32) {
	const op = "RMSNorm"
	xd := b.dev(op, "x", x)
	od, rd, wd := b.dev(op, "out", out), b.dev(op, "rstd", rstd), b.dev(op, "w", w)
	n, c := x.Rows(), x.Cols()
	mustShape(op, "out", out, n, c)
	mustLen(op, "rstd", rstd, n)
	mustLen(op, "w", w, c)
	b.post(func() {
		gx, gy := b.rowGrid(n)
		b.dispatch(b.program("norm.glsl", "RMSNORM", normWG), gx, gy, 1,
			args{"N": n, "C": c, "offOut": out.Off, "offRstd": rstd.Off, "offX": x.Off, "offW": w.Off, "eps": eps},
			od.id, rd.id, xd.id, wd.id)
	})
}

// RMSNormBackward writes dx and accumulates dw (dw may be nil).
func (b *Backend) RMSNormBackward(dx, dw, dout, x, rstd, w *compute.Tensor) {
	const op = "RMSNormBackward"
	xd := b.dev(op, "x", x)
	dxd, dod := b.dev(op, "dx", dx), b.dev(op, "dout", dout)
	rd, wd := b.dev(op, "rstd", rstd), b.dev(op, "w", w)
	dwd := b.optDev(op, "dw", dw)
	n, c := x.Rows(), x.Cols()
	mustShape(op, "dx", dx, n, c)
	mustShape(op, "dout", dout, n, c)
	mustLen(op, "rstd", rstd, n)
	mustLen(op, "w", w, c)
	if dw != nil {
		mustLen(op, "dw", dw, c)
	}
	b.post(func() {
		if n == 0 || c == 0 {
			return
		}
		if dw != nil {
			b.colsum("MODE_RMS", n, c, args{"offDOut": dout.Off, "offX": x.Off, "offRstd": rstd.Off},
				[]uint32{dod.id, xd.id, 0, rd.id}, []colTarget{{dwd.id, dw.Off}})
		}
		gx, gy := b.rowGrid(n)
		b.dispatch(b.program("norm.glsl", "RMSNORM_BACK", normWG), gx, gy, 1,
			args{"N": n, "C": c, "offDX": dx.Off, "offDOut": dout.Off, "offX": x.Off, "offRstd": rstd.Off, "offW": w.Off},
			dxd.id, dod.id, xd.id, rd.id, wd.id)
	})
}
