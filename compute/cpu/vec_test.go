package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestVecRoutines: maxF32, scaleF32 and sum64 (assembly where the CPU runs
// it) agree with their plain loops at every length around the vector
// widths, with the maximum placed in every accumulator lane and the tail.
func TestVecRoutines(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	for _, n := range []int{1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 65, 100, 127, 128, 129, 1000, 50257} {
		x := make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 10)
		}
		for _, at := range []int{0, n / 3, n / 2, n - 1} {
			y := append([]float32(nil), x...)
			y[at] = 1e6
			if got := maxF32(y); got != 1e6 {
				t.Fatalf("n=%d: max with the largest at %d = %v", n, at, got)
			}
		}
		if got, want := maxF32(x), maxGo(x); got != want {
			t.Fatalf("n=%d: max %v, want %v", n, got, want)
		}
		got, want := append([]float32(nil), x...), append([]float32(nil), x...)
		scaleF32(got, 0.37)
		scaleGo(want, 0.37)
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("n=%d: scaled x[%d] = %v, want %v", n, i, got[i], want[i])
			}
		}
		var exact float64
		for _, v := range x {
			exact += float64(v)
		}
		if s := sum64(x); math.Abs(s-exact) > 1e-9*(1+math.Abs(exact)) {
			t.Fatalf("n=%d: sum64 %v, want %v", n, s, exact)
		}
	}
}
