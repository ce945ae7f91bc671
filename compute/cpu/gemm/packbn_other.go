//go:build !amd64 || purego

package gemm

// packBNFastFunc returns nil: no assembly packer on this platform.
func packBNFastFunc() func(dst, b []float32, ldb, p0, kc, j, g int) { return nil }
