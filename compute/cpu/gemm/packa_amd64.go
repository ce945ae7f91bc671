//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// packA6AVX2 packs one 6-row panel of a row-major A (packa_amd64.s):
// dst[p·6+r] = src[r·lda+p] for r < 6, p < kc; kc must be a multiple of 8.
//
//go:noescape
func packA6AVX2(kc int, src *float32, lda int, dst *float32)

// packA6Fast is packA6Go with the AVX2 transposer for the multiple-of-8 part
// of kc: 8×8 register transposes instead of one scalar move per value.
func packA6Fast(d, a []float32, lda, i, p0, kc int) {
	k8 := kc &^ 7
	if k8 > 0 {
		// Bounds the assembly relies on.
		_ = a[(i+mr-1)*lda+p0+k8-1]
		_ = d[k8*mr-1]
		packA6AVX2(k8, &a[i*lda+p0], lda, &d[0])
	}
	if k8 < kc {
		packA6Go(d[k8*mr:], a, lda, i, p0+k8, kc-k8)
	}
}

// packA6FastFunc returns the assembly packer when this CPU runs it.
func packA6FastFunc() func(d, a []float32, lda, i, p0, kc int) {
	if cpu.X86.HasAVX2 {
		return packA6Fast
	}
	return nil
}
