//go:build !amd64 || purego

package gemm

// prefetchL2 does nothing where there is no prefetch instruction to issue.
func prefetchL2(p *float32, lines int) {}
