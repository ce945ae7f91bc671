package gl_test

import (
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/gl"
	"github.com/fynetune/fynetune/compute/quant"
)

// benchMatMul times c = a·b on n×n float32 matrices (transB selects a·bᵀ,
// the layout of a linear layer's weight) and reports GFLOP/s.
func benchMatMul(bb *testing.B, g *gl.Backend, n int, transB bool) {
	a, b, c := g.NewTensor(n, n), g.NewTensor(n, n), g.NewTensor(n, n)
	v := make([]float32, n*n)
	for i := range v {
		v[i] = float32(i%17) * 0.01
	}
	g.Upload(a, v)
	g.Upload(b, v)
	g.MatMul(c, a, b, false, transB, 1, 0) // compile and warm up
	g.Finish()
	bb.ResetTimer()
	for range bb.N {
		g.MatMul(c, a, b, false, transB, 1, 0)
	}
	g.Finish()
	bb.ReportMetric(2*float64(n)*float64(n)*float64(n)*float64(bb.N)/bb.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkMatMul4096 is the dense f32 product at 4096² (skipped on a
// software renderer, where one product takes minutes).
func BenchmarkMatMul4096(b *testing.B) {
	g := backend(b)
	if g.IsSoftware() {
		b.Skipf("%s is a software renderer; run this on a GPU", g.Renderer())
	}
	b.Run("NN", func(b *testing.B) { benchMatMul(b, g, 4096, false) })
	b.Run("NT", func(b *testing.B) { benchMatMul(b, g, 4096, true) })
}

// BenchmarkMatMul256 is a small product that runs anywhere.
func BenchmarkMatMul256(b *testing.B) {
	benchMatMul(b, backend(b), 256, true)
}

// BenchmarkLinear4096 times a 4096×4096 linear layer on 4096 rows with the
// weight in f32, f16 and NF4 (dequantized while the tiles load), in
// GFLOP/s.
func BenchmarkLinear4096(b *testing.B) {
	g := backend(b)
	if g.IsSoftware() {
		b.Skipf("%s is a software renderer; run this on a GPU", g.Renderer())
	}
	const n = 4096
	vals := make([]float32, n*n)
	for i := range vals {
		vals[i] = float32(i%31-15) * 0.01
	}
	for _, dt := range []compute.DType{compute.F32, compute.F16, compute.NF4} {
		b.Run(dt.String(), func(b *testing.B) {
			w := &compute.Weight{Name: "w", Out: n, In: n, DType: dt}
			if dt == compute.F32 {
				w.F32 = vals
			} else {
				w.Raw = quant.Quantize(dt, vals, n, n)
			}
			g.PrepareWeight(w)
			x, y := g.NewTensor(n, n), g.NewTensor(n, n)
			g.Linear(y, x, w, nil)
			g.Finish()
			b.ResetTimer()
			for range b.N {
				g.Linear(y, x, w, nil)
			}
			g.Finish()
			b.ReportMetric(2*float64(n)*n*n*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
