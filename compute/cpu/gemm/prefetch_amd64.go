//go:build amd64 && !purego

package gemm

// prefetchL2 asks for the given number of 64-byte cache lines from p to be
// brought into L2 (prefetch_amd64.s). A prefetch never faults, so p may
// point anywhere.
//
//go:noescape
func prefetchL2(p *float32, lines int)
