//go:build amd64 && !purego

package cpu

// The gelu_new loops on eight lanes (gelu_amd64.s), n a multiple of 8; the
// constants are passed as the Go loops' constant expressions evaluate them.
//
//go:noescape
func geluArgAVX2(e, x *float32, n int, k2, c float32)

//go:noescape
func geluOutAVX2(out, x, e *float32, n int)

//go:noescape
func geluBackAVX2(dx, dout, x, e *float32, n int, k, c3 float32)

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
