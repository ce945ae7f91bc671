//go:build cgo && linux

package gl

import (
	"github.com/fynetune/fynetune/compute"
	"github.com/go-gl/gl/v4.3-core/gl"
)

// UseGPUTiles makes b use the matmul tile shapes of a hardware GPU (gpu
// true) or of a software renderer, whatever it runs on, so that tests on
// llvmpipe also check the shapes GPUs use.
func (b *Backend) UseGPUTiles(gpu bool) {
	b.do(func() {
		if gpu {
			b.tiles = [2]tileCfg{gpuSmall, gpuLarge}
		} else {
			b.tiles = [2]tileCfg{softSmall, softLarge}
		}
	})
}

// SetWeightLimit makes b bind weights larger than n bytes a range of rows
// at a time, as it does with those larger than the driver's limit; n <= 0
// restores that limit. It returns the previous value.
func (b *Backend) SetWeightLimit(n int) int {
	var prev int
	b.do(func() {
		prev = b.weightLimit
		if n <= 0 {
			n = b.maxBlock
		}
		b.weightLimit = n
	})
	return prev
}

// SetScoreLimit caps the bytes of attention scores kept in scratch at
// once (as the driver's limit does), n <= 0 restoring the driver's limit.
func (b *Backend) SetScoreLimit(n int) {
	b.do(func() { b.scoreLimit = max(n, 0) })
}

// SetCrossEntropyWG makes CrossEntropy run work groups of n invocations
// (a power of two), n <= 0 restoring the default for its device. It returns the previous
// size.
func (b *Backend) SetCrossEntropyWG(n int) int {
	var prev int
	b.do(func() {
		prev = b.ceWG
		if n <= 0 {
			n = ceWorkGroup
			if b.IsSoftware() {
				n = ceWorkGroupSoft
			}
		}
		b.ceWG = n
	})
	return prev
}

// PoolStats returns how many storage buffers b asked the driver for, how
// many it took from its pool instead, and the buffers the pool holds now.
func (b *Backend) PoolStats() (allocs, reuses int, held []uint32) {
	b.do(func() {
		allocs, reuses = b.pool.allocs, b.pool.reuses
		for _, ids := range b.pool.free {
			held = append(held, ids...)
		}
	})
	return allocs, reuses, held
}

// SetPoolLimit sets the bytes of released buffers b's pool keeps and
// returns the previous limit.
func (b *Backend) SetPoolLimit(n int) int {
	var prev int
	b.do(func() { prev, b.pool.limit = b.pool.limit, n })
	return prev
}

// IsBuffer reports whether id names a GL buffer (glIsBuffer).
func (b *Backend) IsBuffer(id uint32) bool {
	var ok bool
	b.do(func() { ok = gl.IsBuffer(id) })
	return ok
}

// BufferID is the GL name of the buffer holding t.
func BufferID(t *compute.Tensor) uint32 { return t.Dev.(*buffer).id }
