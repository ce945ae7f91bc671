//go:build cgo && linux

package gl_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/cpu"
)

// TestCrossEntropyWorkGroups runs the cross-entropy kernel with work
// groups of 32 to 256 invocations on vocabularies that are not multiples
// of them, in place (the gradient overwriting the logits, as training
// does), into a separate tensor and without a gradient, and compares the
// sums and gradients with the CPU backend's. The targets sit in every
// part of the row, so that the invocation owning the target column is in
// the first, a middle and the last 32 of the group (on NVIDIA, work groups
// above 32 used to give wrong sums in place).
func TestCrossEntropyWorkGroups(t *testing.T) {
	g := backend(t)
	c := cpu.New()
	defer g.SetCrossEntropyWG(g.SetCrossEntropyWG(0))
	for _, wg := range []int{32, 64, 128, 256, 512} {
		g.SetCrossEntropyWG(wg)
		for _, v := range []int{300, 1000, 50257} {
			targets := []int32{int32(v - 1), compute.IgnoreIndex, 0, 37, 100, int32(v / 2), int32((wg + 5) % v), int32(v - 200)}
			for _, mode := range []string{"in place", "separate", "no gradient"} {
				run := func(be compute.Backend) (float64, int, []float32) {
					m := &maker{be, rand.New(rand.NewPCG(uint64(v), uint64(wg)))}
					logits := m.randn(len(targets), v)
					be.Scale(logits, 3)
					var dl *compute.Tensor
					switch mode {
					case "in place":
						dl = logits
					case "separate":
						dl = m.randn(len(targets), v)
					}
					sum, n := be.CrossEntropy(dl, logits, targets, 0.125)
					if dl == nil {
						return sum, n, nil
					}
					return sum, n, get(be, dl)
				}
				wantSum, wantN, wantD := run(c)
				gotSum, gotN, gotD := run(g)
				what := fmt.Sprintf("WG=%d V=%d %s", wg, v, mode)
				if gotN != wantN {
					t.Errorf("%s: %d rows scored, want %d", what, gotN, wantN)
				}
				if math.Abs(gotSum-wantSum) > 1e-5*math.Abs(wantSum) {
					t.Errorf("%s: sum %.7g, CPU %.7g", what, gotSum, wantSum)
				}
				if e := relDiff(gotD, wantD); wantD != nil && !(e <= 1e-5) {
					t.Errorf("%s: dlogits differ from the CPU's by %.3g relative", what, e)
				}
			}
		}
	}
}

// BenchmarkCrossEntropyWG times the cross-entropy of 512 rows of a GPT-2
// vocabulary (50257) with its gradient, for each work-group size, in rows
// per second.
func BenchmarkCrossEntropyWG(b *testing.B) {
	g := backend(b)
	defer g.SetCrossEntropyWG(g.SetCrossEntropyWG(0))
	const n, v = 512, 50257
	m := &maker{g, rand.New(rand.NewPCG(1, 2))}
	logits, dl := m.randn(n, v), g.NewTensor(n, v)
	targets := make([]int32, n)
	for i := range targets {
		targets[i] = int32(m.rng.IntN(v))
	}
	for _, wg := range []int{32, 64, 128, 256, 512} {
		b.Run(fmt.Sprint(wg), func(b *testing.B) {
			g.SetCrossEntropyWG(wg)
			g.CrossEntropy(dl, logits, targets, 1) // compile and warm up
			b.ResetTimer()
			for range b.N {
				g.CrossEntropy(dl, logits, targets, 1)
			}
			b.ReportMetric(float64(n*b.N)/b.Elapsed().Seconds(), "rows/s")
		})
	}
}
