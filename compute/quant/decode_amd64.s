//go:build amd64 && !purego

#include "textflag.h"

// The block decoders below write exactly the values of the portable ones in
// matrix.go: a small integer or a codebook value, converted exactly, times
// the block's scale, rounded once (VMULPS).

// func decodeNF4AVX2(dst *float32, codes *byte, table *float32, absmax float32)
//
// One NF4 block: 32 bytes of codes, high nibble first, to 64 values
// table[code]·absmax. The 16-entry table is looked up with two VPERMPS (one
// per half) and a blend on bit 3 of the code.
TEXT ·decodeNF4AVX2(SB), NOSPLIT, $0-28
	MOVQ         dst+0(FP), DI
	MOVQ         codes+8(FP), SI
	MOVQ         table+16(FP), AX
	VBROADCASTSS absmax+24(FP), Y15
	VMOVUPS      (AX), Y13
	VMOVUPS      32(AX), Y14
	MOVL         $0x0f0f0f0f, BX
	VMOVD        BX, X12
	VPBROADCASTD X12, X12
	MOVQ         $4, CX

nf4loop:
	VMOVQ      (SI), X0
	VPSRLW     $4, X0, X1
	VPAND      X12, X1, X1    // high nibbles: values 0, 2, 4, ...
	VPAND      X12, X0, X0    // low nibbles: values 1, 3, 5, ...
	VPUNPCKLBW X0, X1, X2     // codes in value order
	VPMOVZXBD  X2, Y3
	VPSRLDQ    $8, X2, X4
	VPMOVZXBD  X4, Y4

	VPERMPS   Y13, Y3, Y5
	VPERMPS   Y14, Y3, Y6
	VPSLLD    $28, Y3, Y7
	VBLENDVPS Y7, Y6, Y5, Y8
	VMULPS    Y15, Y8, Y8
	VMOVUPS   Y8, (DI)

	VPERMPS   Y13, Y4, Y5
	VPERMPS   Y14, Y4, Y6
	VPSLLD    $28, Y4, Y7
	VBLENDVPS Y7, Y6, Y5, Y8
	VMULPS    Y15, Y8, Y8
	VMOVUPS   Y8, 32(DI)

	ADDQ $8, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  nf4loop
	VZEROUPPER
	RET

// func decodeInt8AVX2(dst *float32, q *byte, scale float32, n int)
//
// n (a multiple of 8) int8 values to float32(q)·scale.
TEXT ·decodeInt8AVX2(SB), NOSPLIT, $0-32
	MOVQ         dst+0(FP), DI
	MOVQ         q+8(FP), SI
	VBROADCASTSS scale+16(FP), Y15
	MOVQ         n+24(FP), CX
	SHRQ         $3, CX
	JZ           i8done

i8loop:
	VPMOVSXBD (SI), Y0
	VCVTDQ2PS Y0, Y0
	VMULPS    Y15, Y0, Y0
	VMOVUPS   Y0, (DI)
	ADDQ      $8, SI
	ADDQ      $32, DI
	DECQ      CX
	JNZ       i8loop

i8done:
	VZEROUPPER
	RET

// func decodeQ4_0AVX2(dst *float32, qs *byte, d float32)
//
// One Q4_0 block: 16 bytes, value j in the low nibble of byte j and value
// j+16 in its high nibble, to 32 values (nibble-8)·d.
TEXT ·decodeQ4_0AVX2(SB), NOSPLIT, $0-20
	MOVQ         dst+0(FP), DI
	MOVQ         qs+8(FP), SI
	VBROADCASTSS d+16(FP), Y15
	MOVL         $0x0f0f0f0f, BX
	VMOVD        BX, X12
	VPBROADCASTD X12, X12
	MOVL         $8, BX
	VMOVD        BX, X11
	VPBROADCASTD X11, Y11

	VMOVDQU (SI), X0
	VPAND   X12, X0, X1 // low nibbles: values 0..15
	VPSRLW  $4, X0, X2
	VPAND   X12, X2, X2 // high nibbles: values 16..31

	VPMOVZXBD X1, Y3
	VPSUBD    Y11, Y3, Y3
	VCVTDQ2PS Y3, Y3
	VMULPS    Y15, Y3, Y3
	VMOVUPS   Y3, (DI)
	VPSRLDQ   $8, X1, X1
	VPMOVZXBD X1, Y3
	VPSUBD    Y11, Y3, Y3
	VCVTDQ2PS Y3, Y3
	VMULPS    Y15, Y3, Y3
	VMOVUPS   Y3, 32(DI)

	VPMOVZXBD X2, Y3
	VPSUBD    Y11, Y3, Y3
	VCVTDQ2PS Y3, Y3
	VMULPS    Y15, Y3, Y3
	VMOVUPS   Y3, 64(DI)
	VPSRLDQ   $8, X2, X2
	VPMOVZXBD X2, Y3
	VPSUBD    Y11, Y3, Y3
	VCVTDQ2PS Y3, Y3
	VMULPS    Y15, Y3, Y3
	VMOVUPS   Y3, 96(DI)
	VZEROUPPER
	RET
