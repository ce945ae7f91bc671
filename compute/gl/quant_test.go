package gl_test

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
	"github.com/fynetune/fynetune/compute/gl"
	"github.com/fynetune/fynetune/compute/quant"
)

// TestQuantWeights checks the products and gathers with compact weights,
// dequantized in the shaders, against the CPU backend's on the same
// payloads: rows whose length is not a multiple of the block size, both
// matmul tile shapes, and NF4 with and without double quantization.
func TestQuantWeights(t *testing.T) {
	quantAgainstCPU(t, backend(t))
}

func quantAgainstCPU(t *testing.T, g *gl.Backend) {
	c := cpu.New()
	type fmtCase struct {
		dt   compute.DType
		opts []quant.Option
		name string
	}
	formats := []fmtCase{
		{compute.F16, nil, "f16"},
		{compute.BF16, nil, "bf16"},
		{compute.Q8, nil, "int8"},
		{compute.NF4, nil, "nf4 (double quantization)"},
		{compute.NF4, []quant.Option{quant.DoubleQuant(false)}, "nf4 (float32 scales)"},
		{compute.Q8_0, nil, "q8_0"},
		{compute.Q4_0, nil, "q4_0"},
	}
	shapes := []struct{ n, out, in int }{
		{3, 5, 70},     // one partial block a row
		{33, 45, 128},  // whole blocks
		{260, 300, 96}, // large tiles
	}
	for _, f := range formats {
		for _, s := range shapes {
			t.Run(fmt.Sprintf("%s %dx%d·[%d %d]", f.name, s.n, s.in, s.out, s.in), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(s.in), uint64(f.dt)))
				randn := func(n int) []float32 {
					v := make([]float32, n)
					for i := range v {
						v[i] = float32(rng.NormFloat64())
					}
					return v
				}
				wv, xv, dyv := randn(s.out*s.in), randn(s.n*s.in), randn(s.n*s.out)
				raw := quant.Quantize(f.dt, wv, s.out, s.in, f.opts...)
				ids := []int32{int32(s.out - 1), 0, 2, 2}
				run := func(be compute.Backend) [][]float32 {
					w := &compute.Weight{Name: "q", Out: s.out, In: s.in, DType: f.dt, Raw: raw}
					be.PrepareWeight(w)
					x, y, dy, dx := be.NewTensor(s.n, s.in), be.NewTensor(s.n, s.out), be.NewTensor(s.n, s.out), be.NewTensor(s.n, s.in)
					be.Upload(x, xv)
					be.Upload(dy, dyv)
					be.Linear(y, x, w, nil)
					be.LinearBackwardInput(dx, dy, w, false)
					e := be.NewTensor(len(ids), s.in)
					be.Embedding(e, w, ids)
					return [][]float32{get(be, y), get(be, dx), get(be, e)}
				}
				want, got := run(c), run(g)
				for i, what := range []string{"Linear", "LinearBackwardInput", "Embedding"} {
					if e := relDiff(got[i], want[i]); !(e <= 1e-5) {
						t.Errorf("%s %dx%d·[%d %d]ᵀ: GL differs from the CPU by %.3g relative", what, s.n, s.in, s.out, s.in, e)
					}
				}
			})
		}
	}
}
