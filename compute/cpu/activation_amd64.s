//go:build amd64 && !purego

#include "textflag.h"

// ONES_Y15 sets the eight lanes of Y15 to 1.0 (clobbers AX).
#define ONES_Y15 MOVL $0x3f800000, AX; MOVL AX, X15; VBROADCASTSS X15, Y15

// Each routine repeats, on eight lanes, its Go loop's operations in the
// Go loop's order (activation.go), so that the results are the same bits.

// func geluArgAVX2(e, x *float32, n int, k2, c float32)
//
// e = k2·(x + ((c·x)·x)·x)
TEXT ·geluArgAVX2(SB), NOSPLIT, $0-32
	MOVQ         e+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         n+16(FP), CX
	VBROADCASTSS k2+24(FP), Y14
	VBROADCASTSS c+28(FP), Y15
	SHRQ         $3, CX

argloop:
	VMOVUPS (SI), Y0
	VMULPS  Y0, Y15, Y1 // c·x
	VMULPS  Y0, Y1, Y1  // ·x
	VMULPS  Y0, Y1, Y1  // ·x
	VADDPS  Y1, Y0, Y1  // x + …
	VMULPS  Y1, Y14, Y1 // k2·(…)
	VMOVUPS Y1, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     argloop
	VZEROUPPER
	RET

// func geluOutAVX2(out, x, e *float32, n int)
//
// out = x / (1 + e)
TEXT ·geluOutAVX2(SB), NOSPLIT, $0-32
	MOVQ         out+0(FP), DI
	MOVQ         x+8(FP), SI
	MOVQ         e+16(FP), DX
	MOVQ         n+24(FP), CX
	ONES_Y15
	SHRQ         $3, CX

outloop:
	VADDPS  (DX), Y15, Y1 // 1 + e
	VMOVUPS (SI), Y0
	VDIVPS  Y1, Y0, Y0    // x / (1 + e)
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	DECQ    CX
	JNZ     outloop
	VZEROUPPER
	RET

// func geluBackAVX2(dx, dout, x, e *float32, n int, k, c3 float32)
//
// s = 1/(1+e); d = s + ((((2x)·s)·(1-s))·k)·(1 + (c3·x)·x); dx = dout·d
TEXT ·geluBackAVX2(SB), NOSPLIT, $0-48
	MOVQ         dx+0(FP), DI
	MOVQ         dout+8(FP), R8
	MOVQ         x+16(FP), SI
	MOVQ         e+24(FP), DX
	MOVQ         n+32(FP), CX
	VBROADCASTSS k+40(FP), Y13
	VBROADCASTSS c3+44(FP), Y14
	ONES_Y15
	SHRQ         $3, CX

backloop:
	VADDPS  (DX), Y15, Y1 // 1 + e
	VDIVPS  Y1, Y15, Y1   // s = 1/(1+e)
	VMOVUPS (SI), Y0      // x
	VADDPS  Y0, Y0, Y2    // 2x
	VMULPS  Y1, Y2, Y2    // ·s
	VSUBPS  Y1, Y15, Y3   // 1-s
	VMULPS  Y3, Y2, Y2    // ·(1-s)
	VMULPS  Y13, Y2, Y2   // ·k
	VMULPS  Y0, Y14, Y4   // c3·x
	VMULPS  Y0, Y4, Y4    // ·x
	VADDPS  Y4, Y15, Y4   // 1 + …
	VMULPS  Y4, Y2, Y2    // (…)·(1 + …)
	VADDPS  Y2, Y1, Y2    // d = s + …
	VMULPS  (R8), Y2, Y2  // dout·d
	VMOVUPS Y2, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	ADDQ    $32, R8
	DECQ    CX
	JNZ     backloop
	VZEROUPPER
	RET

// func negateAVX2(e, gate *float32, n int)
//
// e = -g (the sign bit flipped, as Go's negation does)
TEXT ·negateAVX2(SB), NOSPLIT, $0-24
	MOVQ         e+0(FP), DI
	MOVQ         gate+8(FP), SI
	MOVQ         n+16(FP), CX
	MOVL         $0x80000000, AX
	MOVL         AX, X15
	VBROADCASTSS X15, Y15
	SHRQ         $3, CX

negloop:
	VXORPS  (SI), Y15, Y0
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	DECQ    CX
	JNZ     negloop
	VZEROUPPER
	RET

// func siluMulOutAVX2(out, gate, up, e *float32, n int)
//
// out = (g / (1 + e))·up
TEXT ·siluMulOutAVX2(SB), NOSPLIT, $0-40
	MOVQ out+0(FP), DI
	MOVQ gate+8(FP), SI
	MOVQ up+16(FP), R8
	MOVQ e+24(FP), DX
	MOVQ n+32(FP), CX
	ONES_Y15
	SHRQ $3, CX

siluloop:
	VADDPS  (DX), Y15, Y1 // 1 + e
	VMOVUPS (SI), Y0
	VDIVPS  Y1, Y0, Y0    // g / (1 + e)
	VMULPS  (R8), Y0, Y0  // ·up
	VMOVUPS Y0, (DI)
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	ADDQ    $32, R8
	DECQ    CX
	JNZ     siluloop
	VZEROUPPER
	RET

// func siluMulBackAVX2(dgate, dup, dout, gate, up, e *float32, n int)
//
// s = 1/(1+e); dup = (dout·g)·s; dgate = ((dout·up)·s)·(1 + g·(1-s))
TEXT ·siluMulBackAVX2(SB), NOSPLIT, $0-56
	MOVQ dgate+0(FP), DI
	MOVQ dup+8(FP), R9
	MOVQ dout+16(FP), R8
	MOVQ gate+24(FP), SI
	MOVQ up+32(FP), R10
	MOVQ e+40(FP), DX
	MOVQ n+48(FP), CX
	ONES_Y15
	SHRQ $3, CX

silubackloop:
	VADDPS  (DX), Y15, Y1 // 1 + e
	VDIVPS  Y1, Y15, Y1   // s
	VMOVUPS (SI), Y0      // g
	VMOVUPS (R8), Y2      // d = dout
	VMULPS  Y0, Y2, Y3    // d·g
	VMULPS  Y1, Y3, Y3    // ·s
	VMOVUPS Y3, (R9)      // dup
	VMULPS  (R10), Y2, Y3 // d·up
	VMULPS  Y1, Y3, Y3    // ·s
	VSUBPS  Y1, Y15, Y4   // 1-s
	VMULPS  Y4, Y0, Y4    // g·(1-s)
	VADDPS  Y4, Y15, Y4   // 1 + …
	VMULPS  Y4, Y3, Y3    // (…)·(1 + …)
	VMOVUPS Y3, (DI)      // dgate
	ADDQ    $32, SI
	ADDQ    $32, DI
	ADDQ    $32, DX
	ADDQ    $32, R8
	ADDQ    $32, R9
	ADDQ    $32, R10
	DECQ    CX
	JNZ     silubackloop
	VZEROUPPER
	RET
