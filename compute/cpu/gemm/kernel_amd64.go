//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// sgemmKernelAVX2 is the 6×16 AVX2+FMA micro-kernel (kernel_amd64.s); see
// kernelFunc for its contract.
//
//go:noescape
func sgemmKernelAVX2(kc int, a, b, c *float32, ldc int, alpha, beta float32)

// packBT16AVX2 packs a 16-column panel of a transposed B:
// dst[p·16+c] = src[c·ldb+p] for c < 16, p < kc; kc must be a multiple of 8.
//
//go:noescape
func packBT16AVX2(kc int, src *float32, ldb int, dst *float32)

func init() {
	// HasAVX2 also implies the OS saves the YMM registers.
	if cpu.X86.HasAVX2 && cpu.X86.HasFMA {
		best = impl{"avx2", sgemmKernelAVX2, packBT16Fast}
	}
}

// packBT16Fast is packBT16Go using the AVX2 transposer for the multiple-of-8
// part of kc.
func packBT16Fast(d, b []float32, ldb, j, p0, kc int) {
	k8 := kc &^ 7
	if k8 > 0 {
		// Bounds the assembly relies on.
		_ = b[(j+nr-1)*ldb+p0+k8-1]
		_ = d[k8*nr-1]
		packBT16AVX2(k8, &b[j*ldb+p0], ldb, &d[0])
	}
	if k8 < kc {
		packBT16Go(d[k8*nr:], b, ldb, j, p0+k8, kc-k8)
	}
}
