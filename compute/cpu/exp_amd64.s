//go:build amd64 && !purego

#include "textflag.h"

// Constants of expShiftAVX2, each repeated in the 8 lanes of a YMM word
// (Cephes' expf: exp(x) = 2^n·exp(r), n = round(x·log2e), r = x - n·ln2,
// exp(r) by a degree-7 polynomial).
// 0: log2e
DATA expc<>+0(SB)/4, $0x3fb8aa3b
DATA expc<>+4(SB)/4, $0x3fb8aa3b
DATA expc<>+8(SB)/4, $0x3fb8aa3b
DATA expc<>+12(SB)/4, $0x3fb8aa3b
DATA expc<>+16(SB)/4, $0x3fb8aa3b
DATA expc<>+20(SB)/4, $0x3fb8aa3b
DATA expc<>+24(SB)/4, $0x3fb8aa3b
DATA expc<>+28(SB)/4, $0x3fb8aa3b
// 32: ln2 high part
DATA expc<>+32(SB)/4, $0x3f318000
DATA expc<>+36(SB)/4, $0x3f318000
DATA expc<>+40(SB)/4, $0x3f318000
DATA expc<>+44(SB)/4, $0x3f318000
DATA expc<>+48(SB)/4, $0x3f318000
DATA expc<>+52(SB)/4, $0x3f318000
DATA expc<>+56(SB)/4, $0x3f318000
DATA expc<>+60(SB)/4, $0x3f318000
// 64: ln2 low part (negative)
DATA expc<>+64(SB)/4, $0xb95e8083
DATA expc<>+68(SB)/4, $0xb95e8083
DATA expc<>+72(SB)/4, $0xb95e8083
DATA expc<>+76(SB)/4, $0xb95e8083
DATA expc<>+80(SB)/4, $0xb95e8083
DATA expc<>+84(SB)/4, $0xb95e8083
DATA expc<>+88(SB)/4, $0xb95e8083
DATA expc<>+92(SB)/4, $0xb95e8083
// 96: p0
DATA expc<>+96(SB)/4, $0x39506967
DATA expc<>+100(SB)/4, $0x39506967
DATA expc<>+104(SB)/4, $0x39506967
DATA expc<>+108(SB)/4, $0x39506967
DATA expc<>+112(SB)/4, $0x39506967
DATA expc<>+116(SB)/4, $0x39506967
DATA expc<>+120(SB)/4, $0x39506967
DATA expc<>+124(SB)/4, $0x39506967
// 128: p1
DATA expc<>+128(SB)/4, $0x3ab743ce
DATA expc<>+132(SB)/4, $0x3ab743ce
DATA expc<>+136(SB)/4, $0x3ab743ce
DATA expc<>+140(SB)/4, $0x3ab743ce
DATA expc<>+144(SB)/4, $0x3ab743ce
DATA expc<>+148(SB)/4, $0x3ab743ce
DATA expc<>+152(SB)/4, $0x3ab743ce
DATA expc<>+156(SB)/4, $0x3ab743ce
// 160: p2
DATA expc<>+160(SB)/4, $0x3c088908
DATA expc<>+164(SB)/4, $0x3c088908
DATA expc<>+168(SB)/4, $0x3c088908
DATA expc<>+172(SB)/4, $0x3c088908
DATA expc<>+176(SB)/4, $0x3c088908
DATA expc<>+180(SB)/4, $0x3c088908
DATA expc<>+184(SB)/4, $0x3c088908
DATA expc<>+188(SB)/4, $0x3c088908
// 192: p3
DATA expc<>+192(SB)/4, $0x3d2aa9c1
DATA expc<>+196(SB)/4, $0x3d2aa9c1
DATA expc<>+200(SB)/4, $0x3d2aa9c1
DATA expc<>+204(SB)/4, $0x3d2aa9c1
DATA expc<>+208(SB)/4, $0x3d2aa9c1
DATA expc<>+212(SB)/4, $0x3d2aa9c1
DATA expc<>+216(SB)/4, $0x3d2aa9c1
DATA expc<>+220(SB)/4, $0x3d2aa9c1
// 224: p4
DATA expc<>+224(SB)/4, $0x3e2aaaaa
DATA expc<>+228(SB)/4, $0x3e2aaaaa
DATA expc<>+232(SB)/4, $0x3e2aaaaa
DATA expc<>+236(SB)/4, $0x3e2aaaaa
DATA expc<>+240(SB)/4, $0x3e2aaaaa
DATA expc<>+244(SB)/4, $0x3e2aaaaa
DATA expc<>+248(SB)/4, $0x3e2aaaaa
DATA expc<>+252(SB)/4, $0x3e2aaaaa
// 256: p5
DATA expc<>+256(SB)/4, $0x3f000000
DATA expc<>+260(SB)/4, $0x3f000000
DATA expc<>+264(SB)/4, $0x3f000000
DATA expc<>+268(SB)/4, $0x3f000000
DATA expc<>+272(SB)/4, $0x3f000000
DATA expc<>+276(SB)/4, $0x3f000000
DATA expc<>+280(SB)/4, $0x3f000000
DATA expc<>+284(SB)/4, $0x3f000000
// 288: 1
DATA expc<>+288(SB)/4, $0x3f800000
DATA expc<>+292(SB)/4, $0x3f800000
DATA expc<>+296(SB)/4, $0x3f800000
DATA expc<>+300(SB)/4, $0x3f800000
DATA expc<>+304(SB)/4, $0x3f800000
DATA expc<>+308(SB)/4, $0x3f800000
DATA expc<>+312(SB)/4, $0x3f800000
DATA expc<>+316(SB)/4, $0x3f800000
// 320: lo: below it exp is flushed to 0
DATA expc<>+320(SB)/4, $0xc2ae0000
DATA expc<>+324(SB)/4, $0xc2ae0000
DATA expc<>+328(SB)/4, $0xc2ae0000
DATA expc<>+332(SB)/4, $0xc2ae0000
DATA expc<>+336(SB)/4, $0xc2ae0000
DATA expc<>+340(SB)/4, $0xc2ae0000
DATA expc<>+344(SB)/4, $0xc2ae0000
DATA expc<>+348(SB)/4, $0xc2ae0000
// 352: hi: above it exp overflows
DATA expc<>+352(SB)/4, $0x42b17218
DATA expc<>+356(SB)/4, $0x42b17218
DATA expc<>+360(SB)/4, $0x42b17218
DATA expc<>+364(SB)/4, $0x42b17218
DATA expc<>+368(SB)/4, $0x42b17218
DATA expc<>+372(SB)/4, $0x42b17218
DATA expc<>+376(SB)/4, $0x42b17218
DATA expc<>+380(SB)/4, $0x42b17218
// 384: 126 (int32): the exponent bias less 1
DATA expc<>+384(SB)/4, $0x0000007e
DATA expc<>+388(SB)/4, $0x0000007e
DATA expc<>+392(SB)/4, $0x0000007e
DATA expc<>+396(SB)/4, $0x0000007e
DATA expc<>+400(SB)/4, $0x0000007e
DATA expc<>+404(SB)/4, $0x0000007e
DATA expc<>+408(SB)/4, $0x0000007e
DATA expc<>+412(SB)/4, $0x0000007e
// 416: +Inf
DATA expc<>+416(SB)/4, $0x7f800000
DATA expc<>+420(SB)/4, $0x7f800000
DATA expc<>+424(SB)/4, $0x7f800000
DATA expc<>+428(SB)/4, $0x7f800000
DATA expc<>+432(SB)/4, $0x7f800000
DATA expc<>+436(SB)/4, $0x7f800000
DATA expc<>+440(SB)/4, $0x7f800000
DATA expc<>+444(SB)/4, $0x7f800000
GLOBL expc<>(SB), RODATA|NOPTR, $448

