package cpu

import "math"

const (
	expMagic = 0x1.8p52 // adding it rounds a float64 to an integer
	expInvL  = 64 * math.Log2E
	expL2Hi  = 6.93147180369123816490e-01 / 64
	expL2Lo  = 1.90821492927058770002e-10 / 64
)

// exp2Tab[i] = 2^(i/64).
var exp2Tab = func() (t [64]float64) {
	for i := range t {
		t[i] = math.Exp2(float64(i) / 64)
	}
	return
}()

// expf returns e^x. It is the scalar exponential of the kernels where no
// vector unit computes it (see expShift). It works in float64, is accurate
// to a few 1e-11 relative (see fastmath_test.go), far below float32
// resolution, and is somewhat quicker than math.Exp. Arguments beyond ±708 saturate to +Inf or 0; NaN stays
// NaN.
func expf(x float64) float64 {
	if !(x < 708) {
		if x != x {
			return x
		}
		return math.Inf(1)
	}
	if x < -708 {
		return 0
	}
	// x = (64·m + j)·ln2/64 + r, |r| <= ln2/128
	n := (x*expInvL + expMagic) - expMagic // round(x·64/ln2)
	r := x - n*expL2Hi - n*expL2Lo
	k := int64(n)
	p := 1 + r*(1+r*(0.5+r*(1.0/6+r*(1.0/24))))
	// 2^m as a float64 built from its exponent bits; |m| <= 1022 here.
	return exp2Tab[k&63] * p * math.Float64frombits(uint64((k>>6)+1023)<<52)
}

// maxGo returns the largest value of x, or -Inf for an empty x.
func maxGo(x []float32) float32 {
	mx := float32(math.Inf(-1))
	for _, v := range x {
		mx = max(mx, v)
	}
	return mx
}

// scaleGo sets x[i] *= k.
func scaleGo(x []float32, k float32) {
	for i := range x {
		x[i] *= k
	}
}

// sum64Go returns the sum of x accumulated in float64.
func sum64Go(x []float32) float64 {
	var s0, s1, s2, s3 float64
	i := 0
	for ; i+4 <= len(x); i += 4 {
		s0 += float64(x[i])
		s1 += float64(x[i+1])
		s2 += float64(x[i+2])
		s3 += float64(x[i+3])
	}
	for ; i < len(x); i++ {
		s0 += float64(x[i])
	}
	return (s0 + s1) + (s2 + s3)
}
