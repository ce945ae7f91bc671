package safetensors

import (
	"math"
	"math/rand/v2"
	"testing"
)

// refF16ToF64 decodes binary16 bits from the definition:
// (-1)^s × 2^(e-15) × 1.m for normals, 2^-14 × 0.m for subnormals.
func refF16ToF64(h uint16) float64 {
	s := 1.0
	if h&0x8000 != 0 {
		s = -1
	}
	e := int(h>>10) & 0x1f
	m := float64(h & 0x3ff)
	switch e {
	case 0x1f:
		if m != 0 {
			return math.NaN()
		}
		return math.Inf(int(s))
	case 0:
		return s * math.Ldexp(m, -24)
	default:
		return s * math.Ldexp(1+m/1024, e-15)
	}
}

// refF32ToF16 rounds x to binary16 by searching the (monotonic) positive
// binary16 bit patterns for the two neighbours of |x| and picking the
// nearer, the even one on a tie. 0x7c00 (Inf) stands for 65536 when
// rounding, as IEEE 754 prescribes.
func refF32ToF16(x float32) uint16 {
	var sign uint16
	a := float64(x)
	if math.Signbit(a) {
		sign, a = 0x8000, -a
	}
	val := func(h uint16) float64 {
		if h == 0x7c00 {
			return 65536
		}
		return refF16ToF64(h)
	}
	if a >= 65536 {
		return sign | 0x7c00
	}
	lo, hi := uint16(0), uint16(0x7c00) // val(lo) <= a < val(hi)
	for hi-lo > 1 {
		mid := (lo + hi) / 2
		if val(mid) <= a {
			lo = mid
		} else {
			hi = mid
		}
	}
	dl, dh := a-val(lo), val(hi)-a
	switch {
	case dl < dh:
		return sign | lo
	case dh < dl:
		return sign | hi
	case lo&1 == 0:
		return sign | lo
	default:
		return sign | hi
	}
}

func TestF16KnownValues(t *testing.T) {
	cases := []struct {
		f float32
		h uint16
	}{
		{0, 0x0000},
		{float32(math.Copysign(0, -1)), 0x8000},
		{1, 0x3c00},
		{-2, 0xc000},
		{0.5, 0x3800},
		{0.333251953125, 0x3555},
		{65504, 0x7bff},                          // largest finite
		{float32(math.Ldexp(1, -14)), 0x0400},    // smallest normal
		{float32(math.Ldexp(1, -24)), 0x0001},    // smallest subnormal
		{float32(math.Ldexp(1023, -24)), 0x03ff}, // largest subnormal
		{float32(math.Inf(1)), 0x7c00},
		{float32(math.Inf(-1)), 0xfc00},
	}
	for _, c := range cases {
		if got := F32ToF16(c.f); got != c.h {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x", c.f, got, c.h)
		}
		if got := F16ToF32(c.h); math.Float32bits(got) != math.Float32bits(c.f) {
			t.Errorf("F16ToF32(%#04x) = %g, want %g", c.h, got, c.f)
		}
	}
	rounding := []struct {
		f   float32
		h   uint16
		why string
	}{
		{65519, 0x7bff, "below the midpoint to Inf"},
		{65520, 0x7c00, "midpoint 65504|65536 ties to even (Inf)"},
		{1e6, 0x7c00, "overflow"},
		{float32(math.Ldexp(1, -25)), 0x0000, "half the smallest subnormal ties to even (0)"},
		{float32(math.Ldexp(1.5, -25)), 0x0001, "above half the smallest subnormal"},
		{float32(math.Ldexp(3, -25)), 0x0002, "1.5 subnormal ulps ties to even (2)"},
		{float32(math.Ldexp(1, -30)), 0x0000, "underflow"},
		{1 + float32(math.Ldexp(1, -11)), 0x3c00, "1 + half ulp ties to even (1)"},
		{1 + float32(math.Ldexp(3, -11)), 0x3c02, "1 + 1.5 ulp ties to even (1+2ulp)"},
		{1 + float32(math.Ldexp(1, -11)) + float32(math.Ldexp(1, -23)), 0x3c01, "just above the tie"},
		{float32(math.Ldexp(2047, -25)), 0x0400, "largest subnormal + half ulp rounds up into the normals"},
	}
	for _, c := range rounding {
		if got := F32ToF16(c.f); got != c.h {
			t.Errorf("F32ToF16(%g) = %#04x, want %#04x (%s)", c.f, got, c.h, c.why)
		}
	}
	for _, nan := range []float32{float32(math.NaN()), math.Float32frombits(0xff800001), math.Float32frombits(0x7fc00000)} {
		h := F32ToF16(nan)
		if h&0x7c00 != 0x7c00 || h&0x3ff == 0 {
			t.Errorf("F32ToF16(NaN %#08x) = %#04x, not a NaN", math.Float32bits(nan), h)
		}
	}
}

// TestF16ToF32All checks every binary16 value against the definition, and
// that converting back gives the same bits.
func TestF16ToF32All(t *testing.T) {
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		got := F16ToF32(h)
		want := refF16ToF64(h)
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Fatalf("F16ToF32(%#04x) = %g, want NaN", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Fatalf("F16ToF32(%#04x) = %g, want %g", h, got, want)
		}
		if back := F32ToF16(got); back != h {
			t.Fatalf("F32ToF16(F16ToF32(%#04x)) = %#04x", h, back)
		}
	}
	// DecodeF16 (table driven) agrees bit for bit, NaN payloads included.
	all := make([]byte, 2<<16)
	for i := 0; i < 1<<16; i++ {
		all[2*i], all[2*i+1] = byte(i), byte(i>>8)
	}
	dec := make([]float32, 1<<16)
	DecodeF16(dec, all)
	for i, v := range dec {
		if math.Float32bits(v) != math.Float32bits(F16ToF32(uint16(i))) {
			t.Fatalf("DecodeF16 of %#04x = %#08x, F16ToF32 gives %#08x", i, math.Float32bits(v), math.Float32bits(F16ToF32(uint16(i))))
		}
	}
}

