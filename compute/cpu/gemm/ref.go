package gemm

// SgemmRef is the reference implementation of Sgemm: the same contract,
// computed with a plain triple loop accumulating in float64. It is slow and
// meant for tests.
func SgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	checkArgs(transA, transB, m, n, k, a, lda, b, ldb, c, ldc)
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			var s float64
			if alpha != 0 {
				for p := 0; p < k; p++ {
					ai, bi := i*lda+p, p*ldb+j
					if transA {
						ai = p*lda + i
					}
					if transB {
						bi = j*ldb + p
					}
					av, bv := a[ai], b[bi]
					s += float64(av) * float64(bv)
				}
			}
			v := float64(alpha) * s
			if beta != 0 {
				v += float64(beta) * float64(c[i*ldc+j])
			}
			c[i*ldc+j] = float32(v)
		}
	}
}