// func expShiftAVX2(dst, src []float32, shift float32)
//
// dst[i] = exp(src[i] - shift) for i < len(dst) rounded down to a multiple
// of 8. len(src) >= len(dst). Results below e^-87 are flushed to 0, results
// beyond float32 overflow to +Inf, NaN stays NaN.
TEXT ·expShiftAVX2(SB), NOSPLIT, $0-52
	MOVQ         dst_base+0(FP), DI
	MOVQ         dst_len+8(FP), CX
	MOVQ         src_base+24(FP), SI
	VBROADCASTSS shift+48(FP), Y15
	SHRQ         $3, CX
	JZ           done

loop:
	VMOVUPS      (SI), Y0
	VSUBPS       Y15, Y0, Y0          // x = src - shift
	VMAXPS       expc<>+320(SB), Y0, Y1 // clamp x to [lo, hi]
	VMINPS       expc<>+352(SB), Y1, Y1
	VMULPS       expc<>+0(SB), Y1, Y2   // n = round(x·log2e)
	VROUNDPS     $0, Y2, Y2
	VFNMADD231PS expc<>+32(SB), Y2, Y1  // r = x - n·C1 - n·C2
	VFNMADD231PS expc<>+64(SB), Y2, Y1
	VMOVUPS      expc<>+96(SB), Y3      // y = p0
	VFMADD213PS  expc<>+128(SB), Y1, Y3 // y = y·r + p1
	VFMADD213PS  expc<>+160(SB), Y1, Y3 // ... + p2
	VFMADD213PS  expc<>+192(SB), Y1, Y3 // ... + p3
	VFMADD213PS  expc<>+224(SB), Y1, Y3 // ... + p4
	VFMADD213PS  expc<>+256(SB), Y1, Y3 // ... + p5
	VMULPS       Y1, Y1, Y4             // y = y·r² + r + 1
	VFMADD213PS  Y1, Y4, Y3
	VADDPS       expc<>+288(SB), Y3, Y3
	VCVTPS2DQ    Y2, Y5                 // y·2^(n-1)·2: n-1 fits the exponent for n in [-125, 128]
	VPADDD       expc<>+384(SB), Y5, Y5
	VPSLLD       $23, Y5, Y5
	VMULPS       Y5, Y3, Y3
	VADDPS       Y3, Y3, Y3
	VCMPPS       $1, expc<>+320(SB), Y0, Y6  // x < lo: 0
	VANDNPS      Y3, Y6, Y3
	VCMPPS       $14, expc<>+352(SB), Y0, Y6 // x > hi: +Inf
	VBLENDVPS    Y6, expc<>+416(SB), Y3, Y3
	VCMPPS       $3, Y0, Y0, Y6              // x is NaN: NaN
	VBLENDVPS    Y6, Y0, Y3, Y3
	VMOVUPS      Y3, (DI)
	ADDQ         $32, SI
	ADDQ         $32, DI
	DECQ         CX
	JNZ          loop

done:
	VZEROUPPER
	RET
