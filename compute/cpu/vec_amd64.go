//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// maxAVX2 returns the largest of n values, n a positive multiple of 32
// (vec_amd64.s).
//
//go:noescape
func maxAVX2(x *float32, n int) float32

// scaleAVX2 sets x[i] *= k over n values, n a multiple of 32 (vec_amd64.s).
//
//go:noescape
func scaleAVX2(x *float32, n int, k float32)

// sum64AVX2 returns the sum of n values accumulated in float64, n a
// multiple of 16 (vec_amd64.s).
//
//go:noescape
func sum64AVX2(x *float32, n int) float64

// haveVecAVX2 says whether the vec_amd64.s and activation_amd64.s routines
// can run here.
var haveVecAVX2 = cpu.X86.HasAVX2

// maxF32 returns the largest value of a non-empty x.
func maxF32(x []float32) float32 {
	n := 0
	mx := x[0]
	if haveVecAVX2 {
		if n = len(x) &^ 31; n > 0 {
			mx = maxAVX2(&x[0], n)
		}
	}
	return max(mx, maxGo(x[n:]))
}

// scaleF32 sets x[i] *= k.
func scaleF32(x []float32, k float32) {
	n := 0
	if haveVecAVX2 {
		if n = len(x) &^ 31; n > 0 {
			scaleAVX2(&x[0], n, k)
		}
	}
	scaleGo(x[n:], k)
}

// sum64 returns the sum of x accumulated in float64.
func sum64(x []float32) float64 {
	n := 0
	var s float64
	if haveVecAVX2 {
		if n = len(x) &^ 15; n > 0 {
			s = sum64AVX2(&x[0], n)
		}
	}
	return s + sum64Go(x[n:])
}
