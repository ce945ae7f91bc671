//go:build !amd64 || purego

package cpu

// expShift sets dst[i] = exp(src[i]-shift) for i < len(dst); dst may be
// src.
func expShift(dst, src []float32, shift float32) {
	src = src[:len(dst)]
	for i, x := range src {
		dst[i] = float32(expf(float64(x - shift)))
	}
}
