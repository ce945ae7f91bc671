//go:build amd64 && !purego

#include "textflag.h"

// func packA6AVX2(kc int, src *float32, lda int, dst *float32)
//
// Packs one 6-row panel of a row-major A: dst[p·6+r] = src[r·lda+p] for
// r < 6 and p < kc, with kc a multiple of 8. Each step transposes a 6×8
// block as an 8×8 one whose last two rows are don't-cares: every output row
// of 8 is stored whole, its two extra lanes overwritten by the next row's
// store, except the block's last row, which is stored as exactly 6 values so
// nothing past the panel is written.
//
// Registers: CX blocks of 8 left, SI src at row 0 column p, DI dst,
// R8 lda in bytes, R9 = 3·lda, R11 row 4 base.
TEXT ·packA6AVX2(SB), NOSPLIT, $0-32
	MOVQ kc+0(FP), CX
	MOVQ src+8(FP), SI
	MOVQ lda+16(FP), R8
	MOVQ dst+24(FP), DI
	SHLQ $2, R8
	LEAQ (R8)(R8*2), R9
	SHRQ $3, CX
	JZ done

loop:
	LEAQ (SI)(R8*4), R11
	VMOVUPS (SI), Y0
	VMOVUPS (SI)(R8*1), Y1
	VMOVUPS (SI)(R8*2), Y2
	VMOVUPS (SI)(R9*1), Y3
	VMOVUPS (R11), Y4
	VMOVUPS (R11)(R8*1), Y5
	VUNPCKLPS Y1, Y0, Y8
	VUNPCKHPS Y1, Y0, Y9
	VUNPCKLPS Y3, Y2, Y10
	VUNPCKHPS Y3, Y2, Y11
	VUNPCKLPS Y5, Y4, Y12
	VUNPCKHPS Y5, Y4, Y13
	VSHUFPS $0x44, Y10, Y8, Y0
	VSHUFPS $0xEE, Y10, Y8, Y1
	VSHUFPS $0x44, Y11, Y9, Y2
	VSHUFPS $0xEE, Y11, Y9, Y3
	VSHUFPS $0x44, Y12, Y12, Y4
	VSHUFPS $0xEE, Y12, Y12, Y5
	VSHUFPS $0x44, Y13, Y13, Y6
	VSHUFPS $0xEE, Y13, Y13, Y7
	VPERM2F128 $0x20, Y4, Y0, Y8
	VPERM2F128 $0x31, Y4, Y0, Y12
	VPERM2F128 $0x20, Y5, Y1, Y9
	VPERM2F128 $0x31, Y5, Y1, Y13
	VPERM2F128 $0x20, Y6, Y2, Y10
	VPERM2F128 $0x31, Y6, Y2, Y14
	VPERM2F128 $0x20, Y7, Y3, Y11
	VPERM2F128 $0x31, Y7, Y3, Y15
	VMOVUPS Y8, (DI)
	VMOVUPS Y9, 24(DI)
	VMOVUPS Y10, 48(DI)
	VMOVUPS Y11, 72(DI)
	VMOVUPS Y12, 96(DI)
	VMOVUPS Y13, 120(DI)
	VMOVUPS Y14, 144(DI)
	VMOVUPS X15, 168(DI)
	VEXTRACTF128 $1, Y15, X0
	VMOVQ X0, 184(DI)
	ADDQ $32, SI
	ADDQ $192, DI
	DECQ CX
	JNZ loop

done:
	VZEROUPPER
	RET
