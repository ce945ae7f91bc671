//go:build amd64 && !purego

package gemm

import "golang.org/x/sys/cpu"

// packBNAVX2 packs g full 16-column panels of a row-major B, kc rows deep
// (packbn_amd64.s): dst[(q·kc+p)·16+c] = src[p·ldb+q·16+c].
//
//go:noescape
func packBNAVX2(kc, np int, src *float32, ldb int, dst *float32)

// packBNFast is packBNGo with one assembly loop instead of a 64-byte copy
// call per panel row.
func packBNFast(dst, b []float32, ldb, p0, kc, j, g int) {
	if kc == 0 || g == 0 {
		return
	}
	// Bounds the assembly relies on.
	_ = b[(p0+kc-1)*ldb+j+g*nr-1]
	_ = dst[g*kc*nr-1]
	packBNAVX2(kc, g, &b[p0*ldb+j], ldb, &dst[0])
}

// packBNFastFunc returns the assembly packer when this CPU runs it.
func packBNFastFunc() func(dst, b []float32, ldb, p0, kc, j, g int) {
	if cpu.X86.HasAVX2 {
		return packBNFast
	}
	return nil
}
