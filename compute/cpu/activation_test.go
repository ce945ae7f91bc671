package cpu

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestActivationLoops: the gelu_new and SwiGLU loops (assembly where the
// CPU runs it) agree with the Go loops at every length around the vector width, over inputs
// from deep in both tails to zero. The assembly repeats the Go operations
// in order, so they are the same bits unless the compiler fuses the Go
// multiply-adds (GOAMD64=v3): one ulp is allowed for that.
func TestActivationLoops(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 8))
	ulps := func(a, b float32) uint32 {
		x, y := int64(math.Float32bits(a)), int64(math.Float32bits(b))
		if d := x - y; d < 0 {
			return uint32(-d)
		} else {
			return uint32(d)
		}
	}
	check := func(name string, n int, got, want []float32) {
		t.Helper()
		for i := range want {
			if got[i] != want[i] && ulps(got[i], want[i]) > 1 {
				t.Fatalf("%s n=%d: [%d] = %v, want %v", name, n, i, got[i], want[i])
			}
		}
	}
	for _, n := range []int{1, 7, 8, 9, 15, 16, 17, 64, 255, 256, 257, 1000} {
		x, dout := make([]float32, n), make([]float32, n)
		for i := range x {
			x[i] = float32(r.NormFloat64() * 3)
			dout[i] = float32(r.NormFloat64())
		}
		x[0], x[n/2] = -30, 0
		e, eWant := make([]float32, n), make([]float32, n)
		geluArg(e, x)
		geluArgGo(eWant, x)
		check("geluArg", n, e, eWant)
		expShift(eWant, eWant, 0) // the same exponentials feed both
		out, outWant := make([]float32, n), make([]float32, n)
		geluOut(out, x, eWant)
		geluOutGo(outWant, x, eWant)
		check("geluOut", n, out, outWant)
		dx, dxWant := make([]float32, n), make([]float32, n)
		geluBack(dx, dout, x, eWant)
		geluBackGo(dxWant, dout, x, eWant)
		check("geluBack", n, dx, dxWant)

		up := make([]float32, n)
		for i := range up {
			up[i] = float32(r.NormFloat64())
		}
		negate(e, x)
		negateGo(eWant, x)
		check("negate", n, e, eWant)
		expShift(eWant, eWant, 0)
		siluMulOut(out, x, up, eWant)
		siluMulOutGo(outWant, x, up, eWant)
		check("siluMulOut", n, out, outWant)
		dup, dupWant := make([]float32, n), make([]float32, n)
		siluMulBack(dx, dup, dout, x, up, eWant)
		siluMulBackGo(dxWant, dupWant, dout, x, up, eWant)
		check("siluMulBack dgate", n, dx, dxWant)
		check("siluMulBack dup", n, dup, dupWant)
	}
}
