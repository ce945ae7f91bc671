//go:build amd64 && !purego

package quant

import "golang.org/x/sys/cpu"

// f16ToF32F16C converts n (a multiple of 8) binary16 values (half_amd64.s).
//
//go:noescape
func f16ToF32F16C(dst *float32, src *byte, n int)

// bf16ToF32AVX2 widens n (a multiple of 8) bfloat16 values (half_amd64.s).
//
//go:noescape
func bf16ToF32AVX2(dst *float32, src *byte, n int)

// haveAVX2 says whether bf16ToF32AVX2 can run here.
var haveAVX2 = cpu.X86.HasAVX2

// haveF16C says whether f16ToF32F16C can run here (AVX for the YMM
// registers, F16C for the conversion).
var haveF16C = cpu.X86.HasAVX && cpu.X86.HasF16C

// decodeF16 sets dst[i] to the binary16 value at src[2i:].
func decodeF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	n := 0
	if haveF16C {
		n = len(dst) &^ 7
		if n > 0 {
			f16ToF32F16C(&dst[0], &src[0], n)
		}
	}
	decodeF16Go(dst[n:], src[2*n:])
}

// decodeBF16 sets dst[i] to the bfloat16 value at src[2i:].
func decodeBF16(dst []float32, src []byte) {
	src = src[:2*len(dst)]
	n := 0
	if haveAVX2 {
		n = len(dst) &^ 7
		if n > 0 {
			bf16ToF32AVX2(&dst[0], &src[0], n)
		}
	}
	decodeBF16Go(dst[n:], src[2*n:])
}
