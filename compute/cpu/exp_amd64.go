//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// expShiftAVX2 sets dst[i] = exp(src[i]-shift) for the first len(dst)&^7
// elements (exp_amd64.s).
//
//go:noescape
func expShiftAVX2(dst, src []float32, shift float32)

// haveExpAVX2 says whether expShiftAVX2 can run here. HasAVX2 also implies
// that the OS saves the YMM registers.
var haveExpAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// expShift sets dst[i] = exp(src[i]-shift) for i < len(dst); dst may be
// src. Accurate to a few float32 ulps; results below e^-87 are 0.
func expShift(dst, src []float32, shift float32) {
	src = src[:len(dst)]
	if !haveExpAVX2 {
		for i, x := range src {
			dst[i] = float32(expf(float64(x - shift)))
		}
		return
	}
	n := len(dst) &^ 7
	if n > 0 {
		expShiftAVX2(dst[:n], src[:n], shift)
	}
	if n < len(dst) {
		// The tail goes through the same kernel, so that an element's
		// value never depends on where a slice happens to end.
		var buf [8]float32
		copy(buf[:], src[n:])
		expShiftAVX2(buf[:], buf[:], shift)
		copy(dst[n:], buf[:])
	}
}
