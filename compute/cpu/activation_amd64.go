//go:build amd64 && !purego

package cpu

// The activation loops on eight lanes (activation_amd64.s), n a multiple of 8;
// the constants are passed as the Go loops' constant expressions evaluate
// them.
//
//go:noescape
func geluArgAVX2(e, x *float32, n int, k2, c float32)

//go:noescape
func geluOutAVX2(out, x, e *float32, n int)

//go:noescape
func geluBackAVX2(dx, dout, x, e *float32, n int, k, c3 float32)

//go:noescape
func negateAVX2(e, gate *float32, n int)

//go:noescape
func siluMulOutAVX2(out, gate, up, e *float32, n int)

//go:noescape
func siluMulBackAVX2(dgate, dup, dout, gate, up, e *float32, n int)

// geluArg is geluArgGo, eight values at a time where the CPU has AVX2.
func geluArg(e, x []float32) {
	n := 0
	if haveVecAVX2 {
		if n = len(x) &^ 7; n > 0 {
			_ = e[n-1]
			geluArgAVX2(&e[0], &x[0], n, -2*geluK, geluC)
		}
	}
	geluArgGo(e[n:], x[n:])
}

// geluOut is geluOutGo, eight values at a time where the CPU has AVX2.
func geluOut(out, x, e []float32) {
	n := 0
	if haveVecAVX2 {
		if n = len(x) &^ 7; n > 0 {
			_, _ = out[n-1], e[n-1]
			geluOutAVX2(&out[0], &x[0], &e[0], n)
		}
	}
	geluOutGo(out[n:], x[n:], e[n:])
}

// geluBack is geluBackGo, eight values at a time where the CPU has AVX2.
func geluBack(dx, dout, x, e []float32) {
	n := 0
	if haveVecAVX2 {
		if n = len(x) &^ 7; n > 0 {
			_, _, _ = dx[n-1], dout[n-1], e[n-1]
			geluBackAVX2(&dx[0], &dout[0], &x[0], &e[0], n, geluK, 3*geluC)
		}
	}
	geluBackGo(dx[n:], dout[n:], x[n:], e[n:])
}

// negate is negateGo, eight values at a time where the CPU has AVX2.
func negate(e, g []float32) {
	n := 0
	if haveVecAVX2 {
		if n = len(g) &^ 7; n > 0 {
			_ = e[n-1]
			negateAVX2(&e[0], &g[0], n)
		}
	}
	negateGo(e[n:], g[n:])
}

// siluMulOut is siluMulOutGo, eight values at a time where the CPU has AVX2.
func siluMulOut(out, g, up, e []float32) {
	n := 0
	if haveVecAVX2 {
		if n = len(g) &^ 7; n > 0 {
			_, _, _ = out[n-1], up[n-1], e[n-1]
			siluMulOutAVX2(&out[0], &g[0], &up[0], &e[0], n)
		}
	}
	siluMulOutGo(out[n:], g[n:], up[n:], e[n:])
}

// siluMulBack is siluMulBackGo, eight values at a time where the CPU has
// AVX2.
func siluMulBack(dgate, dup, dout, g, up, e []float32) {
	n := 0
	if haveVecAVX2 {
		if n = len(g) &^ 7; n > 0 {
			_, _, _, _, _ = dgate[n-1], dup[n-1], dout[n-1], up[n-1], e[n-1]
			siluMulBackAVX2(&dgate[0], &dup[0], &dout[0], &g[0], &up[0], &e[0], n)
		}
	}
	siluMulBackGo(dgate[n:], dup[n:], dout[n:], g[n:], up[n:], e[n:])
}
