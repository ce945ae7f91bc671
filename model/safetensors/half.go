package safetensors

import (
	"encoding/binary"
	"sync"

	"github.com/fynetune/fynetune/compute/half"
)

// F16ToF32 converts an IEEE 754 binary16 value, given by its bits, to
// float32, exactly (subnormals, infinities, signed zeros, NaN payloads).
func F16ToF32(h uint16) float32 { return half.F16ToF32(h) }

// F32ToF16 converts to binary16, rounding to nearest even.
func F32ToF16(f float32) uint16 { return half.F32ToF16(f) }

// BF16ToF32 converts a bfloat16 value, given by its bits, to float32.
func BF16ToF32(h uint16) float32 { return half.BF16ToF32(h) }

// F32ToBF16 converts to bfloat16, rounding to nearest even.
func F32ToBF16(f float32) uint16 { return half.F32ToBF16(f) }

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