// TestF32ToF16Rounding compares F32ToF16 with the reference search at
// every midpoint between neighbouring binary16 values, one float32 ulp on
// either side of it, and at random float32 values.
func TestF32ToF16Rounding(t *testing.T) {
	check := func(x float32) {
		if got, want := F32ToF16(x), refF32ToF16(x); got != want {
			t.Fatalf("F32ToF16(%g [%#08x]) = %#04x, want %#04x", x, math.Float32bits(x), got, want)
		}
	}
	for h := uint16(0); h < 0x7c00; h++ {
		next := 65536.0
		if h+1 < 0x7c00 {
			next = refF16ToF64(h + 1)
		}
		mid := float32((refF16ToF64(h) + next) / 2) // exact in float32
		for _, x := range []float32{mid, math.Nextafter32(mid, 0), math.Nextafter32(mid, float32(math.Inf(1)))} {
			check(x)
			check(-x)
		}
	}
	r := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200000; i++ {
		x := math.Float32frombits(r.Uint32())
		if x != x {
			continue
		}
		check(x)
	}
}

func TestBF16(t *testing.T) {
	cases := []struct {
		bits uint32 // float32 input
		h    uint16
		why  string
	}{
		{0x3f800000, 0x3f80, "1.0 exact"},
		{0xc0490fdb, 0xc049, "-pi rounds down"},
		{0x3f808000, 0x3f80, "tie, even below"},
		{0x3f818000, 0x3f82, "tie, odd below rounds up"},
		{0x3f808001, 0x3f81, "just above the tie"},
		{0x3f807fff, 0x3f80, "just below the tie"},
		{0x7f7fffff, 0x7f80, "max float32 overflows to Inf"},
		{0x00000001, 0x0000, "smallest subnormal rounds to 0"},
		{0x80000000, 0x8000, "-0"},
		{0xff800000, 0xff80, "-Inf"},
	}
	for _, c := range cases {
		if got := F32ToBF16(math.Float32frombits(c.bits)); got != c.h {
			t.Errorf("F32ToBF16(%#08x) = %#04x, want %#04x (%s)", c.bits, got, c.h, c.why)
		}
	}
	for _, nan := range []uint32{0x7fc00000, 0x7f800001, 0xff800001} {
		h := F32ToBF16(math.Float32frombits(nan))
		if h&0x7f80 != 0x7f80 || h&0x7f == 0 {
			t.Errorf("F32ToBF16(NaN %#08x) = %#04x, not a NaN", nan, h)
		}
	}
	// Every bfloat16 decodes to its bits shifted up and converts back.
	for i := 0; i < 1<<16; i++ {
		h := uint16(i)
		f := BF16ToF32(h)
		if math.Float32bits(f) != uint32(h)<<16 {
			t.Fatalf("BF16ToF32(%#04x) = %#08x", h, math.Float32bits(f))
		}
		if f == f && F32ToBF16(f) != h {
			t.Fatalf("F32ToBF16(BF16ToF32(%#04x)) = %#04x", h, F32ToBF16(f))
		}
	}
	// Random values: the nearer of the two neighbours, even on a tie.
	r := rand.New(rand.NewPCG(3, 4))
	for i := 0; i < 200000; i++ {
		b := r.Uint32()
		x := math.Float32frombits(b)
		if x != x || math.IsInf(float64(x), 0) {
			continue
		}
		lo := uint16(b >> 16) // truncation: the neighbour nearer to zero
		hi := lo + 1
		dl := math.Abs(float64(x) - float64(BF16ToF32(lo)))
		var dh float64
		if lo&0x7fff == 0x7f7f { // the upper neighbour is Inf: round as if it were 2^128
			dh = math.Ldexp(1, 128) - math.Abs(float64(x))
		} else {
			dh = math.Abs(float64(BF16ToF32(hi)) - float64(x))
		}
		want := hi
		if dl < dh || (dl == dh && lo&1 == 0) {
			want = lo
		}
		if got := F32ToBF16(x); got != want {
			t.Fatalf("F32ToBF16(%#08x) = %#04x, want %#04x", b, got, want)
		}
	}
}

func TestEncodeDecodeSlices(t *testing.T) {
	src := []float32{0, 1, -1.5, 65504, 1e-7, float32(math.Inf(-1)), 3.14159}
	b16 := make([]byte, 2*len(src))
	EncodeF16(b16, src)
	got := make([]float32, len(src))
	DecodeF16(got, b16)
	for i, v := range src {
		if want := F16ToF32(F32ToF16(v)); got[i] != want {
			t.Errorf("F16 slice round trip [%d]: %g, want %g", i, got[i], want)
		}
		if h := uint16(b16[2*i]) | uint16(b16[2*i+1])<<8; h != F32ToF16(v) {
			t.Errorf("EncodeF16 [%d] wrote %#04x, want little-endian %#04x", i, h, F32ToF16(v))
		}
	}
	EncodeBF16(b16, src)
	DecodeBF16(got, b16)
	for i, v := range src {
		if want := BF16ToF32(F32ToBF16(v)); got[i] != want {
			t.Errorf("BF16 slice round trip [%d]: %g, want %g", i, got[i], want)
		}
	}
	defer func() {
		if recover() == nil {
			t.Error("EncodeF16 into a short buffer did not panic")
		}
	}()
	EncodeF16(make([]byte, 3), src[:2])
}
