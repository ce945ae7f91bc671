//go:build cgo && linux

package gl_test

import (
	"testing"

	"github.com/fynetune/fynetune/compute"
	"github.com/fynetune/fynetune/compute/computetest"
)

// TestGPUTiles runs the checks again with the matmul tile shapes of a
// hardware GPU when the tests run on a software renderer (which uses
// smaller ones by default), so that CI on llvmpipe checks the kernels a
// GPU runs.
func TestGPUTiles(t *testing.T) {
	g := backend(t)
	if !g.IsSoftware() {
		t.Skipf("%s already uses the GPU tile shapes", g.Renderer())
	}
	g.UseGPUTiles(true)
	defer g.UseGPUTiles(false)
	t.Run("Suite", func(t *testing.T) { computetest.RunSuite(t, func() compute.Backend { return g }) })
	t.Run("AgainstCPU", func(t *testing.T) { againstCPU(t, g) })
	t.Run("QuantWeights", func(t *testing.T) { quantAgainstCPU(t, g) })
}
