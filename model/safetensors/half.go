package safetensors

import (
	"encoding/binary"
	"math"
	"sync"
)

// F16ToF32 converts an IEEE 754 binary16 value, given by its bits, to
// float32. The conversion is exact: subnormals, infinities, signed zeros and
// NaN payloads are preserved.
func F16ToF32(h uint16) float32 {
	sign := uint32(h&0x8000) << 16
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h & 0x3ff)
	switch exp {
	case 0x1f: // inf or NaN
		return math.Float32frombits(sign | 0x7f800000 | mant<<13)
	case 0:
		if mant == 0 {
			return math.Float32frombits(sign)
		}
		// Subnormal: mant × 2^-24. Normalize so the leading one becomes
		// the implicit bit of a float32.
		e := uint32(127 - 14)
		for mant&0x400 == 0 {
			mant <<= 1
			e--
		}
		return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
	default:
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	}
}

// F32ToF16 converts f to IEEE 754 binary16 bits, rounding to nearest with
// ties to even. Values too large for binary16 become ±Inf, values too small
// become ±0 or a subnormal, and NaN stays a (quiet) NaN.
func F32ToF16(f float32) uint16 {
	b := math.Float32bits(f)
	sign := uint16(b>>16) & 0x8000
	exp := int32(b>>23) & 0xff
	mant := b & 0x7fffff
	if exp == 0xff {
		if mant == 0 {
			return sign | 0x7c00
		}
		return sign | 0x7e00 | uint16(mant>>13) // quiet NaN, keep the top payload bits
	}
	e := exp - 127 + 15 // biased binary16 exponent
	if e >= 0x1f {
		return sign | 0x7c00
	}
	if e <= 0 {
		// Result is subnormal (or rounds up to the smallest normal):
		// r = mant24 × 2^(e-14), rounded.
		if e < -10 {
			return sign // below half the smallest subnormal: ±0
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
// even. NaN stays a (quiet) NaN.
func F32ToBF16(f float32) uint16 {
	b := math.Float32bits(f)
	if b&0x7fffffff > 0x7f800000 {
		return uint16(b>>16) | 0x0040
	}
	b += 0x7fff + (b>>16)&1
	return uint16(b >> 16)
}

// EncodeF16 writes src as little-endian binary16 into dst, rounding to
// nearest even. dst must hold at least 2*len(src) bytes; it panics otherwise.
func EncodeF16(dst []byte, src []float32) {
	if len(dst) < 2*len(src) {
		panic("safetensors: destination too short for 16-bit encoding")
	}
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToF16(v))
	}
}

// EncodeBF16 writes src as little-endian bfloat16 into dst, rounding to
// nearest even. dst must hold at least 2*len(src) bytes; it panics otherwise.
func EncodeBF16(dst []byte, src []float32) {
	if len(dst) < 2*len(src) {
		panic("safetensors: destination too short for 16-bit encoding")
	}
	for i, v := range src {
		binary.LittleEndian.PutUint16(dst[2*i:], F32ToBF16(v))
	}
}

// DecodeF16 converts little-endian binary16 bytes in src to dst.
// src must hold at least 2*len(dst) bytes; it panics otherwise.
func DecodeF16(dst []float32, src []byte) {
	if len(src) < 2*len(dst) {
		panic("safetensors: source too short for 16-bit decoding")
	}
	tab := f16Table()
	for i := range dst {
		dst[i] = tab[binary.LittleEndian.Uint16(src[2*i:])]
	}
}

// DecodeBF16 converts little-endian bfloat16 bytes in src to dst.
// src must hold at least 2*len(dst) bytes; it panics otherwise.
func DecodeBF16(dst []float32, src []byte) {
	if len(src) < 2*len(dst) {
		panic("safetensors: source too short for 16-bit decoding")
	}
	for i := range dst {
		dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// f16Table maps every binary16 bit pattern to its float32 value (256 KiB,
// built on first use): a table lookup beats the branches of F16ToF32 on
// large tensors.
var f16Table = sync.OnceValue(func() *[1 << 16]float32 {
	var t [1 << 16]float32
	for i := range t {
		t[i] = F16ToF32(uint16(i))
	}
	return &t
})
