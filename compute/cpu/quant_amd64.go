//go:build amd64 && !purego

package cpu

import "golang.org/x/sys/cpu"

// dotAVX2 returns Σ a[i]·b[i] over n values, n a multiple of 32
// (quant_amd64.s).
//
//go:noescape
func dotAVX2(a, b *float32, n int) float32

// axpyAVX2 sets y[i] += alpha·x[i] over n values, n a multiple of 16
// (quant_amd64.s).
//
//go:noescape
func axpyAVX2(alpha float32, x, y *float32, n int)

// haveDotAVX2 says whether dotAVX2 and axpyAVX2 can run here.
var haveDotAVX2 = cpu.X86.HasAVX2 && cpu.X86.HasFMA

// dotF32 returns Σ a[i]·b[i]; len(b) >= len(a).
func dotF32(a, b []float32) float32 {
	b = b[:len(a)]
	n := 0
	var s float32
	if haveDotAVX2 {
		n = len(a) &^ 31
		if n > 0 {
			s = dotAVX2(&a[0], &b[0], n)
		}
	}
	return s + dotGo(a[n:], b[n:])
}

// axpyF32 sets y[i] += alpha·x[i]; len(y) >= len(x).
func axpyF32(alpha float32, x, y []float32) {
	y = y[:len(x)]
	n := 0
	if haveDotAVX2 {
		n = len(x) &^ 15
		if n > 0 {
			axpyAVX2(alpha, &x[0], &y[0], n)
		}
	}
	axpyGo(alpha, x[n:], y[n:])
}
