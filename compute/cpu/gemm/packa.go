package gemm

// packA6 packs one full 6-row panel of a row-major A (see packA6Go): the
// assembly transposer where the CPU runs it, since the portable loop moves
// one value at a time.
var packA6 = packA6Go

func init() {
	if f := packA6FastFunc(); f != nil {
		packA6 = f
	}
}

// packA6Go packs rows i..i+5 of a row-major A, columns p0..p0+kc-1:
// d[p·6+r] = a[(i+r)·lda+p0+p].
func packA6Go(d, a []float32, lda, i, p0, kc int) {
	r0 := a[(i+0)*lda+p0:][:kc]
	r1 := a[(i+1)*lda+p0:][:kc]
	r2 := a[(i+2)*lda+p0:][:kc]
	r3 := a[(i+3)*lda+p0:][:kc]
	r4 := a[(i+4)*lda+p0:][:kc]
	r5 := a[(i+5)*lda+p0:][:kc]
	for p := range r0 {
		q := d[p*mr : p*mr+mr : p*mr+mr]
		q[0], q[1], q[2], q[3], q[4], q[5] = r0[p], r1[p], r2[p], r3[p], r4[p], r5[p]
	}
}
