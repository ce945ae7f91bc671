//go:build cgo && linux

package gl

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
