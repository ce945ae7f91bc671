package gemm

import "unsafe"

// kernelGo is the portable micro-kernel: C = alpha·Â·B̂ + beta·C for one
// mr×nr tile (see kernelFunc). It keeps the tile in a local accumulator and
// works on two rows at a time so that each loaded value of B̂ feeds two
// multiply-adds.
func kernelGo(kc int, a, b, c *float32, ldc int, alpha, beta float32) {
	pa := unsafe.Slice(a, kc*mr)
	pb := unsafe.Slice(b, kc*nr)
	pc := unsafe.Slice(c, (mr-1)*ldc+nr)
	var acc [mr * nr]float32
	for i := 0; i < mr; i += 2 {
		r0 := (*[nr]float32)(acc[i*nr:])
		r1 := (*[nr]float32)(acc[(i+1)*nr:])
		for p := 0; p < kc; p++ {
			a0, a1 := pa[p*mr+i], pa[p*mr+i+1]
			bv := (*[nr]float32)(pb[p*nr:])
			for x := range bv {
				r0[x] += a0 * bv[x]
				r1[x] += a1 * bv[x]
			}
		}
	}
	for i := 0; i < mr; i++ {
		row := (*[nr]float32)(pc[i*ldc:])
		t := (*[nr]float32)(acc[i*nr:])
		if beta == 0 {
			for x := range row {
				row[x] = alpha * t[x]
			}
		} else {
			for x := range row {
				row[x] = alpha*t[x] + beta*row[x]
			}
		}
	}
}
