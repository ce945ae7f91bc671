package quant

import (
	"encoding/binary"

	"github.com/fynetune/fynetune/compute/half"
)

// F16ToF32 converts IEEE binary16 bits to float32, exactly (see package half).
func F16ToF32(h uint16) float32 { return half.F16ToF32(h) }

// F32ToF16 converts f to binary16 bits, rounding to nearest even.
func F32ToF16(f float32) uint16 { return half.F32ToF16(f) }

// BF16ToF32 converts bfloat16 bits to float32 (exact).
func BF16ToF32(h uint16) float32 { return half.BF16ToF32(h) }

// F32ToBF16 converts f to bfloat16 bits, rounding to nearest even.
func F32ToBF16(f float32) uint16 { return half.F32ToBF16(f) }

// decodeF16Go is the portable decodeF16.
func decodeF16Go(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = F16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}

// decodeBF16Go is the portable decodeBF16.
func decodeBF16Go(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	for i := range dst {
		dst[i] = BF16ToF32(binary.LittleEndian.Uint16(src[2*i:]))
	}
}
