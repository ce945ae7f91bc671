//go:build !amd64 || purego

package cpu

// maxF32 returns the largest value of a non-empty x.
func maxF32(x []float32) float32 { return maxGo(x) }

// scaleF32 sets x[i] *= k.
func scaleF32(x []float32, k float32) { scaleGo(x, k) }

// sum64 returns the sum of x accumulated in float64.
func sum64(x []float32) float64 { return sum64Go(x) }
