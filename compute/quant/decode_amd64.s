//go:build amd64 && !purego

#include "textflag.h"

// The block decoders below write exactly the values of the portable ones in
// matrix.go: a small integer or a codebook value, converted exactly, times
// the block's scale, rounded once (VMULPS).

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

// func decodeNF4RunAVX2(dst *float32, codes *byte, scales *byte, table *float32, n int, stride int, double int, s127 float32, offset float32)
//
// n whole NF4 blocks (32 bytes of codes each) to 64 values each, written
// in groups of 16 values stride bytes apart (stride 64: contiguous). The
// absmax of a block is the float32 at scales (plain), or, when double is
// not 0, float32(int8 at scales)·s127 + offset, each operation rounded to
// float32, as dqAbsmax computes it. The 16-entry table is multiplied by the
// absmax once per block; a value is then the product table[code]·absmax,
// as in decodeNF4AVX2.
TEXT ·decodeNF4RunAVX2(SB), NOSPLIT, $0-64
	MOVQ         dst+0(FP), DI
	MOVQ         codes+8(FP), SI
	MOVQ         scales+16(FP), DX
	MOVQ         table+24(FP), AX
	MOVQ         n+32(FP), CX
	MOVQ         stride+40(FP), R8
	MOVQ         double+48(FP), R9
	VMOVSS       s127+56(FP), X1
	VMOVSS       offset+60(FP), X2
	VMOVUPS      (AX), Y13
	VMOVUPS      32(AX), Y14
	MOVL         $0x0f0f0f0f, BX
	VMOVD        BX, X12
	VPBROADCASTD X12, X12
	TESTQ        CX, CX
	JZ           nf4rdone

nf4rblock:
	TESTQ R9, R9
	JNZ   nf4rdouble
	VMOVSS (DX), X0
	ADDQ   $4, DX
	JMP    nf4rscale

nf4rdouble:
	MOVBQSX    (DX), R10
	VCVTSI2SSQ R10, X0, X0
	VMULSS     X1, X0, X0
	VADDSS     X2, X0, X0
	INCQ       DX

nf4rscale:
	VBROADCASTSS X0, Y15
	VMULPS       Y15, Y13, Y10 // table·absmax, codes 0..7
	VMULPS       Y15, Y14, Y11 // codes 8..15
	MOVQ         $4, R11

nf4rloop:
	VMOVQ      (SI), X0
	VPSRLW     $4, X0, X3
	VPAND      X12, X3, X3    // high nibbles: values 0, 2, 4, ...
	VPAND      X12, X0, X0    // low nibbles: values 1, 3, 5, ...
	VPUNPCKLBW X0, X3, X4     // codes in value order
	VPMOVZXBD  X4, Y5
	VPSRLDQ    $8, X4, X4
	VPMOVZXBD  X4, Y6

	VPERMPS   Y10, Y5, Y7
	VPERMPS   Y11, Y5, Y8
	VPSLLD    $28, Y5, Y9
	VBLENDVPS Y9, Y8, Y7, Y7
	VMOVUPS   Y7, (DI)

	VPERMPS   Y10, Y6, Y7
	VPERMPS   Y11, Y6, Y8
	VPSLLD    $28, Y6, Y9
	VBLENDVPS Y9, Y8, Y7, Y7
	VMOVUPS   Y7, 32(DI)

	ADDQ $8, SI
	ADDQ R8, DI
	DECQ R11
	JNZ  nf4rloop
	DECQ CX
	JNZ  nf4rblock

nf4rdone:
	VZEROUPPER
	RET

// Q8GROUP(off) widens the 16 int8 values at off(SI) times the scale in Y15
// into 16 float32 at (DI), then moves DI on by the stride R8.
#define Q8GROUP(off) \
	VPMOVSXBD off(SI), Y0; \
	VPMOVSXBD off+8(SI), Y1; \
	VCVTDQ2PS Y0, Y0; \
	VCVTDQ2PS Y1, Y1; \
	VMULPS    Y15, Y0, Y0; \
	VMULPS    Y15, Y1, Y1; \
	VMOVUPS   Y0, (DI); \
	VMOVUPS   Y1, 32(DI); \
	ADDQ      R8, DI

// func decodeQ8RunAVX2(dst *float32, blocks *byte, n int, stride int)
//
// n whole Q8 blocks (a float32 absmax, then 64 int8 values) to
// float32(q)·(absmax/127), written in groups of 16 values stride bytes
// apart (stride 64: contiguous).
TEXT ·decodeQ8RunAVX2(SB), NOSPLIT, $0-32
	MOVQ  dst+0(FP), DI
	MOVQ  blocks+8(FP), SI
	MOVQ  n+16(FP), CX
	MOVQ  stride+24(FP), R8
	MOVL  $0x42fe0000, AX // 127.0
	VMOVD AX, X14
	TESTQ CX, CX
	JZ    q8rdone

q8rblock:
	VMOVSS       (SI), X0
	VDIVSS       X14, X0, X0
	VBROADCASTSS X0, Y15

	Q8GROUP(4)
	Q8GROUP(20)
	Q8GROUP(36)
	Q8GROUP(52)

	ADDQ $68, SI
	DECQ CX
	JNZ  q8rblock

q8rdone:
	VZEROUPPER
	RET
