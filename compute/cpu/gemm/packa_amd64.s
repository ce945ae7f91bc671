//go:build amd64 && !purego

#include "textflag.h"
#include "transpose_amd64.h"

// func packA6AVX2(kc int, src *float32, lda int, dst *float32)
//
// Packs one 6-row panel of a row-major A: dst[p·6+r] = src[r·lda+p] for
// r < 6 and p < kc, with kc a multiple of 8. Each step transposes a 6×8
// block as an 8×8 one (TRANSPOSE_8X8) whose last two rows are don't-cares:
// every output row of 8 is stored whole, its two extra lanes overwritten by
// the next row's store, except the block's last row, which is stored as
// exactly 6 values so nothing past the panel is written.
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
	TRANSPOSE_8X8 // Y6, Y7 (rows 6, 7) hold whatever they held: don't-cares
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
