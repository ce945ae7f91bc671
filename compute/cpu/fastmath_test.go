package cpu

import (
	"math"
	"testing"
)

func TestExpf(t *testing.T) {
	for _, c := range []struct {
		lo, hi float64
	}{{-700, 700}, {-1, 1}} {
		const steps = 200003
		worst, at := 0.0, 0.0
		for i := range steps {
			x := c.lo + (c.hi-c.lo)*float64(i)/(steps-1)
			if r := math.Abs(expf(x)-math.Exp(x)) / math.Exp(x); r > worst || math.IsNaN(r) {
				worst, at = r, x
			}
		}
		if !(worst <= 1e-10) {
			t.Errorf("expf on [%g, %g]: relative error %.3g at x=%v, want <= 1e-10", c.lo, c.hi, worst, at)
		}
	}
	for _, c := range []struct{ x, want float64 }{
		{math.Inf(1), math.Inf(1)}, {math.Inf(-1), 0}, {800, math.Inf(1)}, {-800, 0}, {0, 1},
	} {
		if got := expf(c.x); got != c.want {
			t.Errorf("expf(%v) = %v, want %v", c.x, got, c.want)
		}
	}
	if !math.IsNaN(expf(math.NaN())) {
		t.Error("expf(NaN) is not NaN")
	}
}

// ulps is how many float32 steps apart got is from the float64 value want.
func ulps(got float32, want float64) float64 {
	w := float32(want)
	if got == w {
		return 0
	}
	step := float64(math.Nextafter32(w, float32(math.Inf(1))) - w)
	return math.Abs(float64(got)-want) / step
}

func TestExpShift(t *testing.T) {
	// Every length up to a few vector widths, in place and not, shifted.
	const n = 4099
	src := make([]float32, n)
	for i := range src {
		src[i] = float32(-95 + 190*float64(i)/(n-1)) // beyond both ends
	}
	for _, shift := range []float32{0, 3.5, -2} {
		for _, inPlace := range []bool{false, true} {
			for _, l := range []int{0, 1, 7, 8, 9, 17, n} {
				dst := make([]float32, l)
				if inPlace {
					copy(dst, src)
					expShift(dst, dst, shift)
				} else {
					expShift(dst, src[:l], shift)
				}
				for i, got := range dst {
					x := src[i] - shift
					want := math.Exp(float64(x))
					switch {
					case x < -87:
						if got > 1.7e-38 { // flushed, or the exact tiny value
							t.Fatalf("expShift(%v) = %v, want 0 (flushed)", x, got)
						}
					case want > math.MaxFloat32:
						if !math.IsInf(float64(got), 1) {
							t.Fatalf("expShift(%v) = %v, want +Inf", x, got)
						}
					default:
						if u := ulps(got, want); u > 3 {
							t.Fatalf("expShift(%v) = %v, want %v (%.1f ulps off; len %d, in place %v)", x, got, want, u, l, inPlace)
						}
					}
				}
			}
		}
	}
	special := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0, 88.7, 88.73, -87.5, 1}
	dst := make([]float32, len(special))
	expShift(dst, special, 0)
	if !math.IsNaN(float64(dst[0])) {
		t.Errorf("exp(NaN) = %v, want NaN", dst[0])
	}
	for i, want := range []float64{math.Inf(1), 0, 1, math.Exp(float64(float32(88.7))), math.Inf(1), 0, math.E} {
		got := dst[i+1]
		if math.IsInf(want, 1) || want == 0 {
			if float64(got) != want && !(want == 0 && got < 1.7e-38 && got >= 0) {
				t.Errorf("exp(%v) = %v, want %v", special[i+1], got, want)
			}
		} else if ulps(got, want) > 3 {
			t.Errorf("exp(%v) = %v, want %v", special[i+1], got, want)
		}
	}
}

func TestSum64(t *testing.T) {
	for _, n := range []int{0, 1, 3, 4, 5, 1001} {
		x := make([]float32, n)
		var want float64
		for i := range x {
			x[i] = float32(i%7) * 0.1
			want += float64(x[i])
		}
		if got := sum64(x); math.Abs(got-want) > 1e-12*math.Max(1, want) {
			t.Errorf("sum64 of %d values = %v, want %v", n, got, want)
		}
	}
}
