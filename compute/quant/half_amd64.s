//go:build amd64 && !purego

#include "textflag.h"

// func f16ToF32F16C(dst *float32, src *byte, n int)
//
// dst[i] = float32 of the little-endian binary16 at src[2i:], for i < n;
// n must be a multiple of 8. VCVTPH2PS converts exactly (F16C).
TEXT ·f16ToF32F16C(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   done
	MOVQ CX, DX
	SHRQ $2, DX
	JZ   one

four:
	VCVTPH2PS (SI), Y0
	VCVTPH2PS 16(SI), Y1
	VCVTPH2PS 32(SI), Y2
	VCVTPH2PS 48(SI), Y3
	VMOVUPS   Y0, (DI)
	VMOVUPS   Y1, 32(DI)
	VMOVUPS   Y2, 64(DI)
	VMOVUPS   Y3, 96(DI)
	ADDQ      $64, SI
	ADDQ      $128, DI
	DECQ      DX
	JNZ       four
	ANDQ      $3, CX
	JZ        done

one:
	VCVTPH2PS (SI), Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       one

done:
	VZEROUPPER
	RET

// func bf16ToF32AVX2(dst *float32, src *byte, n int)
//
// dst[i] = float32 of the little-endian bfloat16 at src[2i:] (its bits
// shifted up by 16), for i < n; n must be a multiple of 8.
TEXT ·bf16ToF32AVX2(SB), NOSPLIT, $0-24
	MOVQ dst+0(FP), DI
	MOVQ src+8(FP), SI
	MOVQ n+16(FP), CX
	SHRQ $3, CX
	JZ   bdone

bloop:
	VPMOVZXWD (SI), Y0
	VPSLLD    $16, Y0, Y0
	VMOVDQU   Y0, (DI)
	ADDQ      $16, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       bloop

bdone:
	VZEROUPPER
	RET
