// Package half converts between float32 and the 16-bit float formats
// (IEEE binary16 and bfloat16), bit for bit as PyTorch and ggml do. It is a
// leaf package so that both the weight-file readers (model/safetensors) and
// the compute formats (compute/quant) use one implementation.
package half

import "math"

// F16ToF32 converts IEEE binary16 bits to float32. The conversion is exact
// (subnormals, infinities and NaN included).
func F16ToF32(h uint16) float32 {
	const magic = 113 << 23 // 2^-14 as float32 bits: rescales subnormals
	o := uint32(h&0x7fff) << 13
	exp := o & (0x7c00 << 13)
	o += (127 - 15) << 23
	switch exp {
	case 0x7c00 << 13: // Inf or NaN: the exponent becomes all ones
		o += (128 - 16) << 23
	case 0: // zero or subnormal: renormalize through float arithmetic
		o += 1 << 23
		o = math.Float32bits(math.Float32frombits(o) - math.Float32frombits(magic))
	}
	return math.Float32frombits(o | uint32(h&0x8000)<<16)
}

// F32ToF16 converts f to IEEE binary16 bits, rounding to nearest with ties
// to even (as ggml's GGML_FP32_TO_FP16 and PyTorch's .half()). Values too
// large become ±Inf, NaN stays a quiet NaN.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13)
	}
	e := exp - 127 + 15
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// subnormal result (or rounding up to the smallest normal)
		if e < -10 {
			return sign
		}
		m := mant | 0x800000
		shift := uint32(14 - e)
		r := m >> shift
		rem := m & (1<<shift - 1)
		half := uint32(1) << (shift - 1)
		if rem > half || (rem == half && r&1 == 1) {
			r++
		}
		return sign | uint16(r)
	}
	r := uint32(e)<<10 | mant>>13
	rem := mant & 0x1fff
	if rem > 0x1000 || (rem == 0x1000 && r&1 == 1) {
		r++ // a carry into the exponent is right, up to and including Inf
	}
	return sign | uint16(r)
}

// BF16ToF32 converts bfloat16 bits to float32 (exact).
func BF16ToF32(h uint16) float32 {
	return math.Float32frombits(uint32(h) << 16)
}

// F32ToBF16 converts f to bfloat16 bits, rounding to nearest with ties to
// even (as PyTorch's .bfloat16()). NaN stays a quiet NaN.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}
