//go:build !amd64 || purego

package cpu

// dotF32 returns Σ a[i]·b[i]; len(b) >= len(a).
func dotF32(a, b []float32) float32 { return dotGo(a, b[:len(a)]) }

// axpyF32 sets y[i] += alpha·x[i]; len(y) >= len(x).
func axpyF32(alpha float32, x, y []float32) { axpyGo(alpha, x, y[:len(x)]) }
