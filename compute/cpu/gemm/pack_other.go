//go:build !amd64 || purego

package gemm

// packBNFastFunc and packA6FastFunc return nil: no assembly packers on this
// platform.
func packBNFastFunc() func(dst, b []float32, ldb, p0, kc, j, g int) { return nil }

func packA6FastFunc() func(d, a []float32, lda, i, p0, kc int) { return nil }
